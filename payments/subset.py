"""Choosing a subset of a finished valuation job's samples to buy (selectors: reads only).
It lives with quotes: a subset is priced exactly as the quote for it will charge.

Candidates are the job's scored samples that are sellable now (marketplace.selectors
.sellable_samples: current ready version of a published listing, never a duplicate) and that
the buyer does not own already (never sold twice to the same buyer). Each candidate's price is
its exact payments.pricing.sample_price(...) at the platform's value rate (PRICING_VALUE_RATE,
default 0: the floor price for its tokens), usually a fraction of a cent; the preview's
``estimated_price`` is payments.pricing.subset_total of the chosen prices, exactly what the
quote for that subset charges, and under a budget it is at most the budget.
The rules themselves are marketplace.selection's (top-k, threshold, greedy budget).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from core.money import major_text
from marketplace import selection
from marketplace.selectors import sellable_samples
from payments import conf as payments_conf
from payments import pricing
from payments.selectors.entitlements import entitled_sample_refs
from valuation.errors import ValuationRequestInvalid
from valuation.models import SampleScore, ValuationJob

MODE_TOP_K = "top_k"
MODE_THRESHOLD = "threshold"
MODE_BUDGET = "budget"
MODES = (MODE_TOP_K, MODE_THRESHOLD, MODE_BUDGET)
READ_CHUNK_SIZE = 2000


@dataclass(frozen=True)
class SubsetPreview:
    mode: str
    include_non_positive: bool
    sample_ids: tuple[int, ...]
    total_value: Fraction
    exact_price: Fraction  # sum of the chosen samples' exact prices
    estimated_price: int  # ceil(exact_price): what the quote for this subset charges
    currency: str
    candidate_count: int
    owned_count: int  # scored samples left out because the buyer already owns them

    @property
    def count(self) -> int:
        return len(self.sample_ids)


def _candidate_rows(*, job: ValuationJob) -> Iterator[tuple[int, float, int, int, str]]:
    """(sample id, value, tokens, floor per 1k, currency) of every sellable scored sample."""
    sellable = sellable_samples().values("pk")
    yield from (
        SampleScore.objects.filter(job=job, sample_id__in=sellable)
        .order_by("sample_id")
        .values_list(
            "sample_id",
            "score",
            "sample__token_count",
            "sample__version__listing__floor_price_per_1k_tokens",
            "sample__version__listing__currency",
        )
        .iterator(chunk_size=READ_CHUNK_SIZE)
    )


def _exact_price(
    *, tokens: int, value: float, floor_per_1k: int, currency: str, rate: Fraction
) -> Fraction:
    sample = pricing.CandidateSample("s", "p", "l", "v", tokens, value)
    return pricing.sample_price(sample, pricing.ListingTerms("l", floor_per_1k, currency), rate)


def job_subset_select(
    *,
    job: ValuationJob,
    mode: str,
    k: int | None = None,
    threshold: float | None = None,
    budget: int | None = None,
    include_non_positive: bool = False,
) -> SubsetPreview:
    """The subset a buyer's rule picks from ``job``; raises ValuationRequestInvalid."""
    if job.status != ValuationJob.Status.SUCCEEDED:
        raise ValuationRequestInvalid(f"valuation {job.pk} has not finished; choose after it has")
    if mode not in MODES:
        raise ValuationRequestInvalid(f"mode must be one of {MODES}, got {mode!r}")
    rate = payments_conf.value_rate()
    owned = {int(ref) for ref in entitled_sample_refs(user=job.buyer) if ref.isdigit()}
    candidates, exact_prices, currencies, owned_count = [], {}, set(), 0
    for sample_id, value, tokens, floor_per_1k, currency in _candidate_rows(job=job):
        if sample_id in owned:
            owned_count += 1
            continue
        if value <= 0 and not include_non_positive:
            continue
        exact = _exact_price(
            tokens=tokens, value=value, floor_per_1k=floor_per_1k, currency=currency, rate=rate
        )
        exact_prices[sample_id] = exact
        currencies.add(currency.lower())
        candidates.append(selection.Candidate(str(sample_id), value, exact))
    if len(currencies) > 1:
        raise ValuationRequestInvalid(
            f"the job's listings are priced in several currencies ({', '.join(sorted(currencies))})"
        )
    try:
        if mode == MODE_TOP_K:
            if k is None or k < 1:
                raise ValuationRequestInvalid("k must be a whole number of at least 1")
            chosen = selection.top_k(candidates, k)
        elif mode == MODE_THRESHOLD:
            if threshold is None:
                raise ValuationRequestInvalid("enter a value threshold")
            chosen = selection.above_threshold(candidates, threshold)
        else:
            if budget is None or budget < 0:
                raise ValuationRequestInvalid("enter a budget of 0 or more")
            chosen = selection.best_under_budget(candidates, budget)
    except selection.SelectionError as exc:
        raise ValuationRequestInvalid(str(exc)) from exc
    ids = tuple(int(sample_id) for sample_id in chosen.sample_ids)
    return SubsetPreview(
        mode=mode,
        include_non_positive=include_non_positive,
        sample_ids=ids,
        total_value=chosen.total_value,
        exact_price=chosen.total_price,
        estimated_price=pricing.subset_total(exact_prices[pk] for pk in ids),
        currency=next(iter(currencies), payments_conf.platform_currency()),
        candidate_count=len(candidates),
        owned_count=owned_count,
    )


def subset_initial(*, job: ValuationJob) -> dict[str, str]:
    """The subset form's starting point: the budget given with the request, if any."""
    if job.budget is None:
        return {}
    currency = payments_conf.platform_currency()
    return {"mode": "budget", "budget": major_text(job.budget, currency)}
