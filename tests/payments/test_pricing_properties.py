"""Property-based tests of payments.pricing: sums, guarantees, monotonicity and invariances."""

import json
import math
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from payments.pricing import CandidateSample, ListingTerms, build_quote, floor_price

SETTINGS = settings(max_examples=150, deadline=None)
PROVIDERS = ["p0", "p1", "p2"]
LISTINGS_PER_PROVIDER = 2

values = st.one_of(
    st.floats(min_value=-5, max_value=5, allow_nan=False),
    st.sampled_from([0.0, 1e-9, 0.1, 0.5, 1.0, 2.0]),
)


@st.composite
def markets(draw, min_samples=1, max_samples=12):
    """Listing terms for every provider's listings, and a subset of samples from them."""
    listings = [
        ListingTerms(f"{p}-L{j}", draw(st.integers(0, 2000)), "usd")
        for p in PROVIDERS
        for j in range(LISTINGS_PER_PROVIDER)
    ]
    count = draw(st.integers(min_samples, max_samples))
    samples = []
    for index in range(count):
        provider = draw(st.sampled_from(PROVIDERS))
        listing = f"{provider}-L{draw(st.integers(0, LISTINGS_PER_PROVIDER - 1))}"
        samples.append(
            CandidateSample(
                sample_id=f"s{index:03d}",
                provider_id=provider,
                listing_id=listing,
                dataset_version_id=f"{listing}-v{draw(st.integers(0, 1))}",
                token_count=draw(st.integers(0, 50_000)),
                value=draw(values),
                is_duplicate=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    return samples, listings


terms = st.fixed_dictionaries(
    {
        "fee_bps": st.integers(0, 10_000),
        "value_rate": st.one_of(
            st.just(0),
            st.integers(0, 500),
            st.fractions(min_value=0, max_value=500, max_denominator=100),
        ),
        "include_non_positive": st.booleans(),
    }
)


def payable(samples, include_non_positive):
    sold = [s for s in samples if not s.is_duplicate and (include_non_positive or s.value > 0)]
    return any(s.value > 0 for s in sold)


def quote_or_skip(samples, listings, kwargs):
    assume(payable(samples, kwargs["include_non_positive"]))
    return build_quote(samples, listings, **kwargs)


def sums(lines, parent, payout_field):
    """(gross, fee, payout) of `lines` added up by their `parent` id."""
    totals = defaultdict(lambda: (0, 0, 0))
    for line in lines:
        gross, fee, paid = totals[getattr(line, parent)]
        totals[getattr(line, parent)] = (
            gross + line.gross,
            fee + line.fee,
            paid + getattr(line, payout_field),
        )
    return dict(totals)


def by_provider(quote):
    return {line.provider_id: line.amount for line in quote.providers}


@SETTINGS
@given(markets(), terms)
def test_every_level_of_lines_sums_to_its_parent(market, kwargs):
    quote = quote_or_skip(*market, kwargs)

    assert sum(p.gross for p in quote.providers) == quote.total
    assert sum(p.fee for p in quote.providers) == quote.fee
    assert all(p.fee + p.amount == p.gross for p in quote.providers)
    provider_parts = {p.provider_id: (p.gross, p.fee, p.amount) for p in quote.providers}
    versions = quote.dataset_versions
    version_parts = {v.dataset_version_id: (v.gross, v.fee, v.amount) for v in versions}
    assert sums(quote.dataset_versions, "provider_id", "amount") == provider_parts
    assert sums(quote.samples, "dataset_version_id", "payout") == version_parts
    assert sum(line.value_share for line in quote.providers) == 1
    assert quote.total == math.ceil(sum(line.price for line in quote.samples))


@SETTINGS
@given(markets(), terms)
def test_no_amount_is_negative_and_each_fee_matches_its_rate(market, kwargs):
    quote = quote_or_skip(*market, kwargs)

    for provider in quote.providers:
        assert provider.fee == provider.gross * kwargs["fee_bps"] // 10_000
    assert quote.fee <= quote.total * kwargs["fee_bps"] // 10_000
    amounts = [quote.fee]
    for line in (*quote.providers, *quote.dataset_versions):
        amounts += [line.gross, line.fee, line.amount]
    amounts += [n for line in quote.samples for n in (line.gross, line.fee, line.payout)]
    assert min(amounts) >= 0
    assert all(line.gross == 0 for line in quote.samples if line.value <= 0)


@SETTINGS
@given(markets(), terms)
def test_floors_are_respected_for_buyer_and_providers(market, kwargs):
    samples, listings = market
    quote = quote_or_skip(samples, listings, kwargs)
    listing_terms = {listing.listing_id: listing for listing in listings}
    sold = {line.sample_id for line in quote.samples}
    floors = {s.sample_id: floor_price(s, listing_terms[s.listing_id]) for s in samples}

    assert quote.total >= math.ceil(sum(floors[key] for key in sold))
    positive_value = sum(max(line.value, 0) for line in quote.samples)
    assert quote.total >= math.ceil(quote.value_rate * positive_value)
    for provider in quote.providers:
        own = sum(
            line.price
            for line in quote.samples
            if line.provider_id == provider.provider_id and line.value > 0
        )
        # Each provider's gross is at least the price of its positively valued samples,
        # less at most one minor unit of rounding.
        assert provider.gross >= math.floor(own)


@SETTINGS
@given(markets(), terms)
def test_each_provider_is_within_one_unit_of_the_exact_rule(market, kwargs):
    quote = quote_or_skip(*market, kwargs)
    paid = [line for line in quote.samples if line.value > 0]
    pool = quote.total - sum(line.price for line in paid)
    total_value = sum(line.value for line in paid)

    for provider in quote.providers:
        exact = sum(
            (
                line.price + pool * line.value / total_value
                for line in paid
                if line.provider_id == provider.provider_id
            ),
            Fraction(0),
        )
        assert abs(provider.gross - exact) < 1


@SETTINGS
@given(markets(max_samples=8), terms, st.integers(0, 50_000), values, values, st.booleans())
def test_higher_value_never_earns_less_all_else_equal(market, kwargs, tokens, first, second, swap):
    assume(first != second)
    samples, listings = market
    low, high = sorted([first, second])
    # Either twin may have the smaller id, so an id tie-break cannot hide a violation.
    high_id, low_id = ("twin-b", "twin-a") if swap else ("twin-a", "twin-b")
    twins = [
        CandidateSample(high_id, "p0", "p0-L0", "p0-L0-v0", tokens, high),
        CandidateSample(low_id, "p0", "p0-L0", "p0-L0-v0", tokens, low),
    ]
    quote = quote_or_skip(samples + twins, listings, kwargs)
    lines = {line.sample_id: line for line in quote.samples}

    if low_id in lines:
        assert lines[high_id].payout >= lines[low_id].payout
        assert lines[high_id].gross >= lines[low_id].gross
        assert lines[high_id].price >= lines[low_id].price


@SETTINGS
@given(markets(), terms, st.lists(st.tuples(st.sampled_from(PROVIDERS), values), max_size=5))
def test_adding_duplicates_changes_no_amount(market, kwargs, extra):
    samples, listings = market
    duplicates = [
        CandidateSample(
            f"dup{i}",
            provider,
            f"{provider}-L0",
            f"{provider}-L0-v0",
            1000,
            value,
            is_duplicate=True,
        )
        for i, (provider, value) in enumerate(extra)
    ]
    before = quote_or_skip(samples, listings, kwargs)
    after = build_quote(samples + duplicates, listings, **kwargs)

    assert replace(after, excluded=()) == replace(before, excluded=())
    assert len(after.excluded) == len(before.excluded) + len(duplicates)


@SETTINGS
@given(markets(), terms, st.sampled_from(PROVIDERS), st.data())
def test_splitting_a_listing_in_two_keeps_every_provider_payout(market, kwargs, provider, data):
    samples, listings = market
    source = next(listing for listing in listings if listing.listing_id == f"{provider}-L0")
    moved = data.draw(st.sets(st.sampled_from([s.sample_id for s in samples])))
    split = [
        replace(s, listing_id="split", dataset_version_id="split-v0")
        if s.sample_id in moved and s.listing_id == source.listing_id
        else s
        for s in samples
    ]
    before = quote_or_skip(samples, listings, kwargs)
    after = build_quote(split, [*listings, replace(source, listing_id="split")], **kwargs)

    assert by_provider(after) == by_provider(before)
    assert (after.total, after.fee) == (before.total, before.fee)


@SETTINGS
@given(markets(), terms, st.randoms(use_true_random=False))
def test_input_order_changes_nothing(market, kwargs, rng):
    samples, listings = market
    before = quote_or_skip(samples, listings, kwargs)
    rng.shuffle(samples)
    rng.shuffle(listings)

    assert build_quote(samples, listings, **kwargs) == before


@settings(max_examples=50, deadline=None)
@given(markets(), terms)
def test_to_dict_round_trips_through_json(market, kwargs):
    quote = quote_or_skip(*market, kwargs)
    data = json.loads(json.dumps(quote.to_dict()))

    assert data["total"] == quote.total
    assert [Fraction(p["value_share"]) for p in data["providers"]] == [
        p.value_share for p in quote.providers
    ]
    assert [Fraction(s["value"]) for s in data["samples"]] == [s.value for s in quote.samples]
