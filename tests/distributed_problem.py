"""The data-parallel step shared by the distributed tests (tests/test_distributed.py): a
global batch, a tiny generator and discriminator (a spectrally normalized first layer) and an
objective with every kind of term that data parallelism can break — per-sample penalties (R1,
R2, WGAN-GP with explicit α), moving averages (LeCam; path length, whose penalty's gradient
also flows through its average), instance noise steered by an adaptive controller, and the
balance statistics the controllers read.  Framework-free: the workers build
their framework's step from these NumPy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

import advloss
import advloss.augment

#: The global batch size and the latent / data widths; the images are (N, 1, 2, 3).
BATCH, LATENT, WIDTH, HIDDEN = 8, 3, 6, 5
IMAGE = (1, 2, 3)
#: The objective, in the Objective grammar.
OBJECTIVE = (
    "ns + r1(gamma=1) + r2(gamma=1) + gp(weight=1) + lecam(start=0, weight=0.3)"
    " + path_length(weight=1, decay=0.5)"
    " + noise(name='adaptive', target=0.0, step_size=0.05, interval=1, initial=0.1)"
)
#: The objective and the controllers every worker steps (advloss values: framework-free).
OBJECTIVE_VALUE = advloss.Objective.parse(OBJECTIVE)
NOISE = OBJECTIVE_VALUE.instance_noise
RATIO = advloss.AdaptiveRatio()
ADA = advloss.augment.AdaptiveProbability(target=0.0, interval=1, batch_size=BATCH)


def initial_states(like: Any) -> dict[str, Any]:
    """The objective's term states and the three controllers' states, as 0-d tensors of
    ``like``'s framework."""
    return {
        **OBJECTIVE_VALUE.init_states(like),
        "noise": NOISE.init(like),
        "ratio": advloss.balance.RatioState(like, like),
        "ada": ADA.init(like),
    }


def params() -> dict[str, np.ndarray]:
    """The generator's and discriminator's parameters and the SN state (u, v) of D's first
    layer (float64)."""
    rng = np.random.default_rng(0)
    u = rng.normal(size=HIDDEN)
    return {
        "g_w": rng.normal(size=(LATENT, WIDTH)) * 0.5,
        "d_w1": rng.normal(size=(WIDTH, HIDDEN)),
        "d_w2": rng.normal(size=(HIDDEN, 1)),
        "sn_u": u / np.linalg.norm(u),
        "sn_v": np.zeros(WIDTH),
    }


def batch() -> dict[str, np.ndarray]:
    """The global batch: real images, latents, WGAN-GP's α, the instance noise and path
    length's projection draws."""
    rng = np.random.default_rng(1)
    return {
        "real": rng.normal(size=(BATCH, *IMAGE)),
        "z": rng.normal(size=(BATCH, LATENT)),
        "gp.alpha": rng.uniform(size=BATCH),
        "noise.real": rng.normal(size=(BATCH, *IMAGE)),
        "noise.fake": rng.normal(size=(BATCH, *IMAGE)),
        "path_length.noise": rng.normal(size=(BATCH, *IMAGE)),
    }


def d_objective(
    d: Any, data: dict[str, Any], fake: Any, std: Any, states: Any, replicas: Any
) -> Any:
    """The problem's discriminator objective on one replica's batch (every worker's D step)."""
    return OBJECTIVE_VALUE.discriminator(
        d,
        data["real"],
        fake,
        step=0,
        draws={k: data[k] for k in ("gp.alpha", "noise.real", "noise.fake")},
        noise_std=std,
        states={"lecam": states["lecam"]},
        replicas=replicas,
    )


def g_objective(
    d: Any, fake: Any, g: Any, data: dict[str, Any], std: Any, states: Any, replicas: Any
) -> Any:
    """The problem's generator objective, path length on ``g`` at the latents ``data["z"]``."""
    return OBJECTIVE_VALUE.generator(
        d,
        fake,
        step=0,
        draws={k: data[k] for k in ("noise.fake", "path_length.noise")},
        noise_std=std,
        generator=g,
        latent=data["z"],
        states={"path_length": states["path_length"]},
        replicas=replicas,
    )
