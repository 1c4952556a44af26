"""``python -m seemore_edge.tables``: render the README's measured tables from the committed records (the shipped
cards, docs/records, docs/bench/bench.json); ``--check`` only reports whether the README still equals them."""
from __future__ import annotations

import difflib
from pathlib import Path

from . import cli
from .core.errors import UserError
from .core.imageio import atomic_write

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = cli.parser("tables", __doc__)
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if the README differs from its records")
    args = ap.parse_args(argv)
    from .pipelines.readme_tables import marked, render  # reads the records with torch-side modules: after parsing

    if not args.readme.is_file():
        raise UserError(f"{args.readme}: no such file")
    text = args.readme.read_text()
    fresh = render(text, REPO)
    if args.check:
        if fresh != text:
            diff = [line for line in difflib.unified_diff(text.splitlines(), fresh.splitlines(), lineterm="", n=0)
                    if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
            print("\n".join(diff[:20]))
            print(f"{args.readme}: {len(diff)} line(s) differ from the records; run python -m seemore_edge.tables")
            return 1
        print(f"{args.readme}: tables {', '.join(marked(text))} equal their records")
        return 0
    if fresh != text:
        atomic_write(args.readme, lambda tmp: Path(tmp).write_text(fresh))
    print(f"rendered {', '.join(marked(text))} into {args.readme}")
    return 0


if __name__ == "__main__":
    cli.run(main)
