#!/usr/bin/env bash
# Builds the Kotlin/JVM tiler and its golden-vector test with kotlinc alone (no Gradle: CI has no Maven access) and
# runs it against tests/golden/tiling.json. Needs a JDK and kotlinc (Debian: apt-get install kotlin).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${TILING_BUILD_DIR:-$(mktemp -d)}"
kotlinc "$here/src/main/kotlin" "$here/src/test/kotlin" -include-runtime -d "$build/tiling-test.jar" 2>&1 \
  | grep -v "warning: Options -Xverify:none" || true
test -s "$build/tiling-test.jar"
java -cp "$build/tiling-test.jar" ai.seemore.tiling.GoldenTestKt "$repo/tests/golden/tiling.json"
