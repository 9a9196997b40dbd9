"""The shared factories build valid objects through the services."""

import re

import pytest

from core.errors import NotAllowed
from marketplace.models import Listing
from tests.factories import BuyerFactory, ListingFactory, ProviderFactory, TargetTaskFactory


@pytest.mark.django_db
def test_user_factories_create_profiles_with_roles():
    provider, buyer = ProviderFactory(), BuyerFactory()

    assert provider.profile.roles == ["provider"]
    assert buyer.profile.roles == ["buyer"]
    assert provider.check_password("factory-pass-123")


@pytest.mark.django_db
def test_listing_factory_makes_a_draft_listing_of_its_provider():
    listing = ListingFactory(title="Brown news")

    assert listing.status == Listing.Status.DRAFT
    assert re.fullmatch(r"brown-news-[0-9a-f]{6}", listing.slug)  # a random suffix, always
    assert listing.provider.profile.is_provider
    assert [tag.name for tag in listing.tags.all()] == ["prose"]


@pytest.mark.django_db
def test_a_buyer_cannot_be_the_provider_of_a_listing():
    with pytest.raises(NotAllowed, match="Only data providers can create listings"):
        ListingFactory(provider=BuyerFactory())
    assert Listing.objects.count() == 0


@pytest.mark.django_db
def test_target_task_factory_belongs_to_a_buyer():
    task = TargetTaskFactory(name="Support intents")

    assert task.name == "Support intents"
    assert task.buyer.profile.is_buyer
