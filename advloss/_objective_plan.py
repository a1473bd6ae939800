"""The objective's random-draw planning: which random numbers one call consumes (their names,
distributions and shapes, in the order they are drawn), the instance-noise std of a step, and how
``key`` is split over the draws not given explicitly.  Private: ``Objective`` is the public face
(``advloss.objective``)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from advloss.backend import Backend
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.labels import label_draw_specs

#: ``{name: (distribution, shape)}``: distribution ``"uniform"`` (U[0, 1)) or ``"normal"``.
DrawSpecs = dict[str, tuple[str, tuple[int | None, ...]]]


def is_adaptive(noise: Any) -> bool:
    """An adaptive controller (duck-typed: ``init``/``update``/``std``), not a schedule."""
    return all(callable(getattr(noise, m, None)) for m in ("init", "update", "std"))


def term_names(penalties: Sequence[Any]) -> list[str]:
    """One name per penalty: its ``name`` (``r1``), numbered when it repeats (``r1_2``)."""
    names: list[str] = []
    for p in penalties:
        base = getattr(p, "name", None) or type(p).__name__.lower()
        name, i = base, 2
        while name in names or name == "adversarial":
            name, i = f"{base}_{i}", i + 1
        names.append(name)
    return names


def draw_specs(
    objective: Any,
    real_shape: tuple[int | None, ...] | None,
    fake_shape: tuple[int | None, ...],
    side: str,
) -> DrawSpecs:
    """``Objective.draw_specs``: the augmentation's draws, instance noise, then the label
    transforms, then each penalty's draws under its name — on the generator side only the
    generator-side terms' (``path_length``), on the discriminator side only the others."""
    if side not in ("discriminator", "generator"):
        raise AdvlossValueError(
            f"Objective.draw_specs: side must be 'discriminator' or 'generator'; received {side!r}."
        )
    specs: DrawSpecs = {}
    augment = objective.augment
    if augment is not None and callable(getattr(augment, "draw_specs", None)):
        for batch, shape in (("real", real_shape), ("fake", fake_shape)):
            if shape is not None and augments(augment, side, batch):
                for draw, spec in augment.draw_specs(tuple(shape)).items():
                    specs[f"augment.{batch}.{draw}"] = spec
    if objective.instance_noise is not None:
        if real_shape is not None:
            specs["noise.real"] = ("normal", tuple(real_shape))
        specs["noise.fake"] = ("normal", tuple(fake_shape))
    if side == "discriminator":
        n_real = None if real_shape is None else real_shape[0]
        specs.update(label_draw_specs(objective.labels, n_real, fake_shape[0]))
    for name, p in zip(term_names(objective.penalties), objective.penalties, strict=True):
        if getattr(p, "side", "discriminator") != side:  # the other step's term
            continue
        for draw, spec in penalty_draw_specs(p, real_shape, fake_shape).items():
            specs[f"{name}.{draw}"] = spec
    return specs


def augments(augment: Any, side: str, batch: str) -> bool:
    """Whether ``augment`` transforms the ``batch`` ("real"/"fake") of the ``side`` step: every
    batch D sees, unless the augmentation declares ``batches`` (APA: the discriminator step's
    real batch only)."""
    batches = getattr(augment, "batches", None)
    return batches is None or (side, batch) in batches


def penalty_draw_specs(
    penalty: Any, real_shape: tuple[int | None, ...] | None, fake_shape: tuple[int | None, ...]
) -> DrawSpecs:
    """A penalty's ``draw_specs(n_real, n_fake)``, with ``real_shape=``/``fake_shape=`` (the
    batches' whole shapes) when its ``draw_specs`` accepts them (draws shaped like a batch,
    such as DRAGAN's noise); ``{}`` for a penalty without ``draw_specs``."""
    method = getattr(penalty, "draw_specs", None)
    if not callable(method):
        return {}
    n_real = None if real_shape is None else real_shape[0]
    parameters: Mapping[str, inspect.Parameter]
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "real_shape" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        real = None if real_shape is None else tuple(real_shape)
        return dict(method(n_real, fake_shape[0], real_shape=real, fake_shape=tuple(fake_shape)))
    return dict(method(n_real, fake_shape[0]))


def noise_std(where: str, noise: Any, step: Any, given: Any) -> Any:
    """The instance-noise std of this call: ``given`` (``noise_std=``), the schedule's value at
    ``step``, or None without instance noise."""
    if given is not None:
        if noise is None:
            raise AdvlossValueError(
                f"{where}: noise_std was given but the objective has no instance noise; "
                f"build it with instance_noise=... (e.g. AdaptiveNoise())."
            )
        return given
    if noise is None:
        return None
    if is_adaptive(noise):
        raise AdvlossValueError(
            f"{where}: the objective's instance noise is adaptive, so each call needs the "
            f"controller's current value: noise_std=controller.std(state)."
        )
    if step is None:
        value = noise(0)
        if noise(10**9) != value:
            raise AdvlossValueError(
                f"{where}: the instance-noise schedule {noise.config()} depends on the step: "
                f"pass step=<int or integer tensor>."
            )
        return value
    return noise(step)


def randomness(
    where: str,
    b: Backend,
    penalties: Sequence[Any],
    specs: DrawSpecs,
    key: Any,
    draws: Any,
    std: Any,
    augment: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(keys, given)``: ``key`` split over the draw slots not given explicitly in ``draws``
    (the split is the same whatever the noise std, so a slot's source does not depend on the
    step), and the explicit draws."""
    given = dict(draws or {})
    if not isinstance(given, dict):
        raise AdvlossTypeError(f"{where}: draws must be a dict; received {type(draws)}.")
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise AdvlossValueError(
            f"{where}: unknown draws {unknown}; this call consumes {list(specs) or 'none'}."
        )
    missing = [name for name in specs if name not in given]
    if key is not None:  # plugin penalties without draw_specs get a source of their own
        missing += [
            f"{name}.key"
            for name, p in zip(term_names(penalties), penalties, strict=True)
            if not callable(getattr(p, "draw_specs", None))
        ]
        if augment is not None and not callable(getattr(augment, "draw_specs", None)):
            missing += ["augment.real.key", "augment.fake.key"]  # so does such an augmentation
    keys: dict[str, Any] = {}
    noise_off = std is None or (isinstance(std, float) and std == 0.0)
    needed = [n for n in missing if not (noise_off and n.startswith("noise."))]
    if key is None:
        if needed and b.needs_explicit_key:
            raise AdvlossValueError(
                f"{where}: this objective draws random numbers ({needed}) and the {b.name} "
                f"backend has no global random state: pass key= (for JAX "
                f"key=jax.random.fold_in(key, step)) or draws=."
            )
    elif missing:
        keys = dict(zip(missing, b.split_key(key, len(missing)), strict=True))
    return keys, given


def penalty_randomness(
    name: str, keys: dict[str, Any], given: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The penalty ``name``'s share: ``(key, draws)`` — the source of its first draw (or of
    its own slot ``name.key``) and its explicit draws, under its own names."""
    prefix = f"{name}."
    p_keys = [v for k, v in keys.items() if k.startswith(prefix)]
    p_draws = {k[len(prefix) :]: v for k, v in given.items() if k.startswith(prefix)}
    return (p_keys[0] if p_keys else None), p_draws
