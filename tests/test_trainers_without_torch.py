"""The JAX and TensorFlow DCGANs need no PyTorch (issue 17 item 7): in a process where
``import torch`` fails, ``python -m reference_trainers.dcgan --framework jax|tf`` trains,
evaluates (the digit classifier runs in NumPy from the shipped weights) and writes its run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]

TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "8", "--log-every", "1",
        "--eval-samples", "200", "--steps", "2", "--eval-every", "2"]  # fmt: skip

#: ``import torch`` (and any ``torch.*``) raises ImportError; then one trainer run in-process
SCRIPT = """
import sys, warnings
warnings.simplefilter("always")

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is blocked by the test")

sys.meta_path.insert(0, NoTorch())
from reference_trainers import dcgan

code = dcgan.main(sys.argv[1:])
assert "torch" not in sys.modules, "torch was imported"
print("exit", code)
"""


def _run(tmp_path: Path, framework: str, *extra: str) -> tuple[str, list[dict]]:
    out = tmp_path / framework
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--framework", framework, "--out", str(out), *TINY, *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0 and "exit 0" in proc.stdout, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return proc.stderr, rows


@pytest.mark.slow
@pytest.mark.parametrize(
    ("framework", "modules"), [("jax", ("jax", "flax", "optax")), ("tf", ("tensorflow", "keras"))]
)
def test_dcgan_trains_and_evaluates_without_torch(tmp_path, framework, modules):
    for name in modules:
        pytest.importorskip(name)
    stderr, rows = _run(tmp_path, framework)
    evals = [r for r in rows if r.get("eval")]
    assert [r["step"] for r in evals] == [0, 2]
    for key in ("fd", "fd_baseline", "coverage", "class_kl"):
        assert all(isinstance(r[key], float) for r in evals), key
    assert 0 < evals[-1]["fd_baseline"] < evals[-1]["fd"]
    assert [r["step"] for r in rows if "d_loss" in r] == [1, 2]
    assert (tmp_path / framework / "samples" / "step_000002.png").is_file()
    assert (tmp_path / framework / "checkpoint.npz").is_file()
    assert "not writable" not in stderr  # (PyTorch's warning on NumPy views: issue 16 item 13)
