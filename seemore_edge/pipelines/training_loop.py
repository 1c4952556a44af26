"""The reference training run: the paper's recipe, resumable, on CPU, one GPU, or several processes (torchrun).

Recipe (ARCHITECTURE.md): L1 + 0.1 FFT-L1, Adam 1e-3 (betas 0.9/0.99), lr halved at 50/80/90/95 % of the run, random
LR crops with flips and 90-degree rotations. Everything a run needs to continue exactly (weights, optimizer, scheduler,
step, all random states) is in ``<out>/last.pt.gz``, written atomically; Ctrl-C or SIGTERM finishes the current step,
saves and exits.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from seemore_edge.core.checkpoints import build_model, load_model, parent_of, resolve_weights, save_model
from seemore_edge.core.datasets import SAMPLES, data_root
from seemore_edge.core.errors import UserError
from seemore_edge.core.imageio import atomic_write
from seemore_edge.core.losses import sr_loss
from seemore_edge.core.presets import check_scale
from seemore_edge.core.scoring import evaluate_sets, model_upscaler
from seemore_edge.core.training_data import PatchBatches, load_train_images
from seemore_edge.pipelines.plots import plot_training
from seemore_edge.pipelines.settings import TrainConfig

MILESTONES = (0.5, 0.8, 0.9, 0.95)


class StopFlag:
    """Turns SIGINT/SIGTERM into a request honoured between steps, so no step is half-applied when we save."""

    def __init__(self):
        self.raised = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._set)

    def _set(self, *_):
        self.raised = True


def rng_states() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_states(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])
    if s["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def train(args: TrainConfig) -> int:
    """The reference recipe, run to ``args.iters`` (or to the count ``args.minutes`` fixes) or until a stop signal;
    returns the exit status."""
    t_begin = time.perf_counter()  # a --minutes budget counts from here: loading and start-up are part of it
    scale = check_scale(args.scale)
    if args.minutes and args.resume:
        raise UserError("--minutes fixes the iteration count of a new run; a run is resumed with --resume --iters N "
                        "(N: the count its log's 'planned_iters' record gives)")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if args.batch % world:
        raise UserError(f"--batch {args.batch} does not split over {world} processes")
    main_proc = rank == 0
    out, ckpt = args.out, args.out / "last.pt.gz"
    if main_proc:
        if ckpt.exists() and not args.resume:
            raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        if args.resume and not ckpt.exists():
            raise UserError(f"--resume: no checkpoint {ckpt}")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--out {out}: cannot create ({e.strerror})") from None
        if not os.access(out, os.W_OK):
            raise UserError(f"--out {out}: not writable")

    torch.manual_seed(args.seed)
    model = build_model(args.preset, scale)
    parent = _init_from(model, args.init) if args.init else None
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    # A pure function of the step, so a run resumed with a longer --iters follows the longer run's schedule.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 ** sum(s >= int(m * args.iters) for m in MILESTONES))
    images = load_train_images(args.train_dir, args.patch * scale)
    per_rank = args.batch // world
    batches = PatchBatches(images, scale, args.patch, per_rank, seed=(args.seed, rank))
    step, best, wall = 0, -1.0, 0.0  # wall: seconds spent in this run's training loops, over all sessions
    last_psnr = float("nan")  # the latest validation score, shown in the progress bar (also after a resume)
    if args.resume:
        state = torch.load(io.BytesIO(gzip.decompress(ckpt.read_bytes())), map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, best, wall = state["step"], state["best_psnr"], state.get("wall_s", 0.0)
        parent = state.get("parent", parent)
        last_psnr = state.get("last_psnr", float("nan"))
        set_rng_states(state["rng"])
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    root = data_root(args.data_root)
    val_sets = [s for s in args.val_sets.split(",") if s] if root is not None else [SAMPLES]
    log_path = out / "log.jsonl"
    if main_proc:
        _truncate_log(log_path, step)
    stop = StopFlag()
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    t_start = time.perf_counter()

    def wall_now() -> float:
        return wall + time.perf_counter() - t_start

    def save() -> None:
        if world > 1:
            drift = _replica_drift(model)
            if main_proc:
                _append(log_path, {"step": step, "replica_drift": drift})
        if not main_proc:
            return
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "step": step, "best_psnr": best, "last_psnr": last_psnr, "wall_s": wall_now(), "rng": rng_states(),
                 "args": dataclasses.asdict(args), "parent": parent}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        # gzip removes the zip container's per-tensor padding, which matters because the repo carries these states
        atomic_write(ckpt, lambda tmp: Path(tmp).write_bytes(gzip.compress(buffer.getvalue(), compresslevel=6)))

    budget = Budget(args, t_begin) if args.minutes else None
    if budget:
        args.iters = budget.PLACEHOLDER  # until the first steps are timed; the schedule reads args.iters each step
    bar = tqdm(total=None if budget else args.iters, initial=step, desc=f"train {args.preset} x{scale}", unit="it",
               disable=not main_proc)
    t_last, losses, last_loss = time.perf_counter(), [], float("nan")
    model.train()
    workers = args.workers if args.workers is not None else (6 if device.type == "cuda" else 0)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(step, args.iters),  # (budget: open)
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         worker_init_fn=_ignore_interrupts)
    for lr_img, hr_img in loader:
        lr_img, hr_img = lr_img.to(device, non_blocking=True), hr_img.to(device, non_blocking=True)
        if device.type == "cuda":
            lr_img = lr_img.contiguous(memory_format=torch.channels_last)
        with amp:
            sr = ddp(lr_img)
        loss = sr_loss(sr, hr_img)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        bar.update(1)
        if budget:
            planned = budget.after_step(step, world)
            if planned is not None:
                args.iters = planned
                bar.total = planned
                bar.refresh()
                if main_proc:
                    _append(log_path, {"step": step, "planned_iters": planned, "budget_s": budget.seconds,
                                       "it_s": round(budget.rate, 3)})
        if main_proc and (step % args.log_every == 0 or step == args.iters):
            now = time.perf_counter()
            rec = {"step": step, "loss": float(np.mean(losses)), "lr": sched.get_last_lr()[0],
                   "it_s": len(losses) / (now - t_last), "wall_s": round(wall_now(), 1), "losses": losses}
            _append(log_path, rec)
            last_loss, t_last, losses = rec["loss"], now, []
            bar.set_postfix(loss=f"{last_loss:.4f}", psnr=f"{last_psnr:.2f}")
        if budget and step < args.iters and _any(budget.must_stop(step), world):
            if main_proc:
                _append(log_path, {"step": step, "budget_stop": f"stopped at {step} of {args.iters} planned "
                                                                 "iterations to save within the budget"})
            args.iters = step
        if step % args.val_every == 0 or step == args.iters:
            if main_proc:
                t_val = time.perf_counter()
                result = evaluate_sets(model_upscaler(model), root, val_sets, scale, progress=False)
                if budget:
                    budget.val_s = max(budget.val_s, time.perf_counter() - t_val)
                model.train()
                last_psnr = result["sets"][val_sets[0]]["psnr"]
                _append(log_path, {"step": step, "val": result["sets"]})
                if last_psnr > best:
                    best = last_psnr
                    save_model(model, out / "best.safetensors", _card(args, step, result, device, world, wall_now(), parent))
                bar.set_postfix(loss=f"{last_loss:.4f}", psnr=f"{last_psnr:.2f}")
        if step % args.ckpt_every == 0 or step == args.iters or _any(stop.raised, world):
            t_save = time.perf_counter()
            save()
            if budget:
                budget.save_s = max(budget.save_s, time.perf_counter() - t_save)
            if _any(stop.raised, world):
                bar.close()
                if main_proc:
                    print(f"stopped at step {step}; continue with --resume" +
                          (f" --iters {args.iters}" if budget and args.iters != budget.PLACEHOLDER else ""))
                break
        if step >= args.iters:
            break
    bar.close()
    if main_proc and step >= args.iters:
        save_model(model, out / "final.safetensors", _card(args, step, None, device, world, wall_now(), parent))
        plot_training(log_path, out / "curves.png")
        print(f"done: {step} iterations, best {val_sets[0]} PSNR {best:.2f} dB; weights in {out}")
    if world > 1:
        dist.destroy_process_group()
    return 0


def _init_from(model: torch.nn.Module, init: str) -> dict:
    """Load ``init``'s weights into ``model`` (same preset and scale, the paper's dynamic routing) and return it as
    the card's parent."""
    path = resolve_weights(init)
    source = load_model(path, scale=model.scale, preset=model.preset.name)
    if source.routing != "dynamic":
        raise UserError(f"--init {init}: a fixed-routing model; the reference recipe trains the dynamic one")
    model.load_state_dict(source.state_dict())
    p = parent_of(path)
    return {"name": p.name, "sha256": p.sha256}


class Budget:
    """A wall-time budget (``--minutes``) turned into an iteration count. The first steps are timed (after a few
    warm-up steps: the first ones allocate and tune); the count then fills what is left of the budget after the
    validations and checkpoints the run will make, each costed as the slowest one seen so far (or a guess until one
    is seen), and a 5% margin. Should the run still fall behind, ``must_stop`` ends it early enough to save."""
    PLACEHOLDER = 10 ** 9
    WARMUP, PROBE = 3, 10

    def __init__(self, args: TrainConfig, t_begin: float):
        self.args, self.t_begin = args, t_begin
        self.seconds = args.minutes * 60
        self.rate = 0.0
        self.t_probe = None
        self.val_s = self.save_s = 0.0
        self.step_s = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_begin

    def after_step(self, step: int, world: int) -> int | None:
        """The planned iteration count once the probe steps are timed, else None."""
        if step == self.WARMUP:
            self.t_probe = time.perf_counter()
        probed = step - self.WARMUP
        if self.rate or self.t_probe is None or probed < 1:
            return None
        if probed < self.PROBE and time.perf_counter() - self.t_probe < 0.05 * self.seconds:
            return None  # timed over PROBE steps, or fewer when slow steps would eat 5% of the budget
        self.rate = probed / max(time.perf_counter() - self.t_probe, 1e-9)
        self.step_s = 1 / self.rate
        a = self.args
        val = self.val_s or 20 * self.step_s  # guesses until one of each is timed; must_stop corrects what they miss
        save = self.save_s or 5 * self.step_s
        left = self.seconds * 0.95 - self.elapsed() - val - save  # the final validation and save
        per_step = self.step_s + val / a.val_every + save / a.ckpt_every
        planned = step + max(0, int(left / per_step))
        if world > 1:  # every process must plan the same count
            t = torch.tensor([planned])
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
            planned = int(t.item())
        return max(planned, step)

    def must_stop(self, step: int) -> bool:
        """True when one more step, the final validation and the final save would end past the budget."""
        if not self.rate:
            return self.elapsed() > 0.5 * self.seconds  # still unplanned at half the budget: stop and save
        return self.elapsed() + self.step_s + self.val_s + self.save_s > self.seconds * 0.98


def _ignore_interrupts(_worker: int) -> None:
    """Ctrl-C reaches the whole process group; only the main process should act on it (save, then stop)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _any(flag: bool, world: int) -> bool:
    """True on every process if any one of them was asked to stop, so all stop at the same step."""
    if world == 1:
        return flag
    t = torch.tensor([int(flag)])
    dist.all_reduce(t)
    return bool(t.item())


def _replica_drift(model: torch.nn.Module) -> float:
    """Largest difference between any process's weights and rank 0's: DDP keeps it 0 unless something is broken."""
    flat = torch.cat([p.detach().flatten().float() for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0)
    drift = (flat - ref).abs().max()
    dist.all_reduce(drift, op=dist.ReduceOp.MAX)
    return float(drift)


def hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(device)}"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "CPU") if Path("/proc/cpuinfo").exists() else "CPU"
    return f"{world} process(es) x {torch.get_num_threads()} thread(s), {cpu} ({os.cpu_count()} cores)"


def _card(args: TrainConfig, step: int, val: dict | None, device: torch.device, world: int, wall: float,
          parent: dict | None = None) -> dict:
    start = {"init": f"the weights of {parent['name']} (sha256 {parent['sha256'][:12]}), fresh optimizer"} if parent \
        else {}
    budget = {"budget": f"{args.minutes:g} minutes of wall time fixed the iteration count"} if args.minutes else {}
    return {**({"parent": parent} if parent else {}),
            "recipe": {"loss": "L1 + 0.1 FFT-L1", "optimizer": f"Adam({args.lr:g}, betas 0.9/0.99)", **start, **budget,
                       "schedule": f"lr halved at {', '.join(str(int(m * args.iters)) for m in MILESTONES)}",
                       "iterations": args.iters, "batch": args.batch, "lr_patch": args.patch,
                       "train_dir": str(args.train_dir) if args.train_dir else "scikit-image sample photos",
                       "augmentation": "random crop, flips, 90-degree rotations; LR by MATLAB-style bicubic"},
            "training": {"trained_steps": step, "hardware": hardware(device, world), "wall_time_s": round(wall),
                         "validation": val["sets"] if val else None}}


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from: they will be written again."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    atomic_write(path, lambda tmp: Path(tmp).write_text("".join(f"{line}\n" for line in keep)))
