"""Run every experiment in order, then render ``docs/evaluation.md``.

    python -m experiments.run_all [--quick] [--only NAME[,NAME...]]

Experiments run in one process, one after another (the machine has two shared cores).
The full scale writes figures to ``docs/figures`` and the report to
``docs/evaluation.md``; ``--quick`` writes both under ``var/experiments/quick``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments import (
    alinfik_fidelity,
    backdoor,
    backdoor_smollm2,
    brittleness,
    future_influence,
    pretrain,
    scalability,
    selection,
    stability,
    stability_smollm2,
)
from experiments.common import (
    REPO_ROOT,
    TARGET_NAMES,
    Context,
    Timer,
    configure_threads,
    make_context,
    quiet_libraries,
    record_timing,
)

TEMPLATE = Path(__file__).with_name("evaluation_template.md")
REPORT = REPO_ROOT / "docs" / "evaluation.md"


def _selection(target: str) -> Callable[[Context], Any]:
    return lambda ctx: selection.run(ctx, target=target)


# (name, command shown in the report, run)
EXPERIMENTS: list[tuple[str, str, Callable[[Context], Any]]] = [
    ("pretrain", "python -m experiments.pretrain", pretrain.run),
    ("stability", "python -m experiments.stability", stability.run),
    ("stability_smollm2", "python -m experiments.stability_smollm2", stability_smollm2.run),
    ("future_influence", "python -m experiments.future_influence", future_influence.run),
    ("alinfik_fidelity", "python -m experiments.alinfik_fidelity", alinfik_fidelity.run),
    *(
        (f"selection_{t}", f"python -m experiments.selection --target {t}", _selection(t))
        for t in TARGET_NAMES
    ),
    ("backdoor", "python -m experiments.backdoor", backdoor.run),
    ("backdoor_smollm2", "python -m experiments.backdoor_smollm2", backdoor_smollm2.run),
    ("brittleness", "python -m experiments.brittleness", brittleness.run),
    ("scalability", "python -m experiments.scalability", scalability.run),
]
NAMES = [name for name, _, _ in EXPERIMENTS]


def run_experiments(ctx: Context, only: list[str] | None = None) -> dict[str, float]:
    """Run the chosen experiments (all by default); returns wall seconds per experiment."""
    timings: dict[str, float] = {}
    for name, _, run in EXPERIMENTS:
        if only and name not in only:
            continue
        print(f"=== {name}", flush=True)
        with Timer() as timer:
            run(ctx)
        timings = record_timing(ctx, name, timer.seconds)
        print(f"=== {name} done in {timer.seconds:.0f} s", flush=True)
    return timings


def _timing_table(timings: dict[str, float]) -> str:
    rows = [
        f"| `{cmd}` | {timings.get(name, float('nan')) / 60:.1f} |" for name, cmd, _ in EXPERIMENTS
    ]
    return "| command | minutes |\n|---|---|\n" + "\n".join(rows) + "\n"


def render_report(ctx: Context, template: Path = TEMPLATE) -> str:
    """Fill ``{{table:NAME}}``, ``{{figure:NAME}}`` and ``{{timings}}`` in the template."""
    timings_path = ctx.paths.results / "run_all.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    figures = Path("figures") if not ctx.quick else ctx.paths.figures

    def table(match: re.Match[str]) -> str:
        path = ctx.paths.results / f"{match.group(1)}.md"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else "*(not run)*"

    def figure(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"![{name}]({figures / (name + '.png')})"

    text = template.read_text(encoding="utf-8")
    text = re.sub(r"\{\{table:([\w-]+)\}\}", table, text)
    text = re.sub(r"\{\{figure:([\w-]+)\}\}", figure, text)
    return text.replace("{{timings}}", _timing_table(timings).strip())


def write_report(ctx: Context) -> Path:
    path = REPORT if not ctx.quick else ctx.paths.root / "evaluation.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(ctx), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny scale, for development")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {NAMES}")
    parser.add_argument("--report-only", action="store_true", help="only re-render the report")
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    unknown = set(only) - set(NAMES)
    if unknown:
        parser.error(f"unknown experiments {sorted(unknown)}; choose from {NAMES}")
    configure_threads()
    quiet_libraries()
    ctx = make_context(args.quick)
    if not args.report_only:
        run_experiments(ctx, only or None)
    print(f"report: {write_report(ctx)}")


if __name__ == "__main__":
    main()
