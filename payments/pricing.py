"""Quotes for a buyer's chosen subset: the buyer's price, each provider's gross, fee and payout.

Pure functions and frozen dataclasses, no Django: money is integer minor units (cents), every
intermediate amount is an exact Fraction, and every set of lines is rounded once, top-down, so
each level adds up exactly to its parent. This module is the only place that prices a sample,
a subset, a quote or a checkout. The rules, their guarantees and a worked example are in
docs/pricing.md. Bump PRICING_FORMULA_VERSION whenever a rule changes: stored quotes and
payouts are audited against the formula that produced them.

Rules in short, for the samples sold (duplicates and samples the buyer owns never are;
non-positive ones only on request):
  * sample price   = max(floor_per_1k x tokens / 1000, value_rate x value)     (exact)
  * buyer's total  = ceil(sum of sample prices)
  * sample gross   = its price if its value is positive, plus a share of the pool by positive
                     value; the pool is the rounding (total - sum of prices) and the prices of
                     sold non-positive samples, which are never paid       (exact; sums to total)
  * provider gross = the total shared over providers by their samples' exact gross
                     (largest remainder), then over dataset versions, then over samples
  * provider fee   = floor(provider gross x fee_bps / 10000); platform fee = sum of them
  * provider payout = provider gross - provider fee; fees go down the same tree pro rata
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from fractions import Fraction
from typing import Any

PRICING_FORMULA_VERSION = "2026-12-v2"
BPS_PER_UNIT = 10_000
TOKENS_PER_FLOOR_UNIT = 1_000
# The largest total a quote may charge: Stripe's largest charge, 999,999.99 in a currency with
# two decimals. Larger subsets are refused before anything is stored.
MAX_TOTAL = 99_999_999

_ZERO = Fraction(0)

EXCLUDED_DUPLICATE = "duplicate"
EXCLUDED_NON_POSITIVE = "non_positive_value"
EXCLUDED_OWNED = "already_owned"


class PricingError(ValueError):
    """Base class of every input the pricing rules refuse."""


class PricingInputError(PricingError):
    """A field is malformed: wrong type, out of range, or an id used twice."""


class EmptySubsetError(PricingError):
    """The buyer's subset has no samples at all."""


class UnknownListingError(PricingError):
    """A sample names a listing whose terms were not supplied."""


class MixedCurrencyError(PricingError):
    """The listings in one quote are priced in different currencies."""


class NoPayableSamplesError(PricingError):
    """No sample in the sale has a positive value, so nobody could be paid for it."""


class TotalTooLargeError(PricingError):
    """The subset would cost more than MAX_TOTAL."""


@dataclass(frozen=True)
class ListingTerms:
    """A listing's price terms: floor price per 1,000 tokens, in minor units of `currency`.

    `currency` is an ISO 4217 code in either case, kept in lower case ("usd").
    """

    listing_id: str
    floor_per_1k_tokens: int
    currency: str

    def __post_init__(self) -> None:
        _require_id(self.listing_id, "listing", "listing_id")
        where = f"listing {self.listing_id!r}"
        _require_int(self.floor_per_1k_tokens, f"{where}: floor_per_1k_tokens", minimum=0)
        code = self.currency
        if not (isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha()):
            raise PricingInputError(
                f"{where}: currency must be a 3-letter ISO 4217 code, got {code!r}"
            )
        # Lower case, as the marketplace models and Stripe store it, so "USD" and "usd" agree.
        object.__setattr__(self, "currency", code.lower())


@dataclass(frozen=True)
class CandidateSample:
    """One sample of the buyer's subset, with its LinFiK value (any finite real number).

    `already_owned`: the buyer bought it before; it is never sold to them again.
    """

    sample_id: str
    provider_id: str
    listing_id: str
    dataset_version_id: str
    token_count: int
    value: float | int | Fraction
    is_duplicate: bool = False
    already_owned: bool = False

    def __post_init__(self) -> None:
        _require_id(self.sample_id, "sample", "sample_id")
        where = f"sample {self.sample_id!r}"
        for name in ("provider_id", "listing_id", "dataset_version_id"):
            _require_id(getattr(self, name), where, name)
        _require_int(self.token_count, f"{where}: token_count", minimum=0)
        value = self.value
        is_real = isinstance(value, float | int | Fraction) and not isinstance(value, bool)
        if not is_real or (isinstance(value, float) and not math.isfinite(value)):
            raise PricingInputError(
                f"{where}: value must be a finite float, int or Fraction, got {self.value!r}"
            )
        for flag in ("is_duplicate", "already_owned"):
            if not isinstance(getattr(self, flag), bool):
                raise PricingInputError(f"{where}: {flag} must be a bool")

    @property
    def exact_value(self) -> Fraction:
        """The value as an exact Fraction: a float converts without any rounding."""
        return Fraction(self.value)


@dataclass(frozen=True)
class ListingLine:
    """How one listing's samples make up the buyer's price (exact, before rounding up)."""

    listing_id: str
    floor_per_1k_tokens: int
    samples: int
    tokens: int
    floor_amount: Fraction  # tokens x floor / 1000
    premium: Fraction  # what value-based prices add above the floors

    @property
    def subtotal(self) -> Fraction:
        return self.floor_amount + self.premium


@dataclass(frozen=True)
class ProviderLine:
    """One provider's part of the sale: gross = fee + amount (its payout)."""

    provider_id: str
    gross: int
    fee: int
    amount: int
    value_share: Fraction


@dataclass(frozen=True)
class DatasetVersionLine:
    """The part of a provider's line earned by one dataset version."""

    provider_id: str
    dataset_version_id: str
    listing_id: str
    samples: int
    gross: int
    fee: int
    amount: int
    value_share: Fraction


@dataclass(frozen=True)
class SampleLine:
    """One sold sample: `price` is its exact price to the buyer; `gross`, `fee` and `payout`
    (gross = fee + payout) are its whole-cent part of its dataset version's line."""

    sample_id: str
    provider_id: str
    dataset_version_id: str
    listing_id: str
    token_count: int
    value: Fraction
    price: Fraction
    gross: int
    fee: int
    payout: int


@dataclass(frozen=True)
class ExcludedSample:
    """A sample of the subset left out of the sale; `reason` is an EXCLUDED_* constant."""

    sample_id: str
    reason: str


@dataclass(frozen=True)
class Quote:
    """A priced subset. total = sum of provider gross; fee = sum of provider fees; each
    level of lines (provider, dataset version, sample) adds up exactly to its parent."""

    formula_version: str
    currency: str
    fee_bps: int
    value_rate: Fraction
    include_non_positive: bool
    total: int
    fee: int
    subtotal: Fraction  # sum of the exact sample prices; total = ceil(subtotal)
    listings: tuple[ListingTerms, ...]
    listing_lines: tuple[ListingLine, ...]
    providers: tuple[ProviderLine, ...]
    dataset_versions: tuple[DatasetVersionLine, ...]
    samples: tuple[SampleLine, ...]
    excluded: tuple[ExcludedSample, ...]

    @property
    def net(self) -> int:
        """What the providers are paid: the buyer's total less the platform fee."""
        return self.total - self.fee

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy: Fractions become "n/d" strings, tuples become lists."""
        return _json_safe(self)


def floor_price(sample: CandidateSample, listing: ListingTerms) -> Fraction:
    """The listing's floor price for the sample's tokens, exact (not yet rounded)."""
    return Fraction(listing.floor_per_1k_tokens * sample.token_count, TOKENS_PER_FLOOR_UNIT)


def sample_price(
    sample: CandidateSample, listing: ListingTerms, value_rate: int | Fraction
) -> Fraction:
    """Exact price of one sample: its floor price, or its value-based price when that is higher."""
    return max(floor_price(sample, listing), _check_value_rate(value_rate) * sample.exact_value)


def subset_total(exact_prices: Iterable[Fraction]) -> int:
    """What a quote charges for samples of these exact prices: the ceiling of their sum.

    A subset fits a budget B (whole minor units) exactly when the sum of its exact prices is
    at most B, so choosers compare exact sums with the budget, never rounded prices.
    """
    return math.ceil(sum(exact_prices, _ZERO))


def provider_fee(gross: int, fee_bps: int) -> int:
    """A provider's platform fee on its gross: rounded down, in the provider's favour."""
    return gross * fee_bps // BPS_PER_UNIT


def build_quote(
    samples: Iterable[CandidateSample],
    listings: Iterable[ListingTerms],
    *,
    fee_bps: int,
    value_rate: int | Fraction = 0,
    include_non_positive: bool = False,
) -> Quote:
    """Price the buyer's subset and split the proceeds (rules in the module docstring).

    `value_rate` is minor units per unit of LinFiK value (0 prices at the floors only).
    `include_non_positive` sells samples with value <= 0 too, at their price; they are
    still never paid. The result does not depend on the order of `samples` or `listings`.
    """
    _require_int(fee_bps, "fee_bps", minimum=0, maximum=BPS_PER_UNIT)
    rate = _check_value_rate(value_rate)
    if not isinstance(include_non_positive, bool):
        raise PricingInputError("include_non_positive must be a bool")
    candidates = _sorted_candidates(samples)
    terms = _terms_by_listing(listings)
    currency = _single_currency(candidates, terms)
    _check_one_provider_per_dataset_version(candidates)
    sold, excluded = _split_sale(candidates, include_non_positive)
    if not any(s.exact_value > 0 for s in sold):
        raise NoPayableSamplesError(
            "no sample in the sale has a positive value, so no provider could be paid; "
            f"excluded: {len(excluded)} of {len(candidates)} samples"
        )

    prices = {s.sample_id: sample_price(s, terms[s.listing_id], rate) for s in sold}
    subtotal = sum(prices.values(), _ZERO)
    total = math.ceil(subtotal)
    if total > MAX_TOTAL:
        raise TotalTooLargeError(
            f"the subset would cost {total:,} minor units; one order can charge at most "
            f"{MAX_TOTAL:,}: choose fewer samples"
        )
    gross = _exact_gross(sold, prices, total)
    providers, versions, sample_lines = _allocate(sold, prices, gross, total, fee_bps)
    return Quote(
        formula_version=PRICING_FORMULA_VERSION,
        currency=currency,
        fee_bps=fee_bps,
        value_rate=rate,
        include_non_positive=include_non_positive,
        total=total,
        fee=sum(line.fee for line in providers),
        subtotal=subtotal,
        listings=tuple(terms[key] for key in sorted({s.listing_id for s in sold})),
        listing_lines=_listing_lines(sold, terms, prices),
        providers=providers,
        dataset_versions=versions,
        samples=sample_lines,
        excluded=excluded,
    )


def _exact_gross(
    sold: list[CandidateSample], prices: Mapping[str, Fraction], total: int
) -> dict[str, Fraction]:
    """Each sold sample's exact part of the total: its own price if positively valued, plus
    its share by positive value of the pool (rounding up and non-positive samples' prices)."""
    positive = _positive_values(sold)
    pool = total - sum((prices[key] for key, value in positive.items() if value > 0), _ZERO)
    total_value = sum(positive.values())
    return {
        key: (prices[key] + pool * value / total_value) if value > 0 else _ZERO
        for key, value in positive.items()
    }


def _allocate(
    sold: list[CandidateSample],
    prices: Mapping[str, Fraction],
    gross: Mapping[str, Fraction],
    total: int,
    fee_bps: int,
) -> tuple[tuple[ProviderLine, ...], tuple[DatasetVersionLine, ...], tuple[SampleLine, ...]]:
    """Round top-down: the total over providers, each provider's gross over its dataset
    versions, each version's gross over its samples, so every level sums to its parent. Fees
    are set per provider, then shared down the same tree in proportion to whole-cent gross."""
    tree = _group_ids(sold)
    positive = _positive_values(sold)
    total_value = sum(positive.values())
    by_id = {s.sample_id: s for s in sold}
    provider_ids = {provider: _ids(by_version) for provider, by_version in tree.items()}
    provider_gross = _largest_remainder(
        total,
        {provider: _total(gross, ids) for provider, ids in provider_ids.items()},
        {provider: _total(positive, ids) for provider, ids in provider_ids.items()},
    )
    providers, versions, samples = [], [], []
    for provider_id, by_version in tree.items():
        p_gross = provider_gross[provider_id]
        p_fee = provider_fee(p_gross, fee_bps)
        share = _total(positive, provider_ids[provider_id]) / total_value
        providers.append(ProviderLine(provider_id, p_gross, p_fee, p_gross - p_fee, share))
        version_values = {version: _total(positive, ids) for version, ids in by_version.items()}
        version_gross = _largest_remainder(
            p_gross,
            {version: _total(gross, ids) for version, ids in by_version.items()},
            version_values,
        )
        version_fee = _fee_shares(p_fee, version_gross, version_values)
        for version_id, ids in by_version.items():
            v_gross, v_fee = version_gross[version_id], version_fee[version_id]
            versions.append(
                DatasetVersionLine(
                    provider_id=provider_id,
                    dataset_version_id=version_id,
                    listing_id=by_id[ids[0]].listing_id,
                    samples=len(ids),
                    gross=v_gross,
                    fee=v_fee,
                    amount=v_gross - v_fee,
                    value_share=_total(positive, ids) / total_value,
                )
            )
            sample_gross = _largest_remainder(v_gross, {i: gross[i] for i in ids}, positive)
            sample_fee = _fee_shares(v_fee, sample_gross, positive)
            samples.extend(
                _sample_line(by_id[i], prices[i], sample_gross[i], sample_fee[i]) for i in ids
            )
    return tuple(providers), tuple(versions), tuple(samples)


def _sample_line(sample: CandidateSample, price: Fraction, gross: int, fee: int) -> SampleLine:
    return SampleLine(
        sample_id=sample.sample_id,
        provider_id=sample.provider_id,
        dataset_version_id=sample.dataset_version_id,
        listing_id=sample.listing_id,
        token_count=sample.token_count,
        value=sample.exact_value,
        price=price,
        gross=gross,
        fee=fee,
        payout=gross - fee,
    )


def _listing_lines(
    sold: list[CandidateSample], terms: Mapping[str, ListingTerms], prices: Mapping[str, Fraction]
) -> tuple[ListingLine, ...]:
    lines = []
    for listing_id in sorted({s.listing_id for s in sold}):
        mine = [s for s in sold if s.listing_id == listing_id]
        floors = sum((floor_price(s, terms[listing_id]) for s in mine), _ZERO)
        lines.append(
            ListingLine(
                listing_id=listing_id,
                floor_per_1k_tokens=terms[listing_id].floor_per_1k_tokens,
                samples=len(mine),
                tokens=sum(s.token_count for s in mine),
                floor_amount=floors,
                premium=sum((prices[s.sample_id] for s in mine), _ZERO) - floors,
            )
        )
    return tuple(lines)


def _fee_shares(fee: int, gross: Mapping[str, int], values: Mapping[str, Fraction]) -> dict:
    """Share a fee (at most the sum of the whole-cent gross amounts) in proportion to gross,
    by largest remainder: no share exceeds its gross, and a zero gross pays nothing. A tied
    unit of fee goes to the lower value, so more value never earns less."""
    whole = sum(gross.values())
    if fee == 0 or whole == 0:
        return dict.fromkeys(gross, 0)
    exact = {key: Fraction(fee * amount, whole) for key, amount in gross.items()}
    return _largest_remainder(fee, exact, {key: -values[key] for key in gross})


def _largest_remainder(
    target: int, exact: Mapping[str, Fraction], values: Mapping[str, Fraction]
) -> dict[str, int]:
    """Round `exact` amounts to integers summing to `target` (largest remainder method).

    Each key gets floor(amount); the units still missing go one each to the largest fractional
    parts. Ties go to the higher value, so more value never earns or costs less, then to the
    smaller key. With target in {floor, ceil} of the exact sum, as every caller guarantees, each
    result is the floor or the ceiling of its exact amount, and a key whose exact amount is a
    whole number (zero included) gets exactly that.
    """
    amounts = {key: math.floor(amount) for key, amount in exact.items()}
    missing = target - sum(amounts.values())
    if not 0 <= missing <= len(exact):
        raise RuntimeError(f"cannot round {len(exact)} amounts to {target}: {missing} units off")
    by_remainder = sorted(exact, key=lambda key: (amounts[key] - exact[key], -values[key], key))
    for key in by_remainder[:missing]:
        amounts[key] += 1
    return amounts


def _sorted_candidates(samples: Iterable[CandidateSample]) -> list[CandidateSample]:
    """Samples sorted by id, so the result cannot depend on input order."""
    candidates = list(samples)
    for position, sample in enumerate(candidates):
        if not isinstance(sample, CandidateSample):
            raise PricingInputError(
                f"samples[{position}] must be a CandidateSample, got {type(sample).__name__}"
            )
    if not candidates:
        raise EmptySubsetError("the subset to quote is empty")
    candidates.sort(key=lambda s: s.sample_id)
    for before, after in zip(candidates, candidates[1:], strict=False):
        if before.sample_id == after.sample_id:
            raise PricingInputError(f"sample {after.sample_id!r} appears more than once")
    return candidates


def _terms_by_listing(listings: Iterable[ListingTerms]) -> dict[str, ListingTerms]:
    terms: dict[str, ListingTerms] = {}
    for position, listing in enumerate(listings):
        if not isinstance(listing, ListingTerms):
            raise PricingInputError(
                f"listings[{position}] must be ListingTerms, got {type(listing).__name__}"
            )
        if listing.listing_id in terms:
            raise PricingInputError(f"listing {listing.listing_id!r} is given more than once")
        terms[listing.listing_id] = listing
    return terms


def _single_currency(candidates: list[CandidateSample], terms: Mapping[str, ListingTerms]) -> str:
    """The one currency of every listing the subset names, excluded samples included."""
    currencies: dict[str, str] = {}
    for sample in candidates:
        listing = terms.get(sample.listing_id)
        if listing is None:
            raise UnknownListingError(
                f"sample {sample.sample_id!r}: no terms for listing {sample.listing_id!r}"
            )
        currencies.setdefault(listing.currency, listing.listing_id)
    if len(currencies) > 1:
        found = ", ".join(f"{code} (listing {lid!r})" for code, lid in sorted(currencies.items()))
        raise MixedCurrencyError(f"a quote must be in one currency, found {found}")
    return next(iter(currencies))


def _check_one_provider_per_dataset_version(candidates: list[CandidateSample]) -> None:
    """Dataset-version lines nest in provider lines, so a version must have a single provider."""
    owners: dict[str, str] = {}
    for sample in candidates:
        owner = owners.setdefault(sample.dataset_version_id, sample.provider_id)
        if owner != sample.provider_id:
            raise PricingInputError(
                f"sample {sample.sample_id!r}: dataset version {sample.dataset_version_id!r} "
                f"belongs to provider {owner!r}, not {sample.provider_id!r}"
            )


def _split_sale(
    candidates: list[CandidateSample], include_non_positive: bool
) -> tuple[list[CandidateSample], tuple[ExcludedSample, ...]]:
    sold, excluded = [], []
    for sample in candidates:
        if sample.already_owned:
            excluded.append(ExcludedSample(sample.sample_id, EXCLUDED_OWNED))
        elif sample.is_duplicate:
            excluded.append(ExcludedSample(sample.sample_id, EXCLUDED_DUPLICATE))
        elif sample.exact_value <= 0 and not include_non_positive:
            excluded.append(ExcludedSample(sample.sample_id, EXCLUDED_NON_POSITIVE))
        else:
            sold.append(sample)
    return sold, tuple(excluded)


def _check_value_rate(value_rate: int | Fraction) -> Fraction:
    # Floats are refused: a money rate must be exact (pass Fraction("0.35"), not 0.35).
    if isinstance(value_rate, bool) or not isinstance(value_rate, int | Fraction):
        raise PricingInputError(
            f"value_rate must be an int or Fraction (minor units per unit of value), "
            f"got {value_rate!r}"
        )
    if value_rate < 0:
        raise PricingInputError(f"value_rate must not be negative, got {value_rate}")
    return Fraction(value_rate)


def _require_id(value: object, where: str, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise PricingInputError(f"{where}: {name} must be a non-empty string, got {value!r}")


def _require_int(value: object, name: str, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PricingInputError(f"{name} must be an int, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise PricingInputError(f"{name} must be >= {minimum}{upper}, got {value}")


def _positive_values(sold: list[CandidateSample]) -> dict[str, Fraction]:
    """Value counted for payouts, by sample id: non-positive values count as zero."""
    return {s.sample_id: max(s.exact_value, _ZERO) for s in sold}


def _group_ids(sold: list[CandidateSample]) -> dict[str, dict[str, list[str]]]:
    """Sample ids by provider, then dataset version, every level in sorted order."""
    tree: dict[str, dict[str, list[str]]] = {}
    for s in sorted(sold, key=lambda s: (s.provider_id, s.dataset_version_id, s.sample_id)):
        tree.setdefault(s.provider_id, {}).setdefault(s.dataset_version_id, []).append(s.sample_id)
    return tree


def _ids(by_version: Mapping[str, list[str]]) -> list[str]:
    return [key for ids in by_version.values() for key in ids]


def _total(amounts: Mapping[str, Fraction], keys: Iterable[str]) -> Fraction:
    return sum((amounts[key] for key in keys), _ZERO)


def _json_safe(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _json_safe(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, Fraction):
        return str(obj)
    if isinstance(obj, tuple | list):
        return [_json_safe(item) for item in obj]
    return obj
