"""Exact-number tests of payments.pricing: the worked examples of docs/pricing.md, and errors."""

import json
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from payments.pricing import (
    EXCLUDED_DUPLICATE,
    EXCLUDED_NON_POSITIVE,
    EXCLUDED_OWNED,
    MAX_TOTAL,
    PRICING_FORMULA_VERSION,
    CandidateSample,
    DatasetVersionLine,
    EmptySubsetError,
    ExcludedSample,
    ListingLine,
    ListingTerms,
    MixedCurrencyError,
    NoPayableSamplesError,
    PricingError,
    PricingInputError,
    ProviderLine,
    TotalTooLargeError,
    UnknownListingError,
    build_quote,
    floor_price,
    sample_price,
    subset_total,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

LISTINGS = [
    ListingTerms("lst-alpha", 50, "usd"),
    ListingTerms("lst-beta", 20, "usd"),
    ListingTerms("lst-gamma", 30, "usd"),
]
SAMPLES = [
    CandidateSample("s1", "alice", "lst-alpha", "alice-v1", 2000, 3.0),
    CandidateSample("s2", "alice", "lst-alpha", "alice-v1", 1234, 0.5),
    CandidateSample("s3", "bob", "lst-beta", "bob-v1", 3000, 1.5),
    CandidateSample("s4", "bob", "lst-gamma", "bob-v2", 500, 3.0),
    CandidateSample("s5", "bob", "lst-beta", "bob-v1", 1000, -0.25),
    CandidateSample("s6", "alice", "lst-alpha", "alice-v1", 1500, 1.0, is_duplicate=True),
]


def sample(
    sample_id,
    value,
    *,
    provider="alice",
    listing="lst-alpha",
    version=None,
    tokens=1000,
    duplicate=False,
):
    return CandidateSample(
        sample_id, provider, listing, version or f"{provider}-v1", tokens, value, duplicate
    )


def lines(quote):
    return [(s.sample_id, s.gross, s.fee, s.payout) for s in quote.samples]


# --- Example 1 of docs/pricing.md -------------------------------------------------------------


def test_example_1_prices_fee_and_provider_lines():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40)

    assert (quote.total, quote.fee, quote.net, quote.subtotal) == (362, 54, 308, Fraction(3617, 10))
    assert quote.providers == (
        ProviderLine("alice", gross=182, fee=27, amount=155, value_share=Fraction(7, 16)),
        ProviderLine("bob", gross=180, fee=27, amount=153, value_share=Fraction(9, 16)),
    )


def test_example_1_dataset_version_and_sample_lines():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40)

    assert quote.dataset_versions == (
        DatasetVersionLine("alice", "alice-v1", "lst-alpha", 2, 182, 27, 155, Fraction(7, 16)),
        DatasetVersionLine("bob", "bob-v1", "lst-beta", 1, 60, 9, 51, Fraction(3, 16)),
        DatasetVersionLine("bob", "bob-v2", "lst-gamma", 1, 120, 18, 102, Fraction(3, 8)),
    )
    assert lines(quote) == [
        ("s1", 120, 18, 102),
        ("s2", 62, 9, 53),
        ("s3", 60, 9, 51),
        ("s4", 120, 18, 102),
    ]
    assert [s.price for s in quote.samples] == [120, Fraction(617, 10), 60, 120]
    assert quote.excluded == (
        ExcludedSample("s5", EXCLUDED_NON_POSITIVE),
        ExcludedSample("s6", EXCLUDED_DUPLICATE),
    )


def test_example_1_explains_the_price_per_listing():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40)

    assert quote.listing_lines == (
        ListingLine("lst-alpha", 50, 2, 3234, Fraction(1617, 10), Fraction(20)),
        ListingLine("lst-beta", 20, 1, 3000, Fraction(60), Fraction(0)),
        ListingLine("lst-gamma", 30, 1, 500, Fraction(15), Fraction(105)),
    )
    assert sum(line.subtotal for line in quote.listing_lines) == quote.subtotal


def test_example_1_records_its_inputs():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40)

    assert quote.formula_version == PRICING_FORMULA_VERSION == "2026-12-v2"
    assert (quote.currency, quote.fee_bps, quote.value_rate) == ("usd", 1500, Fraction(40))
    assert quote.include_non_positive is False
    assert quote.listings == tuple(LISTINGS)


def test_example_1_exact_sample_prices():
    terms = {listing.listing_id: listing for listing in LISTINGS}
    exact = [sample_price(s, terms[s.listing_id], 40) for s in SAMPLES[:4]]

    assert exact == [120, Fraction(617, 10), 60, 120]
    assert floor_price(SAMPLES[1], terms["lst-alpha"]) == Fraction(617, 10)
    assert subset_total(exact) == 362


def test_to_dict_is_json_safe_with_fractions_as_strings():
    data = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40).to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["listings"][0] == {
        "listing_id": "lst-alpha",
        "floor_per_1k_tokens": 50,
        "currency": "usd",
    }
    assert data["value_rate"] == "40"
    assert data["subtotal"] == "3617/10"
    assert data["providers"][0] == {
        "provider_id": "alice",
        "gross": 182,
        "fee": 27,
        "amount": 155,
        "value_share": "7/16",
    }
    assert data["samples"][1]["value"] == "1/2"
    assert data["samples"][1]["price"] == "617/10"
    assert data["excluded"] == [
        {"sample_id": "s5", "reason": "non_positive_value"},
        {"sample_id": "s6", "reason": "duplicate"},
    ]


# --- Example 2: the buyer includes the negative sample ----------------------------------------


def test_example_2_included_negative_sample_is_charged_its_floor_and_never_paid():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40, include_non_positive=True)

    assert (quote.total, quote.fee) == (382, 56)
    assert [(p.provider_id, p.gross, p.fee, p.amount) for p in quote.providers] == [
        ("alice", 191, 28, 163),
        ("bob", 191, 28, 163),
    ]
    assert lines(quote) == [
        ("s1", 128, 19, 109),
        ("s2", 63, 9, 54),
        ("s3", 64, 9, 55),
        ("s5", 0, 0, 0),
        ("s4", 127, 19, 108),
    ]
    assert quote.samples[3].price == 20  # the buyer pays s5's floor; bob is not paid for it
    assert quote.excluded == (ExcludedSample("s6", EXCLUDED_DUPLICATE),)


def test_owned_samples_are_left_out_and_named():
    owned = [replace(SAMPLES[0], already_owned=True), *SAMPLES[1:]]
    quote = build_quote(owned, LISTINGS, fee_bps=1500, value_rate=40)

    assert "s1" not in {line.sample_id for line in quote.samples}
    assert ExcludedSample("s1", EXCLUDED_OWNED) in quote.excluded
    assert quote.total == 242  # ceil(361.7 - 120)


# --- Example 3: floors only, and a rounding tie -----------------------------------------------


def test_example_3_ties_go_to_the_higher_value_then_the_smaller_id():
    listing = [ListingTerms("lst", 1, "eur")]
    samples = [
        sample("b-1", 2.0, provider="prov-b", listing="lst", tokens=500),
        sample("a-1", 1.0, provider="prov-a", listing="lst", tokens=500),
    ]
    quote = build_quote(samples, listing, fee_bps=0)

    assert (quote.total, quote.fee, quote.currency) == (1, 0, "eur")
    assert [(p.provider_id, p.gross) for p in quote.providers] == [("prov-a", 0), ("prov-b", 1)]
    assert lines(quote) == [("a-1", 0, 0, 0), ("b-1", 1, 0, 1)]

    equal = [replace(s, value=1.0) for s in samples]
    assert lines(build_quote(equal, listing, fee_bps=0)) == [("a-1", 1, 0, 1), ("b-1", 0, 0, 0)]


def test_floor_only_pricing_charges_the_rounded_up_sum_of_floors():
    samples = [sample("s1", 1.0, tokens=333), sample("s2", 1.0, tokens=333)]
    quote = build_quote(samples, [ListingTerms("lst-alpha", 50, "usd")], fee_bps=1000)

    # 2 x 16.65 = 33.3 -> 34; the provider's fee floor(3.4) = 3.
    assert (quote.total, quote.fee) == (34, 3)
    assert lines(quote) == [("s1", 17, 2, 15), ("s2", 17, 1, 16)]


def test_sub_cent_samples_from_two_providers_each_get_their_share():
    """The normal case: samples of tens of tokens at cents per 1k tokens cost a fraction of a
    cent each; each provider's gross, fee and payout still reconcile with the total."""
    listings = [ListingTerms("a", 35, "usd"), ListingTerms("b", 20, "usd")]
    samples = [sample(f"a{i}", 1.0, provider="pa", listing="a", tokens=90) for i in range(40)]
    samples += [sample(f"b{i}", 1.0, provider="pb", listing="b", tokens=60) for i in range(10)]
    quote = build_quote(samples, listings, fee_bps=1500)

    # 40 x 90 x 0.035 = 126, 10 x 60 x 0.02 = 12: total 138; fees floor(18.9) + floor(1.8).
    assert (quote.total, quote.fee) == (138, 19)
    assert [(p.provider_id, p.gross, p.fee, p.amount) for p in quote.providers] == [
        ("pa", 126, 18, 108),
        ("pb", 12, 1, 11),
    ]


def test_whole_fee_leaves_providers_nothing():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=10_000, value_rate=40)

    assert (quote.total, quote.fee) == (362, 362)
    assert [p.amount for p in quote.providers] == [0, 0]


def test_free_data_gives_a_zero_quote():
    quote = build_quote([sample("s1", 1.0)], [ListingTerms("lst-alpha", 0, "usd")], fee_bps=1500)

    assert (quote.total, quote.fee, quote.providers[0].amount) == (0, 0, 0)


def test_the_largest_charge_is_the_platforms_order_limit():
    from core.validators import ORDER_TOTAL_MAX

    assert MAX_TOTAL == ORDER_TOTAL_MAX == 99_999_999


def test_a_total_above_the_largest_charge_is_refused():
    listing = [ListingTerms("lst-alpha", 9 * 10**18, "usd")]
    with pytest.raises(TotalTooLargeError, match="one order can charge at most 99,999,999"):
        build_quote([sample("s1", 1.0)], listing, fee_bps=1500)


def test_float_values_are_used_exactly():
    samples = [sample("s1", 0.1), sample("s2", 0.2)]
    quote = build_quote(samples, [ListingTerms("lst-alpha", 0, "usd")], fee_bps=0, value_rate=10)

    assert quote.samples[0].value == Fraction(0.1) != Fraction(1, 10)
    assert quote.to_dict()["samples"][0]["value"] == "3602879701896397/36028797018963968"
    # 10 x (0.1 + 0.2) is a hair above 3 in binary, so the exact total rounds up to 4.
    assert quote.total == 4


def test_fraction_value_rate_is_accepted():
    quote = build_quote(
        [sample("s1", 3.0)],
        [ListingTerms("lst-alpha", 0, "usd")],
        fee_bps=0,
        value_rate=Fraction("0.35"),
    )

    assert quote.total == 2  # ceil(1.05)


# --- Errors ------------------------------------------------------------------------------------


def test_empty_subset_is_refused():
    with pytest.raises(EmptySubsetError, match="empty"):
        build_quote([], LISTINGS, fee_bps=1500)


def test_mixed_currencies_are_refused_naming_both():
    listings = [ListingTerms("lst-alpha", 50, "usd"), ListingTerms("lst-beta", 20, "eur")]
    samples = [sample("s1", 1.0), sample("s2", 1.0, provider="bob", listing="lst-beta")]

    with pytest.raises(MixedCurrencyError, match=r"eur \(listing 'lst-beta'\), usd"):
        build_quote(samples, listings, fee_bps=1500)


def test_currency_of_an_excluded_sample_still_counts():
    listings = [ListingTerms("lst-alpha", 50, "usd"), ListingTerms("lst-beta", 20, "eur")]
    samples = [sample("s1", 1.0), sample("s2", 1.0, listing="lst-beta", duplicate=True)]

    with pytest.raises(MixedCurrencyError):
        build_quote(samples, listings, fee_bps=1500)


def test_unused_listing_in_another_currency_is_ignored():
    listings = [ListingTerms("lst-alpha", 50, "usd"), ListingTerms("lst-other", 20, "eur")]

    assert build_quote([sample("s1", 1.0)], listings, fee_bps=0).currency == "usd"


def test_currency_case_does_not_matter():
    listings = [ListingTerms("lst-alpha", 50, "USD"), ListingTerms("lst-beta", 20, "usd")]
    samples = [sample("s1", 1.0), sample("s2", 1.0, provider="bob", listing="lst-beta")]

    assert listings[0] == ListingTerms("lst-alpha", 50, "usd")
    assert build_quote(samples, listings, fee_bps=0).currency == "usd"


def test_negative_token_count_is_refused_naming_the_sample():
    with pytest.raises(PricingInputError, match=r"sample 's9': token_count must be >= 0, got -5"):
        sample("s9", 1.0, tokens=-5)


@pytest.mark.parametrize("fee_bps", [-1, 10_001, 15.0, True])
def test_fee_bps_out_of_range_or_not_int_is_refused(fee_bps):
    with pytest.raises(PricingInputError, match="fee_bps"):
        build_quote(SAMPLES, LISTINGS, fee_bps=fee_bps)


@pytest.mark.parametrize(
    ("value_rate", "message"),
    [(0.35, "must be an int or Fraction"), (-1, "must not be negative"), (True, "int or Fraction")],
)
def test_bad_value_rate_is_refused(value_rate, message):
    with pytest.raises(PricingInputError, match=message):
        build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=value_rate)


def test_all_non_positive_samples_are_refused():
    samples = [sample("s1", 0.0), sample("s2", -1.0)]

    with pytest.raises(NoPayableSamplesError, match="excluded: 2 of 2"):
        build_quote(samples, LISTINGS, fee_bps=1500)
    with pytest.raises(NoPayableSamplesError):
        build_quote(samples, LISTINGS, fee_bps=1500, include_non_positive=True)


def test_only_duplicates_are_refused():
    with pytest.raises(NoPayableSamplesError):
        build_quote([sample("s1", 2.0, duplicate=True)], LISTINGS, fee_bps=1500)


def test_unknown_listing_is_refused():
    with pytest.raises(UnknownListingError, match="sample 's1': no terms for listing 'nope'"):
        build_quote([sample("s1", 1.0, listing="nope")], LISTINGS, fee_bps=0)


def test_repeated_sample_id_is_refused():
    with pytest.raises(PricingInputError, match="sample 's1' appears more than once"):
        build_quote([sample("s1", 1.0), sample("s1", 2.0)], LISTINGS, fee_bps=0)


def test_repeated_listing_id_is_refused():
    listings = [*LISTINGS, ListingTerms("lst-alpha", 99, "usd")]

    with pytest.raises(PricingInputError, match="listing 'lst-alpha' is given more than once"):
        build_quote(SAMPLES, listings, fee_bps=0)


def test_dataset_version_shared_by_two_providers_is_refused():
    samples = [sample("s1", 1.0, version="v1"), sample("s2", 1.0, provider="bob", version="v1")]

    with pytest.raises(PricingInputError, match="'v1' belongs to provider 'alice', not 'bob'"):
        build_quote(samples, LISTINGS, fee_bps=0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1.0", None, True])
def test_non_finite_or_non_numeric_value_is_refused(value):
    with pytest.raises(PricingInputError, match="sample 's1': value must be a finite"):
        sample("s1", value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"floor_per_1k_tokens": -1}, "listing 'l': floor_per_1k_tokens must be >= 0"),
        ({"floor_per_1k_tokens": 1.5}, "floor_per_1k_tokens must be an int"),
        ({"currency": "US"}, "listing 'l': currency must be a 3-letter ISO 4217 code, got 'US'"),
        ({"currency": "us1"}, "ISO 4217"),
        ({"currency": None}, "ISO 4217"),
    ],
)
def test_bad_listing_terms_are_refused(kwargs, message):
    with pytest.raises(PricingInputError, match=message):
        ListingTerms(**{"listing_id": "l", "floor_per_1k_tokens": 10, "currency": "usd", **kwargs})


@pytest.mark.parametrize("field", ["sample_id", "provider_id", "listing_id", "dataset_version_id"])
def test_empty_ids_are_refused(field):
    fields = {"sample_id": "s", "provider_id": "p", "listing_id": "l", "dataset_version_id": "v"}
    with pytest.raises(PricingInputError, match=f"{field} must be a non-empty string"):
        CandidateSample(**{**fields, field: ""}, token_count=1, value=1.0)


def test_non_sample_input_is_refused_with_its_position():
    with pytest.raises(PricingInputError, match=r"samples\[1\] must be a CandidateSample"):
        build_quote([SAMPLES[0], {"sample_id": "x"}], LISTINGS, fee_bps=0)


def test_every_pricing_error_is_a_value_error():
    for error in (
        PricingInputError,
        EmptySubsetError,
        MixedCurrencyError,
        UnknownListingError,
        NoPayableSamplesError,
    ):
        assert issubclass(error, PricingError) and issubclass(error, ValueError)


def test_quote_is_frozen():
    quote = build_quote(SAMPLES, LISTINGS, fee_bps=1500, value_rate=40)

    with pytest.raises(AttributeError):
        quote.total = 1


def test_pricing_imports_neither_django_nor_stripe():
    code = (
        "import sys, payments.pricing; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'stripe')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr
