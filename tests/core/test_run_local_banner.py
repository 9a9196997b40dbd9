"""scripts/run_local.py (``make run``): the banner links to the demo valuation seed_demo queued."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_local.py"
BASE = "http://127.0.0.1:8000/"


@pytest.fixture(scope="module")
def run_local():
    spec = importlib.util.spec_from_file_location("run_local_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_output(status: str) -> str:
    return (
        "Demo accounts (passwords are for local demos only):\n"
        "  buyer     buyer / demo-buyer-pass\n"
        f"  valuation /valuation/jobs/7/ {status} (job #7, Clean instruction following; "
        "log in as buyer)\n"
        "seed_demo: created 1 object(s).\n"
    )


def test_a_queued_demo_valuation_is_announced_as_running_with_its_duration(run_local):
    lines = run_local.demo_valuation_lines(seed_output("queued"), base_url=BASE, embedded=True)
    assert lines == [
        "  Demo valuation (log in as buyer): http://127.0.0.1:8000/valuation/jobs/7/",
        f"    queued: the worker is computing it now, {run_local.DEMO_VALUATION_MINUTES} min on "
        "a 2-core CPU;",
        "    once finished, its results are on the buyer's pages and the home page",
    ]


@pytest.mark.parametrize(
    ("status", "embedded", "second_line"),
    [
        (
            "succeeded",
            True,
            "    finished: results on that page and under Valuations in the header",
        ),
        ("failed", True, "    failed: open it to see why and retry it"),
        ("running", False, "    running: it runs once workers for queues default and gpu are up"),
    ],
)
def test_other_states_of_the_demo_valuation(run_local, status, embedded, second_line):
    lines = run_local.demo_valuation_lines(seed_output(status), base_url=BASE, embedded=embedded)
    assert lines == [
        "  Demo valuation (log in as buyer): http://127.0.0.1:8000/valuation/jobs/7/",
        second_line,
    ]


def test_no_demo_valuation_no_banner_lines(run_local):
    output = "  buyer     buyer / demo-buyer-pass\nseed_demo: nothing new to create.\n"
    assert run_local.demo_valuation_lines(output, base_url=BASE, embedded=True) == []


def test_seeding_leaves_embeddings_to_the_valuations_unless_told_otherwise(run_local):
    assert run_local.seed_environment({"PATH": "/bin"}) == {
        "PATH": "/bin",
        "EMBED_AT_INGEST": "false",
    }
    assert run_local.seed_environment({"EMBED_AT_INGEST": "true"}) == {"EMBED_AT_INGEST": "true"}
