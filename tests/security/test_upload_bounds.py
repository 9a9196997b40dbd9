"""What one upload can make the process allocate is bounded (marketplace.ingest.parsers).

The decompression bomb of the security review (a 10 KB zstd Parquet file holding one 300 MB
string) is refused from its metadata before any page is decompressed; the allocation is
measured with pyarrow's memory pool and tracemalloc, in a fresh interpreter so that nothing
else in the test run shares the high-water marks.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace import conf
from marketplace.ingest.parsers import (
    CsvParser,
    JsonlParser,
    Limits,
    ParquetParser,
    TextParser,
    _page_header,
)
from marketplace.ingest.records import FileError
from marketplace.models import DatasetVersion, Sample
from marketplace.services.listings import listing_create
from tests.security.conftest import api_for

REPO_ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def run_python(code: str, timeout: int = 120) -> dict:
    """Run ``code`` in a fresh interpreter at the repository root; it prints one JSON line."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """The review's file: one 300,000,000-character cell, zstd, about 10 KB on disk. Written
    by a child process so that this process never holds the 300 MB string."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.parquet"
    run_python(
        f"""
        import json, pyarrow as pa, pyarrow.parquet as pq
        table = pa.table({{"text": pa.array(["a" * 300_000_000], pa.string())}})
        pq.write_table(table, {str(path)!r}, compression="zstd")
        print(json.dumps({{}}))
        """
    )
    assert path.stat().st_size < 20_000
    return path


MEASURE = """
import json, resource, sys, tracemalloc
import pyarrow as pa
from marketplace.ingest.parsers import Limits, ParquetParser
from marketplace.ingest.records import FileError

pool = pa.default_memory_pool()
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
outcome, rows = None, 0
with open({path!r}, "rb") as handle:
    parser = ParquetParser(handle, size=0, limits=Limits(**{limits!r}))
    try:
        for row in parser.rows():
            rows += 1
            if row.errors and outcome is None:
                outcome = row.errors[0].code
    except FileError as exc:
        outcome = exc.code
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({{
    "outcome": outcome, "rows": rows, "arrow_peak": pool.max_memory(),
    "python_peak": peak,
    "rss_growth_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before,
}}))
"""


def test_the_parquet_bomb_is_refused_before_any_page_is_decompressed(bomb):
    measured = run_python(MEASURE.format(path=str(bomb), limits={}))

    assert measured["outcome"] == "parquet_too_large"
    assert measured["rows"] == 0
    # Before the fix: 1,598 MB for the request process. Now pyarrow allocates nothing beyond
    # the footer, Python under 2 MB.
    assert measured["arrow_peak"] < 1 * MB, measured
    assert measured["python_peak"] < 2 * MB, measured
    assert measured["rss_growth_kb"] < 50 * 1024, measured


@pytest.mark.django_db
def test_the_bomb_uploaded_as_a_version_fails_cleanly_inside_the_request(bomb, provider):
    listing = listing_create(
        provider=provider, title="Bomb", licence="MIT", floor_price_per_1k_tokens=1
    )
    api = api_for(provider)
    content = bomb.read_bytes()
    # Small enough to be validated inside the web request, as in the review.
    assert len(content) < conf.ingest_async_threshold_bytes()

    # Warm up first: the first request imports modules (torch among them), which would
    # dominate the measure.
    warm_up = io.BytesIO()
    pq.write_table(pa.table({"text": ["a warm-up sample"]}), warm_up)
    api.post(
        f"/api/marketplace/listings/{listing.slug}/versions/",
        {"file": SimpleUploadedFile("warm.parquet", warm_up.getvalue())},
        format="multipart",
    )
    DatasetVersion.objects.all().delete()
    Sample.objects.all().delete()

    tracemalloc.start()
    try:
        response = api.post(
            f"/api/marketplace/listings/{listing.slug}/versions/",
            {"file": SimpleUploadedFile("bomb.parquet", content)},
            format="multipart",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == DatasetVersion.Status.FAILED
    assert body["validation_report"]["fatal"]["code"] == "parquet_too_large"
    assert "300,000,054 bytes once decompressed" in body["error"]
    assert Sample.objects.count() == 0
    assert peak < 20 * MB


def test_a_dictionary_bomb_is_read_without_expanding_its_value(tmp_path):
    """100,000 rows all pointing at one 1 MB dictionary value: 100 GB if decoded row by row.
    Read dictionary-encoded, each row is a ``too_long`` error and the value is held once."""
    path = tmp_path / "dictionary.parquet"
    indices = pa.array([0] * 100_000, pa.int32())
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * MB]))
    pq.write_table(pa.table({"text": column}), path, compression="zstd")
    assert path.stat().st_size < 10_000

    measured = run_python(MEASURE.format(path=str(path), limits={}))

    assert (measured["outcome"], measured["rows"]) == ("too_long", 100_000)
    assert measured["arrow_peak"] < 16 * MB, measured
    assert measured["python_peak"] < 32 * MB, measured


def test_the_page_headers_read_from_the_file_add_up_to_the_footer(tmp_path):
    """The header walk (which catches a footer that lies) reads real files exactly."""
    rows = [f"row {n} " + "word " * (n % 50) for n in range(30_000)]
    for compression in ("zstd", "snappy", "none"):
        buffer = io.BytesIO()
        pq.write_table(
            pa.table({"id": [str(n) for n in range(30_000)], "text": rows}),
            buffer,
            compression=compression,
            row_group_size=10_000,
            data_page_size=64 * 1024,
        )
        parser = ParquetParser(io.BytesIO(buffer.getvalue()), size=0)
        parser.file_bytes = len(buffer.getvalue())
        metadata = pq.ParquetFile(io.BytesIO(buffer.getvalue())).metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                walked = parser._chunk_sizes(chunk, where="test")
                assert walked == chunk.total_uncompressed_size, compression


def test_a_corrupt_page_header_is_a_file_error(tmp_path):
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), buffer)
    data = bytearray(buffer.getvalue())
    chunk = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(0).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data[start : start + 8] = b"\xff" * 8

    with pytest.raises(FileError) as refused:
        list(ParquetParser(io.BytesIO(bytes(data)), size=len(data)).rows())
    assert refused.value.code == "bad_parquet"
    with pytest.raises(ValueError):
        _page_header(io.BytesIO(b"\x15"), 0)


def test_a_row_group_over_the_limit_is_refused_with_advice():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["word " * 100] * 2000}), buffer, use_dictionary=False)
    limits = Limits(parquet_max_chunk_bytes=100_000)

    with pytest.raises(FileError) as refused:
        list(ParquetParser(io.BytesIO(buffer.getvalue()), size=0, limits=limits).rows())

    assert refused.value.code == "parquet_too_large"
    assert "row group 1, column 'text'" in refused.value.message
    assert "row_group_size" in refused.value.message


def test_a_long_jsonl_line_is_skipped_unread_with_its_line_number():
    content = (
        b'{"text": "one"}\n' + b'{"text": "' + b"a" * (8 * MB) + b'"}\n' + b'{"text": "three"}\n'
    )
    limits = Limits.for_max_chars(32_000)
    tracemalloc.start()
    try:
        rows = list(JsonlParser(io.BytesIO(content), size=len(content), limits=limits).rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [row.line for row in rows] == [1, 2, 3]
    assert rows[1].errors[0].code == "line_too_long"
    assert rows[1].errors[0].message == (
        f"line 2: the line is {8 * MB + 13:,} bytes; lines are limited to "
        f"{limits.max_line_bytes:,} bytes"
    )
    assert rows[2].data == {"text": "three"}
    assert peak < 3 * MB  # the 8 MB line was never held


def test_a_csv_field_running_past_the_limit_stops_the_file():
    content = b'text\nfine\n"open quote\n' + b"more\n" * 200_000 + b'"\n'
    with pytest.raises(FileError) as refused:
        list(
            CsvParser(
                io.BytesIO(content), size=len(content), limits=Limits(max_line_bytes=10_000)
            ).rows()
        )
    assert (refused.value.code, refused.value.line) == ("line_too_long", 3)


def test_a_text_block_past_the_limit_is_one_error():
    content = b"short\n\n" + b"line of text\n" * 10_000 + b"\nlast\n"
    rows = list(
        TextParser(
            io.BytesIO(content), size=len(content), limits=Limits(max_line_bytes=10_000)
        ).rows()
    )

    assert [(row.line, row.data) for row in rows] == [
        (1, {"text": "short"}),
        (3, None),
        (10_004, {"text": "last"}),
    ]
    assert rows[1].errors[0].code == "block_too_long"
