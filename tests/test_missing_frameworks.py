"""``pip install advloss[torch]`` (or [tf], [jax]) users can run the doctests: with a framework
missing, the modules that need it are not collected and the doctests that import it are skipped
(collection failed before: advloss/adapters/jax.py without JAX)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in {blocked!r}):
            raise ImportError(f"{{name}} is blocked by the test")
sys.meta_path.insert(0, Block())
import pytest
sys.exit(pytest.main(["advloss", "-q", "-p", "no:cacheprovider", "-rs"]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "blocked", [("jax", "flax", "optax"), ("torch",), ("tensorflow", "keras")], ids=str
)
def test_doctests_run_with_a_framework_missing(blocked):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=list(blocked))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "error" not in text.splitlines()[-1], text[-3000:]
    if blocked[0] == "torch":  # most doctests print numbers from torch tensors
        assert "needs torch (not installed)" in text, text[-3000:]


def test_numpy_bfloat16_without_ml_dtypes_is_a_clear_error():
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ml_dtypes' or name.startswith('ml_dtypes.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import advloss\n"
        "try:\n"
        "    advloss.get_backend('numpy').from_numpy([1.0], 'bfloat16')\n"
        "except advloss.AdvlossTypeError as err:\n"
        "    print('ERR', err)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert "ERR bfloat16 on NumPy arrays needs the ml_dtypes package" in proc.stdout, proc.stderr
