"""Rank metrics: hand-computed cases, agreement with scipy, tie handling and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from valuation.engine.metrics import kendall_tau, precision_at_k_fraction, spearman, top_k_count

# Small integer values make ties frequent, which is where implementations differ.
tied_pairs = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),
    )
)


def test_spearman_hand_computed_without_ties():
    # d = (0, 1, 1, 0): rho = 1 - 6 * 2 / (4 * 15)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, abs=1e-15)


def test_spearman_hand_computed_with_ties():
    # Average ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): rho = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10), abs=1e-15)


def test_spearman_reversed_order_is_minus_one():
    assert spearman([1, 2, 3], [30, 20, 10]) == -1.0


def test_kendall_tau_hand_computed():
    # One discordant pair out of six: (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3, abs=1e-15)
    # tau-b with one tied pair in the first array: 5 / sqrt(5 * 6)
    assert kendall_tau([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30), abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(tied_pairs)
def test_rank_correlations_match_scipy(pair):
    a, b = (np.array(values, dtype=float) for values in pair)
    if np.all(a == a[0]) or np.all(b == b[0]):
        assert math.isnan(spearman(a, b))
        assert math.isnan(kendall_tau(a, b))
    else:
        assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
        assert kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)


def test_correlations_of_a_constant_input_are_nan():
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau([1, 2, 3], [5, 5, 5]))


@pytest.mark.parametrize("metric", [spearman, kendall_tau, precision_at_k_fraction])
def test_bad_input_is_rejected_with_its_reason(metric):
    with pytest.raises(ValueError, match="length mismatch, 3 vs 2"):
        metric([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2 paired values"):
        metric([1], [1])
    with pytest.raises(ValueError, match="second array has a non-finite value at index 1"):
        metric([1, 2, 3], [1, np.nan, 3])
    with pytest.raises(ValueError, match="1-D"):
        metric([[1, 2]], [[1, 2]])


@pytest.mark.parametrize(
    ("n", "fraction", "k"),
    [(100, 0.1, 10), (25, 0.1, 3), (30, 0.1, 3), (5, 0.1, 1), (4, 0.1, 1), (7, 1.0, 7)],
)
def test_top_k_count_rounds_half_up_and_keeps_one(n, fraction, k):
    assert top_k_count(n, fraction) == k


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_top_k_count_rejects_fractions_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match="fraction must be in"):
        top_k_count(10, fraction)


def test_precision_hand_computed():
    true = np.arange(10, 0, -1)  # item 0 is best
    predicted = np.zeros(10)
    predicted[[0, 1, 5]] = [3.0, 2.0, 1.0]  # picks items 0, 1 (true top) and 5 (not)
    assert precision_at_k_fraction(true, predicted, 0.3) == pytest.approx(2 / 3)


def test_precision_counts_all_true_ties_at_the_boundary_as_top():
    true = [5, 5, 5, 1, 1, 1, 1, 1, 1, 1]
    predicted = [0, 0, 9, 0, 0, 0, 0, 0, 0, 0]  # picks item 2, tied for the true top
    assert precision_at_k_fraction(true, predicted, 0.1) == 1.0


def test_precision_shares_slots_among_predicted_ties():
    true = [9, 1, 2, 8, 0, 0]  # true top-2: items 0 and 3
    predicted = [3, 2, 2, 2, 0, 0]  # item 0 sure, one slot shared by items 1, 2, 3
    assert precision_at_k_fraction(true, predicted, 2 / 6) == pytest.approx((1 + 1 / 3) / 2)


def test_constant_prediction_scores_the_base_rate():
    true = np.arange(20.0)
    assert precision_at_k_fraction(true, np.ones(20), 0.1) == pytest.approx(2 / 20)


@settings(max_examples=100, deadline=None)
@given(tied_pairs, st.sampled_from([0.1, 0.25, 0.5]), st.randoms(use_true_random=False))
def test_precision_is_bounded_perfect_on_truth_and_order_free(pair, fraction, random):
    true, predicted = (np.array(values, dtype=float) for values in pair)
    value = precision_at_k_fraction(true, predicted, fraction)
    assert 0.0 <= value <= 1.0
    assert precision_at_k_fraction(true, true, fraction) == 1.0
    order = list(range(len(true)))
    random.shuffle(order)
    assert precision_at_k_fraction(true[order], predicted[order], fraction) == pytest.approx(value)
