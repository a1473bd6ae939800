"""The integration examples (plain PyTorch, Lightning, Keras 3 train_step, Flax + optax under
jax.jit) run end to end on a few hundred steps and learn: the generator's samples move from the
origin (distance ~1 from the ring) towards the ring of Gaussians."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"examples_{name}"] = module  # dataclasses (Flax modules) look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name, needs",
    [("train_torch", ["torch"]), ("train_lightning", ["torch", "lightning"]),
     ("train_keras", ["tensorflow", "keras"]), ("train_flax", ["jax", "flax", "optax"])],
)  # fmt: skip
@pytest.mark.slow
def test_integration_example_trains(name, needs, capsys):
    for module in needs:
        pytest.importorskip(module)
    distance = load(name).main(["--steps", "400", "--batch", "128"])
    out = capsys.readouterr().out
    assert "mean distance of samples to the ring" in out
    assert math.isfinite(distance) and distance < 0.5, distance
