"""The demo seeding tests reuse the marketplace suite's helpers and its isolated storage."""

from tests.marketplace.conftest import _isolated_storage  # noqa: F401 (autouse fixture)
