"""Pro-rata splitting of an integer amount (pure; used for refunds and reversals)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction


def allocate_pro_rata(total: int, weights: Mapping[int, int]) -> dict[int, int]:
    """Split ``total`` minor units over ``weights`` in proportion, by largest remainder.

    Needs 0 <= total <= sum(weights): then every share lies between floor and ceil of its exact
    share, never exceeds its weight, and the shares add up to ``total`` exactly. Ties go to the
    smaller key, so the result is deterministic.
    """
    if isinstance(total, bool) or not isinstance(total, int):
        raise TypeError(f"total must be an int of minor units, got {total!r}")
    for key, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError(f"weight of {key!r} must be a non-negative int, got {weight!r}")
    whole = sum(weights.values())
    if not 0 <= total <= whole:
        raise ValueError(f"cannot split {total} over weights summing to {whole}")
    if total == 0:
        return dict.fromkeys(weights, 0)
    exact = {key: Fraction(total * weight, whole) for key, weight in weights.items()}
    shares = {key: math.floor(amount) for key, amount in exact.items()}
    missing = total - sum(shares.values())
    for key in sorted(exact, key=lambda k: (shares[k] - exact[k], k))[:missing]:
        shares[key] += 1
    return shares
