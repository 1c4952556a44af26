"""The floors hold: import-linter's layers contract (pyproject.toml) passes on the code, and fails on a copy of the
code with one upward import added, so the contract is not one that nothing could break."""
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(root)})


def test_layers_contract_is_kept():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for name in ("seemore_edge", "quant", "export"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "seemore_edge" / "core" / "tiling.py", "a") as f:
        f.write("\nfrom export import card  # noqa: E402,F401  upward on purpose\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "seemore_edge.core is not allowed to import export" in result.stdout
