"""``python -m seemore_edge.qat``: the main job (reference -> fixed routing -> INT8 QAT -> export -> verify -> report).

Not built yet: fixed routing and quantization-aware training are issue 4, export and runtime verification issue 5.
Until then this command says so and exits with status 1 rather than pretend.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seemore_edge.qat", description=__doc__)
    ap.parse_args(argv)
    print("seemore_edge.qat: not built yet. Fixed routing + INT8 QAT (issue 4) and export/verification (issue 5) come "
          "next; today the project ships the network, evaluation, tiled upscaling and training "
          "(python -m seemore_edge.evaluate / upscale / train).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
