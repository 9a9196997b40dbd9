from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.services import user_create
from tests.accounts.helpers import PASSWORD


@pytest.fixture
def make_user(db) -> Callable:
    """make_user("ana", roles=("provider",), staff=False) -> User with a profile."""

    def make(username: str, *, roles: tuple[str, ...] = (), staff: bool = False, **extra):
        return user_create(
            username=username,
            email=extra.pop("email", f"{username}@example.com"),
            password=extra.pop("password", PASSWORD),
            is_provider="provider" in roles,
            is_buyer="buyer" in roles,
            is_staff=staff,
            **extra,
        )

    return make


@pytest.fixture
def provider(make_user):
    return make_user("prov", roles=("provider",), display_name="Prov Data", organisation="ACME")


@pytest.fixture
def buyer(make_user):
    return make_user("buy", roles=("buyer",), display_name="Buyer Bee", organisation="LabCo")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
