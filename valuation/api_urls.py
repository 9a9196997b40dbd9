"""Mounted at /api/valuation/ (config/api_urls.py: path("valuation/", include(...)))."""

from django.urls import path

from valuation import api

app_name = "valuation-api"

urlpatterns = [
    path("jobs/", api.ValuationJobListApi.as_view(), name="job_list"),
    path("jobs/<int:job_id>/", api.ValuationJobDetailApi.as_view(), name="job_detail"),
    path("jobs/<int:job_id>/cancel/", api.ValuationJobCancelApi.as_view(), name="job_cancel"),
    path("jobs/<int:job_id>/retry/", api.ValuationJobRetryApi.as_view(), name="job_retry"),
    path(
        "jobs/<int:job_id>/listings/",
        api.ValuationJobListingsApi.as_view(),
        name="job_listings",
    ),
    path("jobs/<int:job_id>/scores/", api.ValuationJobScoresApi.as_view(), name="job_scores"),
]
