"""The Kotlin/JVM tiler of the Android app against the golden vectors (built with kotlinc, run on the JVM)."""
import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO


def test_kotlin_tiler_passes_golden_vectors(tmp_path):
    if shutil.which("kotlinc") is None or shutil.which("java") is None:
        if os.environ.get("SEEMORE_REQUIRE_KOTLIN"):
            pytest.fail("kotlinc/java not found, but SEEMORE_REQUIRE_KOTLIN is set (CI installs Debian's kotlin)")
        pytest.skip("kotlinc and a JDK are needed: apt-get install kotlin (CI installs them)")
    result = subprocess.run([str(REPO / "android_demo" / "tiling" / "run_golden_tests.sh")], capture_output=True,
                            text=True, timeout=900, env={**os.environ, "TILING_BUILD_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 7 golden cases pass" in result.stdout
