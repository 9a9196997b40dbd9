"""Marketplace API routes, mounted under /api/marketplace/ by config/api_urls.py."""

from django.urls import path

from marketplace.api import views

app_name = "marketplace-api"

urlpatterns = [
    path("listings/", views.ListingListApi.as_view(), name="listings"),
    path("listings/<slug:slug>/", views.ListingDetailApi.as_view(), name="listing"),
    path(
        "listings/<slug:slug>/publish/", views.ListingPublishApi.as_view(), name="listing-publish"
    ),
    path(
        "listings/<slug:slug>/unpublish/",
        views.ListingUnpublishApi.as_view(),
        name="listing-unpublish",
    ),
    path(
        "listings/<slug:slug>/take-down/",
        views.ListingTakeDownApi.as_view(),
        name="listing-take-down",
    ),
    path(
        "listings/<slug:slug>/versions/",
        views.ListingVersionsApi.as_view(),
        name="listing-versions",
    ),
    path("versions/<int:version_id>/", views.VersionDetailApi.as_view(), name="version"),
    path(
        "versions/<int:version_id>/accept/", views.VersionAcceptApi.as_view(), name="version-accept"
    ),
    path(
        "versions/<int:version_id>/discard/",
        views.VersionDiscardApi.as_view(),
        name="version-discard",
    ),
    path(
        "versions/<int:version_id>/duplicates/",
        views.VersionDuplicatesApi.as_view(),
        name="version-duplicates",
    ),
    path("target-tasks/", views.TargetTaskListApi.as_view(), name="target-tasks"),
    path("target-tasks/<int:task_id>/", views.TargetTaskDetailApi.as_view(), name="target-task"),
    path(
        "target-tasks/<int:task_id>/target-set/",
        views.TargetSetUploadApi.as_view(),
        name="target-set",
    ),
    path(
        "target-tasks/<int:task_id>/samples/",
        views.TargetSamplesApi.as_view(),
        name="target-samples",
    ),
]
