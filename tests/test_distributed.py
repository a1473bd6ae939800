"""Data-parallel training: the statistics, the moving averages (LeCam) and the controllers
averaged over replicas with ``replicas=`` give, on every replica, the single-device step's
numbers on the global batch — under JAX ``shard_map`` (and plain ``jax.jit`` over sharded
arrays), TensorFlow ``MirroredStrategy`` and a 2-process ``torch.distributed`` group, each in
a subprocess with two simulated CPU devices (the workers: tests/distributed_*_worker.py)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import advloss
from advloss.errors import AdvlossTypeError

ROOT = Path(__file__).resolve().parents[1]
#: Two simulated CPU devices, one thread each.  Set on their own: flags inherited from the
#: parent (``reference_trainers.common.limit_threads`` writes XLA_FLAGS into the environment of
#: the test process) may end XLA's parse before the device count.
_DEVICES = "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false"


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


def _run(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-4000:]


def test_one_process_replicas_change_nothing():
    r, f = np.array([2.0, -1.0, 0.5]), np.array([-2.0, 1.0, 0.0])
    assert advloss.balance_stats(r, f, replicas=True) == advloss.balance_stats(r, f)
    o = advloss.Objective.parse("hinge + lecam(start=0)")
    states = o.init_states(np.zeros(()))
    d = lambda x: x
    a = o.discriminator(d, r, f, step=0, states=states, replicas=True)
    b = o.discriminator(d, r, f, step=0, states=states)
    assert dict(a.stats) == dict(b.stats)


@pytest.mark.skipif(not _has("torch"), reason="needs torch")
def test_torch_replicas_without_a_process_group_and_bad_values():
    import torch

    r, f = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    assert advloss.balance_stats(r, f, replicas=True) == advloss.balance_stats(r, f)
    with pytest.raises(AdvlossTypeError, match=r"balance_stats: replicas must be True .*'batch'"):
        advloss.balance_stats(r, f, replicas="batch")


@pytest.mark.skipif(not _has("jax"), reason="needs jax")
def test_jax_replicas_must_name_an_axis():
    import jax.numpy as jnp

    with pytest.raises(AdvlossTypeError, match=r"LeCam.update: replicas must be the mapped axis"):
        advloss.LeCam().update(
            advloss.LeCam().init(jnp.zeros(())), jnp.ones(2), jnp.ones(2), step=0, replicas=True
        )


@pytest.mark.slow
@pytest.mark.skipif(not _has("jax"), reason="needs jax")
def test_jax_shard_map_and_sharded_jit_equal_one_device():
    flags = _DEVICES  # not the parent's XLA_FLAGS: a trainer test may have set them
    _run(["tests.distributed_jax_worker"], _env(XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu"))


@pytest.mark.slow
@pytest.mark.skipif(not _has("tensorflow"), reason="needs tensorflow")
def test_tf_mirrored_strategy_equals_one_device():
    _run(["tests.distributed_tf_worker"], _env(TF_CPP_MIN_LOG_LEVEL="2"))


@pytest.mark.slow
@pytest.mark.skipif(not _has("torch"), reason="needs torch")
def test_torch_process_group_equals_one_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    args = [sys.executable, "-m", "tests.distributed_torch_worker"]
    procs = [
        subprocess.Popen(
            [*args, str(rank), "2", port],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and "OK" in logs[0], "\n".join(logs)


def test_devices_option_errors():
    from reference_trainers.common import TrainerError
    from reference_trainers.distributed import check_devices

    check_devices(1, "torch", 7)
    check_devices(2, "jax", 8)
    with pytest.raises(TrainerError, match="expected an integer >= 1"):
        check_devices(0, "jax", 8)
    with pytest.raises(TrainerError, match="torchrun --nproc_per_node=2"):
        check_devices(2, "torch", 8)
    with pytest.raises(TrainerError, match="--batch-size 9 must divide by the device count"):
        check_devices(2, "tf", 9)


@pytest.mark.slow
@pytest.mark.skipif(not (_has("jax") and _has("tensorflow")), reason="needs jax and tensorflow")
def test_jax_and_tf_dcgan_trainers_on_two_devices_agree(tmp_path):
    """``--devices 2`` (simulated CPU devices): the JAX trainer (jit over sharded arrays) and
    the TF trainer (MirroredStrategy) train the rows one device trains (float64, R1, spectral
    norm, adaptive noise and ratio): the worker's docstring says why agreeing proves it."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    flags = _DEVICES  # not the parent's XLA_FLAGS: a trainer test may have set them
    env = _env(XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    _run(["tests.distributed_trainer_worker", str(tmp_path)], env)
