#!/usr/bin/env bash
# GPU throughput in one command: the DCGAN (64x64) and pix2pix (256x256) gpu presets with bf16
# autocast, channels_last and torch.compile, beside a plain PyTorch loop of the same networks;
# writes gpu.md, gpu.json and gpu.log (benchmarks/results/ by default).  See benchmarks/README.md
# ("GPU: one command") and `python -m benchmarks.gpu --help`.
#
#   bash benchmarks/gpu.sh                          # CUDA machine: <= 8 min (--budget 450 s); not yet run on one
#   bash benchmarks/gpu.sh --out "$OUT"             # results elsewhere (a device machine's $OUT)
#   bash benchmarks/gpu.sh --dry-run --out /tmp/g   # CPU smoke test at tiny sizes (< 1 min)
#
# Installs nothing: it needs a Python (PYTHON, default python3) with torch (CUDA build, except
# for --dry-run), numpy, scikit-learn (the digits), scikit-image (synthetic-facades' textures)
# and pillow; advloss and the trainers are imported from this checkout (PYTHONPATH), not from
# an installed package.  Other options go through to python -m benchmarks.gpu (--seconds N,
# --rounds N, --budget S, --trainers, --no-compile, --commit HASH).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help)
      sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exec "$python" -m benchmarks.gpu --help
      ;;
  esac
done

cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "gpu.sh: no $python on PATH (set PYTHON=/path/to/python)" >&2
  exit 2
fi
missing="$("$python" - <<'PY'
import importlib.util
names = {"torch": "torch", "numpy": "numpy", "sklearn": "scikit-learn",
         "skimage": "scikit-image", "PIL": "pillow"}
print(" ".join(p for m, p in names.items() if importlib.util.find_spec(m) is None))
PY
)"
if [[ -n "$missing" ]]; then
  echo "gpu.sh: $python lacks: $missing (pip install them; gpu.sh installs nothing)" >&2
  exit 2
fi
if [[ "$dry_run" == 0 ]]; then
  if ! gpu="$("$python" -c 'import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} sees no CUDA device (CUDA build: {torch.version.cuda})")
print(torch.cuda.get_device_name(0))' 2>&1)"; then
    echo "gpu.sh: ${gpu##*$'\n'}; run it on a CUDA machine, or --dry-run for the CPU smoke test" >&2
    exit 2
  fi
  echo "gpu.sh: $gpu; $("$python" -c 'import torch; print("torch", torch.__version__)')"
fi
ADVLOSS_GPU_COMMAND="bash benchmarks/gpu.sh${*:+ $(printf '%q ' "$@")}"
export ADVLOSS_GPU_COMMAND="${ADVLOSS_GPU_COMMAND% }"  # recorded in gpu.json / gpu.md
exec "$python" -m benchmarks.gpu "$@"
