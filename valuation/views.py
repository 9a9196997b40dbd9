"""Buyer pages: request a valuation, follow its progress, read its results. Views are thin:
they read through selectors, write through services, and show service errors as is."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from valuation import selectors
from valuation.errors import ValuationError
from valuation.forms import ValuationRequestForm
from valuation.models import ValuationJob
from valuation.services import valuation_job_cancel, valuation_job_request, valuation_job_retry

RESULTS_PAGE_SIZE = 50
LISTINGS_PAGE_SIZE = 20
CHART_LISTINGS = 5  # the histogram's series: the most valuable listings (and all of them)
FILTER_SELECT_LISTINGS = 50  # up to this many, the ranked table filters with a select


def _job_or_404(request: HttpRequest, job_id: int) -> ValuationJob:
    job = selectors.job_get_for_user(job_id=job_id, user=request.user)
    if job is None:
        raise Http404("No such valuation.")
    return job


def _api_url(job: ValuationJob) -> str:
    """The JSON API the page polls, or "" where the API is not mounted (meta refresh only)."""
    try:
        return reverse("valuation-api:job_detail", args=[job.pk])
    except NoReverseMatch:
        return ""


@role_required("buyer")
def job_request(request: HttpRequest, task_id: int) -> HttpResponse:
    task = selectors.task_for_buyer(task_id=task_id, buyer=request.user)
    if task is None:
        raise Http404("No such target task.")
    form = ValuationRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = valuation_job_request(
                task=task,
                versions=[listing.current_version for listing in data["listings"]],
                model_spec=data["model_spec"],
                method=data["method"],
                label_fraction=data["label_fraction"],
                seed=data["seed"],
                requested_by=request.user,
                budget=data["budget"],
            )
        except ValuationError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Valuation queued. This page follows its progress.")
            return redirect("valuation:job_detail", job_id=job.pk)
    return render(request, "valuation/job_request.html", {"task": task, "form": form})


@role_required("buyer", "staff")
def job_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.job_list_for_buyer(buyer=request.user), 25).get_page(
        request.GET.get("page")
    )
    return render(request, "valuation/job_list.html", {"page": page})


@role_required("buyer", "staff")
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    progress = selectors.job_progress(job=job)
    return render(
        request,
        "valuation/job_detail.html",
        {
            "job": job,
            "progress": progress,
            "versions": job.versions.select_related("listing").order_by("id"),
            "api_url": _api_url(job),
            "can_cancel": job.is_active,
            "can_retry": job.status in (ValuationJob.Status.FAILED, ValuationJob.Status.CANCELLED),
        },
    )


@require_POST
@role_required("buyer", "staff")
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    try:
        valuation_job_cancel(job=job, cancelled_by=request.user)
    except ValuationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Valuation cancelled.")
    return redirect("valuation:job_detail", job_id=job.pk)


@require_POST
@role_required("buyer", "staff")
def job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    try:
        valuation_job_retry(job=job, retried_by=request.user)
    except ValuationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Valuation restarted from its unfinished steps.")
    return redirect("valuation:job_detail", job_id=job.pk)


def _query(**params: int | None) -> str:
    """A query string of the parameters that are set and not a first page."""
    return urlencode({key: value for key, value in params.items() if value and value != 1})


@role_required("buyer", "staff")
def job_results(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    if job.status != ValuationJob.Status.SUCCEEDED:
        messages.info(request, "Results appear here once the valuation has finished.")
        return redirect("valuation:job_detail", job_id=job.pk)
    listing_id = request.GET.get("listing", "")
    # Not a valid id (too long for the database, not digits): show every listing's samples.
    listing_id = int(listing_id) if listing_id.isdigit() and len(listing_id) <= 18 else None
    summaries = selectors.job_listing_summaries(job=job)
    listings_page = Paginator(summaries, LISTINGS_PAGE_SIZE).get_page(
        request.GET.get("listings_page")
    )
    page = Paginator(
        selectors.job_ranked_scores(job=job, listing_id=listing_id), RESULTS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = selectors.ranked_rows(
        scores=page.object_list, buyer=request.user, start_rank=page.start_index()
    )
    few = job.summary.get("listings_count", 0) <= FILTER_SELECT_LISTINGS
    return render(
        request,
        "valuation/job_results.html",
        {
            "job": job,
            # None for a job finished without a stored summary: only the ranked table.
            "overall": job.summary if "listings_count" in job.summary else None,
            "listings_page": listings_page,
            "histogram": selectors.value_histogram(
                job=job, listings=list(summaries[:CHART_LISTINGS])
            ),
            "filter_listings": summaries.order_by("listing__title", "id") if few else None,
            "filtered": summaries.filter(listing_id=listing_id).first() if listing_id else None,
            "page": page,
            "rows": rows,
            "listing_id": listing_id,
            # Each pager keeps the other table's place and the listing filter.
            "query": _query(listing=listing_id, listings_page=listings_page.number),
            "listings_query": _query(listing=listing_id, page=page.number),
        },
    )
