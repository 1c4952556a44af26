"""The trainer: a tiny run end to end, exact resume after an interruption, and two processes in lockstep."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from seemore_edge import load_model, train
from tests.conftest import REPO, run_tool

TINY = ["--preset", "tiny", "--scale", "4", "--batch", "4", "--patch", "32", "--threads", "1", "--log-every", "1"]


def _losses(out):
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_tiny_training_run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "run"
    code, stdout, _ = run_tool(train, TINY + ["--iters", "6", "--val-every", "3", "--ckpt-every", "3",
                                              "--out", str(out)], capsys)
    assert code == 0 and "done: 6 iterations" in stdout
    assert {p.name for p in out.iterdir()} >= {"last.pt.gz", "best.safetensors", "best.json", "final.safetensors",
                                               "log.jsonl", "curves.png"}
    assert load_model(out / "final.safetensors").preset.name == "tiny"
    assert len(_losses(out)) == 6
    code, _, err = run_tool(train, TINY + ["--iters", "6", "--out", str(out)], capsys)
    assert code == 2 and "already holds a run" in err
    code, _, err = run_tool(train, TINY + ["--iters", "6", "--out", str(tmp_path / "empty"),
                                           "--train-dir", str(tmp_path / "empty_dir_missing")], capsys)
    assert code == 2 and "not a folder" in err


@pytest.mark.parametrize("workers", ["0", "2"])
def test_interrupted_run_resumes_exactly(tmp_path, capsys, monkeypatch, workers):
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    args = TINY + ["--iters", "40", "--val-every", "1000", "--ckpt-every", "1000", "--workers", workers]
    code, _, _ = run_tool(train, args + ["--out", str(tmp_path / "straight")], capsys)
    assert code == 0
    cut = tmp_path / "cut"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("SEEMORE_DATA", None)
    proc = subprocess.Popen([sys.executable, "-m", "seemore_edge.train", *args, "--out", str(cut)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    log = cut / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group, data workers included
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "stopped at step" in stdout, stdout
    stopped = max(_losses(cut))
    assert stopped < 40
    code, _, _ = run_tool(train, args + ["--out", str(cut), "--resume"], capsys)
    assert code == 0
    assert _losses(cut) == _losses(tmp_path / "straight")


def test_two_processes_stay_identical(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("SEEMORE_DATA", None)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    "-m", "seemore_edge.train", *TINY, "--iters", "4", "--val-every", "1000", "--ckpt-every", "2",
                    "--out", str(out)], env=env, check=True, capture_output=True, timeout=300)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    drifts = [r["replica_drift"] for r in records if "replica_drift" in r]
    assert len(drifts) == 2 and all(d == 0.0 for d in drifts)
    assert len([r for r in records if "loss" in r]) == 4


def test_a_minutes_budget_fixes_the_count_and_keeps_the_schedule_in_fractions(tmp_path, capsys, monkeypatch):
    """``--minutes``: the first steps are timed, the count that fits is fixed, lr halves at 50/80/90/95 % of it, and the
    final weights and card are written within the budget (plus, at most, one checkpoint's time: the tiny model's
    take milliseconds; 10 s of slack covers a loaded machine)."""
    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out, budget = tmp_path / "run", 30
    start = time.perf_counter()
    code, stdout, _ = run_tool(train, TINY + ["--minutes", str(budget / 60), "--val-every", "100", "--ckpt-every",
                                              "100", "--out", str(out)], capsys)
    elapsed = time.perf_counter() - start
    assert code == 0 and elapsed < budget + 10, elapsed
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    (plan,) = [r for r in records if "planned_iters" in r]
    planned = plan["planned_iters"]
    assert planned >= 40 and plan["budget_s"] == budget
    # a loaded machine can fall behind the plan; the run then stops early enough to save, and says where
    stops = [r for r in records if "budget_stop" in r]
    done = stops[0]["step"] if stops else planned
    assert done <= planned and f"done: {done} iterations" in stdout
    assert not stops or f"stopped at {done} of {planned} planned" in stops[0]["budget_stop"]
    lrs = {r["step"]: r["lr"] for r in records if "lr" in r}
    assert max(lrs) == done
    for step, lr in lrs.items():
        if step > plan["step"]:  # from the plan on, the schedule is the recipe's, in fractions of the planned count
            assert lr == pytest.approx(1e-3 * 0.5 ** sum(step >= int(m * planned) for m in (0.5, 0.8, 0.9, 0.95)))
    if not stops:
        assert lrs[planned] == pytest.approx(1e-3 / 16)
    card = json.loads((out / "final.json").read_text())
    assert card["recipe"]["iterations"] == done and "minutes of wall time" in card["recipe"]["budget"]
    assert card["training"]["trained_steps"] == done
    code, _, err = run_tool(train, TINY + ["--minutes", "1", "--resume", "--out", str(out)], capsys)
    assert code == 2 and "--resume --iters N" in err


def test_init_starts_from_the_given_weights(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """``--init``: the run starts from those weights (with lr 0 it ends on them exactly) and its card names them."""
    import hashlib

    import torch

    monkeypatch.delenv("SEEMORE_DATA", raising=False)
    out = tmp_path / "run"
    code, _, err = run_tool(train, TINY + ["--iters", "2", "--lr", "0", "--val-every", "100", "--init",
                                           str(tiny_checkpoint), "--out", str(out)], capsys)
    assert code == 0, err
    start, end = load_model(tiny_checkpoint), load_model(out / "final.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(start.state_dict().values(), end.state_dict().values()))
    card = json.loads((out / "final.json").read_text())
    assert card["parent"] == {"name": tiny_checkpoint.stem,
                              "sha256": hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()}
    assert card["recipe"]["init"].startswith(f"the weights of {tiny_checkpoint.stem}")
    code, _, err = run_tool(train, ["--preset", "tiny", "--scale", "2", "--iters", "1", "--init",
                                    str(tiny_checkpoint), "--out", str(tmp_path / "x2")], capsys)
    assert code == 2 and "x4, but x2 was asked for" in err


def test_the_gpu_script_runs_here_on_the_cpu(tiny_checkpoint, tmp_path):
    """scripts/train_gpu.sh, tried on the CPU with a tiny config (DEVICE=cpu), so it is known to work before a GPU is
    at hand: a budgeted run from the given weights, final weights and card written."""
    import numpy as np
    from PIL import Image

    images = tmp_path / "hr"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(images / f"{i}.png")
    env = {k: v for k, v in os.environ.items() if k != "SEEMORE_DATA"} | {
        "PYTHON": sys.executable, "DEVICE": "cpu", "PRESET": "tiny", "SCALE": "4", "INIT": str(tiny_checkpoint),
        "TRAIN_DIR": str(images), "DATA_ROOT": str(tmp_path / "none"), "BATCH": "4", "PATCH": "16", "WORKERS": "0",
        "VAL_EVERY": "1000", "CKPT_EVERY": "1000", "LOG_EVERY": "5"}
    result = subprocess.run([str(REPO / "scripts" / "train_gpu.sh"), str(tmp_path / "run"), "0.25"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((tmp_path / "run" / "final.json").read_text())
    assert card["parent"]["name"] == tiny_checkpoint.stem and "minutes of wall time" in card["recipe"]["budget"]
    assert f"python -m seemore_edge.ship {tmp_path / 'run'}/final.safetensors tiny-x4" in result.stdout
    result = subprocess.run([str(REPO / "scripts" / "train_gpu.sh"), str(tmp_path / "run2"), "0.25"],
                            env=env | {"DEVICE": "cuda"}, capture_output=True, text=True, timeout=300)
    if result.returncode == 2:  # no GPU here: one line says so, nothing is written
        assert "no CUDA GPU visible" in result.stderr and not (tmp_path / "run2").exists()
