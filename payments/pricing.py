"""Quotes for a buyer's chosen subset: the buyer's price, the platform fee and provider payouts.

Pure functions and frozen dataclasses, no Django: money is integer minor units (cents), every
intermediate amount is an exact Fraction, and each set of lines is rounded once, by largest
remainder, so the lines add up exactly. The rules, their guarantees and worked examples are in
docs/pricing.md. Bump PRICING_FORMULA_VERSION whenever a rule changes: stored quotes and payouts
are audited against the formula that produced them.

Rules in short, for the samples sold (duplicates never are; non-positive ones only on request):
  * sample price  = max(floor_per_1k x tokens / 1000, value_rate x value)   (exact)
  * buyer's price = ceil(sum of sample prices)
  * platform fee  = floor(buyer's price x fee_bps / 10000)
  * payouts: each positively valued sample first gets its floor price less the fee rate; the rest
    of the net is shared in proportion to positive value. Non-positive samples are never paid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from fractions import Fraction
from typing import Any

PRICING_FORMULA_VERSION = "2026-11-v1"
BPS_PER_UNIT = 10_000
TOKENS_PER_FLOOR_UNIT = 1_000

_ZERO = Fraction(0)

EXCLUDED_DUPLICATE = "duplicate"
EXCLUDED_NON_POSITIVE = "non_positive_value"


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
    """One sample of the buyer's subset, with its LinFiK value (any finite real number)."""

    sample_id: str
    provider_id: str
    listing_id: str
    dataset_version_id: str
    token_count: int
    value: float | int | Fraction
    is_duplicate: bool = False

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
        if not isinstance(self.is_duplicate, bool):
            raise PricingInputError(f"{where}: is_duplicate must be a bool")

    @property
    def exact_value(self) -> Fraction:
        """The value as an exact Fraction: a float converts without any rounding."""
        return Fraction(self.value)


@dataclass(frozen=True)
class ProviderLine:
    """What one provider is paid. `guaranteed_minimum` is its floor guarantee (docs/pricing.md)."""

    provider_id: str
    amount: int
    value_share: Fraction
    guaranteed_minimum: int


@dataclass(frozen=True)
class DatasetVersionLine:
    """The part of a provider's line earned by one dataset version."""

    provider_id: str
    dataset_version_id: str
    amount: int
    value_share: Fraction


@dataclass(frozen=True)
class SampleLine:
    """One sold sample: its share of the buyer's price and of its dataset version's payout."""

    sample_id: str
    provider_id: str
    dataset_version_id: str
    listing_id: str
    token_count: int
    value: Fraction
    price: int
    payout: int


@dataclass(frozen=True)
class ExcludedSample:
    """A sample of the subset left out of the sale; `reason` is an EXCLUDED_* constant."""

    sample_id: str
    reason: str


@dataclass(frozen=True)
class Quote:
    """A priced subset. total == fee + sum of provider lines, and each level of lines nests."""

    formula_version: str
    currency: str
    fee_bps: int
    value_rate: Fraction
    include_non_positive: bool
    total: int
    fee: int
    listings: tuple[ListingTerms, ...]
    providers: tuple[ProviderLine, ...]
    dataset_versions: tuple[DatasetVersionLine, ...]
    samples: tuple[SampleLine, ...]
    excluded: tuple[ExcludedSample, ...]

    @property
    def net(self) -> int:
        """What the providers share: the buyer's price less the platform fee."""
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
    """Exact price of one sample: its floor price, or its value-based price when that is higher.

    Buyers selecting under a budget can use ceil() of this as a per-sample cost: the quote total
    is then never above the sum of those costs.
    """
    return max(floor_price(sample, listing), _check_value_rate(value_rate) * sample.exact_value)


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
    `include_non_positive` sells samples with value <= 0 too, at their floor price; they are
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

    exact_prices = {s.sample_id: sample_price(s, terms[s.listing_id], rate) for s in sold}
    total = math.ceil(sum(exact_prices.values()))
    fee = total * fee_bps // BPS_PER_UNIT
    guaranteed = _guaranteed_amounts(sold, terms, fee_bps)
    exact_payouts = _exact_payouts(sold, guaranteed, total - fee)
    prices = _largest_remainder(total, exact_prices, {s.sample_id: s.exact_value for s in sold})
    providers, versions, payouts = _payout_lines(sold, exact_payouts, guaranteed, total - fee)
    return Quote(
        formula_version=PRICING_FORMULA_VERSION,
        currency=currency,
        fee_bps=fee_bps,
        value_rate=rate,
        include_non_positive=include_non_positive,
        total=total,
        fee=fee,
        listings=tuple(terms[key] for key in sorted({s.listing_id for s in sold})),
        providers=providers,
        dataset_versions=versions,
        samples=_sample_lines(sold, prices, payouts),
        excluded=excluded,
    )


def _guaranteed_amounts(
    sold: list[CandidateSample], terms: Mapping[str, ListingTerms], fee_bps: int
) -> dict[str, Fraction]:
    """Tier 1 of the payout: each positively valued sample's floor price less the fee rate."""
    kept = Fraction(BPS_PER_UNIT - fee_bps, BPS_PER_UNIT)
    return {
        s.sample_id: floor_price(s, terms[s.listing_id]) * kept if s.exact_value > 0 else _ZERO
        for s in sold
    }


def _exact_payouts(
    sold: list[CandidateSample], guaranteed: Mapping[str, Fraction], net: int
) -> dict[str, Fraction]:
    """Tier 2 on top of tier 1: what the net leaves after the guarantees, by positive value."""
    rest = net - sum(guaranteed.values())
    # Never negative: net >= total x (1 - fee rate) >= sum of sold floors x (1 - fee rate).
    if rest < 0:
        raise RuntimeError(f"pricing invariant broken: guarantees exceed the net by {-rest}")
    positive = _positive_values(sold)
    total_value = sum(positive.values())
    return {key: guaranteed[key] + rest * positive[key] / total_value for key in positive}


def _payout_lines(
    sold: list[CandidateSample],
    exact: Mapping[str, Fraction],
    guaranteed: Mapping[str, Fraction],
    net: int,
) -> tuple[tuple[ProviderLine, ...], tuple[DatasetVersionLine, ...], dict[str, int]]:
    """Round top-down: the net over providers, each provider's amount over its dataset versions,
    each version's amount over its samples, so every level sums exactly to its parent."""
    tree = _group_ids(sold)
    positive = _positive_values(sold)
    total_value = sum(positive.values())
    provider_ids = {provider: _ids(by_version) for provider, by_version in tree.items()}
    provider_amounts = _largest_remainder(
        net,
        {provider: _total(exact, ids) for provider, ids in provider_ids.items()},
        {provider: _total(positive, ids) for provider, ids in provider_ids.items()},
    )
    providers, versions, payouts = [], [], {}
    for provider_id, by_version in tree.items():
        ids, amount = provider_ids[provider_id], provider_amounts[provider_id]
        providers.append(ProviderLine(
            provider_id=provider_id,
            amount=amount,
            value_share=_total(positive, ids) / total_value,
            guaranteed_minimum=math.floor(_total(guaranteed, ids)),
        ))
        version_amounts = _largest_remainder(
            amount,
            {version: _total(exact, ids) for version, ids in by_version.items()},
            {version: _total(positive, ids) for version, ids in by_version.items()},
        )
        for version_id, ids in by_version.items():
            amount = version_amounts[version_id]
            share = _total(positive, ids) / total_value
            versions.append(DatasetVersionLine(provider_id, version_id, amount, share))
            payouts |= _largest_remainder(amount, {i: exact[i] for i in ids}, positive)
    return tuple(providers), tuple(versions), payouts


def _largest_remainder(
    target: int, exact: Mapping[str, Fraction], values: Mapping[str, Fraction]
) -> dict[str, int]:
    """Round `exact` amounts to integers summing to `target` (largest remainder method).

    Each key gets floor(amount); the units still missing go one each to the largest fractional
    parts. Ties go to the higher value, so more value never earns or costs less, then to the
    smaller key. With target in {floor, ceil} of the exact sum, as every caller guarantees, each
    result is the floor or the ceiling of its exact amount.
    """
    amounts = {key: math.floor(amount) for key, amount in exact.items()}
    missing = target - sum(amounts.values())
    if not 0 <= missing <= len(exact):
        raise RuntimeError(f"cannot round {len(exact)} amounts to {target}: {missing} units off")
    by_remainder = sorted(exact, key=lambda key: (amounts[key] - exact[key], -values[key], key))
    for key in by_remainder[:missing]:
        amounts[key] += 1
    return amounts


def _sample_lines(
    sold: list[CandidateSample], prices: Mapping[str, int], payouts: Mapping[str, int]
) -> tuple[SampleLine, ...]:
    """Sample lines grouped like the payout lines: by provider, then dataset version."""
    ordered = sorted(sold, key=lambda s: (s.provider_id, s.dataset_version_id, s.sample_id))
    return tuple(
        SampleLine(
            sample_id=s.sample_id,
            provider_id=s.provider_id,
            dataset_version_id=s.dataset_version_id,
            listing_id=s.listing_id,
            token_count=s.token_count,
            value=s.exact_value,
            price=prices[s.sample_id],
            payout=payouts[s.sample_id],
        )
        for s in ordered
    )


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
        if sample.is_duplicate:
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


def _require_int(
    value: object, name: str, *, minimum: int, maximum: int | None = None
) -> None:
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
