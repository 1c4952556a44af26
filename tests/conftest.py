import os
import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "reference" / "golden"


# The optional tools some tests need, and the variable with which CI (.ci/run) says it installed them: there a missing
# tool fails its tests (a skip would hide a broken page or tiler); elsewhere its tests skip and say why.
REQUIRE = {"browser": "SEEMORE_REQUIRE_BROWSER", "kotlin": "SEEMORE_REQUIRE_KOTLIN"}


def need(kind: str, missing: str | None) -> None:
    """Skip (or, where CI requires ``kind``, fail) the calling test when ``missing`` says what is absent."""
    if missing is None:
        return
    if os.environ.get(REQUIRE[kind]):
        pytest.fail(f"{missing}, but {REQUIRE[kind]} is set (.ci/run installed it)")
    pytest.skip(missing)


def kotlin_missing() -> str | None:
    if shutil.which("kotlinc") is None or shutil.which("java") is None:
        return "kotlinc and a JDK are needed: apt-get install kotlin (CI installs them)"
    return None


def _data_root() -> Path | None:
    for p in (os.environ.get("SEEMORE_DATA"), SHARED / "datasets" / "benchmarks"):
        if p and Path(p, "Set5", "HR").is_dir():
            return Path(p)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("benchmark data not found: set SEEMORE_DATA to the folder holding Set5/Set14/BSD100")
    return root


@pytest.fixture(scope="session")
def golden() -> Path:
    if not GOLDEN.is_dir():
        pytest.skip(f"golden files not found at {GOLDEN}")
    return GOLDEN


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A seeded tiny x4 model saved in our format: every code path in milliseconds."""
    from seemore_edge import build_model, save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-x4.safetensors"
    save_model(build_model("tiny", 4), path, {"recipe": {"init": "random, seed 0, for tests"}})
    return path


@pytest.fixture(scope="session")
def tiny_qat(tmp_path_factory):
    """A tiny x4 QAT checkpoint: observers fed a few batches (no training needed to test the plumbing), then frozen."""
    from quant.int8_checkpoint import prepare_for, save_qat
    from quant.int8_graph import freeze_observers

    torch.manual_seed(0)
    prepared = prepare_for("tiny", 4, (2,))
    with torch.no_grad():
        for _ in range(3):
            prepared(torch.rand(2, 3, 48, 48))
    freeze_observers(prepared)
    path = tmp_path_factory.mktemp("qat") / "tiny-qat.safetensors"
    save_qat(prepared, "tiny", 4, (2,), path, {"recipe": {"training": "none: observers fed three random batches, for tests"}})
    return path


def run_tool(module, argv, capsys):
    """Run a command-line tool in-process; returns (exit status, stdout, stderr)."""
    from seemore_edge import cli

    with pytest.raises(SystemExit) as exc:
        cli.run(module.main, argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err
