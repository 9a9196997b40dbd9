"""Signed, expiring, buyer-bound download links for a paid order, and the JSONL they serve.

A link carries ``TimestampSigner`` over "<order id>:<buyer id>" (salted for this purpose).
It is good for PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS (default 1 hour), only for the order's
buyer, and only while the order's entitlement is live (paid, not fully refunded).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing

from payments import conf
from payments.errors import PaymentsError
from payments.models import Order, OrderLine

SIGNING_SALT = "payments.order-download"
DOWNLOAD_CHUNK_SIZE = 500


class DownloadLinkExpired(PaymentsError):
    """The link was valid but is older than its max age (410)."""


class DownloadNotAllowed(PaymentsError):
    """Tampered link, another user's link, or an order without live access (403)."""


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
    order = (
        Order.objects.filter(pk=order_id, buyer_id=user.pk, entitlement__revoked_at__isnull=True)
        .exclude(status=Order.Status.PENDING)
        .first()
    )
    if order is None:
        raise DownloadNotAllowed("this order gives no access to download (unpaid or refunded)")
    return order


def order_jsonl_lines(*, order: Order) -> Iterator[str]:
    """One JSON line per purchased sample, in order-line order, read in chunks."""
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
            yield from _rendered(batch, Sample)
            batch = []
    if batch:
        yield from _rendered(batch, Sample)


def _rendered(batch: list[tuple[str, str]], sample_model) -> Iterator[str]:
    ids = [int(ref) for ref, _ in batch if ref.isdigit()]
    samples = sample_model.objects.filter(pk__in=ids).select_related("version__listing")
    by_id = {str(sample.pk): sample for sample in samples}
    for ref, value in batch:
        sample = by_id.get(ref)
        if sample is None:
            continue
        listing, version = sample.version.listing, sample.version
        record = {
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
        yield json.dumps(record, ensure_ascii=False) + "\n"
