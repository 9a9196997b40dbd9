"""Buyer pages: request a valuation, follow its progress, read its results. Views are thin:
they read through selectors, write through services, and show service errors as is."""

from __future__ import annotations

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


@role_required("buyer", "staff")
def job_results(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id)
    if job.status != ValuationJob.Status.SUCCEEDED:
        messages.info(request, "Results appear here once the valuation has finished.")
        return redirect("valuation:job_detail", job_id=job.pk)
    listings = job.summary.get("listings", [])
    listing_id = request.GET.get("listing", "")
    # Not a valid id (too long for the database, not digits): show every listing's samples.
    listing_id = int(listing_id) if listing_id.isdigit() and len(listing_id) <= 18 else None
    page = Paginator(
        selectors.job_ranked_scores(job=job, listing_id=listing_id), RESULTS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = selectors.ranked_rows(
        scores=page.object_list, buyer=request.user, start_rank=page.start_index()
    )
    edges = job.summary.get("bin_edges", [])
    chart = {
        "labels": [f"{low:.3g}" for low in edges[:-1]],
        "datasets": [{"label": row["listing_title"], "data": row["histogram"]} for row in listings],
    }
    return render(
        request,
        "valuation/job_results.html",
        {
            "job": job,
            "listings": listings,
            "bins": [
                {"low": low, "high": high, "counts": [row["histogram"][i] for row in listings]}
                for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=False))
            ],
            "chart": chart,
            "page": page,
            "rows": rows,
            "listing_id": listing_id,
            "query": f"listing={listing_id}" if listing_id else "",
        },
    )
