"""Making a trained checkpoint a shipped model: its card completed with PSNR/SSIM measured on the benchmark sets,
and both files written into the package's weights folder."""
from __future__ import annotations

import platform
import shutil
import time
from pathlib import Path

from quant.int8_checkpoint import is_qat_checkpoint, load_qat
from seemore_edge.core import records
from seemore_edge.core.checkpoints import WEIGHTS_DIR, card_path, load_model, read_model_card
from seemore_edge.core.datasets import DEFAULT_SETS
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import atomic_write
from seemore_edge.core.records import Metrics, ModelCard
from seemore_edge.core.scoring import evaluate_sets, format_table, model_upscaler

PROTOCOL = "Y channel, MATLAB bicubic LR, scale-pixel border"


def ship(checkpoint: Path, name: str, root: Path, note: str = "", folder: Path = WEIGHTS_DIR,
         force: bool = False) -> ModelCard:
    """Score ``checkpoint`` (a QAT one as its converted INT8 graph in PyTorch) and write it as ``<folder>/<name>``.
    An FP32 reference already shipped under ``name`` is replaced only by weights that score higher on every set
    (every drop in the project is measured against it), unless ``force``."""
    t0 = time.perf_counter()
    card = read_model_card(checkpoint)
    if is_qat_checkpoint(checkpoint):
        qat = load_qat(checkpoint)
        model, what = qat.int8(), "converted INT8 graph in PyTorch"
        scale = qat.scale
    else:
        model, what = load_model(checkpoint), "FP32 in PyTorch"
        scale = model.scale
    result = evaluate_sets(model_upscaler(model), root, list(DEFAULT_SETS), scale)
    print(format_table(result, f"{name} ({what})"))
    metrics = Metrics(protocol=f"{PROTOCOL}; {what}", command=f"python -m seemore_edge.evaluate --weights {name}",
                      sets=result["sets"], evaluated_on=f"{platform.node() or 'this machine'}, "
                                                        f"{time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.0f} s")
    if card is None:
        raise UserError(f"{checkpoint}: has no card ({card_path(checkpoint).name}); shipping completes a card, it "
                        "does not invent one")
    shipped = records.from_dict(ModelCard, {**records.plain(card), "name": name, "metrics": metrics,
                                            "note": note or card.note}, f"{name}.json")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.safetensors"
    old = read_model_card(target) if target.is_file() else None
    if old is not None and old.kind == "fp32" and card.kind == "fp32" and old.metrics is not None and not force:
        before = {s: old.metrics.sets[s].psnr for s in DEFAULT_SETS if s in old.metrics.sets}
        after = {s: result["sets"][s]["psnr"] for s in before}
        versus = ", ".join(f"{s} {after[s]:.3f} vs {before[s]:.3f}" for s in before)
        if len(before) < len(DEFAULT_SETS) or any(after[s] <= before[s] for s in before):
            print(f"kept the shipped {name}: the new weights are not higher on every set ({versus} dB); "
                  "--force replaces it anyway")
            return old
        print(f"replacing the shipped {name}: higher on every set ({versus} dB)")
    atomic_write(target, lambda tmp: shutil.copyfile(checkpoint, tmp))
    records.write(card_path(target), shipped)
    (load_qat if is_qat_checkpoint(target) else load_model)(target)  # the shipped file loads
    print(f"shipped {target} and {card_path(target).name}")
    return shipped
