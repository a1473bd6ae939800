"""`import advloss` imports no framework, and works where none is installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_import_advloss_imports_no_framework():
    proc = run(
        """
        import sys, advloss
        loaded = [m for m in ("torch", "tensorflow", "jax", "flax", "keras") if m in sys.modules]
        print(loaded)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_works_with_no_framework_installed():
    """Frameworks made unimportable: the NumPy reference still works; asking for a missing
    framework explains how to install it."""
    proc = run(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "tensorflow", "jax", "jaxlib", "flax"):
                    raise ImportError(f"{name} blocked for this test")
        sys.meta_path.insert(0, Block())
        import numpy as np, advloss
        print(round(float(advloss.get_loss("ns").discriminator(np.zeros(2), np.zeros(2))), 6))
        try:
            advloss.get_backend("torch")
        except advloss.AdvlossValueError as err:
            print("error:", err)
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "1.386294"  # 2 log 2
    assert "pip install advloss[torch]" in lines[1]
