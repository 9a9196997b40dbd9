"""All REST endpoints, one include per app, under /api/."""

from django.urls import include, path

from payments import subset_urls

urlpatterns = [
    path("accounts/", include("accounts.api_urls")),
    path("marketplace/", include("marketplace.api.urls")),
    path("payments/", include("payments.api_urls")),
    path("valuation/", include("valuation.api_urls")),
    path("valuation/", include(subset_urls.endpoints)),
]
