"""Every model in the staff admin lists its rows and opens one, with real data: no 500, and
records that only services may write cannot be added there."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from marketplace.models import AccessGrant
from marketplace.services.access import access_grant_many
from tests.factories import BuyerFactory, ProviderFactory
from tests.payments.journey import build_job_world
from valuation.models import ListingSummary

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    buyer = BuyerFactory(username="bea")
    built = build_job_world(
        buyer=buyer,
        provider_a=ProviderFactory(username="pa"),
        provider_b=ProviderFactory(username="pb"),
    )
    sample = built["samples"]["a1"]
    access_grant_many(
        user_id=buyer.pk,
        sample_listing_ids=[(sample.pk, built["listings"]["la"].pk)],
        source="order:7",
        granted_at=timezone.now(),
    )
    return built


def test_every_admin_list_and_first_row_open(admin_client, world):
    assert ListingSummary.objects.count() == 3 and AccessGrant.objects.count() == 1
    for model in admin.site._registry:
        meta = model._meta
        listing = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert listing.status_code == 200, meta.label
        first = model.objects.order_by("pk").first()
        if first is not None:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert admin_client.get(url).status_code == 200, meta.label


@pytest.mark.parametrize(("model", "shown"), [(AccessGrant, "order:7"), (ListingSummary, "lb")])
def test_grants_and_listing_figures_are_read_only_in_the_admin(admin_client, world, model, shown):
    meta = model._meta
    add = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    assert add.status_code == 403
    page = admin_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert page.status_code == 200 and shown in page.content.decode()
