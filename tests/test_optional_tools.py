"""The README's test command passes where the optional tools are absent (Node.js, the page's npm packages, Chromium,
kotlinc): their tests skip and say why, unless CI's ``SEEMORE_REQUIRE_*`` says they must run, and then they fail.
Checked by running those tests again in a copy of the repository without ``web_demo/node_modules``, on a PATH without
the tools and with no Chromium, as a fresh clone with only the README's install done has it."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

HIDDEN = {"node", "npm", "npx", "kotlinc", "kotlin", "java", "javac", "chromium"}
TESTS = ["tests/test_web_demo.py", "tests/test_kotlin_tiler.py"]


@pytest.fixture(scope="module")
def bare_clone(tmp_path_factory) -> tuple[Path, dict]:
    """A copy of the code and tests with no npm packages, and an environment in which the tools cannot be found."""
    root = tmp_path_factory.mktemp("bare") / "repo"
    skip = shutil.ignore_patterns("node_modules", "__pycache__", ".venv", ".git", "out", "runs", "build", "training",
                                  "docs", "*.mlpackage")
    for name in ("seemore_edge", "quant", "export", "tests", "web_demo", "android_demo"):
        shutil.copytree(REPO / name, root / name, ignore=skip)
    shutil.copy(REPO / "pyproject.toml", root)
    bin_dir = root.parent / "bin"  # every command on PATH, less the hidden ones
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for exe in Path(folder).iterdir():
            if exe.name not in HIDDEN and not (bin_dir / exe.name).exists() and os.access(exe, os.X_OK):
                (bin_dir / exe.name).symlink_to(exe)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEMORE_REQUIRE_")}
    env |= {"PATH": str(bin_dir), "CHROMIUM": str(root / "no-chromium-here")}
    return root, env


def _run(root: Path, env: dict) -> tuple[str, dict]:
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf", "-q", *TESTS], cwd=root,
                            env=env, capture_output=True, text=True, timeout=900)
    tail = result.stdout.strip().splitlines()[-1]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|skipped|failed|error)", tail)}
    return result.stdout, counts


def test_tool_tests_skip_with_their_reasons_when_the_tools_are_absent(bare_clone):
    root, env = bare_clone
    assert shutil.which("node", path=env["PATH"]) is None and not (root / "web_demo" / "node_modules").exists()
    out, counts = _run(root, env)
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, out[-4000:]
    assert counts["skipped"] >= 6 and counts.get("passed", 0) >= 1, out[-4000:]  # the bad-folder test needs no tool
    for reason in ("Node.js is not installed", "LiteRT.js is not installed: run `npm ci", "kotlinc and a JDK"):
        assert reason in out, (reason, out[-4000:])


def test_tool_tests_fail_when_ci_requires_the_tools(bare_clone):
    root, env = bare_clone
    out, counts = _run(root, env | {"SEEMORE_REQUIRE_BROWSER": "1", "SEEMORE_REQUIRE_KOTLIN": "1"})
    assert counts.get("skipped", 0) == 0 and counts.get("failed", 0) + counts.get("error", 0) >= 7, out[-4000:]
    assert "but SEEMORE_REQUIRE_BROWSER is set" in out and "but SEEMORE_REQUIRE_KOTLIN is set" in out
