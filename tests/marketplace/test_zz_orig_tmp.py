import pytest
from tests.marketplace import _orig_selectors_tmp as orig
from tests.marketplace.test_market_search_postgres import catalogue  # noqa
pytestmark = pytest.mark.django_db
def test_orig(catalogue):
    print("ORIG", [l.slug for l in orig.listing_search(query="contracts -letters")])
