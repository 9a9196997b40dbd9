"""The one-way app graph (pyproject.toml, [tool.importlinter]): a broken contract fails the
suite, not only `make lint`."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    command = str(lint_imports) if lint_imports.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is not installed (pip install -e '.[dev]')"
    result = subprocess.run(
        [command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_engine_contract_names_every_other_valuation_module():
    """import-linter cannot say "the rest of valuation", so the contract lists it; a new
    valuation module must be added there."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (engine,) = [c for c in config["contracts"] if c.get("source_modules") == ["valuation.engine"]]
    package = ROOT / "valuation"
    modules = {
        f"valuation.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    exempt = {"valuation.engine", "valuation.migrations"}
    missing = modules - set(engine["forbidden_modules"]) - exempt
    assert not missing, f"add {sorted(missing)} to the engine contract in pyproject.toml"
