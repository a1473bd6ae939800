"""Penalties and spectral normalization under torch DistributedDataParallel: a 2-process (gloo,
CPU) step gives the same parameter gradients and spectral-norm buffers as one process over the
same global batch."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advloss.testing import assert_close

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_equal_single_process(tmp_path):
    import torch

    from tests import ddp_worker

    port, out = free_port(), str(tmp_path / "grads.npz")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ddp_worker", str(rank), "2", str(port), out],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)

    d = ddp_worker.make_discriminator()
    real, fake, alpha = (torch.from_numpy(a) for a in ddp_worker.global_batch())
    ddp_worker.d_step(d, real, fake, alpha).backward()
    with np.load(out) as ddp:
        grads = [ddp[f"arr_{i}"] for i in range(len(ddp.files))]
    single = [p.grad.numpy() for p in d.parameters()] + [b.numpy() for b in d.buffers()]
    assert len(list(d.buffers())) == 2  # the spectral norm's u and v
    assert len(grads) == len(single)
    for g_ddp, g_one in zip(grads, single, strict=True):
        assert_close(g_ddp, g_one, "float64", what="DDP vs single-process gradient / buffer")
