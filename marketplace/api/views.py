"""Marketplace REST endpoints: thin views over ``marketplace.services`` and ``selectors``.

Visibility: an object the caller may not see answers 404 (its existence is not revealed);
an object the caller may see but not change answers 403. Anonymous callers may browse
published listings; everything else needs a token (401 without one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsBuyer, IsProvider, IsStaff
from core.api import paginated
from marketplace.api import serializers as s
from marketplace.models import DatasetVersion, Listing, TargetTask
from marketplace.selectors import (
    listing_can_manage,
    listing_get_for_viewer,
    listing_preview_samples,
    listing_search,
    listings_of_provider,
    target_samples,
    target_task_get_for_viewer,
    target_tasks_visible,
    version_duplicates,
    version_get_for_owner,
    versions_for_viewer,
)
from marketplace.services.listings import (
    listing_create,
    listing_delete,
    listing_publish,
    listing_take_down,
    listing_unpublish,
    listing_update,
)
from marketplace.services.targets import (
    target_set_upload,
    target_task_create,
    target_task_delete,
    target_task_update,
)
from marketplace.services.versions import (
    version_accept_valid_rows,
    version_discard,
    version_upload,
)


class MarketPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class ServiceApi(APIView):
    """An API view of this app; service errors answer in the API's one error shape
    (``core.api.exception_handler``)."""

    def paginated(self, request: Request, queryset, serializer_class, **kwargs: Any) -> Response:
        paginator = MarketPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = serializer_class(page, many=True, context={"request": request}, **kwargs).data
        return paginator.get_paginated_response(data)


def _visible_listing(request: Request, slug: str) -> Listing:
    listing = listing_get_for_viewer(slug=slug, user=request.user)
    if listing is None:
        raise Http404("No such listing.")
    return listing


def _run_listing_action(request: Request, slug: str, action: Callable[..., Any]) -> Any:
    """Run an owner action (publish, unpublish, delete) on a listing the caller can see.

    A listing the caller may not see answers 404; the service's refusals (not the owner: 403,
    a state that refuses the action: 409) are turned into the API's error shape by
    ``ServiceApi``.
    """
    return action(listing=_visible_listing(request, slug), actor=request.user)


def _owned_version(request: Request, version_id: int) -> DatasetVersion:
    version = version_get_for_owner(version_id=version_id, user=request.user)
    if version is None:
        raise Http404("No such version.")
    return version


def _visible_task(request: Request, task_id: int) -> TargetTask:
    task = target_task_get_for_viewer(task_id=task_id, user=request.user)
    if task is None:
        raise Http404("No such target task.")
    return task


def _listing_data(request: Request, listing: Listing, *, detail: bool = False) -> dict[str, Any]:
    manager = listing_can_manage(user=request.user, listing=listing)
    serializer = s.ListingOwnerSerializer if manager else s.ListingSerializer
    data = dict(serializer(listing, context={"request": request}).data)
    if detail:
        preview = listing_preview_samples(listing=listing)
        data["preview"] = s.SamplePreviewSerializer(preview, many=True).data
    return data


# --- listings -------------------------------------------------------------------------------


class ListingListApi(ServiceApi):
    """Browse and search published listings (anyone), or ``?mine=true`` (your own, any state).
    POST creates a draft listing (providers)."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsProvider()]
        return [AllowAny()]

    @extend_schema(
        parameters=[s.ListingSearchQuerySerializer],
        responses={200: paginated(s.ListingSerializer)},
        operation_id="marketplace_listings_list",
    )
    def get(self, request: Request) -> Response:
        query = s.ListingSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        if params.get("mine"):
            if not request.user.is_authenticated:
                self.permission_denied(request, message="Sign in to list your own datasets.")
            listings = listings_of_provider(provider=request.user)
            return self.paginated(request, listings, s.ListingOwnerSerializer)
        listings = listing_search(
            query=params.get("q", ""),
            tags=params.get("tag", []),
            licence=params.get("licence") or None,
            language=params.get("language") or None,
            currency=params.get("currency") or None,
            price_min=params.get("price_min"),
            price_max=params.get("price_max"),
            size_min=params.get("size_min"),
            size_max=params.get("size_max"),
            sort=params["sort"],
        )
        return self.paginated(request, listings, s.ListingSerializer)

    @extend_schema(
        request=s.ListingInputSerializer,
        responses={201: s.ListingOwnerSerializer},
        operation_id="marketplace_listings_create",
    )
    def post(self, request: Request) -> Response:
        data = s.ListingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = listing_create(provider=request.user, **data.validated_data)
        return Response(_listing_data(request, listing), status=status.HTTP_201_CREATED)


class ListingDetailApi(ServiceApi):
    """A listing with its datasheet and preview. PATCH/DELETE: the listing's provider."""

    def get_permissions(self):
        if self.request.method == "GET":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(responses={200: s.ListingSerializer}, operation_id="marketplace_listing_get")
    def get(self, request: Request, slug: str) -> Response:
        return Response(_listing_data(request, _visible_listing(request, slug), detail=True))

    @extend_schema(
        request=s.ListingInputSerializer,
        responses={200: s.ListingOwnerSerializer},
        operation_id="marketplace_listing_update",
    )
    def patch(self, request: Request, slug: str) -> Response:
        listing = _visible_listing(request, slug)
        data = s.ListingInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        listing = listing_update(listing=listing, actor=request.user, data=data.validated_data)
        return Response(_listing_data(request, listing, detail=True))

    @extend_schema(responses={204: None}, operation_id="marketplace_listing_delete")
    def delete(self, request: Request, slug: str) -> Response:
        _run_listing_action(request, slug, listing_delete)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ListingActionApi(ServiceApi):
    # POST runs ``service`` (an owner action) on the listing and answers the listing. No
    # docstring, so the API schema keeps describing these views as it did.

    permission_classes = [IsAuthenticated]
    service: Callable[..., Listing]

    @extend_schema(request=None, responses={200: s.ListingOwnerSerializer})
    def post(self, request: Request, slug: str) -> Response:
        return Response(_listing_data(request, _run_listing_action(request, slug, self.service)))


@extend_schema_view(post=extend_schema(operation_id="marketplace_listing_publish"))
class ListingPublishApi(_ListingActionApi):
    service = staticmethod(listing_publish)


@extend_schema_view(post=extend_schema(operation_id="marketplace_listing_unpublish"))
class ListingUnpublishApi(_ListingActionApi):
    service = staticmethod(listing_unpublish)


class ListingTakeDownApi(ServiceApi):
    """Staff moderation: take a listing off the market for good."""

    permission_classes = [IsStaff]

    @extend_schema(
        request=s.TakeDownInputSerializer,
        responses={200: s.ListingOwnerSerializer},
        operation_id="marketplace_listing_take_down",
    )
    def post(self, request: Request, slug: str) -> Response:
        data = s.TakeDownInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = listing_take_down(
            listing=_visible_listing(request, slug),
            actor=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(_listing_data(request, listing))


# --- versions -------------------------------------------------------------------------------


class ListingVersionsApi(ServiceApi):
    """GET: the listing's versions (ready ones unless you own it). POST (multipart ``file``,
    optional ``format``): upload a new version; the answer carries its validation report."""

    parser_classes = [MultiPartParser, FormParser]

    def get_permissions(self):
        if self.request.method == "GET":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        responses={200: paginated(s.VersionSummarySerializer)},
        operation_id="marketplace_listing_versions_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        listing = _visible_listing(request, slug)
        versions = versions_for_viewer(listing=listing, user=request.user)
        manager = listing_can_manage(user=request.user, listing=listing)
        serializer = s.VersionSerializer if manager else s.VersionSummarySerializer
        return self.paginated(request, versions.select_related("listing"), serializer)

    @extend_schema(
        request={"multipart/form-data": s.VersionUploadInputSerializer},
        responses={201: s.VersionSerializer},
        operation_id="marketplace_listing_versions_create",
    )
    def post(self, request: Request, slug: str) -> Response:
        listing = _visible_listing(request, slug)
        data = s.VersionUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        version = version_upload(
            listing=listing,
            actor=request.user,
            file=upload,
            filename=upload.name,
            declared_format=data.validated_data.get("format"),
        )
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailApi(ServiceApi):
    """Status, progress and validation report (the listing's provider and staff)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.VersionSerializer}, operation_id="marketplace_version_get")
    def get(self, request: Request, version_id: int) -> Response:
        return Response(s.VersionSerializer(_owned_version(request, version_id)).data)


class VersionAcceptApi(ServiceApi):
    """The provider's choice: ingest the valid rows, skip the invalid ones."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: s.VersionSerializer},
        operation_id="marketplace_version_accept",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = version_accept_valid_rows(
            version=_owned_version(request, version_id), actor=request.user
        )
        return Response(s.VersionSerializer(version).data)


class VersionDiscardApi(ServiceApi):
    """The provider's choice: drop this upload (to upload a fixed file)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: s.VersionSerializer},
        operation_id="marketplace_version_discard",
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = version_discard(version=_owned_version(request, version_id), actor=request.user)
        return Response(s.VersionSerializer(version).data)


class VersionDuplicatesApi(ServiceApi):
    """The version's samples flagged as duplicates, with each original's listing."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: paginated(s.DuplicateSampleSerializer)},
        operation_id="marketplace_version_duplicates",
    )
    def get(self, request: Request, version_id: int) -> Response:
        version = _owned_version(request, version_id)
        return self.paginated(
            request, version_duplicates(version=version), s.DuplicateSampleSerializer
        )


# --- target tasks ---------------------------------------------------------------------------


class TargetTaskListApi(ServiceApi):
    """Your target tasks (staff: all). POST creates one (buyers)."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsBuyer()]
        return [IsAuthenticated()]

    @extend_schema(
        responses={200: paginated(s.TargetTaskSerializer)},
        operation_id="marketplace_target_tasks_list",
    )
    def get(self, request: Request) -> Response:
        return self.paginated(
            request, target_tasks_visible(user=request.user), s.TargetTaskSerializer
        )

    @extend_schema(
        request=s.TargetTaskInputSerializer,
        responses={201: s.TargetTaskSerializer},
        operation_id="marketplace_target_tasks_create",
    )
    def post(self, request: Request) -> Response:
        data = s.TargetTaskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = target_task_create(buyer=request.user, **data.validated_data)
        return Response(s.TargetTaskSerializer(task).data, status=status.HTTP_201_CREATED)


class TargetTaskDetailApi(ServiceApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: s.TargetTaskSerializer}, operation_id="marketplace_target_task_get"
    )
    def get(self, request: Request, task_id: int) -> Response:
        return Response(s.TargetTaskSerializer(_visible_task(request, task_id)).data)

    @extend_schema(
        request=s.TargetTaskInputSerializer,
        responses={200: s.TargetTaskSerializer},
        operation_id="marketplace_target_task_update",
    )
    def patch(self, request: Request, task_id: int) -> Response:
        task = _visible_task(request, task_id)
        data = s.TargetTaskInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        task = target_task_update(
            task=task,
            actor=request.user,
            name=data.validated_data.get("name", task.name),
            description=data.validated_data.get("description", task.description),
        )
        return Response(s.TargetTaskSerializer(task).data)

    @extend_schema(responses={204: None}, operation_id="marketplace_target_task_delete")
    def delete(self, request: Request, task_id: int) -> Response:
        target_task_delete(task=_visible_task(request, task_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TargetSetUploadApi(ServiceApi):
    """Upload (or replace) the task's target set: all rows valid, or nothing changes and the
    answer is 400 with the validation report in ``error.details.report``."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": s.VersionUploadInputSerializer},
        responses={200: s.TargetTaskSerializer},
        operation_id="marketplace_target_set_upload",
    )
    def post(self, request: Request, task_id: int) -> Response:
        task = _visible_task(request, task_id)
        data = s.VersionUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        task = target_set_upload(
            task=task,
            actor=request.user,
            file=upload,
            filename=upload.name,
            declared_format=data.validated_data.get("format"),
        )
        return Response(s.TargetTaskSerializer(task).data)


class TargetSamplesApi(ServiceApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: paginated(s.TargetSampleSerializer)},
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        operation_id="marketplace_target_samples_list",
    )
    def get(self, request: Request, task_id: int) -> Response:
        task = _visible_task(request, task_id)
        return self.paginated(request, target_samples(task=task), s.TargetSampleSerializer)
