"""Quotes: price a buyer's chosen subset with ``payments.pricing`` and keep the result.

This is the seam with the marketplace and valuation apps: the caller passes plain values
(the candidate samples with their LinFiK values, the listings' terms, and ``ValuationMeta``
describing the valuation that produced the values). Nothing here reads their models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.selectors import user_has_role
from payments import conf, pricing
from payments.errors import NotAllowedError, NotYoursError, QuoteError
from payments.models import Quote
from payments.selectors.entitlements import entitled_sample_refs

#: "demo": a seed_demo purchase at floor prices, valued by no model (payments.services.demo).
VALUATION_METHODS = ("linfik", "alinfik", "demo")


@dataclass(frozen=True)
class ValuationMeta:
    """What produced the sample values; stored on the quote for audit.

    job_ref: the valuation job's id; model_identity: the model (name and revision or
    weights hash) whose gradients were used; target_set_hash: hash of the buyer's target set;
    method: "linfik" or "alinfik"; fidelity: the proxy's agreement with exact labels on
    held-out samples (JSON-safe dict, e.g. {"spearman": 0.93}; empty for exact LinFiK);
    target_task_ref: the buyer's target task id, if any.
    """

    job_ref: str
    model_identity: str
    target_set_hash: str
    method: str
    fidelity: Mapping[str, Any] = field(default_factory=dict)
    target_task_ref: str = ""

    def validate(self) -> None:
        for name in ("job_ref", "model_identity", "target_set_hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise QuoteError(f"valuation_meta.{name} must be a non-empty string, got {value!r}")
        if self.method not in VALUATION_METHODS:
            raise QuoteError(
                f"valuation_meta.method must be one of {VALUATION_METHODS}, got {self.method!r}"
            )
        if not isinstance(self.target_task_ref, str):
            raise QuoteError("valuation_meta.target_task_ref must be a string")
        if not isinstance(self.fidelity, Mapping):
            raise QuoteError(
                f"valuation_meta.fidelity must be a mapping, got {type(self.fidelity).__name__}"
            )
        try:
            json.dumps(dict(self.fidelity), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise QuoteError(f"valuation_meta.fidelity must be JSON-safe: {exc}") from exc
        limits = {
            "job_ref": 64,
            "target_task_ref": 64,
            "model_identity": 255,
            "target_set_hash": 128,
        }
        for name, limit in limits.items():
            if len(getattr(self, name)) > limit:
                raise QuoteError(f"valuation_meta.{name} is longer than {limit} characters")


@transaction.atomic
def quote_create(
    *,
    buyer: AbstractBaseUser,
    samples_with_values: Sequence[pricing.CandidateSample],
    listing_terms: Sequence[pricing.ListingTerms],
    valuation_meta: ValuationMeta,
    value_rate: int | Fraction = 0,
    include_non_positive: bool = False,
    fee_bps: int | None = None,
    ttl: timedelta | None = None,
    now: datetime | None = None,
) -> Quote:
    """Price the subset and store an open quote that expires after ``ttl``.

    Each sample's ``provider_id`` is the providing user's primary key, as a string.
    Raises ``QuoteError`` (pricing's own message included) for anything invalid.
    """
    if not user_has_role(buyer, "buyer"):
        raise NotAllowedError(f"user {buyer.pk} does not hold the buyer role")
    if not isinstance(valuation_meta, ValuationMeta):
        raise QuoteError("valuation_meta must be a ValuationMeta")
    valuation_meta.validate()
    fee_bps = conf.platform_fee_bps() if fee_bps is None else fee_bps
    ttl = conf.quote_ttl() if ttl is None else ttl
    if ttl <= timedelta(0):
        raise QuoteError(f"ttl must be positive, got {ttl}")
    try:
        priced = pricing.build_quote(
            samples_with_values,
            listing_terms,
            fee_bps=fee_bps,
            value_rate=value_rate,
            include_non_positive=include_non_positive,
        )
    except pricing.PricingError as exc:
        raise QuoteError(f"cannot price the subset: {exc}", code=_pricing_code(exc)) from exc

    currency = priced.currency.lower()
    if currency != conf.platform_currency():
        raise QuoteError(
            f"listings are priced in {currency.upper()}, but payouts are made in "
            f"{conf.platform_currency().upper()} (PLATFORM_CURRENCY)",
            code="currency_not_supported",
        )
    if priced.total <= 0:
        raise QuoteError("the subset prices at 0; there is nothing to charge", code="zero_total")
    _check_providers({line.provider_id for line in priced.providers})

    now = now or timezone.now()
    return Quote.objects.create(
        buyer=buyer,
        currency=currency,
        total=priced.total,
        fee=priced.fee,
        fee_bps=priced.fee_bps,
        value_rate=str(priced.value_rate),
        include_non_positive=priced.include_non_positive,
        formula_version=priced.formula_version,
        sample_count=len(priced.samples),
        lines=priced.to_dict(),
        valuation_job_ref=valuation_meta.job_ref,
        target_task_ref=valuation_meta.target_task_ref,
        model_identity=valuation_meta.model_identity,
        target_set_hash=valuation_meta.target_set_hash,
        valuation_method=valuation_meta.method,
        fidelity=dict(valuation_meta.fidelity),
        created_at=now,
        expires_at=now + ttl,
    )


def _check_providers(provider_ids: set[str]) -> None:
    """Every provider id must be the primary key of a user holding the provider role."""
    by_key: dict[str, AbstractBaseUser] = {}
    numeric = [pid for pid in provider_ids if pid.isdigit()]
    for user in get_user_model().objects.filter(pk__in=numeric):
        by_key[str(user.pk)] = user
    for provider_id in sorted(provider_ids):
        user = by_key.get(provider_id)
        if user is None:
            raise QuoteError(
                f"provider_id {provider_id!r} is not a user id", code="unknown_provider"
            )
        if not user_has_role(user, "provider"):
            raise QuoteError(
                f"user {provider_id} does not hold the provider role", code="not_a_provider"
            )


def _pricing_code(exc: pricing.PricingError) -> str:
    return {
        pricing.EmptySubsetError: "empty_subset",
        pricing.UnknownListingError: "unknown_listing",
        pricing.MixedCurrencyError: "mixed_currency",
        pricing.NoPayableSamplesError: "no_payable_samples",
        pricing.TotalTooLargeError: "total_too_large",
    }.get(type(exc), "pricing_input")


def quote_create_for_job(
    *,
    buyer: AbstractBaseUser,
    job_id: int,
    sample_ids: Sequence[int],
    value_rate: int | Fraction = 0,
    include_non_positive: bool = False,
    now: datetime | None = None,
) -> Quote:
    """Quote the buyer's chosen samples at the values a finished valuation job gave them.

    Reads the job and its scores (valuation) and the samples' listings (marketplace), then
    calls ``quote_create``. Only sellable samples can be quoted (current ready version of a
    published listing); duplicates are passed on and left out by the pricing rules.
    """
    from marketplace.selectors import sellable_samples
    from valuation.models import ValuationJob
    from valuation.selectors import job_scores

    job = ValuationJob.objects.filter(pk=job_id, buyer=buyer).first()
    if job is None:
        raise NotYoursError(f"valuation job {job_id} does not exist or is not yours")
    if job.status != ValuationJob.Status.SUCCEEDED:
        raise QuoteError(f"valuation job {job_id} is {job.status}; only finished jobs are quoted")
    wanted = sorted({int(pk) for pk in sample_ids})
    if not wanted:
        raise QuoteError("choose at least one sample to quote", code="empty_subset")
    scores = {
        score.sample_id: score
        for score in job_scores(job=job)
        .filter(sample_id__in=wanted)
        .select_related("sample", "sample__version__listing")
    }
    unscored = [pk for pk in wanted if pk not in scores]
    if unscored:
        raise QuoteError(
            f"samples {_ids(unscored)} were not valued by job {job_id}", code="not_valued"
        )
    sellable = set(sellable_samples().filter(pk__in=wanted).values_list("pk", flat=True)) | {
        pk for pk, score in scores.items() if score.sample.duplicate_of_id is not None
    }
    unsellable = [pk for pk in wanted if pk not in sellable]
    if unsellable:
        raise QuoteError(
            f"samples {_ids(unsellable)} are not for sale (listing unpublished or taken "
            "down, or not its current version)",
            code="not_for_sale",
        )
    owned = entitled_sample_refs(user=buyer)
    if all(str(pk) in owned for pk in wanted):
        raise QuoteError(
            f"you already own all {len(wanted)} chosen samples; a sample is never sold twice",
            code="already_owned",
        )
    samples, terms = [], {}
    for pk in wanted:
        sample = scores[pk].sample
        listing = sample.version.listing
        samples.append(
            pricing.CandidateSample(
                sample_id=str(pk),
                provider_id=str(listing.provider_id),
                listing_id=str(listing.pk),
                dataset_version_id=str(sample.version_id),
                token_count=sample.token_count,
                value=scores[pk].score,
                is_duplicate=sample.duplicate_of_id is not None,
                already_owned=str(pk) in owned,
            )
        )
        terms[listing.pk] = pricing.ListingTerms(
            str(listing.pk), listing.floor_price_per_1k_tokens, listing.currency
        )
    meta = ValuationMeta(
        job_ref=str(job.pk),
        model_identity=job.model_identity or job.model_spec,
        target_set_hash=job.target_set_hash,
        method=job.method,
        fidelity=dict(job.fidelity or {}),
        target_task_ref=str(job.task_id),
    )
    return quote_create(
        buyer=buyer,
        samples_with_values=samples,
        listing_terms=list(terms.values()),
        valuation_meta=meta,
        value_rate=value_rate,
        include_non_positive=include_non_positive,
        now=now,
    )


def _ids(ids: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(pk) for pk in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
