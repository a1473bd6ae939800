"""The trainers' resolved options as one typed, frozen value (issue 17 item 7).

The command line, a ``--config`` file and a ``--preset`` are merged once
(:func:`reference_trainers.common.resolve`: command line > file > preset > defaults) into a
:class:`DCGANConfig` or :class:`Pix2PixConfig`; every function after that reads attributes
(``cfg.batch_size``) of a value no one can change.  A changed copy is
:meth:`TrainerConfig.replace`'s.  The parsers stay the one place that states each option's
default, choices and help: the fields here have no defaults, and a test checks that they are
the parsers' options.

``config.json`` and the checkpoints store :meth:`TrainerConfig.as_dict` (the same keys and
values as before); :meth:`TrainerConfig.from_options` reads such a mapping back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reference_trainers.common import TrainerError

C = TypeVar("C", bound="TrainerConfig")


@dataclass(frozen=True, kw_only=True)
class TrainerConfig:
    """The options every trainer has (``python -m reference_trainers.dcgan --help`` says what
    each one means)."""

    config: str | None
    preset: str
    # the adversarial objective
    objective: str | None
    loss: str
    penalty: str
    penalty_weight: float | None
    penalty_every: int
    feature_matching: float
    spectral_norm: bool
    real_label: float
    flip_prob: float
    instance_noise: str | float | None
    augment: str
    augment_policy: str | None
    augment_p: float | None
    augment_target: float | None
    augment_kimg: float | None
    d_steps: int
    g_steps: int
    adaptive_ratio: bool
    # optimisation
    lr_g: float
    lr_d: float
    beta1: float
    beta2: float
    batch_size: int
    steps: int
    seed: int
    # where and how it runs
    device: str
    amp: str
    compile: bool
    channels_last: bool | None
    # data and the run folder
    data: str
    out: str
    resume: bool
    overwrite: bool
    eval_every: int
    log_every: int

    @classmethod
    def from_options(cls: type[C], options: Mapping[str, Any]) -> C:
        """The config of a mapping of resolved options (``config.json``'s keys); an option
        this trainer does not have, or one missing, is a one-line error naming it."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise TrainerError(f"{flags}: not an option of this trainer")
        missing = [n for n in names if n not in options]
        if missing:
            flags = ", ".join("--" + k.replace("_", "-") for k in missing)
            raise TrainerError(f"{flags}: no value (the options were not resolved)")
        return cls(**{n: options[n] for n in names})

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain mapping (``config.json``, the checkpoints)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` (this one is frozen)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class DCGANConfig(TrainerConfig):
    """``python -m reference_trainers.dcgan``'s options."""

    recipe: str | None
    image_size: int
    width: int
    z_dim: int
    d_norm: str
    train_size: int | None
    gradient_norm: bool
    eval_samples: int
    fid_weights: str | None
    framework: str
    dtype: str
    numpy_rng: bool
    devices: int


@dataclass(frozen=True, kw_only=True)
class Pix2PixConfig(TrainerConfig):
    """``python -m reference_trainers.pix2pix``'s options."""

    image_size: int
    width: int
    lambda_l1: float
    gan_weight: float
    l1_weighting: str
    gradient_ratio: float
    direction: str
    jitter: bool
    dropout: float
    d_layers: int | None
    d_norm: str
