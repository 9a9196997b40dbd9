"""The demo valuation: the one real ALinFiK job ``seed_demo`` requests for the demo buyer,
which ``make run`` lets its embedded worker compute and the landing page then shows.

Names here are natural keys from demo/manifest.json (a target slug, listing slugs), so the
seed command and the pages find the same objects again.
"""

from __future__ import annotations

from dataclasses import dataclass

from valuation.conf import DEFAULT_MODEL
from valuation.models import ValuationJob

DEMO_BUYER_USERNAME = "buyer"


@dataclass(frozen=True)
class DemoValuation:
    target: str  # slug of a demo/manifest.json target; the task is named after its title
    datasets: tuple[str, ...]  # listing slugs of the pool
    label_fraction: float
    model_spec: str = DEFAULT_MODEL
    method: str = ValuationJob.Method.ALINFIK.value
    seed: int = 0


DEMO_VALUATION = DemoValuation(
    target="clean-instruction-following",
    datasets=("wordnet-definitions-instruct", "instruct-mix"),
    label_fraction=0.05,
)
