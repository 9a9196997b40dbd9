"""Subset selection for buyers: top-k by value, a value threshold, or best value under a budget.

Pure functions, no Django. Values are LinFiK scores compared exactly (floats convert to Fraction
without rounding); prices are exact amounts of minor units (ints or Fractions: a sample usually
costs a fraction of a cent). Every result is deterministic: ties go to the smaller sample id,
and input order never matters. See docs/pricing.md, "Choosing a subset".

For a budget, pass each candidate's exact price, payments.pricing.sample_price(...): a subset
whose exact prices sum to at most the budget is quoted at ceil(sum) <= budget, so the quote
for the chosen subset never costs more than the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

# Bounds the exact solver's table (items x budget steps) so a request cannot run for minutes.
DEFAULT_MAX_DP_CELLS = 5_000_000


class SelectionError(ValueError):
    """A selection request the rules refuse: malformed candidate, k, threshold or budget."""


@dataclass(frozen=True)
class Candidate:
    """A sample a buyer may choose: its LinFiK value and its exact price in minor units."""

    sample_id: str
    value: float | int | Fraction
    price: int | Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.sample_id, str) or not self.sample_id:
            raise SelectionError(f"sample_id must be a non-empty string, got {self.sample_id!r}")
        where = f"candidate {self.sample_id!r}"
        value = self.value
        is_real = isinstance(value, float | int | Fraction) and not isinstance(value, bool)
        if not is_real or (isinstance(value, float) and not math.isfinite(value)):
            raise SelectionError(f"{where}: value must be a finite number, got {value!r}")
        price = self.price
        if isinstance(price, bool) or not isinstance(price, int | Fraction) or price < 0:
            raise SelectionError(
                f"{where}: price must be an int or Fraction >= 0, got {self.price!r}"
            )

    @property
    def exact_value(self) -> Fraction:
        return Fraction(self.value)


@dataclass(frozen=True)
class Selection:
    """The chosen samples, best value first (ties by id), with their exact value and price."""

    sample_ids: tuple[str, ...]
    total_value: Fraction
    total_price: Fraction  # exact sum of the chosen prices


def top_k(candidates: Iterable[Candidate], k: int) -> Selection:
    """The k positively valued candidates with the highest values (fewer if fewer exist).

    Non-positive samples are left out because they cannot help the buyer's task; use
    above_threshold with a threshold <= 0 to take them on purpose.
    """
    _require_int(k, "k")
    return _selection([c for c in _by_value(candidates) if c.exact_value > 0][:k])


def above_threshold(
    candidates: Iterable[Candidate], threshold: float | int | Fraction
) -> Selection:
    """Every candidate whose value is at least `threshold`."""
    is_real = isinstance(threshold, float | int | Fraction) and not isinstance(threshold, bool)
    if not is_real or (isinstance(threshold, float) and not math.isfinite(threshold)):
        raise SelectionError(f"threshold must be a finite number, got {threshold!r}")
    limit = Fraction(threshold)
    return _selection([c for c in _by_value(candidates) if c.exact_value >= limit])


def best_under_budget(candidates: Iterable[Candidate], budget: int) -> Selection:
    """Greedy knapsack: most value for a total price <= budget, fast at any size.

    Candidates are taken by value per unit price (free ones first), skipping any that no longer
    fit. A second run starts from the single most valuable candidate that fits and fills the
    rest the same way; the better of the two is returned. Both runs pass over every candidate,
    so no positively valued candidate left out would still fit in what is left of the budget,
    and starting from the best single candidate bounds the loss: the value is always at least
    half the optimum (best_under_budget_exact computes the optimum for small inputs).
    """
    _require_int(budget, "budget")
    useful = [c for c in _by_value(candidates) if c.exact_value > 0 and c.price <= budget]
    by_density = sorted(useful, key=_density_order)
    greedy = _selection(_fill(by_density, budget, []))
    if useful and useful[0].exact_value > greedy.total_value:
        best = useful[0]
        rest = [c for c in by_density if c is not best]
        return _selection(_fill(rest, budget - best.price, [best]))
    return greedy


def _fill(ordered: list[Candidate], room: int | Fraction, chosen: list[Candidate]) -> list:
    """Add candidates in order while each still fits in `room`."""
    chosen = list(chosen)
    for candidate in ordered:
        if candidate.price <= room:
            chosen.append(candidate)
            room -= candidate.price
    return chosen


def best_under_budget_exact(
    candidates: Iterable[Candidate], budget: int, *, max_cells: int = DEFAULT_MAX_DP_CELLS
) -> Selection:
    """Exact 0/1 knapsack by dynamic programming: the most value for a total price <= budget.

    Costs time and memory in proportion to items x (budget / gcd of prices); a request above
    `max_cells` is refused with SelectionError (use best_under_budget). Among equally valuable
    subsets, the one found first in sample-id order wins, so the result is deterministic.
    """
    _require_int(budget, "budget")
    items = sorted(
        (c for c in _checked(candidates) if c.exact_value > 0 and c.price <= budget),
        key=lambda c: c.sample_id,
    )
    # Prices may be fractions of a minor unit: scale them (and the budget) to whole numbers.
    price_scale = math.lcm(*(Fraction(c.price).denominator for c in items))
    scaled = [int(c.price * price_scale) for c in items]
    step = math.gcd(*scaled) or 1
    capacity = budget * price_scale // step
    if len(items) * (capacity + 1) > max_cells:
        raise SelectionError(
            f"exact selection needs {len(items)} x {capacity + 1} table cells, over the limit of "
            f"{max_cells}; use best_under_budget"
        )
    scale = math.lcm(*(c.exact_value.denominator for c in items))
    weights = [int(c.exact_value * scale) for c in items]
    costs = [price // step for price in scaled]
    best = [0] * (capacity + 1)  # best[c]: most scaled value for a cost <= c, items so far
    taken: list[bytearray] = []
    for weight, cost in zip(weights, costs, strict=True):
        row = bytearray(capacity + 1)
        for room in range(capacity, cost - 1, -1):
            if best[room - cost] + weight > best[room]:
                best[room] = best[room - cost] + weight
                row[room] = 1
        taken.append(row)
    chosen, room = [], capacity
    for index in range(len(items) - 1, -1, -1):
        if taken[index][room]:
            chosen.append(items[index])
            room -= costs[index]
    return _selection(sorted(chosen, key=_value_order))


def _density_order(candidate: Candidate) -> tuple[int, Fraction, Fraction, str]:
    """Free candidates first, then by value per unit price, value, and id."""
    if candidate.price == 0:
        return (0, Fraction(0), -candidate.exact_value, candidate.sample_id)
    density = candidate.exact_value / candidate.price
    return (1, -density, -candidate.exact_value, candidate.sample_id)


def _value_order(candidate: Candidate) -> tuple[Fraction, str]:
    return (-candidate.exact_value, candidate.sample_id)


def _by_value(candidates: Iterable[Candidate]) -> list[Candidate]:
    return sorted(_checked(candidates), key=_value_order)


def _checked(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The candidates as a list, refusing non-Candidates and a sample id given twice."""
    result, seen = list(candidates), set()
    for position, candidate in enumerate(result):
        if not isinstance(candidate, Candidate):
            raise SelectionError(
                f"candidates[{position}] must be a Candidate, got {type(candidate).__name__}"
            )
        if candidate.sample_id in seen:
            raise SelectionError(f"candidate {candidate.sample_id!r} appears more than once")
        seen.add(candidate.sample_id)
    return result


def _selection(chosen: list[Candidate]) -> Selection:
    ordered = sorted(chosen, key=_value_order)
    return Selection(
        sample_ids=tuple(c.sample_id for c in ordered),
        total_value=sum((c.exact_value for c in ordered), Fraction(0)),
        total_price=sum((Fraction(c.price) for c in ordered), Fraction(0)),
    )


def _require_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SelectionError(f"{name} must be an int >= 0, got {value!r}")
