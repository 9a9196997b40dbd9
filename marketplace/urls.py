"""Marketplace pages (mounted at the site root by config/urls.py, in the ``marketplace``
namespace together with website.urls.marketplace_pages)."""

from django.urls import path

from marketplace import views

app_name = "marketplace"

urlpatterns = [
    # Provider
    path("provider/datasets/new/", views.listing_create_page, name="listing_create"),
    path("provider/datasets/<slug:slug>/edit/", views.listing_edit_page, name="listing_edit"),
    path("provider/datasets/<slug:slug>/upload/", views.version_upload_page, name="version_upload"),
    path(
        "provider/datasets/<slug:slug>/publish/",
        views.listing_publish_page,
        name="listing_publish",
    ),
    path(
        "provider/datasets/<slug:slug>/unpublish/",
        views.listing_unpublish_page,
        name="listing_unpublish",
    ),
    path("provider/datasets/<slug:slug>/delete/", views.listing_delete_page, name="listing_delete"),
    path("provider/versions/<int:version_id>/", views.version_status, name="version_status"),
    path(
        "provider/versions/<int:version_id>/accept/",
        views.version_accept_page,
        name="version_accept",
    ),
    path(
        "provider/versions/<int:version_id>/discard/",
        views.version_discard_page,
        name="version_discard",
    ),
    path(
        "provider/versions/<int:version_id>/duplicates/",
        views.version_duplicates_page,
        name="version_duplicates",
    ),
    # Buyer
    path("notices/", views.demo_notices, name="notices"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/<int:task_id>/", views.task_detail, name="task_detail"),
]
