"""``python -m seemore_edge.sensitivity --weights T-x4-qat``: where a QAT model loses its PSNR to INT8.

The fake-quantized model is scored with all its quantizers on, all off, and with one group at a time switched off:
the activations, then the weights, of each top-level part (input, ``conv_1``, each residual group ``body.N``, the final
``norm``, ``conv_2``, ``upsampler``). A group whose switch-off gains most is where a better INT8 scheme (or a float op)
pays; a group that gains nothing is quantized well already. This is how the float ops of ``quant/qat.py`` were chosen.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from tqdm import tqdm

from . import cli
from .datasets import SAMPLES, data_root
from .errors import UserError
from .evaluation import evaluate_sets, model_upscaler


def quantizer_groups(prepared: torch.fx.GraphModule) -> dict[str, list[torch.nn.Module]]:
    """Fake quantizers by kind ('A' activations, 'W' weights) and the top-level module that produces or uses them."""
    groups: dict[str, list[torch.nn.Module]] = defaultdict(list)
    for node in prepared.graph.nodes:
        if node.op != "call_module" or "activation_post_process" not in str(node.target):
            continue
        source = node.args[0]
        if source.op == "get_attr":  # a weight (or a parameter used like one): named after its consumer
            kind, owner = "W", next(iter(node.users))
        else:
            kind, owner = "A", source
        stack = owner.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        part = ".".join(path.split(".")[:2]) if path.startswith("body.") else path.split(".")[0]
        groups[f"{kind} {part or 'input/model-level'}"].append(getattr(prepared, node.target))
    return dict(sorted(groups.items()))


def _switch(quantizers, on: bool) -> None:
    for fq in quantizers:
        fq.fake_quant_enabled.fill_(1 if on else 0)


def main(argv: list[str] | None = None) -> int:
    from quant.qat_checkpoint import is_qat_checkpoint, load_qat
    from torchao.quantization.pt2e import move_exported_model_to_eval

    ap = argparse.ArgumentParser(prog="python -m seemore_edge.sensitivity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_model_args(ap)
    ap.add_argument("--sets", default=None, help="comma-separated sets (default Set5; samples without a data root)")
    ap.add_argument("--data-root", help="benchmark root (default: $SEEMORE_DATA)")
    ap.add_argument("--threads", type=int, help="CPU threads")
    ap.add_argument("--json", type=cli.Path, help="write the figures here")
    args = ap.parse_args(argv)
    cli.check_json_target(args.json)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = cli.model_path(args)
    if not is_qat_checkpoint(path):
        raise UserError(f"{path}: sensitivity needs a QAT checkpoint (e.g. --weights T-x4-qat)")
    qat = load_qat(path)
    prepared = qat.prepared
    move_exported_model_to_eval(prepared)
    root = data_root(args.data_root)
    sets = [s for s in (args.sets or ("Set5" if root else SAMPLES)).split(",") if s]
    groups = quantizer_groups(prepared)
    every = [fq for group in groups.values() for fq in group]

    def score() -> dict[str, float]:
        with torch.no_grad():
            result = evaluate_sets(model_upscaler(prepared), root, sets, qat.scale, progress=False)
        return {name: r["psnr"] for name, r in result["sets"].items()}

    t0 = time.perf_counter()
    base = score()
    _switch(every, False)
    none = score()
    _switch(every, True)
    rows = {}
    for name, group in tqdm(groups.items(), desc="groups off one at a time", unit="group"):
        _switch(group, False)
        rows[name] = {"quantizers": len(group), "psnr": score()}
        _switch(group, True)
    lines = [f"{'quantizers switched off':<28} {'count':>5} " + " ".join(f"{s + ' dB':>10} {'gain':>7}" for s in sets)]

    def line(label: str, count: int, psnr: dict[str, float]) -> str:
        return f"{label:<28} {count:>5} " + " ".join(f"{psnr[s]:>10.4f} {psnr[s] - base[s]:>+7.4f}" for s in sets)
    lines.append(line("none (INT8 as trained)", 0, base))
    lines += [line(name, row["quantizers"], row["psnr"]) for name, row in rows.items()]
    lines.append(line("all (float weights)", len(every), none))
    print("\n".join(lines))
    cli.write_json(args.json, {"checkpoint": str(path), "sets": sets, "all_quantized": base, "none_quantized": none,
                               "groups": rows, "wall_s": round(time.perf_counter() - t0, 1)})
    return 0


if __name__ == "__main__":
    cli.run(main)
