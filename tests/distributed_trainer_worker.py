"""Worker for tests/test_distributed.py: ``python -m tests.distributed_trainer_worker OUT``
trains the JAX and the TensorFlow DCGAN for two steps with ``--devices 2`` (two simulated
devices: the caller sets XLA_FLAGS for JAX; TensorFlow splits the CPU itself) and checks that
their metrics rows agree.  On one device the two trainers give the same float64 rows
(tests/test_xframework.py), and they go data-parallel by different routes (``jax.jit`` over
sharded arrays; ``MirroredStrategy`` with ``replicas=True``, per-replica loss shares and
synchronised batch norm): agreeing here, each equals one device's run.  Prints ``OK``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from reference_trainers import dcgan

OPTIONS = ["--dtype", "float64", "--penalty", "r1", "--spectral-norm", "--instance-noise",
           "adaptive", "--adaptive-ratio", "--d-norm", "layer", "--steps", "2", "--eval-every",
           "2", "--width", "8", "--z-dim", "8", "--batch-size", "8", "--log-every", "1",
           "--eval-samples", "32", "--threads", "1"]  # fmt: skip


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def main(out: str) -> None:
    runs = {}
    for framework in ("jax", "tf"):
        path = Path(out) / framework
        args = ["--framework", framework, "--devices", "2", "--out", str(path)]
        assert dcgan.main([*args, *OPTIONS]) == 0
        runs[framework] = rows(path)
    jax_rows, tf_rows = runs["jax"], runs["tf"]
    assert len(jax_rows) == len(tf_rows) and any("d_loss" in r for r in tf_rows)
    for a, b in zip(jax_rows, tf_rows, strict=True):
        assert set(a) == set(b), (a, b)
        for k, v in a.items():
            if isinstance(v, float) and k != "time" and not k.endswith("per_second"):
                assert math.isclose(v, b[k], rel_tol=1e-9, abs_tol=1e-12), (a["step"], k, v, b[k])
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1])
