"""What the JAX and TensorFlow trainers share: random numbers from NumPy streams (so that every
framework can consume the same ones), the training loop around their step
(:class:`ArrayLoop`), and checkpoints as ``.npz`` files.

The NumPy streams are what make the three DCGANs comparable step for step: the initial weights
(``init``), the latents (``z``), every random number advloss's objective consumes (label
flips and noise, instance noise, WGAN-GP's interpolation weights: ``objective``, passed as
``draws=``) and the augmentation's draws (``augment``) each come from their own
``numpy.random.Generator`` seeded from ``(seed, i)``.
Image-shaped draws are drawn in PyTorch's ``(N, C, H, W)`` layout and transposed for the
channels-last frameworks, so each framework gets the same numbers at the same pixels.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from reference_trainers import common
from reference_trainers.common import TrainerError, torch_only_options
from reference_trainers.config import DCGANConfig
from reference_trainers.loop import Loop, map_leaves

STREAMS = ("init", "z", "objective", "augment")
CHECKPOINT_FORMAT = 2


class NumpyStreams:
    """Independent ``numpy.random.Generator`` streams (PCG64) seeded from ``(seed, i)``, with
    their state as plain JSON."""

    def __init__(self, seed: int) -> None:
        self.gens = {name: np.random.default_rng([seed, i]) for i, name in enumerate(STREAMS)}

    def latents(self, n: int, z_dim: int, dtype: Any) -> np.ndarray:
        return self.gens["z"].standard_normal((n, z_dim)).astype(dtype)

    def draws(
        self, specs: dict[str, Any], dtype: Any, *, channels_last: bool
    ) -> dict[str, np.ndarray]:
        """One array per :meth:`advloss.Objective.draw_specs` entry, in its order: U[0, 1) or
        N(0, 1).  4-d shapes are drawn as ``(N, C, H, W)`` and returned as ``(N, H, W, C)`` when
        ``channels_last``."""
        rng, out = self.gens["objective"], {}
        for name, (dist, shape) in specs.items():
            draw_shape = shape
            if channels_last and len(shape) == 4:
                n, h, w, c = shape
                draw_shape = (n, c, h, w)
            x = rng.random(draw_shape) if dist == "uniform" else rng.standard_normal(draw_shape)
            if channels_last and len(shape) == 4:
                x = x.transpose(0, 2, 3, 1)
            out[name] = np.ascontiguousarray(x, dtype=dtype)
        return out

    def state(self) -> dict[str, Any]:
        return {name: g.bit_generator.state for name, g in self.gens.items()}

    def load_state(self, state: dict[str, Any]) -> None:
        for name, g in self.gens.items():
            if name in state:  # a checkpoint from before the augment stream keeps its seed's
                g.bit_generator.state = state[name]


def fixed_latents(z_dim: int) -> np.ndarray:
    """The 64 latents of every sample grid (float64; the same in every framework and run)."""
    return np.random.default_rng(12345).standard_normal((64, z_dim))


def eval_latents(n: int, z_dim: int) -> np.ndarray:
    """The latents of every evaluation (float64), independent of the training streams."""
    return np.random.default_rng(777).standard_normal((n, z_dim))


class ArrayLoop(Loop):
    """:class:`~reference_trainers.session.Loop` for the JAX and TensorFlow trainers: NumPy
    streams, the run directory with a ``checkpoint.npz`` (written atomically, with a checksum),
    exact resume.
    ``to_tensor`` turns a NumPy value into the framework's tensor (advloss's random numbers,
    the noise std, the restored scheduler / monitor / adaptive-noise states).

    Order of use: construct (checks the options, checks and locks the run directory), build
    data and networks, :meth:`open` (on resume the stored arrays), set :attr:`arrays`,
    :meth:`start`, then the loop as in :class:`~reference_trainers.session.Session`."""

    def __init__(
        self,
        cfg: DCGANConfig,
        trainer: str,
        *,
        quality: str | list[str],
        framework: str,
        to_tensor: Any,
    ) -> None:
        cfg = cfg.replace(numpy_rng=True)  # these trainers' random numbers come from NumPy
        super().__init__(cfg, trainer, quality=quality)
        torch_only_options(cfg, framework)
        self.framework, self.to_tensor = framework, to_tensor
        self.batches: Any = None  # the data stream (Batches): given to open()
        self.local_batch = int(cfg.batch_size)
        self.streams = NumpyStreams(int(cfg.seed))
        # the run folder, checked and locked before the data and networks are built
        self.run = common.Run(cfg.out, cfg, cfg.resume, checkpoint="checkpoint.npz",
                              overwrite=cfg.overwrite)  # fmt: skip
        self._init_controls(to_tensor(np.zeros((), np.float32)))
        self.init_term_states(to_tensor(np.zeros((), getattr(cfg, "dtype", "float32"))))
        self._variants: set[Any] = set()

    def open(self, batches: Any) -> dict[str, np.ndarray] | None:
        """Once the data and networks are built: on ``--resume`` (with a checkpoint) restores
        the loop's state and returns the checkpoint's arrays (None for a fresh run)."""
        self.batches = batches
        if not self.run.resuming:
            return None
        arrays, _ = self.load()
        print(f"resumed from step {self.step} in {self.run.dir}", file=sys.stderr)
        return arrays

    def noise_value(self, dtype: Any) -> Any:
        """This step's instance-noise std as a tensor: the adaptive controller's, or the
        schedule's value at the step (computed here, so the compiled step has no schedule);
        ``None`` without instance noise."""
        if self.noise_std is not None:
            return self.noise_std
        noise = self.objective.instance_noise
        return None if noise is None else self.to_tensor(np.asarray(noise(self.step), dtype))

    def draws(
        self, real: Any, fake_shape: tuple[int, ...], side: str, dtype: Any
    ) -> dict[str, Any]:
        """advloss's random numbers for one objective call (NHWC), from the NumPy stream."""
        shape = None if real is None else tuple(real.shape)
        specs = self.objective.draw_specs(shape, fake_shape, side=side)
        numbers = self.streams.draws(specs, dtype, channels_last=True)
        return {k: self.to_tensor(v) for k, v in numbers.items()}

    def latents(self, z_dim: int, dtype: Any) -> Any:
        return self.to_tensor(
            self.streams.latents(self.local_batch, z_dim, np.float64).astype(dtype)
        )

    def first_call(self, variant: Any) -> None:
        """Mark this iteration untimed if it is the first to run ``variant`` of a compiled step
        (it compiles: e.g. the not-due variant of a lazy penalty)."""
        if variant not in self._variants:
            self._variants.add(variant)
            self.untimed()

    def start(self) -> None:
        """Start the clock and the progress bar (after building and compiling)."""
        self.progress = common.Progress(self.steps, self.step)
        self.t0 = time.perf_counter()

    def _num(self, x: Any) -> float:
        return float(np.asarray(x))

    def arrays(self) -> dict[str, np.ndarray]:
        """The trainer's state to checkpoint (networks, optimizers): set by the trainer."""
        raise NotImplementedError

    def checkpoint(self) -> None:
        self.save(self.arrays(), {})

    # ------------------------------------------------------------------------ checkpoints

    def save(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        """``checkpoint.npz``: the trainer's ``arrays`` (networks, optimizer states) and, as
        JSON, the step, the NumPy streams, the data order, the scheduler / monitor /
        adaptive-noise states, the options and ``extra``.  Written atomically with its
        checksum (:func:`~reference_trainers.common.save_checked`): a crash mid-write keeps the
        previous checkpoint."""
        stored = dict(arrays)

        def encode(x: Any) -> Any:  # tensors into the npz (dtype kept), Python numbers as JSON
            if isinstance(x, (int, float)):
                return x
            key = f"__controls__/{sum(k.startswith('__controls__/') for k in stored)}"
            stored[key] = np.asarray(x)
            return f"@{key}"

        meta = {
            "format": CHECKPOINT_FORMAT,
            "framework": self.framework,
            "step": self.step,
            "streams": self.streams.state(),
            "batches": self.batches.state(),
            "controls": map_leaves(self.controls(), encode),
            "config": self.cfg.as_dict(),
            **extra,
        }
        common.save_checked(
            self.run.checkpoint_path,
            lambda fh: np.savez(fh, __meta__=np.array(json.dumps(meta)), **stored),  # type: ignore[arg-type]
        )

    def load(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The checkpoint's arrays, after restoring the loop's own state from it."""
        path: Path = self.run.checkpoint_path
        common.verify_checksum(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays.pop("__meta__")))
        except Exception as err:
            raise TrainerError(
                f"--resume: the checkpoint {path} cannot be read ({type(err).__name__}); it is "
                f"corrupt or from another version"
            ) from None
        if meta.get("format") != CHECKPOINT_FORMAT or meta.get("framework") != self.framework:
            raise TrainerError(
                f"--resume: the checkpoint {path} was written by another trainer "
                f"({meta.get('framework')!r}, format {meta.get('format')}); this is the "
                f"{self.framework!r} trainer"
            )
        if isinstance(meta.get("config"), dict):  # the options travel with the checkpoint
            common.compare_options(meta["config"], self.cfg.as_dict(), f"the checkpoint {path}")
        self.step = int(meta["step"])
        self.streams.load_state(meta["streams"])
        self.batches.load_state(meta["batches"])
        self.load_controls(
            meta["controls"],
            lambda x: self.to_tensor(arrays[x[1:]]) if isinstance(x, str) else x,
        )
        return arrays, meta


def restore(
    where: str, arrays: dict[str, np.ndarray], names: list[str], shapes: list[Any],
    dtypes: list[Any],
) -> list[np.ndarray]:  # fmt: skip
    """The stored arrays ``names`` in order, checked against the expected ``shapes`` and
    ``dtypes`` (and no others stored): a checkpoint written for other networks is a one-line
    error."""
    stored = {k for k in arrays if k != "__meta__" and not k.startswith("__controls__/")}
    missing = [n for n in names if n not in arrays] or sorted(stored - set(names))
    if missing:
        raise TrainerError(
            f"--resume: the checkpoint in {where} does not fit these networks (no {missing[0]}); "
            f"resume with the options it was written with"
        )
    out = []
    for name, shape, dtype in zip(names, shapes, dtypes, strict=True):
        if np.dtype(arrays[name].dtype) != np.dtype(dtype):
            raise TrainerError(
                f"--resume: the checkpoint in {where} holds {name} as {arrays[name].dtype}, these "
                f"networks are {np.dtype(dtype)}; resume with the options it was written with"
            )
        if tuple(arrays[name].shape) != tuple(shape):
            raise TrainerError(
                f"--resume: the checkpoint in {where} does not fit these networks ({name} is "
                f"{tuple(arrays[name].shape)}, expected {tuple(shape)}); resume with the options it "
                f"was written with"
            )
        out.append(arrays[name])
    return out
