"""The DCGAN's evaluation, shared by its PyTorch, JAX and TensorFlow trainers: a grid of samples
from fixed latents, then the quality metrics of ``--data`` on samples from the evaluation latents.

Framework-neutral: a trainer hands in ``sample``, which maps NumPy latents to NumPy images, so
this module (and the JAX and TensorFlow trainers) import no PyTorch.  Before, the shared
evaluation lived in the PyTorch trainer, which the JAX and TensorFlow trainers imported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reference_trainers import common
from reference_trainers.config import DCGANConfig
from reference_trainers.metrics import DigitMetrics, StackedDigitMetrics

#: chunk of evaluation samples generated at once
EVAL_CHUNK = 500


def metrics_for(cfg: DCGANConfig, framework: str = "numpy") -> Any:
    """The quality metrics of ``--data`` (None for a user's folder).  The digit classifier runs
    in PyTorch for ``framework="torch"`` (the PyTorch trainer's numbers, unchanged) and in
    NumPy otherwise (the JAX and TensorFlow trainers: no PyTorch needed)."""
    data, size = cfg.data, cfg.image_size
    if data not in ("digits", "stacked-digits"):
        return None
    network = None
    if framework == "torch":
        from reference_trainers.metrics_torch import TorchDigitClassifier

        network = TorchDigitClassifier(size)
    if data == "digits":
        return DigitMetrics(size, network)
    return StackedDigitMetrics(size, cfg.eval_samples, network)


def make_evaluate(
    run_dir: Path,
    sample: Callable[[Any], np.ndarray],
    fixed_z: Any,
    eval_z: Callable[[], Any],
    metrics: Any,
) -> Callable[[int], dict[str, Any]]:
    """The evaluation of every DCGAN trainer: a grid of ``sample(fixed_z)`` into ``samples/``,
    then the metrics on ``sample`` of ``eval_z()`` in chunks of :data:`EVAL_CHUNK`.  ``sample``
    returns (N, C, S, S) float32 NumPy images in [-1, 1]; the latents are whatever it takes."""

    def evaluate(step: int) -> dict[str, Any]:
        common.save_grid(sample(fixed_z), run_dir / "samples" / f"step_{step:06d}.png")
        if metrics is None:
            return {}
        z = eval_z()
        chunks = [sample(z[i : i + EVAL_CHUNK]) for i in range(0, len(z), EVAL_CHUNK)]
        return metrics(np.concatenate(chunks))

    return evaluate
