"""The subset page and endpoint of a finished valuation. They belong to payments (a subset is
priced as its quote charges) but keep their addresses under /valuation/ and /api/valuation/:
config/urls.py and config/api_urls.py mount ``pages`` and ``endpoints``."""

from django.urls import path

from payments import api, views

pages = (
    [path("jobs/<int:job_id>/subset/", views.job_subset, name="job_subset")],
    "subset",
)
endpoints = (
    [path("jobs/<int:job_id>/subset/", api.ValuationJobSubsetApi.as_view(), name="job_subset")],
    "subset-api",
)
