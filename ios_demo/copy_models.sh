#!/usr/bin/env bash
# Copies the Core ML packages and their cards from the export step into ios_demo/Models (not in git).
#   python -m seemore_edge.export --weights T-x4-qat --formats mlpackage --precision int8,fp32 --out out/export
#   ios_demo/copy_models.sh [out/export]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-$here/../out/export}"
ls "$src"/*.mlpackage >/dev/null 2>&1 || { echo "no .mlpackage in $src: run python -m seemore_edge.export first" >&2; exit 1; }
mkdir -p "$here/Models"
for pkg in "$src"/*.mlpackage; do
  name="$(basename "$pkg")"
  [ -f "$pkg.json" ] || { echo "$name has no card $name.json beside it" >&2; exit 1; }
  rm -rf "$here/Models/$name"
  cp -R "$pkg" "$here/Models/"
  cp "$pkg.json" "$here/Models/"
  echo "copied $name"
done
