"""Property-based fuzzing of every upload parser (Hypothesis).

Random and mutated JSONL, CSV, plain-text and Parquet files, and target sets, must each end
either ingested or refused with line-numbered errors: no other exception, and nothing
half-ingested. CI runs ``EXAMPLES`` examples per parser (see docs/security.md).
"""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import Invalid
from marketplace.ingest.parsers import Limits
from marketplace.ingest.records import FileError
from marketplace.ingest.scan import Scan
from marketplace.models import DatasetVersion, Sample, TargetSample
from marketplace.services.listings import listing_create
from marketplace.services.targets import TargetSetInvalid, target_set_upload, target_task_create
from marketplace.services.versions import version_upload

# Per parser; the two end-to-end properties run a third of that. FUZZ_EXAMPLES=2000 digs
# deeper locally.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
MAX_CHARS = 200
LIMITS = Limits(max_chars=MAX_CHARS, max_line_bytes=4096, parquet_max_chunk_bytes=64 * 1024)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written outside the run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Text as hostile as it gets: NUL, lone surrogates, astral characters, quotes, newlines.
text = st.text(
    alphabet=st.characters(codec=None, blacklist_categories=()), min_size=0, max_size=60
) | st.sampled_from(["\x00", "\ud800", "a\r\nb", '"', "\\", "\u2028", "😀" * 30, " "])
fields = st.sampled_from(["id", "text", "prompt", "response", "extra", "TEXT", ""])
row = st.dictionaries(fields, text | st.none() | st.integers() | st.booleans(), max_size=4)


def json_line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


hostile_lines = st.sampled_from(
    [
        b"[" * 5000,
        b'{"text": ' + b"9" * 5000 + b"}",
        b'{"text": "' + b"x" * 5000 + b'"}',
        b"\xff\xfe\x00",
        b"",
        b"null",
        b'{"text": "\\ud800"}',
        b'{"text": "a\\u0000b"}',
        b"\xef\xbb\xbf{}",
    ]
)
jsonl_files = st.lists(
    row.map(json_line) | hostile_lines | st.binary(max_size=40), max_size=12
).map(lambda lines: b"\n".join(lines))


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.lists(fields, min_size=0, max_size=4))
    rows = draw(st.lists(st.lists(text, max_size=5), max_size=10))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8", "surrogatepass")
    return mutate(draw, data)


def mutate(draw, data: bytes) -> bytes:
    """Flip, cut or splice a few bytes of a well-formed file."""
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


text_files = st.lists(text, max_size=12).map(
    lambda parts: "\n".join(parts).encode("utf-8", "surrogatepass")
) | st.binary(max_size=200)


@st.composite
def parquet_files(draw) -> bytes:
    names = draw(st.lists(fields, min_size=1, max_size=3, unique=True))
    count = draw(st.integers(0, 8))
    columns = {}
    for name in names:
        values = draw(st.lists(text | st.none(), min_size=count, max_size=count))
        # Arrow refuses lone surrogates: write those as the replacement character.
        columns[name or "blank"] = pa.array(
            [None if v is None else v.encode("utf-8", "replace").decode() for v in values],
            pa.string(),
        )
    buffer = io.BytesIO()
    pq.write_table(
        pa.table(columns),
        buffer,
        compression=draw(st.sampled_from(["zstd", "snappy", "none"])),
        use_dictionary=draw(st.booleans()),
        row_group_size=draw(st.integers(1, 5)),
    )
    return mutate(draw, buffer.getvalue())


def check_scan(content: bytes, fmt: str) -> None:
    """Every row is a record or line-numbered errors; a whole-file problem is a FileError."""
    scan = Scan(io.BytesIO(content), fmt=fmt, size=len(content), max_chars=MAX_CHARS, limits=LIMITS)
    try:
        for record, errors in scan:
            if record is not None:
                assert errors == []
                assert record.line >= 1
                for value in (record.text, record.prompt, record.response, record.external_id):
                    if value is not None:
                        assert "\x00" not in value
                        value.encode("utf-8")  # storable: no lone surrogate
                continue
            assert errors, "a refused row carries its errors"
            for error in errors:
                assert isinstance(error.line, int) and error.line >= 1
                assert error.message.startswith(f"line {error.line}: "), error.message
    except FileError as exc:
        assert exc.message
        assert exc.code


@FUZZ
@given(content=jsonl_files)
def test_fuzz_jsonl(content):
    check_scan(content, "jsonl")


@FUZZ
@given(content=csv_files())
def test_fuzz_csv(content):
    check_scan(content, "csv")


@FUZZ
@given(content=text_files)
def test_fuzz_text(content):
    check_scan(content, "text")


@FUZZ
@given(content=parquet_files())
def test_fuzz_parquet(content):
    check_scan(content, "parquet")


any_file = st.one_of(
    jsonl_files.map(lambda c: ("d.jsonl", c)),
    csv_files().map(lambda c: ("d.csv", c)),
    text_files.map(lambda c: ("d.txt", c)),
    parquet_files().map(lambda c: ("d.parquet", c)),
)
END_TO_END = settings(FUZZ, max_examples=EXAMPLES // 3)


@pytest.mark.django_db
@END_TO_END
@given(upload=any_file)
def test_fuzz_dataset_uploads_end_ingested_or_refused_never_half(provider_for_fuzz, upload):
    name, content = upload
    listing = listing_create(
        provider=provider_for_fuzz, title="Fuzz", licence="MIT", floor_price_per_1k_tokens=1
    )
    try:
        version = version_upload(
            listing=listing, actor=provider_for_fuzz, file=io.BytesIO(content), filename=name
        )
    except Invalid:
        assert not DatasetVersion.objects.filter(listing=listing).exists()
        return
    stored = Sample.objects.filter(version=version).count()
    report = version.validation_report
    assert version.status in (
        DatasetVersion.Status.READY,
        DatasetVersion.Status.VALIDATED,
        DatasetVersion.Status.FAILED,
    ), (version.status, version.error)
    if version.status == DatasetVersion.Status.READY:
        assert stored == report["valid_rows"] == version.sample_count
    else:
        assert stored == 0
    assert "stopped unexpectedly" not in json.dumps(report) + version.error
    for error in report.get("errors", []):
        assert error["message"].startswith(f"line {error['line']}: ")


@pytest.mark.django_db
@END_TO_END
@given(upload=any_file)
def test_fuzz_target_sets_are_all_or_nothing(buyer_for_fuzz, upload):
    name, content = upload
    task = target_task_create(buyer=buyer_for_fuzz, name="fuzz")
    try:
        target_set_upload(task=task, actor=buyer_for_fuzz, file=io.BytesIO(content), filename=name)
    except TargetSetInvalid as refused:
        assert TargetSample.objects.filter(task=task).count() == 0
        for error in refused.report["errors"]:
            assert error["message"].startswith(f"line {error['line']}: ")
        return
    except Invalid:
        assert TargetSample.objects.filter(task=task).count() == 0
        return
    task.refresh_from_db()
    assert TargetSample.objects.filter(task=task).count() == task.sample_count > 0


@pytest.fixture
def provider_for_fuzz(provider, settings):
    settings.SAMPLE_MAX_CHARS = MAX_CHARS
    settings.INGEST_MAX_LINE_BYTES = LIMITS.max_line_bytes
    settings.INGEST_PARQUET_MAX_CHUNK_BYTES = LIMITS.parquet_max_chunk_bytes
    return provider


@pytest.fixture
def buyer_for_fuzz(buyer, settings):
    settings.SAMPLE_MAX_CHARS = MAX_CHARS
    return buyer
