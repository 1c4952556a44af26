"""The Kotlin/JVM tiler of the Android app against the golden vectors (built with kotlinc, run on the JVM)."""
import os
import subprocess

from tests.conftest import REPO, kotlin_missing, need


def test_kotlin_tiler_passes_golden_vectors(tmp_path):
    need("kotlin", kotlin_missing())
    result = subprocess.run([str(REPO / "android_demo" / "tiling" / "run_golden_tests.sh")], capture_output=True,
                            text=True, timeout=900, env={**os.environ, "TILING_BUILD_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 7 golden cases pass" in result.stdout
