"""Property-based fuzzing of the whole REST API against its live OpenAPI schema (Schemathesis).

Every operation of ``/api/schema/`` is called with generated (valid and invalid) input, as an
anonymous caller, a provider and a buyer: no answer may be a server error, and every
documented answer must match the schema. CI runs ``EXAMPLES`` examples per operation and
role (see docs/security.md); ``API_FUZZ_EXAMPLES=200`` digs deeper locally.
"""

from __future__ import annotations

import io
import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accounts.services import auth_token_get_or_create
from marketplace.models import DatasetVersion
from marketplace.services.listings import listing_create, listing_publish
from marketplace.services.targets import target_set_upload, target_task_create
from marketplace.services.versions import version_upload
from tests.security.conftest import make_user

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))
ROLES = ("anonymous", "provider", "buyer")

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def _keep_the_test_connection():
    """Calls go straight to the WSGI app, whose request signals would close the database
    connection holding this test's transaction; Django's own test client unhooks them too."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, settings, tmp_path, _keep_the_test_connection) -> dict[str, str]:
    """A provider with a published listing and a buyer with a ready target task, so that
    generated ids and slugs sometimes name real objects."""
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.MEDIA_ROOT = tmp_path / "storage"
    provider = make_user("fuzz-provider", is_provider=True)
    buyer = make_user("fuzz-buyer", is_buyer=True)
    listing = listing_create(
        provider=provider, title="a", licence="MIT", floor_price_per_1k_tokens=1, slug="a"
    )
    rows = "".join(json.dumps({"text": f"sample {n} of the set"}) + "\n" for n in range(3))
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(rows.encode()), filename="d.jsonl"
    )
    assert version.status == DatasetVersion.Status.READY
    listing_publish(listing=listing, actor=provider)
    task = target_task_create(buyer=buyer, name="fuzz")
    target_set_upload(task=task, actor=buyer, file=io.BytesIO(rows.encode()), filename="t.jsonl")
    return {
        "provider": auth_token_get_or_create(user=provider).key,
        "buyer": auth_token_get_or_create(user=buyer).key,
    }


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzz(case, role, tokens):
    headers = {"Authorization": f"Token {tokens[role]}"} if role in tokens else {}
    case.call_and_validate(
        headers=headers, checks=[not_a_server_error, response_schema_conformance]
    )
