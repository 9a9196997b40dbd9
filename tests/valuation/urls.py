"""The project's URLs plus the valuation pages and API, mounted as config/urls.py should."""

from django.urls import include, path

from config.urls import handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urls

urlpatterns = [
    path("valuation/", include("valuation.urls")),
    path("api/valuation/", include("valuation.api_urls")),
    *project_urls,
]
