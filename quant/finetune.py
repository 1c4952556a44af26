"""The fine-tuning loop shared by the FP32 control and QAT: same data, loss, schedule and iterations, so the two differ
only in quantization and the report can separate the gain of more training from the cost of INT8."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from seemore_edge.core.imageio import atomic_write
from seemore_edge.core.training_data import PatchBatches



def finetune(model: torch.nn.Module, teacher: torch.nn.Module, batches: PatchBatches, iters: int, lr: float,
             ckpt: Path, desc: str, on_step: Callable[[int], None] | None = None) -> dict:
    """Adam with cosine decay from ``lr`` to 0; resumes from ``ckpt`` (written atomically every 25 steps and at the end).

    ``on_step(step)`` runs before each step (QAT freezes its observers there). Returns the loss history.
    """
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, iters) / iters)))
    step, history, wall = 0, [], 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history, wall = state["step"], state["history"], state["wall_s"]
    teacher.eval()
    t0 = time.perf_counter()

    def save() -> None:
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "step": step, "history": history, "wall_s": wall + time.perf_counter() - t0}
        atomic_write(ckpt, lambda tmp: torch.save(state, tmp))

    with tqdm(total=iters, initial=step, desc=desc, unit="it", leave=False) as bar:
        while step < iters:
            if on_step:
                on_step(step)
            lr_img, hr_img = batches[step]
            with torch.no_grad():
                target = teacher(lr_img)
            loss = distill_loss(model(lr_img), target, hr_img)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            history.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % 25 == 0 or step == iters:
                save()
    return {"losses": history, "wall_s": round(wall + time.perf_counter() - t0, 1)}


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, hr: torch.Tensor, hr_weight: float = 0.5) -> torch.Tensor:
    """L1 to the FP32 reference's output (what the edge model should reproduce) plus L1 to the HR image."""
    return F.l1_loss(student, teacher) + hr_weight * F.l1_loss(student, hr)
