"""Tests of marketplace.selection: exact examples, the exact solver as oracle for the greedy one."""

import itertools
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.selection import (
    Candidate,
    Selection,
    SelectionError,
    above_threshold,
    best_under_budget,
    best_under_budget_exact,
    top_k,
)

POOL = [
    Candidate("a", 0.5, 10),
    Candidate("b", 2.0, 40),
    Candidate("c", -1.0, 5),
    Candidate("d", 2.0, 30),
    Candidate("e", 0.0, 0),
    Candidate("f", 1.5, 20),
]


def test_top_k_takes_the_highest_values_ties_by_id():
    assert top_k(POOL, 3) == Selection(("b", "d", "f"), Fraction(11, 2), 90)


def test_top_k_leaves_out_non_positive_values():
    assert top_k(POOL, 10).sample_ids == ("b", "d", "f", "a")
    assert top_k(POOL, 0) == Selection((), Fraction(0), 0)


def test_threshold_is_inclusive_and_may_admit_non_positive_values():
    assert above_threshold(POOL, 1.5).sample_ids == ("b", "d", "f")
    assert above_threshold(POOL, 0).sample_ids == ("b", "d", "f", "a", "e")
    assert above_threshold(POOL, Fraction(-1)).total_price == 105


def test_greedy_budget_example_from_the_docs():
    # Densities f 3/40, d 1/15, b 1/20, a 1/20: greedy takes f, d, skips b (90 > 70), takes a.
    assert best_under_budget(POOL, 70) == Selection(("d", "f", "a"), Fraction(4), 60)


def test_greedy_falls_back_to_the_single_best_item():
    pool = [Candidate("cheap", 1.0, 1), Candidate("big", 10.0, 100)]

    # By density "cheap" goes first and "big" no longer fits; alone, "big" is worth more.
    assert best_under_budget(pool, 100) == Selection(("big",), Fraction(10), 100)
    assert best_under_budget_exact(pool, 100) == Selection(("big",), Fraction(10), 100)


def test_exact_beats_greedy_where_greedy_is_suboptimal():
    pool = [Candidate("p", 5.0, 4), Candidate("q", 6.0, 5), Candidate("r", 6.0, 5)]

    # p has the best density (5/4), so greedy takes p then q, and r no longer fits.
    assert best_under_budget(pool, 10) == Selection(("q", "p"), Fraction(11), 9)
    assert best_under_budget_exact(pool, 10) == Selection(("q", "r"), Fraction(12), 10)


def test_free_candidates_are_always_taken_under_a_budget():
    pool = [Candidate("free", 0.25, 0), Candidate("paid", 1.0, 5)]

    assert best_under_budget(pool, 0) == Selection(("free",), Fraction(1, 4), 0)
    assert best_under_budget_exact(pool, 0) == Selection(("free",), Fraction(1, 4), 0)


def test_exact_solver_refuses_a_table_over_the_limit():
    pool = [Candidate(f"s{i}", 1.0, 3 + i) for i in range(10)]

    with pytest.raises(SelectionError, match=r"10 x 1001 table cells, over the limit of 5000"):
        best_under_budget_exact(pool, 1000, max_cells=5000)


def test_exact_solver_shrinks_the_table_by_the_price_gcd():
    pool = [Candidate(f"s{i}", float(i + 1), 500 * (i + 1)) for i in range(10)]

    # gcd 500 turns a budget of 2,500,000 into 5,001 steps per item.
    assert best_under_budget_exact(pool, 2_500_000, max_cells=60_000).total_price == 27_500


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: top_k(POOL, -1), "k must be an int >= 0, got -1"),
        (lambda: best_under_budget(POOL, 1.5), "budget must be an int >= 0, got 1.5"),
        (lambda: above_threshold(POOL, float("nan")), "threshold must be a finite number"),
        (lambda: Candidate("s", 1.0, -3), "candidate 's': price must be an int or Fraction >= 0"),
        (lambda: Candidate("s", float("inf"), 3), "candidate 's': value must be a finite"),
        (lambda: Candidate("", 1.0, 3), "sample_id must be a non-empty string"),
        (lambda: top_k([POOL[0], POOL[0]], 1), "candidate 'a' appears more than once"),
        (lambda: top_k(["a"], 1), r"candidates\[0\] must be a Candidate, got str"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message(call, message):
    with pytest.raises(SelectionError, match=message):
        call()


def test_selection_error_is_a_value_error():
    assert issubclass(SelectionError, ValueError)


# --- Properties, with brute force and the exact solver as oracles ------------------------------

candidates = st.lists(
    st.builds(
        Candidate,
        sample_id=st.text("abcdefgh", min_size=1, max_size=3),
        value=st.floats(-2, 10, allow_nan=False),
        price=st.one_of(
            st.integers(0, 60), st.fractions(min_value=0, max_value=60, max_denominator=4)
        ),
    ),
    max_size=9,
    unique_by=lambda c: c.sample_id,
)


def brute_force_best(pool, budget):
    useful = [c for c in pool if c.exact_value > 0]
    return max(
        sum((c.exact_value for c in subset), Fraction(0))
        for size in range(len(useful) + 1)
        for subset in itertools.combinations(useful, size)
        if sum(c.price for c in subset) <= budget
    )


@settings(max_examples=150, deadline=None)
@given(candidates, st.integers(0, 200))
def test_exact_solver_matches_brute_force(pool, budget):
    exact = best_under_budget_exact(pool, budget)

    assert exact.total_value == brute_force_best(pool, budget)
    assert exact.total_price <= budget


@settings(max_examples=150, deadline=None)
@given(candidates, st.integers(0, 200))
def test_greedy_fits_the_budget_and_gets_at_least_half_the_optimum(pool, budget):
    greedy = best_under_budget(pool, budget)
    optimum = best_under_budget_exact(pool, budget).total_value

    assert greedy.total_price <= budget
    assert optimum / 2 <= greedy.total_value <= optimum


@settings(max_examples=150, deadline=None)
@given(candidates, st.integers(0, 200))
def test_greedy_leaves_out_no_positive_candidate_that_would_still_fit(pool, budget):
    greedy = best_under_budget(pool, budget)
    room = budget - greedy.total_price

    left = [c for c in pool if c.sample_id not in greedy.sample_ids and c.exact_value > 0]
    assert all(c.price > room for c in left)


@settings(max_examples=100, deadline=None)
@given(candidates, st.integers(0, 10), st.integers(0, 200), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order(pool, k, budget, rng):
    shuffled = rng.sample(pool, len(pool))

    assert top_k(shuffled, k) == top_k(pool, k)
    assert above_threshold(shuffled, 0.5) == above_threshold(pool, 0.5)
    assert best_under_budget(shuffled, budget) == best_under_budget(pool, budget)
    assert best_under_budget_exact(shuffled, budget) == best_under_budget_exact(pool, budget)


@settings(max_examples=100, deadline=None)
@given(candidates, st.integers(0, 10))
def test_top_k_values_dominate_the_rest(pool, k):
    chosen = top_k(pool, k)
    left = [c.exact_value for c in pool if c.sample_id not in chosen.sample_ids]

    assert len(chosen.sample_ids) == min(k, sum(c.exact_value > 0 for c in pool))
    values = {c.sample_id: c.exact_value for c in pool}
    if chosen.sample_ids and left:
        assert min(values[i] for i in chosen.sample_ids) >= max(left)


def test_measured_greedy_gap_on_random_instances():
    """The figures quoted in docs/pricing.md: 300 seeded instances of up to 14 candidates."""
    rng = random.Random(2026)
    ratios = []
    for _ in range(300):
        pool = [
            Candidate(f"s{i:02d}", rng.uniform(0, 1), rng.randint(1, 100))
            for i in range(rng.randint(1, 14))
        ]
        budget = sum(c.price for c in pool) * 3 // 10
        optimum = best_under_budget_exact(pool, budget).total_value
        greedy = best_under_budget(pool, budget).total_value
        ratios.append(greedy / optimum if optimum else Fraction(1))

    assert min(ratios) >= Fraction(1, 2)
    assert round(float(min(ratios)), 3) == 0.701
    assert round(float(sum(ratios) / len(ratios)), 3) == 0.987
    assert sum(ratio == 1 for ratio in ratios) == 239
