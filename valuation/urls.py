"""Buyer pages, mounted at /valuation/ (config/urls.py: path("valuation/", include(...)))."""

from django.urls import path

from valuation import views

app_name = "valuation"

urlpatterns = [
    path("tasks/<int:task_id>/value/", views.job_request, name="job_request"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<int:job_id>/results/", views.job_results, name="job_results"),
]
