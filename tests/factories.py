"""factory_boy factories that build objects through the services, as the product does.

A factory never writes rows directly: ``_create`` calls the service, so every invariant the
service enforces (a user always has a profile, only providers list data) holds in tests too.
"""

import factory

from accounts.services import user_create
from marketplace.services.listings import listing_create
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
