"""The DCGAN's evaluation, shared by its PyTorch, JAX and TensorFlow trainers: a grid of samples
from fixed latents, then the quality metrics of ``--data`` on samples from the evaluation latents.

Framework-neutral: a trainer hands in ``sample``, which maps NumPy latents to NumPy images, so
this module (and the JAX and TensorFlow trainers) import no PyTorch.  Before, the shared
evaluation lived in the PyTorch trainer, which the JAX and TensorFlow trainers imported.
``--fid-weights`` adds the standard Inception scores, which run in PyTorch for every framework
(:mod:`reference_trainers.fid_inception`, imported only then)."""

from __future__ import annotations

import importlib.util
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
    if cfg.fid_weights is not None:  # the metrics of --data, then the Inception scores
        return _with_inception(metrics_for(cfg.replace(fid_weights=None), framework), cfg)
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


def check_fid_weights(path: str) -> None:
    """``--fid-weights``, before a framework is imported: the file exists and PyTorch (which
    runs the Inception network, also for the JAX and TensorFlow trainers) is installed.  The
    file's content is checked when it is loaded (:func:`reference_trainers.fid_inception.load`)."""
    if not Path(path).is_file():
        raise common.TrainerError(
            f"--fid-weights {path}: no such file (pytorch-fid's Inception weights, "
            f"pt_inception-2015-12-05-6726825d.pth, which you download yourself: docs/dcgan.md)"
        )
    try:
        torch_installed = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a blocked or half-imported torch
        torch_installed = False
    if not torch_installed:
        raise common.TrainerError(
            "--fid-weights: the Inception network runs in PyTorch, which is not installed here "
            "(pip install torch; the JAX and TensorFlow trainers need it only for this option)"
        )


def _with_inception(metrics: Any, cfg: DCGANConfig) -> Callable[[np.ndarray], dict[str, Any]]:
    """``metrics`` (None: none) followed by the Inception scores of
    :class:`reference_trainers.fid_inception.InceptionMetrics` against ``--eval-samples`` real
    images of ``--data`` (a fixed random subset, all of them when there are fewer), on
    ``--device``."""
    check_fid_weights(cfg.fid_weights or "")
    from reference_trainers import fid_inception

    inception = fid_inception.InceptionMetrics(
        fid_inception.load(cfg.fid_weights or ""), lambda: _real_images(cfg),
        common.pick_device(cfg.device),
    )  # fmt: skip

    def scores(samples: np.ndarray) -> dict[str, Any]:
        return {**(metrics(samples) if metrics is not None else {}), **inception(samples)}

    return scores


def _real_images(cfg: DCGANConfig) -> np.ndarray:
    from reference_trainers.data import load

    images = load(cfg.data, cfg.image_size)[0]
    n = min(len(images), cfg.eval_samples)
    return images[np.sort(np.random.default_rng(0).choice(len(images), n, replace=False))]


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
