"""Payments writes marketplace access grants: on payment, revoked by a full refund only; the
marketplace and valuation reads follow them, and a denied read writes nothing."""

import importlib

import pytest
from django.utils import timezone

from marketplace.models import AccessGrant, Listing
from marketplace.selectors import (
    listing_get_for_viewer,
    readable_sample_ids,
    user_can_read_sample,
    user_has_listing_access,
)
from payments.services.orders import (
    access_source,
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.quotes import quote_create_for_job
from payments.services.refunds import order_refund_record
from tests.payments.conftest import ids
from valuation.selectors import buyer_can_read_sample, buyer_readable_sample_ids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]


def _paid_order(world, buyer, *keys):
    quote = quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=ids(world, *keys))
    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)
    order_test_payment_confirm(order_id=order.pk, buyer=buyer)
    order.refresh_from_db()
    return order


def test_payment_grants_access_to_exactly_the_samples_bought(world, buyer, other_buyer):
    la, lb = world["listings"]
    a1, a2 = world["samples"]["a1"], world["samples"]["a2"]
    assert AccessGrant.objects.count() == 0

    order = _paid_order(world, buyer, "a1")

    grant = AccessGrant.objects.get()
    assert (grant.user_id, grant.sample_ref, grant.listing_ref) == (buyer.pk, a1.pk, la.pk)
    assert grant.source == access_source(order) and grant.revoked_at is None
    assert user_has_listing_access(user=buyer, listing=la)
    assert not user_has_listing_access(user=buyer, listing=lb)
    assert not user_has_listing_access(user=other_buyer, listing=la)
    assert user_can_read_sample(user=buyer, sample_id=a1.pk)
    assert not user_can_read_sample(user=buyer, sample_id=a2.pk)
    assert readable_sample_ids(user=buyer) == {a1.pk}
    assert buyer_can_read_sample(buyer=buyer, sample=a1)
    assert buyer_readable_sample_ids(buyer=other_buyer) == set()

    # A taken-down listing stays visible to the buyer who holds a grant, no one else.
    Listing.objects.filter(pk=la.pk).update(status="taken_down", taken_down_at=timezone.now())
    assert listing_get_for_viewer(slug=la.slug, user=buyer) is not None
    assert listing_get_for_viewer(slug=la.slug, user=other_buyer) is None


def test_a_partial_refund_keeps_access_a_full_refund_revokes_it(world, buyer):
    a1 = world["samples"]["a1"]
    order = _paid_order(world, buyer, "a1", "b1")
    assert order.total > 1

    order_refund_record(order_id=order.pk, cumulative_refunded=1, source="test")
    assert readable_sample_ids(user=buyer) == set(ids(world, "a1", "b1"))

    order_refund_record(order_id=order.pk, cumulative_refunded=order.total, source="test")
    assert readable_sample_ids(user=buyer) == set()
    assert not user_can_read_sample(user=buyer, sample_id=a1.pk)
    assert AccessGrant.objects.filter(revoked_at__isnull=False).count() == 2


def test_denied_reads_write_nothing(world, buyer, other_buyer, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    la, _ = world["listings"]
    a1 = world["samples"]["a1"]
    _paid_order(world, buyer, "a1")
    before = list(AccessGrant.objects.values())

    assert not user_can_read_sample(user=AnonymousUser(), sample_id=a1.pk)
    assert not user_has_listing_access(user=AnonymousUser(), listing=la)
    assert readable_sample_ids(user=AnonymousUser()) == set()
    with django_assert_num_queries(3):
        assert not user_can_read_sample(user=other_buyer, sample_id=a1.pk)
        assert not user_has_listing_access(user=other_buyer, listing=la)
        assert readable_sample_ids(user=other_buyer) == set()
    assert list(AccessGrant.objects.values()) == before


def test_the_migration_backfills_grants_of_live_paid_orders_only(world, buyer):
    from django.apps import apps

    backfill = importlib.import_module("payments.migrations.0004_backfill_access_grants").backfill
    live = _paid_order(world, buyer, "a1")
    refunded = _paid_order(world, buyer, "b1")
    order_refund_record(order_id=refunded.pk, cumulative_refunded=refunded.total, source="test")
    AccessGrant.objects.all().delete()

    backfill(apps, None)
    backfill(apps, None)  # idempotent

    grant = AccessGrant.objects.get()
    assert (grant.source, grant.sample_ref) == (access_source(live), world["samples"]["a1"].pk)
    assert grant.user_id == buyer.pk and grant.revoked_at is None
