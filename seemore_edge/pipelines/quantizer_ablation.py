"""Where a QAT model loses its PSNR to INT8: the fake-quantized model scored with all its quantizers on, all off, and
with one group at a time switched off (the activations, then the weights, of each top-level part: input, ``conv_1``,
each residual group ``body.N``, the final ``norm``, ``conv_2``, ``upsampler``). A group whose switch-off gains most is
where a better INT8 scheme (or a float op) pays. This is how the float ops of ``quant/quantizer.py`` were chosen."""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import torch
from torchao.quantization.pt2e import move_exported_model_to_eval
from tqdm import tqdm

from quant.int8_checkpoint import QatModel
from seemore_edge.core.scoring import evaluate_sets, model_upscaler


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


def ablate(qat: QatModel, root: Path | None, sets: list[str]) -> dict:
    """``{"all_quantized", "none_quantized": {set: psnr}, "groups": {name: {"quantizers", "psnr"}}, "wall_s"}``."""
    prepared = qat.prepared
    move_exported_model_to_eval(prepared)
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
    return {"sets": sets, "all_quantized": base, "none_quantized": none, "quantizers": len(every), "groups": rows,
            "wall_s": round(time.perf_counter() - t0, 1)}


def format_ablation(r: dict) -> str:
    sets, base = r["sets"], r["all_quantized"]
    lines = [f"{'quantizers switched off':<28} {'count':>5} " + " ".join(f"{s + ' dB':>10} {'gain':>7}" for s in sets)]

    def line(label: str, count: int, psnr: dict[str, float]) -> str:
        return f"{label:<28} {count:>5} " + " ".join(f"{psnr[s]:>10.4f} {psnr[s] - base[s]:>+7.4f}" for s in sets)
    lines.append(line("none (INT8 as trained)", 0, base))
    lines += [line(name, row["quantizers"], row["psnr"]) for name, row in r["groups"].items()]
    lines.append(line("all (float weights)", r["quantizers"], r["none_quantized"]))
    return "\n".join(lines)
