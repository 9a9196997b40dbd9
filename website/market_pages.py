"""Marketplace pages that also show valuation results: the catalogue and listing page (the
buyer's latest valuation's mean value per listing) and the provider's datasets (valuation
summaries). They live here, above both apps, so marketplace never imports valuation; their
URL names stay in the ``marketplace`` namespace (config/urls.py)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import role_required
from accounts.selectors import user_has_role
from marketplace.forms import SearchForm
from marketplace.models import Listing
from marketplace.selectors import (
    listing_facets,
    listing_get_for_viewer,
    listing_preview_samples,
    listing_search,
    listings_of_provider,
    version_duplicate_summary,
    versions_for_viewer,
)
from marketplace.views import PAGE_SIZE, owned_listing_or_404
from valuation.selectors import (
    latest_succeeded_job,
    listing_value_expression,
    listing_value_in_job,
    provider_valuation_summaries,
)


@role_required("provider")
def provider_datasets(request: HttpRequest) -> HttpResponse:
    listings = list(listings_of_provider(provider=request.user))
    totals = {
        "listings": len(listings),
        "published": sum(1 for item in listings if item.status == Listing.Status.PUBLISHED),
        "samples": sum(
            item.current_version.sample_count for item in listings if item.current_version
        ),
        "tokens": sum(
            item.current_version.token_count for item in listings if item.current_version
        ),
    }
    valuations = provider_valuation_summaries(provider=request.user)
    scored = sum(row.scored for row in valuations)
    valuation_totals = {
        "jobs": sum(row.jobs for row in valuations),
        "scored": scored,
        "positive_percent": round(100 * sum(row.positive for row in valuations) / scored)
        if scored
        else 0,
    }
    return render(
        request,
        "marketplace/provider_datasets.html",
        {
            "listings": listings,
            "totals": totals,
            "valuations": valuations,
            "valuation_totals": valuation_totals,
        },
    )


@role_required("provider", "staff")
def provider_listing(request: HttpRequest, slug: str) -> HttpResponse:
    listing = owned_listing_or_404(request, slug)
    versions = list(versions_for_viewer(listing=listing, user=request.user))
    current = listing.current_version
    summary = version_duplicate_summary(version=current) if current else None
    valuations = provider_valuation_summaries(provider=listing.provider, listing=listing)
    return render(
        request,
        "marketplace/provider_listing.html",
        {
            "listing": listing,
            "valuation": valuations[0] if valuations else None,
            "versions": versions,
            "current": current,
            "summary": summary,
            "duplicates": (summary["exact"] + summary["near"]) if summary else 0,
            "is_owner": listing.provider_id == request.user.pk,
        },
    )


def listing_list(request: HttpRequest) -> HttpResponse:
    """Browse and search published listings; open to everyone."""
    job = latest_succeeded_job(buyer=request.user) if request.user.is_authenticated else None
    value_expression = listing_value_expression(job=job) if job else None
    form = SearchForm(
        request.GET or None, facets=listing_facets(), with_value_sort=value_expression is not None
    )
    listings = listing_search(value_expression=value_expression)
    if form.is_bound and form.is_valid():
        listings = listing_search(**form.search_kwargs(), value_expression=value_expression)
    elif form.is_bound:
        listings = Listing.objects.none()
    page = Paginator(listings, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "marketplace/listing_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "valued_by": job},
    )


def listing_detail(request: HttpRequest, slug: str) -> HttpResponse:
    listing = listing_get_for_viewer(slug=slug, user=request.user)
    if listing is None:
        raise Http404("No such dataset.")
    # The same valuation as the browse page's "Mean value" column: the buyer's latest
    # finished one.
    job = latest_succeeded_job(buyer=request.user) if request.user.is_authenticated else None
    return render(
        request,
        "marketplace/listing_detail.html",
        {
            "listing": listing,
            "preview": listing_preview_samples(listing=listing),
            "is_owner": request.user.is_authenticated and listing.provider_id == request.user.pk,
            "valued_by": job,
            "value": listing_value_in_job(job=job, listing=listing) if job else None,
            "is_buyer": user_has_role(request.user, "buyer"),
        },
    )
