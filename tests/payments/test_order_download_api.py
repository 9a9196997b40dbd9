"""GET /api/payments/orders/{id}/download/?format=jsonl|parquet and the dataset card beside
it: token auth, streamed, the same entitlement rule as the order page's download."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import pyarrow.parquet as pq
import pytest
import yaml
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from payments.models import Entitlement, OrderLine
from payments.selectors.dataset_export import parquet_chunks
from tests.payments.journey import build_job_world
from tests.payments.test_buyer_journey import paid_order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]


@pytest.fixture
def world(buyer, provider_a, provider_b):
    return build_job_world(buyer=buyer, provider_a=provider_a, provider_b=provider_b)


def api(user) -> Client:
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def url(order, fmt: str | None = None, what: str = "download") -> str:
    query = f"?format={fmt}" if fmt else ""
    return f"/api/payments/orders/{order.pk}/{what}/{query}"


def test_parquet_holds_the_orders_rows_ids_licences_and_values(buyer, world):
    order = paid_order(world, buyer, keys=("a1", "a2", "b1"))

    response = api(buyer).get(url(order, "parquet"))

    assert response.status_code == 200
    assert response.streaming  # streamed, not built in memory first
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert response["Content-Disposition"] == (
        f'attachment; filename="datamarket-order-{order.pk}.parquet"'
    )
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    rows = sorted(table.to_pylist(), key=lambda row: row["sample_id"])
    lines = {
        line.sample_ref: line for line in OrderLine.objects.filter(order=order)
    }  # what the buyer paid for
    samples = world["samples"]
    assert [row["sample_id"] for row in rows] == ["la-0", "la-1", "lb-0"]
    assert len(rows) == len(lines) == 3
    for row, key in zip(rows, ("a1", "a2", "b1"), strict=True):
        sample = samples[key]
        line = lines[str(sample.pk)]
        assert row["value_exact"] == line.value
        assert row["value"] == float(Fraction(line.value))
        assert row["licence"] == sample.version.listing.licence == "CC-BY-4.0"
        assert row["listing_slug"] == sample.version.listing.slug
        assert row["text"] == sample.text and row["prompt"] is None
    assert [row["value"] for row in rows] == [3.0, 1.0, 2.0]
    assert table.schema.field("dataset_version").type == "int32"


def test_jsonl_through_the_api_is_the_pages_download(client, buyer, world):
    order = paid_order(world, buyer)

    response = api(buyer).get(url(order))  # jsonl is the default

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert sorted(row["sample_id"] for row in rows) == ["la-0", "lb-0"]
    assert {row["value_exact"] for row in rows} == {"3", "2"}


def test_refused_downloads(client, buyer, other_buyer, world):
    order = paid_order(world, buyer)

    assert Client().get(url(order, "parquet")).status_code == 401  # no token
    assert api(other_buyer).get(url(order, "parquet")).status_code == 404  # not yours
    bad = api(buyer).get(url(order, "csv"))
    assert bad.status_code == 400 and "format must be one of jsonl, parquet" in bad.content.decode()
    Entitlement.objects.filter(order=order).update(revoked_at=timezone.now())  # refunded
    refunded = api(buyer).get(url(order, "parquet"))
    assert refunded.status_code == 403
    assert "no access" in refunded.content.decode() or "unpaid or refunded" in (
        refunded.content.decode()
    )
    assert api(buyer).get(url(order, what="dataset-card")).status_code == 403


def test_dataset_card_in_hugging_face_format(buyer, world):
    order = paid_order(world, buyer, keys=("a1", "a2", "b1"))

    response = api(buyer).get(url(order, what="dataset-card"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    card = response.content.decode()
    assert card.startswith("---\n")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == ["cc-by-4.0"]
    assert header["size_categories"] == ["n<1K"]
    assert header["dataset_info"]["splits"] == [{"name": "train", "num_examples": 3}]
    assert [f["name"] for f in header["dataset_info"]["features"]][:2] == [
        "sample_id",
        "listing_slug",
    ]
    assert header["configs"][0]["data_files"][0]["path"] == f"datamarket-order-{order.pk}.parquet"
    listings = header["datamarket"]["listings"]
    assert [(row["slug"], row["licence"], row["samples"]) for row in listings] == [
        ("la", "CC-BY-4.0", 2),
        ("lb", "CC-BY-4.0", 1),
    ]
    valuation = header["datamarket"]["valuation"]
    job = world["job"]
    assert (valuation["job"], valuation["method"], valuation["task"]) == (
        str(job.pk),
        "alinfik",
        "Journey task",
    )
    assert valuation["fidelity"] == {"spearman": 0.9}
    assert "## Licences and provenance" in card and "## Columns" in card
    assert "| `value_exact` | string |" in card


def test_parquet_streams_one_row_group_at_a_time():
    records = [
        {
            "sample_id": f"s{i}",
            "listing": {"slug": "x", "title": "X"},
            "dataset_version": 1,
            "licence": "MIT",
            "value": i / 4,
            "value_exact": f"{i}/4",
            "text": f"t{i}",
        }
        for i in range(25)
    ]

    chunks = list(parquet_chunks(records, rows_per_group=10))

    assert len(chunks) == 4  # 3 row groups, then the footer
    parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().column("value").to_pylist() == [i / 4 for i in range(25)]
