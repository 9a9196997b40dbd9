"""Signed, expiring, buyer-bound download links for a paid order, and the JSONL they serve.

A link carries ``TimestampSigner`` over "<order id>:<buyer id>" (salted for this purpose).
It is good for PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS (default 1 hour), only for the order's
buyer, and only while the order's entitlement is live (paid, not fully refunded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing

from core.errors import Conflict, NotAllowed
from payments import conf
from payments.errors import PaymentsError
from payments.models import Order, OrderLine

SIGNING_SALT = "payments.order-download"
DOWNLOAD_CHUNK_SIZE = 500


class DownloadLinkExpired(PaymentsError, Conflict):
    """The link was valid but is older than its max age (410)."""

    code = "link_expired"
    status = 410


class DownloadNotAllowed(PaymentsError, NotAllowed):
    """Tampered link, another user's link, or an order without live access (403)."""

    code = "no_access"


def order_download_token(*, order: Order) -> str:
    return signing.TimestampSigner(salt=SIGNING_SALT).sign(f"{order.pk}:{order.buyer_id}")


def order_for_download(
    *, token: str, order_id: int, user: AbstractBaseUser | AnonymousUser
) -> Order:
    """The order a link lets ``user`` download, or DownloadNotAllowed / DownloadLinkExpired."""
    signer = signing.TimestampSigner(salt=SIGNING_SALT)
    try:
        value = signer.unsign(token, max_age=conf.download_max_age().total_seconds())
    except signing.SignatureExpired as exc:
        raise DownloadLinkExpired("this download link has expired; open the order again") from exc
    except signing.BadSignature as exc:
        raise DownloadNotAllowed("this download link is not valid") from exc
    if value != f"{order_id}:{user.pk}" or not user.is_authenticated:
        raise DownloadNotAllowed("this download link is not yours")
    return order_entitled_for_download(order_id=order_id, user=user)


def order_entitled_for_download(*, order_id: int, user: AbstractBaseUser | AnonymousUser) -> Order:
    """The order if ``user`` is its buyer and its entitlement is live (paid, not refunded),
    else DownloadNotAllowed. The page's signed links check this after their own expiry;
    the API, which authenticates every request, checks only this."""
    order = (
        Order.objects.filter(pk=order_id, buyer_id=user.pk, entitlement__revoked_at__isnull=True)
        .exclude(status=Order.Status.PENDING)
        .select_related("quote")
        .first()
        if user.is_authenticated
        else None
    )
    if order is None:
        raise DownloadNotAllowed("this order gives no access to download (unpaid or refunded)")
    return order


def order_sample_records(*, order: Order) -> Iterator[dict[str, Any]]:
    """One record per purchased sample, in order-line order, read in chunks: sample_id,
    listing {slug, title}, dataset_version, licence, value, value_exact, and text or
    prompt + response."""
    from marketplace.models import Sample

    lines = (
        OrderLine.objects.filter(order=order)
        .order_by("id")
        .values_list("sample_ref", "value")
        .iterator(chunk_size=DOWNLOAD_CHUNK_SIZE)
    )
    batch: list[tuple[str, str]] = []
    for row in lines:
        batch.append(row)
        if len(batch) >= DOWNLOAD_CHUNK_SIZE:
            yield from _records(batch, Sample)
            batch = []
    if batch:
        yield from _records(batch, Sample)


def order_jsonl_lines(*, order: Order) -> Iterator[str]:
    """One JSON line per purchased sample (``order_sample_records``)."""
    for record in order_sample_records(order=order):
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _records(batch: list[tuple[str, str]], sample_model) -> Iterator[dict[str, Any]]:
    ids = [int(ref) for ref, _ in batch if ref.isdigit()]
    samples = sample_model.objects.filter(pk__in=ids).select_related("version__listing")
    by_id = {str(sample.pk): sample for sample in samples}
    for ref, value in batch:
        sample = by_id.get(ref)
        if sample is None:
            continue
        listing, version = sample.version.listing, sample.version
        record: dict[str, Any] = {
            "sample_id": sample.external_id,
            "listing": {"slug": listing.slug, "title": listing.title},
            "dataset_version": version.number,
            "licence": listing.licence,
            "value": float(Fraction(value)),
            "value_exact": value,
        }
        if sample.text is not None:
            record["text"] = sample.text
        else:
            record["prompt"], record["response"] = sample.prompt, sample.response
        yield record
