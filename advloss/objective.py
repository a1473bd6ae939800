r"""One objective from a loss, penalties, label transforms and instance noise.

An ``Objective`` is an immutable value.  Its two methods compute, for one training step,

$$
\begin{aligned}
    L_D &= \ell_D\big(D(T(x) + s\varepsilon),\ D(T(\tilde x) + s\varepsilon');\ y_r, y_f\big)
          + \textstyle\sum_k P_k(D, T(x) + s\varepsilon, T(\tilde x) + s\varepsilon') \\
    L_G &= \ell_G\big(D(T(\tilde x) + s\varepsilon')\big)
\end{aligned}
$$

where $\ell$ is the adversarial loss, $P_k$ the penalties (lazy ones on their steps,
multiplied by their interval), $y_r, y_f$ the labels after the label transforms, and
$s$ the instance-noise standard deviation at this step (0 without instance noise), with
fresh noise $\varepsilon, \varepsilon' \sim N(0, I)$ on the real and the fake batch (the
generator step noises its fakes too: the discriminator always sees noisy inputs), and $T$ the
augmentation (the identity without one; fresh draws for each batch, in both steps).

Both return ``ObjectiveOutput`` ``(total, terms, stats)``: the value to differentiate, every
named term (``"adversarial"`` and one per penalty, e.g. ``"r1"``), and the balance statistics of
``advloss.balance.balance_stats`` (mean D(real) and D(fake), real and fake accuracy at the
loss's decision threshold, ADA's r_t) plus ``"noise_std"`` when instance noise is on — all
tensors, nothing read on the host, so one call works in eager PyTorch, under
``torch.compile``, in ``tf.function`` and inside ``jax.jit``.  Penalties that run D on the real
(R1) or fake (R2) batch hand back those logits and the adversarial loss reuses them: no second
forward pass.

Randomness is explicit: ``key`` is a JAX key, a ``torch.Generator`` (or ``None`` for torch's
global generator), a TF seed or ``tf.random.Generator``; it is split into one source per draw in
a fixed order.  ``draws`` supplies the random numbers themselves (names and shapes from
``Objective.draw_specs``), which is how the three frameworks are compared on the same
draws.  Vary the key per step: ``jax.random.fold_in(key, step)``, a TF seed
``tf.stack([seed, step])``, or one ``torch.Generator`` for the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from advloss import _objective_compute as compute
from advloss._objective_parse import (
    MAX_TERMS,
    arguments_of,
    augment_of,
    config_of,
    loss_of,
    noise_of,
    parse,
    penalty_of,
    sequence,
    text_of,
)
from advloss._objective_plan import DrawSpecs, draw_specs, term_names
from advloss.errors import AdvlossValueError
from advloss.labels import LabelTransform, check_transforms, get_label_transform, label_range

__all__ = ["Objective", "ObjectiveOutput"]

# Defined in the private modules since the split; importable from here as before.
_MOVED = (MAX_TERMS, DrawSpecs)

Discriminator = Callable[[Any], Any]


class ObjectiveOutput(NamedTuple):
    """What ``Objective.discriminator`` and ``Objective.generator`` return (a
    NamedTuple: a JAX pytree, a ``tf.function`` structure).

    Examples:
        >>> import numpy as np, advloss
        >>> D = lambda x: x                                    # logits = inputs
        >>> real, fake = np.array([[2.0], [0.5]]), np.array([[-1.0], [0.0]])
        >>> out = advloss.Objective.parse("ns").discriminator(D, real, fake)
        >>> round(float(out.total), 4), list(out.terms), sorted(out.stats)
        (0.8037, ['adversarial'], ['d_fake', 'd_gap', 'd_real', 'fake_acc', 'r_t', 'real_acc'])
    """

    #: The value to differentiate: the sum of ``terms``.
    total: Any
    #: Every named term: ``"adversarial"`` and one per penalty.
    terms: dict[str, Any]
    #: Balance statistics (no gradient): ``d_real``, ``d_fake``, ``real_acc``, ``fake_acc``,
    #: ``r_t``, ``d_gap`` (those whose side was computed) and ``noise_std``.  A ``dict`` in a
    #: compiled call; eagerly a mapping that computes them when first read (no op is paid by
    #: a loop that never reads them), flattened as a dict by JAX, ``tf.nest`` and pickle.
    stats: dict[str, Any]


class Objective:
    """A loss, penalties, label transforms and instance noise, as one value.

    Args:
        loss: a loss object, a registered name (``"ns"``) or a config dict
            (``{"name": "ns", "real_label": 0.9}``).
        penalties: penalty objects (``advloss.R1Penalty`` ...), names or config dicts
            (``{"name": "r1", "gamma": 10, "every": 16}``); plugins registered with
            ``advloss.register_penalty`` included.
        labels: label transforms (``advloss.labels.SmoothLabels``, ``FlipLabels``,
            ``NoisyLabels``), names or config dicts; only for losses with class targets
            (minimax, ns, lsgan).
        instance_noise: the standard deviation of the instance noise: a number, a schedule
            (``advloss.schedules``), a schedule config dict or CLI string
            (``"linear:0.1:0:10000"``), or an ``advloss.noise.AdaptiveNoise`` (then each
            call takes ``noise_std=`` from the controller's state).
        augment: a differentiable augmentation of every batch D sees (real and fake, in both
            steps; before the instance noise): ``advloss.augment.DiffAugment(policy=...)`` or
            ``advloss.augment.ADA(p=..., ops=...)``, ``advloss.augment.APA(p=...)`` (the
            discriminator step's reals replaced by its detached fakes), the name
            ``"diffaugment"``, ``"ada"`` or ``"apa"``, or a config dict; in ``parse``,
            ``diffaug('color,translation,cutout')``, ``ada(p=0.2, ops='bgc')`` or
            ``apa(p=0.1)``.  With ``target=`` (``ada(target=0.6)``, ``apa(target=0.6)``) the
            objective steers ``p`` by StyleGAN2-ADA's r_t rule, as explicit state
            (``init_states``).  The penalties see the augmented batches
            (R1 on augmented reals; see ``docs/augment.md`` for the alternative).

    Example — "ns with real_label 0.9 + R1 (γ = 10, every 16 steps) + instance noise annealed
    0.1 → 0 over 10k steps", three equal ways:

        >>> import advloss
        >>> from advloss.schedules import Linear
        >>> a = advloss.Objective(advloss.get_loss("ns", real_label=0.9),
        ...                       penalties=[advloss.R1Penalty(gamma=10, every=16)],
        ...                       instance_noise=Linear(start=0.1, end=0.0, steps=10_000))
        >>> b = advloss.Objective.parse("ns(real_label=0.9) + r1(gamma=10, every=16) + noise('linear:0.1:0:10000')")
        >>> c = advloss.Objective.from_config(a.config())
        >>> a == b == c
        True
        >>> print(a)
        ns(real_label=0.9) + r1(every=16, gamma=10.0) + noise(name='linear', start=0.1, end=0.0, steps=10000, begin=0)

    In a PyTorch loop (JAX and TensorFlow: see ``docs/composition.md``)::

        out = objective.discriminator(D, real, fake.detach(), step=step)
        out.total.backward()                  # out.terms["r1"], out.stats["fake_acc"], ...
        objective.generator(D, G(z), step=step).total.backward()
    """

    __slots__ = ("_alone", "augment", "instance_noise", "labels", "loss", "penalties")

    loss: Any
    penalties: tuple[Any, ...]
    labels: tuple[LabelTransform, ...]
    instance_noise: Any
    augment: Any
    _alone: bool

    def __init__(
        self,
        loss: Any = "ns",
        *,
        penalties: Any = (),
        labels: Any = (),
        instance_noise: Any = None,
        augment: Any = None,
    ) -> None:
        where = "Objective"
        loss = loss_of(loss)
        pens = tuple(penalty_of(p) for p in sequence(penalties))
        labs = tuple(get_label_transform(t) for t in sequence(labels))
        check_transforms(where, labs)
        if labs:
            if not getattr(loss, "supports_labels", False):
                name = getattr(loss, "name", type(loss).__name__)
                raise AdvlossValueError(
                    f"{where}: label transforms {[t.name for t in labs]} need a loss with class "
                    f"targets (minimax, ns, lsgan); the {name!r} loss has none (its outputs are "
                    f"margins, critic scores or pair comparisons, not class predictions)."
                )
            low, high = label_range(loss)
            for t in labs:
                t.check_range(where, low, high)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "penalties", pens)
        object.__setattr__(self, "labels", labs)
        object.__setattr__(self, "instance_noise", noise_of(instance_noise))
        object.__setattr__(self, "augment", augment_of(augment))
        # A loss alone (Objective("ns")): its discriminator call takes a short path, decided
        # once here rather than on every call.
        alone = not pens and not labs and self.instance_noise is None and self.augment is None
        object.__setattr__(self, "_alone", alone)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Objective is immutable; build a new one (tried to set {name!r}).")

    # ------------------------------------------------------------------------------ config

    def config(self) -> dict[str, Any]:
        """The objective as plain data (JSON/YAML-ready): ``Objective.from_config(o.config())``
        rebuilds an equal objective."""

        return config_of(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Objective:
        """Build from ``config``'s dict (or one written by hand / read from YAML).

        Keys: ``loss`` (a name or a dict), ``penalties``, ``labels`` (lists of names or dicts),
        ``instance_noise`` (a number, a schedule dict or string, ``{"name": "adaptive", ...}``
        or None), ``augment`` (``{"name": "diffaugment", "policy": ...}`` or None).  Missing
        keys take the defaults.
        """
        return cls(**arguments_of(config))

    @classmethod
    def parse(cls, text: str) -> Objective:
        """Build from a one-line spec, e.g. for a command line::

            "ns(real_label=0.9) + r1(gamma=10, every=16) + flip(p=0.05) + noise('0.1:0:10000')"

        Terms are joined by ``+``; each is a name with optional keyword arguments (Python
        literals).  Exactly one loss; penalty and label-transform names as registered;
        ``noise(...)`` takes one schedule string or number, or keyword arguments
        (``noise(name='cosine', start=0.1, end=0.0, steps=5000)``), or ``noise('adaptive')``;
        ``diffaug('color,translation,cutout')`` (or ``diffaugment(policy=..., layout=...)``)
        or ``ada(p=0.2, ops='bgc')`` augments every batch D sees.
        """
        loss, penalties, labels, noise, augment = parse(text)
        return cls(loss, penalties=penalties, labels=labels, instance_noise=noise, augment=augment)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Objective):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.loss, self.penalties, self.labels, self.instance_noise, self.augment))

    def __repr__(self) -> str:
        return text_of(self)

    # ------------------------------------------------------------------------------ draws

    def draw_specs(
        self,
        real_shape: tuple[int | None, ...] | None,
        fake_shape: tuple[int | None, ...],
        *,
        side: str = "discriminator",
    ) -> DrawSpecs:
        """The random numbers one call consumes, ``{name: (distribution, shape)}`` in the order
        they are drawn from ``key`` — distributions ``"uniform"`` (U[0, 1)), ``"normal"``
        (N(0, 1)) and ``"integer"`` (an augmentation's shifts and centres: see
        ``advloss.augment.diffaugment`` for their ranges).  Pass equal arrays as ``draws={name: tensor}`` to each framework to compare
        them on the same randomness.

        Examples:
            >>> import advloss
            >>> o = advloss.Objective.parse("ns + gp + flip(p=0.1) + noise(0.1)")
            >>> for name, spec in o.draw_specs((8, 3, 4, 4), (8, 3, 4, 4)).items():
            ...     print(name, spec)
            noise.real ('normal', (8, 3, 4, 4))
            noise.fake ('normal', (8, 3, 4, 4))
            flip.real ('uniform', (8,))
            flip.fake ('uniform', (8,))
            gp.alpha ('uniform', (8,))
        """
        return draw_specs(self, real_shape, fake_shape, side)

    # ------------------------------------------------------------------------------ calls

    def discriminator(
        self,
        discriminator: Discriminator,
        real: Any,
        fake: Any,
        *,
        step: Any = None,
        key: Any = None,
        draws: Mapping[str, Any] | None = None,
        noise_std: Any = None,
        backend: str | None = None,
        states: Mapping[str, Any] | None = None,
        regularize: bool | None = None,
        generator: Callable[[Any], Any] | None = None,
        latent: Any = None,
        replicas: Any = None,
    ) -> ObjectiveOutput:
        """The discriminator's objective on a real and a fake batch.

        Args:
            discriminator: callable from a batch ``(N, ...)`` to logits ``(N, ...)`` (an
                ``nn.Module``, a Keras model, ``functools.partial(model.apply, params)``).
            real: real inputs ``(N, ...)``.
            fake: generated inputs ``(M, ...)`` (detach them from the generator in PyTorch).
            step: the training step (Python int or integer tensor, traced under ``jax.jit`` /
                ``tf.function``): selects lazy penalties' steps and the noise schedule's value.
            key: randomness (module docstring); draws: explicit random numbers
                (``draw_specs``).
            noise_std: the instance-noise std for this call (required with
                ``AdaptiveNoise``; overrides a schedule otherwise).
            backend: force a framework instead of detecting it.
            states: the explicit state of the terms that keep one (``lecam``, an adaptive
                ``ada``/``apa``), by term name:
                ``init_states`` on the first step, ``next_states(out)`` after each; their next
                state is in ``stats`` as ``"<name>.<field>"`` (e.g. ``lecam.ema_real``).
            regularize: whether the lazy penalties (``every > 1``) run at this step, decided
                by the caller (a Python bool: the flag of ``advloss.lazy_step``'s two compiled
                variants) instead of from ``step`` — no traced conditional around D's
                double backward; ``None`` (default) decides from ``step``.  Applies to the
                built-in penalties; plugins read ``step``.
            generator, latent: the generator and the latents ``z`` of ``fake = G(z)``, for
                the terms that perturb them (``zcr``); ignored by the others.
            replicas: under data-parallel training, the replicas that the statistics and the
                terms' moving averages (``lecam``) are averaged over, so that every replica
                holds the global batch's values and its controllers decide alike: the mapped
                axis name in JAX's ``shard_map``/``pmap``; ``True`` (or a process group /
                replica context) in PyTorch DDP and ``tf.distribute``; ``None`` (default) for
                one device or ``jax.jit`` over sharded arrays (see the distributed-training
                guide).  The loss and penalties stay this replica's batch means: the
                framework's gradient averaging makes them the global batch's.

        Returns:
            ``ObjectiveOutput`` ``(total, terms, stats)``.
        """
        if self._alone and noise_std is None and not draws and not states:
            # Nothing drawn, no term: the same values through a path with fewer Python frames.
            return ObjectiveOutput(
                *compute.loss_alone(self.loss, discriminator, real, fake, backend, replicas)
            )
        return ObjectiveOutput(
            *compute.discriminator(
                self, discriminator, real, fake, step, key, draws, noise_std, backend,
                None if states is None else dict(states), regularize, generator, latent,
                replicas,
            )
        )  # fmt: skip

    def init_states(self, like: Any, *, backend: str | None = None) -> dict[str, Any]:
        """The initial state of each term that keeps one (``lecam``, ``path_length``, an
        adaptive ``ada(target=...)``/``apa(target=...)`` under ``"ada"``/``"apa"``), by term
        name, as tensors of ``like``'s framework (e.g. a batch of real logits); ``{}`` if none
        does.

        Examples:
            >>> import numpy as np, advloss
            >>> o = advloss.Objective.parse("hinge + lecam(start=0)")
            >>> states = o.init_states(np.zeros(4))
            >>> sorted(states), type(states["lecam"]).__name__
            (['lecam'], 'LeCamState')
        """
        return {name: p.init(like, backend=backend) for name, p in self._stateful_terms()}

    def _stateful_terms(self) -> list[tuple[str, Any]]:
        """``(name, term)`` of every term with explicit state: the stateful penalties, then an
        adaptive augmentation (``ada(target=...)``, ``apa(target=...)``) under its name."""
        terms = [
            (name, p)
            for name, p in zip(term_names(self.penalties), self.penalties, strict=True)
            if getattr(p, "stateful", False)
        ]
        if self.augment is not None and getattr(self.augment, "stateful", False):
            terms.append((self.augment.name, self.augment))
        return terms

    def next_states(
        self, out: ObjectiveOutput, states: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The states after a step, from its output's ``stats`` (``"<name>.<field>"``): pass
        them as ``states=`` to the next step.  A discriminator step updates the
        discriminator's terms (``lecam``), a generator step the generator's
        (``path_length``); the other side's terms keep their state from ``states`` (the
        states that step was given), which is needed when the objective has terms of both
        sides.

        Examples:
            >>> import numpy as np, advloss
            >>> o = advloss.Objective.parse("hinge + lecam(start=0, decay=0.5)")
            >>> states = o.init_states(np.zeros(2))
            >>> out = o.discriminator(lambda x: x, np.ones(2), np.zeros(2), step=0, states=states)
            >>> float(o.next_states(out, states)["lecam"].ema_real)
            0.5
        """
        new = {}
        for name, p in self._stateful_terms():
            fields = p.state_type._fields
            missing = [f"{name}.{f}" for f in fields if f"{name}.{f}" not in out.stats]
            if not missing:
                new[name] = p.state_type(*(out.stats[f"{name}.{f}"] for f in fields))
            elif states is not None and name in states:
                new[name] = states[name]
            else:
                side = getattr(p, "side", "discriminator")
                raise AdvlossValueError(
                    f"Objective.next_states: out.stats has no {missing}; pass the output "
                    f"of this objective's {side} step, or the states it was given as "
                    f"next_states(out, states) to keep the {name!r} term's state."
                )
        return new

    def generator(
        self,
        discriminator: Discriminator,
        fake: Any,
        *,
        real: Any = None,
        step: Any = None,
        key: Any = None,
        draws: Mapping[str, Any] | None = None,
        noise_std: Any = None,
        backend: str | None = None,
        features: Any = None,
        generator: Callable[[Any], Any] | None = None,
        latent: Any = None,
        states: Mapping[str, Any] | None = None,
        regularize: bool | None = None,
        replicas: Any = None,
    ) -> ObjectiveOutput:
        """The generator's objective on a fake batch (kept attached to the generator).

        ``real`` is required by losses whose generator term uses real logits (``ragan``, and
        the pairing losses ``rpgan``/``rp_hinge``/``rp_lsgan``, which also need a real batch of
        the fake batch's size);
        otherwise it is optional and, when given, adds the real-side statistics.  Penalties
        and label transforms act on the discriminator only, except the generator-side terms:
        ``feature_matching``, which takes ``features=(real_features, fake_features)`` (D's
        intermediate features on a real and the generated batch, a tensor or a list per side);
        the generator-aware ``zcr``, whose generator term is added here (pass ``generator=G``
        and ``latent=z`` with ``fake = G(z)``); and ``path_length``, which takes
        ``generator=G`` and ``latent=w`` (it runs ``G(w)`` itself: ``w`` may be a sub-batch)
        and its state in ``states=`` (``init_states``, then ``next_states(out, states)``; the
        next one is in ``stats`` as ``"path_length.pl_mean"``), lazily with
        ``step``/``regularize`` as the discriminator's penalties.  Their values are in
        ``terms`` and ``total``.  Instance noise applies here too.  ``replicas`` averages the
        statistics and ``path_length``'s moving average over data-parallel replicas, as in
        ``discriminator``.  Other arguments as in ``discriminator``.
        """
        return ObjectiveOutput(
            *compute.generator(
                self, discriminator, fake, real, step, key, draws, noise_std, backend, features,
                generator, latent, None if states is None else dict(states), regularize,
                replicas,
            )
        )  # fmt: skip
