"""factory_boy factories that build objects through the services, as the product does.

A factory never writes rows directly: ``_create`` calls the service, so every invariant the
service enforces (a user always has a profile, only providers list data) holds in tests too.

``make_listing`` and ``make_sample`` are the one exception, for tests that need samples of an
exact token count (pricing, quotes): ingest would tokenise real text, so the version and its
samples are written directly, while the listing itself is still created and published through
the services.
"""

from __future__ import annotations

import factory

from accounts.services import user_create
from marketplace.models import DatasetVersion, Listing, Sample
from marketplace.services.listings import listing_create, listing_publish
from marketplace.services.targets import target_task_create

PASSWORD = "factory-pass-123"


class UserFactory(factory.Factory):
    class Meta:
        model = dict  # built through accounts.services.user_create

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = PASSWORD
    is_provider = False
    is_buyer = False
    is_staff = False
    display_name = factory.LazyAttribute(lambda o: o.username.title())

    @classmethod
    def _create(cls, model_class, **kwargs):
        return user_create(**kwargs)


class ProviderFactory(UserFactory):
    is_provider = True


class BuyerFactory(UserFactory):
    is_buyer = True


class ListingFactory(factory.Factory):
    class Meta:
        model = dict  # built through marketplace.services.listings.listing_create

    provider = factory.SubFactory(ProviderFactory)
    title = factory.Sequence(lambda n: f"Dataset {n}")
    licence = "MIT"
    floor_price_per_1k_tokens = 10
    currency = "usd"
    tags = ("prose",)

    @classmethod
    def _create(cls, model_class, **kwargs):
        return listing_create(**kwargs)


class TargetTaskFactory(factory.Factory):
    class Meta:
        model = dict  # built through marketplace.services.targets.target_task_create

    buyer = factory.SubFactory(BuyerFactory)
    name = factory.Sequence(lambda n: f"Task {n}")
    description = "A buyer's target task."

    @classmethod
    def _create(cls, model_class, **kwargs):
        return target_task_create(**kwargs)


def make_listing(
    provider, slug: str, *, floor: int = 100, status: str = Listing.Status.PUBLISHED
) -> Listing:
    """A listing titled and slugged ``slug`` with one empty READY version as its current one.

    ``status`` is ``published`` (published through the service) or ``draft``; fill the
    version with ``make_sample``.
    """
    if status not in (Listing.Status.PUBLISHED, Listing.Status.DRAFT):
        raise ValueError(f"make_listing makes published or draft listings, not {status!r}")
    listing = ListingFactory(
        provider=provider,
        title=slug,
        slug=slug,
        licence="CC-BY-4.0",
        floor_price_per_1k_tokens=floor,
        tags=(),
    )
    version = DatasetVersion.objects.create(
        listing=listing,
        number=1,
        original_filename="d.jsonl",
        format="jsonl",
        file_sha256="0" * 64,
        status=DatasetVersion.Status.READY,
    )
    listing.current_version = version
    listing.save(update_fields=["current_version"])
    if status == Listing.Status.PUBLISHED:
        listing = listing_publish(listing=listing, actor=provider)
    return listing


def make_sample(listing: Listing, position: int, tokens: int, **extra) -> Sample:
    """Sample ``position`` of the listing's current version, exactly ``tokens`` tokens long."""
    return Sample.objects.create(
        version=listing.current_version,
        position=position,
        source_line=position + 1,
        external_id=f"{listing.slug}-{position}",
        text=f"text {listing.slug} {position}",
        token_count=tokens,
        norm_hash=f"{listing.slug}{position}",
        **extra,
    )
