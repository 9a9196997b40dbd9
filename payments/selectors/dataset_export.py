"""A paid order as a training-ready dataset: Parquet streamed in row groups, and a dataset
card in the Hugging Face format (a README.md with a YAML header) that says what is in it,
under which licences, where it comes from and which valuation chose the samples.

Both read the same records as the JSONL download (``downloads.order_sample_records``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from django.db.models import Count, Sum

from payments.models import Order, OrderLine
from payments.selectors.downloads import DOWNLOAD_CHUNK_SIZE, order_sample_records

# One flat row per sample; a sample has either ``text`` or ``prompt`` and ``response``.
COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("sample_id", pa.string(), "the provider's id of the sample"),
    ("listing_slug", pa.string(), "the listing the sample comes from"),
    ("listing_title", pa.string(), "its title"),
    ("dataset_version", pa.int32(), "the listing's dataset version"),
    ("licence", pa.string(), "the listing's licence (SPDX expression)"),
    ("value", pa.float64(), "LinFiK value of the sample for your task (float)"),
    ("value_exact", pa.string(), "the same value as an exact fraction 'n/d', as priced"),
    ("text", pa.string(), "the sample's text (null for prompt/response samples)"),
    ("prompt", pa.string(), "the prompt (null for text samples)"),
    ("response", pa.string(), "the response (null for text samples)"),
)
PARQUET_SCHEMA = pa.schema([(name, dtype) for name, dtype, _ in COLUMNS])
# Hugging Face ``datasets`` feature dtypes of the columns above.
HF_DTYPES = {"string": "string", "int32": "int32", "double": "float64"}


def order_file_stem(*, order: Order) -> str:
    return f"datamarket-order-{order.pk}"


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "sample_id": record["sample_id"],
        "listing_slug": record["listing"]["slug"],
        "listing_title": record["listing"]["title"],
        "dataset_version": record["dataset_version"],
        "licence": record["licence"],
        "value": record["value"],
        "value_exact": record["value_exact"],
        "text": record.get("text"),
        "prompt": record.get("prompt"),
        "response": record.get("response"),
    }


class _Chunks(io.RawIOBase):
    """A write-only file that hands out what was written since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def parquet_chunks(
    records: Iterable[dict[str, Any]], *, rows_per_group: int = DOWNLOAD_CHUNK_SIZE
) -> Iterator[bytes]:
    """Parquet bytes of ``records`` (download records), one row group at a time, so a large
    order streams with bounded memory."""
    sink = _Chunks()
    writer = pq.ParquetWriter(sink, PARQUET_SCHEMA, compression="zstd")
    rows: list[dict[str, Any]] = []

    def flush() -> bytes:
        writer.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMA))
        rows.clear()
        return sink.take()

    try:
        for record in records:
            rows.append(_flat(record))
            if len(rows) >= rows_per_group:
                yield flush()
        if rows:
            yield flush()
    finally:
        writer.close()
    yield sink.take()  # the footer


def order_parquet_chunks(*, order: Order) -> Iterator[bytes]:
    return parquet_chunks(order_sample_records(order=order))


# ---- dataset card -----------------------------------------------------------------------------


def _size_category(n: int) -> str:
    """Hugging Face's ``size_categories`` bucket of a row count."""
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return label
    return "n>10M"


def _listing_rows(order: Order) -> list[dict[str, Any]]:
    """Per listing in the order: what it contributed and where it comes from."""
    from marketplace.models import DatasetVersion

    counts = (
        OrderLine.objects.filter(order=order)
        .values("dataset_version_ref")
        .annotate(samples=Count("id"), tokens=Sum("token_count"))
        .order_by("dataset_version_ref")
    )
    by_version = {int(row["dataset_version_ref"]): row for row in counts}
    versions = DatasetVersion.objects.filter(pk__in=by_version).select_related(
        "listing", "listing__provider", "listing__provider__profile"
    )
    rows = []
    for version in sorted(versions, key=lambda v: (v.listing.title, v.listing.slug, v.number)):
        listing = version.listing
        profile = getattr(listing.provider, "profile", None)
        rows.append(
            {
                "slug": listing.slug,
                "title": listing.title,
                "provider": (profile.display_name if profile else "")
                or listing.provider.get_username(),
                "licence": listing.licence,
                "dataset_version": version.number,
                "content_hash": version.content_hash,
                "samples": by_version[version.pk]["samples"],
                "tokens": int(by_version[version.pk]["tokens"] or 0),
                "language": listing.language or version.language,
                "source": listing.source.strip(),
            }
        )
    return rows


def _valuation(order: Order) -> dict[str, Any]:
    """The valuation that chose the samples, as the quote recorded it (and the job's own
    settings while it exists)."""
    from valuation.models import ValuationJob

    quote = order.quote
    facts: dict[str, Any] = {
        "job": quote.valuation_job_ref,
        "method": quote.valuation_method,
        "model_identity": quote.model_identity,
        "target_set_hash": quote.target_set_hash,
    }
    fidelity = {
        key: quote.fidelity[key]
        for key in ("spearman", "kendall_tau", "precision_at_10pct", "n_holdout")
        if isinstance(quote.fidelity, dict) and quote.fidelity.get(key) is not None
    }
    if fidelity:
        facts["fidelity"] = fidelity
    job = (
        ValuationJob.objects.filter(pk=int(quote.valuation_job_ref)).select_related("task").first()
        if str(quote.valuation_job_ref).isdigit()
        else None
    )
    if job is not None:
        facts.update(
            task=job.task.name,
            model=job.model_spec,
            label_fraction=job.label_fraction,
            seed=job.seed,
            pool_size=job.pool_size,
            exact_labels=job.n_labelled,
        )
    return facts


def order_dataset_card(*, order: Order) -> str:
    """The order's dataset card: README.md for a Hugging Face dataset repository."""
    listings = _listing_rows(order)
    valuation = _valuation(order)
    total = sum(row["samples"] for row in listings)
    tokens = sum(row["tokens"] for row in listings)
    stem = order_file_stem(order=order)
    licences = sorted({row["licence"] for row in listings})
    header = {
        "pretty_name": f"DataMarket order {order.pk}",
        "license": [licence.lower() for licence in licences] or ["other"],
        "language": sorted({row["language"] for row in listings if row["language"]}),
        "size_categories": [_size_category(total)],
        "source_datasets": [
            f"datamarket:{row['slug']}@v{row['dataset_version']}" for row in listings
        ],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": f"{stem}.parquet"}],
            }
        ],
        "dataset_info": {
            "features": [
                {"name": name, "dtype": HF_DTYPES[str(dtype)]} for name, dtype, _ in COLUMNS
            ],
            "splits": [{"name": "train", "num_examples": total}],
        },
        # Each listing's own licence: the samples of a listing are under that licence only.
        "datamarket": {
            "order": order.pk,
            "tokens": tokens,
            "listings": [
                {key: row[key] for key in ("slug", "licence", "dataset_version", "samples")}
                for row in listings
            ],
            "valuation": valuation,
        },
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# DataMarket order {order.pk}",
        "",
        f"{total:,} samples ({tokens:,} tokens) from {len(listings)} dataset"
        f"{'' if len(listings) == 1 else 's'} on DataMarket, bought on "
        f"{(order.paid_at or order.created_at):%Y-%m-%d}. The samples were chosen by their "
        "value for the buyer's task: how much one training step on a sample lowers the "
        "buyer's model's loss on the task's target examples (LinFiK).",
        "",
        "## Licences and provenance",
        "",
        "Each sample keeps the licence of the listing it comes from.",
        "",
        "| Listing | Provider | Version | Licence | Samples | Tokens | Content hash |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    for row in listings:
        lines.append(
            f"| {row['title']} (`{row['slug']}`) | {row['provider']} | v{row['dataset_version']} "
            f"| {row['licence']} | {row['samples']:,} | {row['tokens']:,} "
            f"| `{row['content_hash'][:16]}` |"
        )
    for row in listings:
        if row["source"]:
            lines += ["", f"**Source of {row['title']}:** " + " ".join(row["source"].split())]
    lines += ["", "## The valuation that chose these samples", ""]
    labels = {
        "job": "Valuation job",
        "task": "Target task",
        "method": "Method",
        "model": "Model",
        "model_identity": "Model identity",
        "label_fraction": "Label fraction",
        "seed": "Seed",
        "pool_size": "Candidate pool (samples)",
        "exact_labels": "Exact LinFiK labels",
        "target_set_hash": "Target set hash",
    }
    for key, label in labels.items():
        if key in valuation:
            lines.append(f"- {label}: `{valuation[key]}`")
    for key, value in valuation.get("fidelity", {}).items():
        lines.append(f"- Proxy fidelity, {key}: `{value}`")
    lines += ["", "## Columns", "", "| Column | Type | Meaning |", "| --- | --- | --- |"]
    for name, dtype, meaning in COLUMNS:
        lines.append(f"| `{name}` | {HF_DTYPES[str(dtype)]} | {meaning} |")
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'data = load_dataset("parquet", data_files="{stem}.parquet", split="train")',
        "```",
        "",
    ]
    return "\n".join(lines)
