from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.health import healthz
from marketplace import urls as marketplace_urls
from payments import subset_urls
from website import urls as website_urls

urlpatterns = [
    path("", include("website.urls")),
    path("accounts/", include("accounts.urls")),
    path("payments/", include("payments.urls")),
    path("valuation/", include("valuation.urls")),
    path("valuation/", include(subset_urls.pages)),
    # One "marketplace" namespace: the app's own pages, then those that also show valuations.
    path(
        "",
        include(
            (marketplace_urls.urlpatterns + website_urls.marketplace_pages, "marketplace"),
            namespace="marketplace",
        ),
    ),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("config.api_urls")),
]

handler400 = "website.views.bad_request"
handler403 = "website.views.permission_denied"
handler404 = "website.views.page_not_found"
handler500 = "website.views.server_error"
