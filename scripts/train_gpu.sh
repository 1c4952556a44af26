#!/usr/bin/env bash
# A short GPU window -> a better reference, in one call. Trains SeemoRe for a wall-time budget from the shipped
# reference (or from scratch), then scores the result; `python -m seemore_edge.ship RUN/final.safetensors T-x4` makes
# it the shipped reference only where it scores higher on Set5, Set14 and BSD100.
#
#   scripts/train_gpu.sh RUN_DIR [MINUTES]
#
# Settings (environment): SCALE (4), PRESET (T), INIT (T-x$SCALE; "none": from scratch), TRAIN_DIR (BSDS400 beside the
# checkout; DF2K when you have it), DATA_ROOT (the benchmarks beside the checkout), BATCH (32), PATCH (64),
# WORKERS (6), DEVICE (cuda; "cpu" only to try the script without a GPU). On CUDA the trainer runs bf16 autocast and
# channels-last. The budget counts from the trainer's start; the final weights and card are written within it.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: scripts/train_gpu.sh RUN_DIR [MINUTES]}"
minutes="${2:-10}"
scale="${SCALE:-4}"
preset="${PRESET:-T}"
init="${INIT:-T-x$scale}"
train_dir="${TRAIN_DIR:-$here/../shared/datasets/train/BSDS400}"
data_root="${DATA_ROOT:-$here/../shared/datasets/benchmarks}"
device="${DEVICE:-cuda}"
python="${PYTHON:-python}"

if [ "$device" = "cuda" ]; then
  "$python" -c "import torch, sys; ok = torch.cuda.is_available(); print(f'GPU: {torch.cuda.get_device_name(0)}' if ok else 'train_gpu.sh: error: no CUDA GPU visible to torch (DEVICE=cpu tries the script on the CPU)', file=sys.stdout if ok else sys.stderr); sys.exit(0 if ok else 2)"
fi
[ -d "$train_dir" ] || { echo "train_gpu.sh: error: TRAIN_DIR $train_dir is not a folder" >&2; exit 2; }
args=(--preset "$preset" --scale "$scale" --train-dir "$train_dir" --minutes "$minutes" --device "$device"
      --batch "${BATCH:-32}" --patch "${PATCH:-64}" --workers "${WORKERS:-6}" --out "$out"
      --val-every "${VAL_EVERY:-2000}" --ckpt-every "${CKPT_EVERY:-2000}" --log-every "${LOG_EVERY:-100}")
[ "$init" = "none" ] || args+=(--init "$init")
[ -d "$data_root" ] && args+=(--data-root "$data_root")
"$python" -m seemore_edge.train "${args[@]}"
echo "next: python -m seemore_edge.ship $out/final.safetensors $preset-x$scale --data-root $data_root"
