"""Marketplace pages: thin views over ``marketplace.services`` and ``selectors``.

Provider: create/edit a listing, upload a version (a status page that
refreshes itself without JavaScript; JS polls the API for a live progress bar), the
validation report with the choice, the duplicates view. Buyer: target tasks. Pages that
also show valuation results (catalogue, listing page, my datasets) are website.market_pages.
Objects the user may not see answer 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from core.errors import Conflict, Invalid, NotAllowed, ServiceError
from marketplace.forms import ListingForm, TargetSetForm, TargetTaskForm, UploadForm
from marketplace.models import DatasetVersion, Listing
from marketplace.selectors import (
    demo_notices_text,
    listing_get_for_owner,
    target_samples,
    target_task_get_for_viewer,
    target_tasks_of_buyer,
    version_duplicate_summary,
    version_duplicates,
    version_get_for_owner,
)
from marketplace.services.listings import (
    listing_create,
    listing_delete,
    listing_publish,
    listing_unpublish,
    listing_update,
)
from marketplace.services.targets import (
    TargetSetInvalid,
    target_set_paste,
    target_set_upload,
    target_task_create,
)
from marketplace.services.versions import (
    version_accept_valid_rows,
    version_discard,
    version_upload,
)

PAGE_SIZE = 12


def owned_listing_or_404(request: HttpRequest, slug: str) -> Listing:
    """The signed-in provider's own listing (staff: any), else 404."""
    listing = listing_get_for_owner(slug=slug, user=request.user)
    if listing is None:
        raise Http404("No such dataset.")
    return listing


def _owned_version(request: HttpRequest, version_id: int) -> DatasetVersion:
    version = version_get_for_owner(version_id=version_id, user=request.user)
    if version is None:
        raise Http404("No such version.")
    return version


def _service_error(request: HttpRequest, error: ServiceError) -> None:
    for message in error.messages:
        messages.error(request, message)


# --- provider -------------------------------------------------------------------------------


@role_required("provider")
def listing_create_page(request: HttpRequest) -> HttpResponse:
    form = ListingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            listing = listing_create(provider=request.user, **form.service_data())
        except Invalid as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Draft “{listing.title}” created. Now upload its data.")
            return redirect("marketplace:version_upload", slug=listing.slug)
    return render(
        request,
        "marketplace/listing_form.html",
        {"form": form, "listing": None, "licences": ListingForm.licence_suggestions()},
    )


@role_required("provider")
def listing_edit_page(request: HttpRequest, slug: str) -> HttpResponse:
    listing = owned_listing_or_404(request, slug)
    form = ListingForm(request.POST or None, initial=ListingForm.initial_for(listing))
    if request.method == "POST" and form.is_valid():
        try:
            listing_update(listing=listing, actor=request.user, data=form.service_data())
        except (Invalid, Conflict) as error:  # bad input, or the listing's state refuses
            form.add_service_error(error)
        except NotAllowed as error:
            raise Http404("No such dataset.") from error
        else:
            messages.success(request, "Listing saved.")
            return redirect("marketplace:provider_listing", slug=listing.slug)
    return render(
        request,
        "marketplace/listing_form.html",
        {"form": form, "listing": listing, "licences": ListingForm.licence_suggestions()},
    )


def _run_listing_action(
    request: HttpRequest,
    slug: str,
    action: Callable[..., object],
    *,
    success: str,
    done: str | None = None,
) -> HttpResponse:
    """Run one owner action (publish, unpublish, delete) on the listing and redirect.

    A refusal from the service becomes error messages and leads back to the listing's page;
    success adds ``success`` (``{title}`` is the listing's title) and leads to the page named
    ``done``, the listing's page by default.
    """
    listing = owned_listing_or_404(request, slug)
    try:
        action(listing=listing, actor=request.user)
    except ServiceError as error:
        _service_error(request, error)
        return redirect("marketplace:provider_listing", slug=slug)
    messages.success(request, success.format(title=listing.title))
    if done is None:
        return redirect("marketplace:provider_listing", slug=slug)
    return redirect(done)


@require_POST
@role_required("provider")
def listing_publish_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _run_listing_action(
        request, slug, listing_publish, success="“{title}” is on the market."
    )


@require_POST
@role_required("provider")
def listing_unpublish_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _run_listing_action(
        request, slug, listing_unpublish, success="“{title}” is no longer listed."
    )


@require_POST
@role_required("provider")
def listing_delete_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _run_listing_action(
        request,
        slug,
        listing_delete,
        success="Draft deleted.",
        done="marketplace:provider_datasets",
    )


@role_required("provider")
def version_upload_page(request: HttpRequest, slug: str) -> HttpResponse:
    listing = owned_listing_or_404(request, slug)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            version = version_upload(
                listing=listing,
                actor=request.user,
                file=upload,
                filename=upload.name,
                declared_format=form.cleaned_data["format"] or None,
            )
        except Conflict as error:  # uploads closed, or a version still in progress
            form.add_service_error(error)
        except Invalid as error:
            form.add_service_error(error, field="file")
        except NotAllowed as error:
            raise Http404("No such dataset.") from error
        else:
            return redirect("marketplace:version_status", version_id=version.pk)
    return render(request, "marketplace/version_upload.html", {"form": form, "listing": listing})


@role_required("provider", "staff")
def version_status(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _owned_version(request, version_id)
    report = version.validation_report or {}
    context: dict[str, Any] = {
        "version": version,
        "listing": version.listing,
        "report": report,
        "refresh": version.status
        in (
            DatasetVersion.Status.STAGED,
            DatasetVersion.Status.VALIDATING,
            DatasetVersion.Status.INGESTING,
        ),
        "summary": version_duplicate_summary(version=version),
        "is_owner": version.listing.provider_id == request.user.pk,
        # A ready version of an unlisted listing can go on the market from here.
        "can_publish": version.status == DatasetVersion.Status.READY
        and version.listing.current_version_id == version.pk
        and version.listing.status in (Listing.Status.DRAFT, Listing.Status.UNPUBLISHED),
        "status_api": reverse("marketplace-api:version", args=[version.pk]),
    }
    return render(request, "marketplace/version_status.html", context)


@require_POST
@role_required("provider")
def version_accept_page(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _owned_version(request, version_id)
    try:
        version_accept_valid_rows(version=version, actor=request.user)
    except ServiceError as error:
        _service_error(request, error)
    return redirect("marketplace:version_status", version_id=version.pk)


@require_POST
@role_required("provider")
def version_discard_page(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _owned_version(request, version_id)
    try:
        version_discard(version=version, actor=request.user)
    except ServiceError as error:
        _service_error(request, error)
        return redirect("marketplace:version_status", version_id=version.pk)
    messages.info(request, "Upload discarded. Upload the fixed file.")
    return redirect("marketplace:version_upload", slug=version.listing.slug)


@role_required("provider", "staff")
def version_duplicates_page(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _owned_version(request, version_id)
    page = Paginator(version_duplicates(version=version), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/version_duplicates.html",
        {
            "version": version,
            "listing": version.listing,
            "page": page,
            "summary": version_duplicate_summary(version=version),
        },
    )


# --- buyer ----------------------------------------------------------------------------------


def demo_notices(request: HttpRequest) -> HttpResponse:
    """The licence notices of the demo datasets (demo/data/NOTICE.txt), which their
    listings' source text points to."""
    return render(request, "marketplace/notices.html", {"notices": demo_notices_text()})


@role_required("buyer", "staff")
def task_list(request: HttpRequest) -> HttpResponse:
    tasks = target_tasks_of_buyer(buyer=request.user)
    return render(request, "marketplace/task_list.html", {"tasks": tasks})


@role_required("buyer")
def task_create(request: HttpRequest) -> HttpResponse:
    form = TargetTaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            task = target_task_create(buyer=request.user, **form.cleaned_data)
        except Invalid as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Task created. Upload its target set.")
            return redirect("marketplace:task_detail", task_id=task.pk)
    return render(request, "marketplace/task_form.html", {"form": form})


@role_required("buyer", "staff")
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    task = target_task_get_for_viewer(task_id=task_id, user=request.user)
    if task is None:
        raise Http404("No such target task.")
    is_owner = task.buyer_id == request.user.pk
    form = TargetSetForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only the task's buyer may upload its target set.")
        if form.is_valid():
            upload = form.cleaned_data["file"]
            field = "file" if upload else "text"
            try:
                if upload:
                    target_set_upload(
                        task=task,
                        actor=request.user,
                        file=upload,
                        filename=upload.name,
                        declared_format=form.cleaned_data["format"] or None,
                    )
                else:
                    target_set_paste(task=task, actor=request.user, text=form.cleaned_data["text"])
            except TargetSetInvalid as error:
                report = error.report
                form.add_error(field, error.messages)
            except Invalid as error:
                form.add_error(field, error.messages)
            else:
                messages.success(request, "Target set saved.")
                return redirect("marketplace:task_detail", task_id=task.pk)
    page = Paginator(target_samples(task=task), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "marketplace/task_detail.html",
        {"task": task, "form": form, "report": report, "page": page, "is_owner": is_owner},
    )
