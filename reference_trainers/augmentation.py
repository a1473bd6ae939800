"""The trainers' ``--augment``: DiffAugment, ADA or APA on what the discriminator sees, with the
probability ``p`` fixed (``--augment-p``) or steered by StyleGAN2-ADA's r_t heuristic
(``--augment-target``, :class:`advloss.augment.AdaptiveProbability`).

Applied as the papers do: the discriminator step sees augmented reals and augmented fakes (fresh
draws for each batch); the generator step sees its fakes augmented with the same policy, and is
trained through the augmentation (it is differentiable); APA instead replaces each real sample,
with probability ``p``, by the fake at its index, detached (the D step's fakes: the expectation of
DeceiveD's loss, which draws a fresh batch for it).  pix2pix's pairs get one transform (the same
draws) on the condition and the image, real or fake, so that each pair stays aligned.  The objective's penalties then act on the
augmented batches (R1 on augmented reals, as with an ``Objective``'s own augmentation) and its
``r_t`` is measured on the reals D saw, as in StyleGAN2-ADA and DeceiveD.

Randomness: the PyTorch trainer draws from its objective generator; with NumPy streams (``--numpy-rng``,
and always in JAX and TensorFlow) every draw comes from the ``augment`` stream and is passed as
``draws=``, so the three frameworks augment with the same numbers.  The draws are made by the
augmentation itself, on a NumPy batch of zeros of the batch's NCHW shape (they do not depend on the
values or the layout).

A new method plugs in as one entry of :data:`METHODS`: a function
``(x, p, key, draws, layout, options) -> (y, draws)``.

This module imports no framework.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

import advloss
from advloss import augment as advloss_augment
from reference_trainers.common import TrainerError

#: The ``--augment`` choices.
CHOICES = ("none", "diffaug", "ada", "apa")
#: ``--augment-target``'s default when ``p`` is adaptive (StyleGAN2-ADA's and APA's).
TARGET = 0.6
#: ``--augment-kimg``'s default (StyleGAN2-ADA's ``ada_kimg``).
KIMG = 500.0
#: Discriminator steps between adjustments of an adaptive ``p`` (StyleGAN2-ADA's).
INTERVAL = 4

#: ``(x, p, key, draws, layout, policy) -> (y, draws)``
Transform = Callable[[Any, Any, Any, Any, str, str], tuple[Any, Any]]


def _diffaug(x: Any, p: Any, key: Any, draws: Any, layout: str, policy: str) -> tuple[Any, Any]:
    return advloss_augment.diffaugment(
        x, policy, key=key, draws=draws, layout=layout, return_draws=True
    )


def ada_function() -> Callable[..., Any]:
    """``advloss.augment.ada``, or a one-line error while it does not exist."""
    ada = getattr(advloss_augment, "ada", None)
    if ada is None:
        raise TrainerError(
            "--augment ada: ada is not available yet (advloss.augment has no ada); use "
            "--augment diffaug or apa"
        )
    return ada


def _ada(x: Any, p: Any, key: Any, draws: Any, layout: str, ops: str) -> tuple[Any, Any]:
    return ada_function()(x, p, ops=ops, key=key, draws=draws, layout=layout, return_draws=True)


#: ``--augment`` -> (the transform, its default ``--augment-policy``, whether it has a ``p``).
#: APA is not a transform of one batch: :meth:`Augmentation.discriminator_inputs` handles it.
METHODS: dict[str, tuple[Transform | None, str, bool]] = {
    "diffaug": (_diffaug, advloss_augment.DEFAULT_POLICY, False),
    "ada": (_ada, "bgc", True),
    "apa": (None, "", True),
}


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What ``--augment`` (or an augmentation term of ``--objective``) asks for, checked."""

    method: str
    policy: str
    p: float | None  # fixed p (ada, apa); None: adaptive or no p (diffaug)
    target: float | None  # adaptive p's target
    kimg: float
    batch_size: int
    #: an augmentation object of ``--objective`` (``augment(x, key=, draws=, return_draws=)``)
    term: Any = None
    #: D steps between the adaptive p's adjustments, and the adaptive p's start
    interval: int = INTERVAL
    initial: float = 0.0

    @property
    def adaptive(self) -> bool:
        return self.target is not None

    def controller(self) -> advloss_augment.AdaptiveProbability | None:
        if not self.adaptive:
            return None
        assert self.target is not None
        return advloss_augment.AdaptiveProbability(
            batch_size=self.batch_size,
            target=self.target,
            ada_kimg=self.kimg,
            interval=self.interval,
            initial=self.initial,
        )

    # ---------------------------------------------------------------- one batch, one call

    def transform(self, x: Any, p: Any, key: Any, draws: Any, layout: str) -> tuple[Any, Any]:
        """``x`` augmented (not APA), and the draws used."""
        if self.term is not None:
            term = self.term
            if layout != getattr(term, "layout", "NCHW"):
                term = dataclasses.replace(term, layout=layout)
            if isinstance(term, advloss_augment.ADA):  # its p: fixed, or the controller's
                return term.augment(x, key=key, draws=draws, return_draws=True, p=p)
            return term.augment(x, key=key, draws=draws, return_draws=True)
        fn = METHODS[self.method][0]
        assert fn is not None
        return fn(x, p, key, draws, layout, self.policy)

    def discriminator_inputs(
        self, real: Any, fake: Any, p: Any, *, key: Any = None, draws: Any = None,
        layout: str = "NCHW",
    ) -> tuple[Any, Any]:  # fmt: skip
        """The D step's ``(real, fake)``: both augmented with their own draws, or (APA) the
        reals with pseudo-reals.  ``draws``: ``{"real": ..., "fake": ...}`` (or ``{"apa":
        ...}``) from :meth:`numpy_draws`, or None to draw from ``key``."""
        draws = draws or {}
        if self.method == "apa":
            return advloss_augment.apa(real, fake, p, key=key, draws=draws.get("apa")), fake
        real_in, _ = self.transform(real, p, key, draws.get("real"), layout)
        fake_in, _ = self.transform(fake, p, key, draws.get("fake"), layout)
        return real_in, fake_in

    def generator_inputs(
        self, fake: Any, real: Any, p: Any, *, key: Any = None, draws: Any = None,
        layout: str = "NCHW",
    ) -> tuple[Any, Any]:  # fmt: skip
        """The G step's ``(fake, real)``: the fakes augmented (gradients flow through), and the
        reals too when a relativistic loss needs them (``real`` None: left None).  APA leaves
        the G step alone."""
        if self.method == "apa":
            return fake, real
        draws = draws or {}
        fake_in, _ = self.transform(fake, p, key, draws.get("fake"), layout)
        real_in = None
        if real is not None:
            real_in, _ = self.transform(real, p, key, draws.get("real"), layout)
        return fake_in, real_in

    def paired_discriminator_inputs(
        self, cond: Any, real: Any, fake: Any, p: Any, *, key: Any = None, layout: str = "NCHW"
    ) -> tuple[Any, Any, Any]:
        """pix2pix's D step: ``(cond, real, fake)`` with one transform (one set of draws) on the
        condition, the real target and the fake, so each pair stays aligned; APA replaces real
        targets by the fakes of the same condition."""
        if self.method == "apa":
            return cond, advloss_augment.apa(real, fake, p, key=key), fake
        cond_in, draws = self.transform(cond, p, key, None, layout)
        real_in, _ = self.transform(real, p, None, draws, layout)
        fake_in, _ = self.transform(fake, p, None, draws, layout)
        return cond_in, real_in, fake_in

    def paired_generator_inputs(
        self, cond: Any, fake: Any, real: Any, p: Any, *, key: Any = None, layout: str = "NCHW"
    ) -> tuple[Any, Any, Any]:
        """pix2pix's G step: ``(cond, fake, real)`` with one transform on all three (``real``
        may be None); APA leaves the G step alone."""
        if self.method == "apa":
            return cond, fake, real
        cond_in, draws = self.transform(cond, p, key, None, layout)
        fake_in, _ = self.transform(fake, p, None, draws, layout)
        real_in = None if real is None else self.transform(real, p, None, draws, layout)[0]
        return cond_in, fake_in, real_in

    def numpy_draws(
        self, rng: np.random.Generator, shape: tuple[int, ...], side: str, with_real: bool = True
    ) -> dict[str, Any]:
        """One step's draws from the NumPy stream ``rng`` for a batch of NCHW ``shape``:
        ``{"real": ..., "fake": ...}`` (the G step: only ``fake``, and ``real`` when
        ``with_real``), or for APA's D step ``{"apa": ...}`` ({} in its G step)."""
        zeros = np.zeros(shape)
        if self.method == "apa":
            if side == "generator":
                return {}
            _, draws = advloss_augment.apa(zeros, zeros, 1.0, key=rng, return_draws=True)
            return {"apa": draws}
        names = ("real", "fake") if side == "discriminator" else ("fake", "real")
        out = {}
        for name in names:
            if name == "real" and not with_real:
                continue
            _, out[name] = self.transform(zeros, 1.0, rng, None, "NCHW")
        return out


def convert_draws(draws: dict[str, Any], to_tensor: Callable[[Any], Any], dtype: Any) -> Any:
    """NumPy draws as the framework's tensors: floats in ``dtype`` (the run's precision),
    integers as they are."""
    out: dict[str, Any] = {}
    for k, v in draws.items():
        if isinstance(v, dict):
            out[k] = convert_draws(v, to_tensor, dtype)
        else:
            a = np.asarray(v)
            out[k] = to_tensor(a.astype(dtype) if a.dtype.kind == "f" else a)
    return out


def from_options(cfg: Any, objective: advloss.Objective) -> Augmentation | None:
    """The augmentation of a trainer config (``--augment`` and its options, or an augmentation
    term of ``--objective``), checked: one-line errors for impossible combinations."""
    method = getattr(cfg, "augment", "none")
    given = {
        name: getattr(cfg, name)
        for name in ("augment_policy", "augment_p", "augment_target", "augment_kimg")
        if getattr(cfg, name, None) is not None
    }
    flags = ", ".join("--" + k.replace("_", "-") for k in given)
    term = objective.augment
    if term is not None:
        if method != "none" or given:
            raise TrainerError(
                f"--objective with an augmentation term and --augment {method}"
                f"{', ' + flags if flags else ''}: give the augmentation once"
            )
        if isinstance(term, (advloss_augment.ADA, advloss_augment.APA)):
            # ada(...) / apa(...): p fixed, or steered (target=) by the loop's controller with
            # the term's settings — the same rule Objective runs with the term's state
            adaptive = term.target is not None
            if adaptive and term.batch_size not in (None, int(cfg.batch_size)):
                raise TrainerError(
                    f"--objective {term.name}(batch_size={term.batch_size}): the trainer's batch "
                    f"is {cfg.batch_size}; leave batch_size out (the batch is used)"
                )
            return Augmentation(
                method=term.name,
                policy=str(getattr(term, "ops", "")),
                p=None if adaptive else term.p,
                target=term.target,
                kimg=term.ada_kimg,
                batch_size=int(cfg.batch_size),
                term=term if isinstance(term, advloss_augment.ADA) else None,
                interval=term.interval,
                initial=term.p if adaptive else 0.0,
            )
        return Augmentation(
            method=getattr(term, "name", type(term).__name__),
            policy=str(getattr(term, "policy", "")),
            p=None,
            target=None,
            kimg=KIMG,
            batch_size=int(cfg.batch_size),
            term=term,
        )
    if method not in CHOICES:
        raise TrainerError(f"--augment {method!r}: expected one of {', '.join(CHOICES)}")
    if method == "none":
        if given:
            raise TrainerError(f"{flags} without --augment: choose diffaug, ada or apa")
        return None
    _, default_policy, has_p = METHODS[method]
    if method == "ada":
        ada_function()
    p, target = given.get("augment_p"), given.get("augment_target")
    kimg = given.get("augment_kimg", KIMG)
    if not has_p and (p is not None or target is not None or "augment_kimg" in given):
        raise TrainerError(
            f"{flags} with --augment {method}: {method} applies its transforms to every "
            f"sample (it has no probability p)"
        )
    if method == "apa" and "augment_policy" in given:
        raise TrainerError("--augment-policy with --augment apa: apa has no policy")
    if p is not None and target is not None:
        raise TrainerError(
            "--augment-p with --augment-target: p is either fixed (--augment-p) or adaptive "
            "(--augment-target)"
        )
    if p is not None and not 0.0 <= p <= 1.0:
        raise TrainerError(f"--augment-p must lie in [0, 1] (a probability); received {p}")
    if p is not None and "augment_kimg" in given:
        raise TrainerError("--augment-kimg with --augment-p: a fixed p does not adapt")
    if has_p and p is None and target is None:
        target = TARGET
    policy = given.get("augment_policy", default_policy)
    aug = Augmentation(method=method, policy=policy, p=p, target=target, kimg=float(kimg),
                       batch_size=int(cfg.batch_size))  # fmt: skip
    try:  # the advloss checks: target, ada_kimg, the policy
        aug.controller()
        if method == "diffaug":
            advloss_augment.DiffAugment(policy=policy)
    except advloss.AdvlossError as err:
        raise TrainerError(f"--augment {method}: {err}") from None
    return aug
