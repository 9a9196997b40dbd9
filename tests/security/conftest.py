"""Fixtures for the hostile-input tests: users in every role and their API tokens."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import auth_token_get_or_create, user_create

PASSWORD = "pass-for-tests-123"


def make_user(username: str, **roles) -> object:
    return user_create(
        username=username, email=f"{username}@example.com", password=PASSWORD, **roles
    )


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.MEDIA_ROOT = tmp_path / "storage"


@pytest.fixture
def provider(db):
    return make_user("prov", is_provider=True)


@pytest.fixture
def other_provider(db):
    return make_user("prov2", is_provider=True)


@pytest.fixture
def buyer(db):
    return make_user("buyer", is_buyer=True)


@pytest.fixture
def staff(db):
    return make_user("staffer", is_staff=True)


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {auth_token_get_or_create(user=user).key}")
    return client
