r"""One objective from a loss, penalties, label transforms and instance noise.

An ``Objective`` is an immutable value.  Its two methods compute, for one training step,

$$
\begin{aligned}
    L_D &= \ell_D\big(D(x + s\varepsilon),\ D(\tilde x + s\varepsilon');\ y_r, y_f\big)
          + \textstyle\sum_k P_k(D, x + s\varepsilon, \tilde x + s\varepsilon') \\
    L_G &= \ell_G\big(D(\tilde x + s\varepsilon')\big)
\end{aligned}
$$

where $\ell$ is the adversarial loss, $P_k$ the penalties (lazy ones on their steps,
multiplied by their interval), $y_r, y_f$ the labels after the label transforms, and
$s$ the instance-noise standard deviation at this step (0 without instance noise), with
fresh noise $\varepsilon, \varepsilon' \sim N(0, I)$ on the real and the fake batch (the
generator step noises its fakes too: the discriminator always sees noisy inputs).

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

import ast
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from advloss.backend import Backend, backend_for
from advloss.balance import balance_stats, loss_threshold
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.labels import (
    LabelTransform,
    apply_labels,
    check_transforms,
    get_label_transform,
    label_draw_specs,
    label_range,
)
from advloss.noise import AdaptiveNoise, instance_noise
from advloss.registry import get_loss, get_penalty
from advloss.schedules import get_schedule

__all__ = ["Objective", "ObjectiveOutput"]

Discriminator = Callable[[Any], Any]
DrawSpecs = dict[str, tuple[str, tuple[int | None, ...]]]


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
    #: ``r_t``, ``d_gap`` (those whose side was computed) and ``noise_std``.
    stats: dict[str, Any]


def _loss_of(spec: Any) -> Any:
    if isinstance(spec, str):
        return get_loss(spec)
    if isinstance(spec, Mapping):
        config = dict(spec)
        return get_loss(config.pop("name", None), **config)
    if callable(getattr(spec, "discriminator", None)) and callable(
        getattr(spec, "generator", None)
    ):
        return spec
    raise AdvlossTypeError(
        f"Objective: loss must be a loss name, a config dict ({{'name': 'ns', ...}}) or a loss "
        f"object with discriminator() and generator(); received {type(spec).__name__}."
    )


def _penalty_of(spec: Any) -> Any:
    if isinstance(spec, str):
        return get_penalty(spec)
    if isinstance(spec, Mapping):
        config = dict(spec)
        return get_penalty(config.pop("name", None), **config)
    if callable(getattr(spec, "term", None)):
        return spec
    raise AdvlossTypeError(
        f"Objective: each penalty must be a penalty name, a config dict ({{'name': 'r1', "
        f"'gamma': 10}}) or an object with term(discriminator, real, fake, *, step, key); "
        f"received {type(spec).__name__}."
    )


def _is_adaptive(noise: Any) -> bool:
    """An adaptive controller (duck-typed: ``init``/``update``/``std``), not a schedule."""
    return all(callable(getattr(noise, m, None)) for m in ("init", "update", "std"))


def _noise_of(spec: Any) -> Any:
    if spec is None or _is_adaptive(spec):
        return spec
    if isinstance(spec, Mapping) and spec.get("name") == "adaptive":
        config = dict(spec)
        config.pop("name")
        return AdaptiveNoise(**config)
    if spec == "adaptive":
        return AdaptiveNoise()
    schedule = get_schedule(spec)
    # A standard deviation is >= 0.  Every built-in schedule moves between the values named in
    # its config (value, start, end, values), so checking those bounds the whole schedule.
    config = schedule.config() if callable(getattr(schedule, "config", None)) else {}
    for field in ("value", "start", "end", "values"):
        values = config.get(field)
        for v in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(v, (int, float)) and v < 0:
                raise AdvlossValueError(
                    f"Objective: instance_noise is a standard deviation and must be >= 0; the "
                    f"schedule {config} has {field}={values!r}."
                )
    return schedule


#: The most terms ``Objective.parse`` reads (a longer text is refused before parsing: deep
#: ``a + b + ...`` chains exhaust Python's parser stack).
MAX_TERMS = 256


def _term_name(node: ast.expr) -> str | None:
    """The name of a term: ``ns``, a dotted ``myproj.loss``, or a quoted ``'my-loss'``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
        prefix = _term_name(node.value)
        return None if prefix is None else f"{prefix}.{node.attr}"
    return None


def _kind_of(name: str) -> str | None:
    """ "loss", "penalty", "labels" or None; built-in and registered names are found without
    reading the installed plugins' entry points (which imports them)."""
    from advloss.labels import available_label_transforms
    from advloss.registry import _LOSS_REGISTRY, _PENALTY_REGISTRY

    if _LOSS_REGISTRY.lookup_local(name) is not None:
        return "loss"
    if _PENALTY_REGISTRY.lookup_local(name) is not None:
        return "penalty"
    if name in available_label_transforms():
        return "labels"
    if _LOSS_REGISTRY.lookup(name) is not None:
        return "loss"
    if _PENALTY_REGISTRY.lookup(name) is not None:
        return "penalty"
    return None


def _sequence(where: str, name: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        return [value]
    return list(value)


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

    __slots__ = ("instance_noise", "labels", "loss", "penalties")

    loss: Any
    penalties: tuple[Any, ...]
    labels: tuple[LabelTransform, ...]
    instance_noise: Any

    def __init__(
        self,
        loss: Any = "ns",
        *,
        penalties: Any = (),
        labels: Any = (),
        instance_noise: Any = None,
    ) -> None:
        where = "Objective"
        loss = _loss_of(loss)
        pens = tuple(_penalty_of(p) for p in _sequence(where, "penalties", penalties))
        labs = tuple(get_label_transform(t) for t in _sequence(where, "labels", labels))
        check_transforms(where, labs)
        if labs:
            if not getattr(loss, "supports_labels", False):
                name = getattr(loss, "name", type(loss).__name__)
                raise AdvlossValueError(
                    f"{where}: label transforms {[t.name for t in labs]} need a loss with class "
                    f"targets (minimax, ns, lsgan); the {name!r} loss has none (its outputs are "
                    f"margins or critic scores, not class predictions)."
                )
            low, high = label_range(loss)
            for t in labs:
                t.check_range(where, low, high)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "penalties", pens)
        object.__setattr__(self, "labels", labs)
        object.__setattr__(self, "instance_noise", _noise_of(instance_noise))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Objective is immutable; build a new one (tried to set {name!r}).")

    # ------------------------------------------------------------------------------ config

    def config(self) -> dict[str, Any]:
        """The objective as plain data (JSON/YAML-ready): ``Objective.from_config(o.config())``
        rebuilds an equal objective."""

        def conf(obj: Any, what: str) -> Any:
            if not callable(getattr(obj, "config", None)):
                raise AdvlossTypeError(
                    f"Objective.config: the {what} {obj!r} has no config() method, so the "
                    f"objective cannot be written as data; give it one (returning "
                    f"{{'name': ..., **hyperparameters}})."
                )
            return obj.config()

        noise = self.instance_noise
        return {
            "loss": conf(self.loss, "loss"),
            "penalties": [conf(p, "penalty") for p in self.penalties],
            "labels": [t.config() for t in self.labels],
            "instance_noise": None if noise is None else conf(noise, "instance noise"),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Objective:
        """Build from ``config``'s dict (or one written by hand / read from YAML).

        Keys: ``loss`` (a name or a dict), ``penalties``, ``labels`` (lists of names or dicts),
        ``instance_noise`` (a number, a schedule dict or string, ``{"name": "adaptive", ...}``
        or None).  Missing keys take the defaults.
        """
        if not isinstance(config, Mapping):
            raise AdvlossTypeError(
                f"Objective.from_config: config must be a dict; received {type(config).__name__}."
            )
        known = {"loss", "penalties", "labels", "instance_noise"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise AdvlossValueError(
                f"Objective.from_config: unknown keys {unknown}; expected some of {sorted(known)}."
            )
        return cls(
            config.get("loss", "ns"),
            penalties=config.get("penalties") or (),
            labels=config.get("labels") or (),
            instance_noise=config.get("instance_noise"),
        )

    @classmethod
    def parse(cls, text: str) -> Objective:
        """Build from a one-line spec, e.g. for a command line::

            "ns(real_label=0.9) + r1(gamma=10, every=16) + flip(p=0.05) + noise('0.1:0:10000')"

        Terms are joined by ``+``; each is a name with optional keyword arguments (Python
        literals).  Exactly one loss; penalty and label-transform names as registered;
        ``noise(...)`` takes one schedule string or number, or keyword arguments
        (``noise(name='cosine', start=0.1, end=0.0, steps=5000)``), or ``noise('adaptive')``.
        """
        where = "Objective.parse"
        if not isinstance(text, str):
            raise AdvlossTypeError(f"{where}: text must be a str; received {type(text).__name__}.")
        if text.count("+") >= MAX_TERMS:
            raise AdvlossValueError(
                f"{where}: at most {MAX_TERMS} terms are read; received a text with "
                f"{text.count('+') + 1} '+'-separated parts ({len(text)} characters)."
            )
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as err:
            raise AdvlossValueError(
                f"{where}: cannot parse {text!r} ({err.msg}); expected terms like "
                f'"ns(real_label=0.9) + r1(gamma=10)".'
            ) from None
        except (RecursionError, MemoryError):
            raise AdvlossValueError(
                f"{where}: the text is nested too deeply to parse ({len(text)} characters); "
                f'expected terms like "ns(real_label=0.9) + r1(gamma=10)".'
            ) from None
        terms: list[ast.expr] = []
        stack: list[ast.expr] = [tree]
        while stack:  # left to right, without recursion
            node = stack.pop()
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                stack += [node.right, node.left]
            else:
                terms.append(node)
        from advloss.labels import available_label_transforms
        from advloss.registry import available_losses, available_penalties

        losses, penalties, labels = [], [], []
        noise: Any = None
        for node in terms:
            name, args, kwargs = _term(where, text, node)
            if name == "noise":
                if (args and kwargs) or len(args) > 1:
                    raise AdvlossValueError(
                        f"{where}: noise(...) takes one schedule (a string or number) or "
                        f"keyword arguments; received {ast.unparse(node)!r}."
                    )
                noise = args[0] if args else kwargs
                continue
            if args:
                raise AdvlossValueError(
                    f"{where}: {name}(...) takes keyword arguments only; received "
                    f"{ast.unparse(node)!r}."
                )
            config = {"name": name, **kwargs}
            kind = _kind_of(name)
            if kind == "loss":
                losses.append(config)
            elif kind == "penalty":
                penalties.append(config)
            elif kind == "labels":
                labels.append(config)
            else:
                raise AdvlossValueError(
                    f"{where}: unknown term {name!r} in {text!r}; known losses "
                    f"{available_losses()}, penalties {available_penalties()}, label transforms "
                    f"{available_label_transforms()}, and noise(...)."
                )
        if len(losses) != 1:
            raise AdvlossValueError(
                f"{where}: expected exactly one loss among the terms of {text!r}; received "
                f"{[c['name'] for c in losses] or 'none'}."
            )
        return cls(losses[0], penalties=penalties, labels=labels, instance_noise=noise)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Objective):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.loss, self.penalties, self.labels, self.instance_noise))

    def __repr__(self) -> str:
        def term(config: Mapping[str, Any], name: str | None = None) -> str:
            config = dict(config)
            name = name or config.pop("name")
            args = ", ".join(f"{k}={v!r}" for k, v in config.items())
            if not all(part.isidentifier() for part in str(name).split(".")):
                name = repr(name)  # e.g. 'my-loss': parse reads quoted names
            return f"{name}({args})" if args else str(name)

        def conf(obj: Any) -> dict[str, Any]:
            c = obj.config() if callable(getattr(obj, "config", None)) else None
            return c if isinstance(c, dict) else {"name": getattr(obj, "name", repr(obj))}

        loss = conf(self.loss)
        default: dict[str, Any] = {}
        with contextlib.suppress(Exception):  # a plugin without defaults: print everything
            default = get_loss(loss["name"]).config()  # type: ignore[attr-defined]
        loss = {k: v for k, v in loss.items() if k == "name" or default.get(k) != v}
        parts = [term(loss)]
        for p in self.penalties:
            c = conf(p)
            c = {"name": c.pop("name"), **dict(sorted(c.items()))}
            parts.append(term(c))
        parts += [term(t.config()) for t in self.labels]
        if self.instance_noise is not None:
            parts.append(term(conf(self.instance_noise), "noise"))
        return " + ".join(parts)

    # ------------------------------------------------------------------------------ draws

    def _term_names(self) -> list[str]:
        names: list[str] = []
        for p in self.penalties:
            base = getattr(p, "name", None) or type(p).__name__.lower()
            name, i = base, 2
            while name in names or name == "adversarial":
                name, i = f"{base}_{i}", i + 1
            names.append(name)
        return names

    def draw_specs(
        self,
        real_shape: tuple[int | None, ...] | None,
        fake_shape: tuple[int | None, ...],
        *,
        side: str = "discriminator",
    ) -> DrawSpecs:
        """The random numbers one call consumes, ``{name: (distribution, shape)}`` in the order
        they are drawn from ``key`` — distributions ``"uniform"`` (U[0, 1)) and ``"normal"``
        (N(0, 1)).  Pass equal arrays as ``draws={name: tensor}`` to each framework to compare
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
        if side not in ("discriminator", "generator"):
            raise AdvlossValueError(
                f"Objective.draw_specs: side must be 'discriminator' or 'generator'; received "
                f"{side!r}."
            )
        specs: DrawSpecs = {}
        if self.instance_noise is not None:
            if real_shape is not None:
                specs["noise.real"] = ("normal", tuple(real_shape))
            specs["noise.fake"] = ("normal", tuple(fake_shape))
        if side == "generator":
            return specs
        n_real = None if real_shape is None else real_shape[0]
        specs.update(label_draw_specs(self.labels, n_real, fake_shape[0]))
        for name, p in zip(self._term_names(), self.penalties, strict=True):
            if callable(getattr(p, "draw_specs", None)):
                for draw, spec in p.draw_specs(n_real, fake_shape[0]).items():
                    specs[f"{name}.{draw}"] = spec
        return specs

    # ------------------------------------------------------------------------------ calls

    def _noise_std(self, where: str, b: Backend, step: Any, noise_std: Any) -> Any:
        noise = self.instance_noise
        if noise_std is not None:
            if noise is None:
                raise AdvlossValueError(
                    f"{where}: noise_std was given but the objective has no instance noise; "
                    f"build it with instance_noise=... (e.g. AdaptiveNoise())."
                )
            return noise_std
        if noise is None:
            return None
        if _is_adaptive(noise):
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

    def _randomness(
        self, where: str, b: Backend, specs: DrawSpecs, key: Any, draws: Any, std: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split ``key`` over the draw slots not given explicitly in ``draws`` (the split is the
        same whatever the noise std, so a slot's source does not depend on the step)."""
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
                for name, p in zip(self._term_names(), self.penalties, strict=True)
                if not callable(getattr(p, "draw_specs", None))
            ]
        keys: dict[str, Any] = {}
        noise_off = std is None or (isinstance(std, float) and std == 0.0)
        needed = [n for n in missing if not (noise_off and n.startswith("noise."))]
        if key is None:
            if needed and b.name == "jax":
                raise AdvlossValueError(
                    f"{where}: this objective draws random numbers ({needed}) and JAX has no "
                    f"global random state: pass key=jax.random.fold_in(key, step) (or draws=)."
                )
        elif missing:
            keys = dict(zip(missing, b.split_key(key, len(missing)), strict=True))
        return keys, given

    def _noisy(self, b: Backend, x: Any, name: str, std: Any, keys: Any, draws: Any) -> Any:
        if std is None:
            return x
        return instance_noise(x, std, key=keys.get(name), noise=draws.get(name), backend=b.name)

    def _stats(self, b: Backend, real_logits: Any, fake_logits: Any, std: Any) -> dict[str, Any]:
        threshold, higher_is_real = loss_threshold(self.loss)
        stats = balance_stats(
            real_logits, fake_logits, threshold=threshold, higher_is_real=higher_is_real
        )
        if std is not None:
            dtype = b.dtype(stats["d_fake"])
            stats["noise_std"] = (
                b.full(float(std), dtype, fake_logits)
                if isinstance(std, (int, float))
                else b.cast(b.stop_gradient(std), dtype)
            )
        return stats

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

        Returns:
            ``ObjectiveOutput`` ``(total, terms, stats)``.
        """
        where = "Objective.discriminator"
        if not callable(discriminator):
            raise AdvlossTypeError(
                f"{where}: discriminator must be callable (a batch -> logits); received "
                f"{type(discriminator).__name__}."
            )
        b = backend_for(real, fake, backend=backend, where=where)
        std = self._noise_std(where, b, step, noise_std)
        specs = self.draw_specs(b.shape(real), b.shape(fake))
        keys, given = self._randomness(where, b, specs, key, draws, std)
        real_in = self._noisy(b, real, "noise.real", std, keys, given)
        fake_in = self._noisy(b, fake, "noise.fake", std, keys, given)

        terms: dict[str, Any] = {}
        real_logits = fake_logits = None
        for name, p in zip(self._term_names(), self.penalties, strict=True):
            prefix = f"{name}."
            p_keys = {k[len(prefix) :]: v for k, v in keys.items() if k.startswith(prefix)}
            p_draws = {k[len(prefix) :]: v for k, v in given.items() if k.startswith(prefix)}
            if callable(getattr(p, "term_and_logits", None)):
                # Built-ins draw at most one kind of number (GP's alpha): its source is the key.
                p_key = next(iter(p_keys.values()), None)
                value, r_out, f_out = p.term_and_logits(
                    discriminator, real_in, fake_in, step=step, key=p_key, draws=p_draws
                )
                real_logits = real_logits if r_out is None else r_out
                fake_logits = fake_logits if f_out is None else f_out
            else:  # a plugin: the penalty protocol
                value = p.term(discriminator, real_in, fake_in, step=step, key=p_keys.get("key"))
            terms[name] = value
        if real_logits is None:
            real_logits = discriminator(real_in)
        if fake_logits is None:
            fake_logits = discriminator(fake_in)

        label_kwargs: dict[str, Any] = {}
        if self.labels:
            y_real, y_fake = apply_labels(
                b,
                self.labels,
                real_logits,
                fake_logits,
                keys=keys,
                draws=given,
                real_label=getattr(self.loss, "real_label", 1.0),
                where=where,
            )
            label_kwargs = {"real_label": y_real, "fake_label": y_fake}
        adversarial = self.loss.discriminator(real_logits, fake_logits, **label_kwargs)
        total = adversarial
        for value in terms.values():
            total = total + value
        return ObjectiveOutput(
            total,
            {"adversarial": adversarial, **terms},
            self._stats(b, real_logits, fake_logits, std),
        )

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
    ) -> ObjectiveOutput:
        """The generator's objective on a fake batch (kept attached to the generator).

        ``real`` is required by losses whose generator term uses real logits (``ragan``);
        otherwise it is optional and, when given, adds the real-side statistics.  Penalties
        and label transforms act on the discriminator only; instance noise applies here too.
        Other arguments as in ``discriminator``.
        """
        where = "Objective.generator"
        if not callable(discriminator):
            raise AdvlossTypeError(
                f"{where}: discriminator must be callable (a batch -> logits); received "
                f"{type(discriminator).__name__}."
            )
        needs_real = getattr(self.loss, "generator_needs_real", False)
        if needs_real and real is None:
            raise AdvlossValueError(
                f"{where}: the {self.loss.name!r} loss's generator term compares fake with real "
                f"logits: pass real=<real batch>."
            )
        b = backend_for(fake, real, backend=backend, where=where)
        specs = self.draw_specs(
            None if real is None else b.shape(real), b.shape(fake), side="generator"
        )
        std = self._noise_std(where, b, step, noise_std)
        keys, given = self._randomness(where, b, specs, key, draws, std)
        fake_logits = discriminator(self._noisy(b, fake, "noise.fake", std, keys, given))
        real_logits = None
        if real is not None:
            real_logits = discriminator(self._noisy(b, real, "noise.real", std, keys, given))
        if needs_real:
            adversarial = self.loss.generator(fake_logits, real_logits=real_logits)
        else:
            adversarial = self.loss.generator(fake_logits)
        stats = self._stats(
            b, None if real_logits is None else b.stop_gradient(real_logits), fake_logits, std
        )
        return ObjectiveOutput(adversarial, {"adversarial": adversarial}, stats)


def _term(where: str, text: str, node: ast.expr) -> tuple[str, list[Any], dict[str, Any]]:
    """``name`` or ``name(literal args, key=literal)`` → (name, args, kwargs)."""

    def literal(value: ast.expr) -> Any:
        try:
            return ast.literal_eval(value)
        except ValueError:
            raise AdvlossValueError(
                f"{where}: arguments must be literals (numbers, strings, lists); received "
                f"{ast.unparse(value)!r} in {text!r}."
            ) from None

    name = _term_name(node)
    if name is not None:
        return name, [], {}
    name = _term_name(node.func) if isinstance(node, ast.Call) else None
    if isinstance(node, ast.Call) and name is not None:
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise AdvlossValueError(f"{where}: **kwargs is not allowed in {text!r}.")
            if kw.arg in kwargs:
                raise AdvlossValueError(
                    f"{where}: {name}(...) gives {kw.arg}= twice in {text!r}; expected each "
                    f"keyword once."
                )
            kwargs[kw.arg] = literal(kw.value)
        return name, [literal(a) for a in node.args], kwargs
    raise AdvlossValueError(
        f"{where}: cannot read the term {ast.unparse(node)!r} in {text!r}; expected "
        f"name or name(key=value, ...), with names that are not identifiers quoted "
        f"('my-loss'(margin=1.0)) or dotted (myproj.loss)."
    )
