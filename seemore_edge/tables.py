"""``python -m seemore_edge.tables``: render the measured tables of the README and docs/RESULTS.md from the committed
records (the shipped cards, docs/records, docs/bench/bench.json); ``--check`` only reports whether they still equal
them."""
from __future__ import annotations

import difflib
from pathlib import Path

from . import cli
from .core.errors import UserError
from .core.imageio import atomic_write

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("tables", __doc__)
    ap.add_argument("files", nargs="*", type=Path,
                    help="documents holding marked tables (default: README.md and docs/RESULTS.md of this checkout)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a document differs from its records")
    args = ap.parse_args(argv)
    from .pipelines.readme_tables import DOCUMENTS, marked, render  # reads the records with torch-side modules

    files = args.files or [REPO / d for d in DOCUMENTS]
    for path in files:
        if not path.is_file():
            raise UserError(f"{path}: no such file")
    stale = 0
    for path in files:
        text = path.read_text()
        fresh = render(text, REPO)
        if args.check:
            if fresh != text:
                diff = [line for line in difflib.unified_diff(text.splitlines(), fresh.splitlines(), lineterm="", n=0)
                        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
                print("\n".join(diff[:20]))
                print(f"{path}: {len(diff)} line(s) differ from the records; run python -m seemore_edge.tables")
                stale += 1
            else:
                print(f"{path}: tables {', '.join(marked(text))} equal their records")
            continue
        if fresh != text:
            atomic_write(path, lambda tmp, fresh=fresh: Path(tmp).write_text(fresh))
        print(f"rendered {', '.join(marked(text))} into {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    cli.run(main)
