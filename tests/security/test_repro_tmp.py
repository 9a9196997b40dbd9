import pytest
from marketplace.services.listings import listing_create
from tests.security.conftest import api_for

@pytest.mark.django_db
def test_repro(client, provider):
    listing = listing_create(provider=provider, title="Empty", licence="MIT", floor_price_per_1k_tokens=5)
    client.force_login(provider)
    r = client.get(f"/data/{listing.slug}/")
    print(r.status_code)
    api = api_for(provider)
    print(api.get("/api/valuation/jobs/99999999999999999999999/").status_code)
    print(api.get("/api/marketplace/versions/99999999999999999999999/").status_code)
    print(api.get("/api/marketplace/listings/?price_min=99999999999999999999999").status_code)
