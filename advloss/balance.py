r"""Training-balance diagnostics: statistics of the discriminator's outputs, a monitor that names
the regime (balanced, discriminator dominating, generator dominating, diverging) with remedies,
and G:D update-ratio schedulers.

``balance_stats`` returns tensors and never reads a value on the host, so it can run inside
every training step (eager, ``torch.compile``, ``tf.function``, ``jax.jit``).
``BalanceMonitor.update`` is pure arithmetic on those tensors; only
``BalanceMonitor.verdict`` and ``AdaptiveRatio.plan`` read values on the host — call them
every few steps from the training loop, never inside a compiled step.

The warning signs, from the GAN-debugging literature (Goodfellow 2016 tutorial; Salimans et al.
2016; ganhacks; Arjovsky & Bottou 2017; StyleGAN2-ADA's r_t), as the monitor reads them:

| symptom (EMA over steps) | regime | remedies (advloss) |
|---|---|---|
| fake accuracy >= 0.9 (e.g. 95% fake / 10% real: D calls everything fake), D loss → 0 | ``discriminator_dominating`` | lsgan or ns instead of minimax; ``real_label=0.9``; instance noise; 1:k G:D steps; lower D lr; R1/SN |
| fake accuracy <= 0.1, D(fake) ≥ D(real): D is fooled — or G has collapsed onto points D accepts | ``generator_dominating`` | more D steps (k:1); higher D lr; less instance noise / regularization |
| NaN / inf, or \|mean logit\| or \|loss\| beyond ``explode`` | ``diverging`` | lower lrs; GP / R1 / SN; check AMP loss scaling and the data for NaNs |
| otherwise | ``balanced`` | — |
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from advloss import registry
from advloss._checks import floating, hyperparameter, integer, interval, positive
from advloss._config import Configurable
from advloss._replicas import replica_mean
from advloss.backend import LOW_PRECISION_DTYPES, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = [
    "BALANCED",
    "DISCRIMINATOR_DOMINATING",
    "DIVERGING",
    "GENERATOR_DOMINATING",
    "WARMING_UP",
    "AdaptiveRatio",
    "BalanceMonitor",
    "FixedRatio",
    "MonitorState",
    "Verdict",
    "balance_stats",
    "get_ratio",
    "loss_threshold",
]

BALANCED = "balanced"
DISCRIMINATOR_DOMINATING = "discriminator_dominating"
GENERATOR_DOMINATING = "generator_dominating"
DIVERGING = "diverging"
WARMING_UP = "warming_up"


def loss_threshold(loss: Any) -> tuple[float, bool]:
    """``(decision_threshold, higher_is_real)`` of a loss: 0 and True for the logistic losses,
    hinge, wgan and ragan; ``(a + b) / 2`` for LSGAN; (0, True) for a plugin that does not say."""
    return (
        float(getattr(loss, "decision_threshold", 0.0)),
        bool(getattr(loss, "higher_is_real", True)),
    )


def balance_stats(
    real_logits: Any = None,
    fake_logits: Any = None,
    *,
    threshold: float = 0.0,
    higher_is_real: bool = True,
    backend: str | None = None,
    replicas: Any = None,
) -> dict[str, Any]:
    r"""Statistics of the discriminator's outputs, as 0-d tensors with no gradient — float32,
    or float64 for float64 logits (so the frameworks agree to float64 precision).

    With $t$ the threshold and $\pm$ = ``higher_is_real``:

    | key | value |
    |---|---|
    | ``d_real`` | $\operatorname{mean} D(x)$ over all elements |
    | ``d_fake`` | $\operatorname{mean} D(G(z))$ |
    | ``d_gap`` | ``d_real - d_fake`` (for wgan: the critic's Wasserstein estimate) |
    | ``real_acc`` | fraction of real outputs classified real: $D(x) > t$ |
    | ``fake_acc`` | fraction of fake outputs classified fake: $D(G(z)) < t$ |
    | ``r_t`` | $\operatorname{mean}\operatorname{sign}(D(x) - t)$ — StyleGAN2-ADA's overfitting heuristic (target 0.6) for logit losses |

    Outputs exactly at the threshold count as neither real nor fake (and sign 0).  Keys of a
    side not given are omitted.  For wgan the critic's scores have no absolute scale, so the
    accuracies at 0 are only a rough signal there; ``d_gap`` is the meaningful one.

    Args:
        real_logits, fake_logits: ``D(x)`` and ``D(G(z))``, shape ``(N, ...)``; at least one.
        threshold, higher_is_real: the loss's decision rule (``loss_threshold``).
        backend: force a framework instead of detecting it.
        replicas: under data-parallel training, the replicas to average the statistics over
            (one collective), so every replica sees the global batch's values and makes the
            same decisions: the mapped axis name in JAX's ``shard_map``/``pmap``; ``True`` (or
            a process group / replica context) in PyTorch DDP and ``tf.distribute``.  ``None``
            (the default): this batch alone — one device, or ``jax.jit`` over sharded arrays,
            whose means are already global.  The replicas' batches must be the same size.

    Examples:
        >>> import numpy as np
        >>> from advloss.balance import balance_stats
        >>> s = balance_stats(np.array([2.0, -1.0, 0.5, 3.0]), np.array([-2.0, -3.0, 1.0, -0.5]))
        >>> print({k: round(float(v), 3) for k, v in s.items()})
        {'d_real': 1.125, 'real_acc': 0.75, 'r_t': 0.5, 'd_fake': -1.125, 'fake_acc': 0.75, 'd_gap': 2.25}
    """
    where = "balance_stats"
    if real_logits is None and fake_logits is None:
        raise AdvlossTypeError(f"{where}: pass real_logits, fake_logits or both; received neither.")
    t = hyperparameter(where, "threshold", threshold)
    if not isinstance(higher_is_real, bool):
        raise AdvlossTypeError(
            f"{where}: higher_is_real must be a bool; received {higher_is_real!r}."
        )
    b = backend_for(real_logits, fake_logits, backend=backend, where=where)
    out: dict[str, Any] = {}
    for side, logits in (("real", real_logits), ("fake", fake_logits)):
        if logits is None:
            continue
        dtype = floating(where, f"{side}_logits", b, logits)
        x = b.stop_gradient(logits)
        compute = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
        if compute != dtype:
            x = b.cast(x, compute)
        above = b.mean(b.cast(x > t, compute))
        below = b.mean(b.cast(x < t, compute))
        if not higher_is_real:
            above, below = below, above
        out[f"d_{side}"] = b.mean(x)
        if side == "real":
            out["real_acc"] = above
            out["r_t"] = above - below
        else:
            out["fake_acc"] = below
    if replicas is not None:
        out = dict(zip(out, replica_mean(where, b, list(out.values()), replicas), strict=True))
    if "d_real" in out and "d_fake" in out:
        out["d_gap"] = out["d_real"] - out["d_fake"]
    return out


# ------------------------------------------------------------------------------- monitor

_MONITORED = ("d_real", "d_fake", "real_acc", "fake_acc", "r_t", "d_gap", "d_loss", "g_loss")


class MonitorState(NamedTuple):
    """The monitor's explicit state (a JAX pytree): exponential moving averages and their
    weights (the EMA of 1, for bias correction), per statistic, and the number of updates."""

    values: dict[str, Any]
    weights: dict[str, Any]
    updates: Any


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The monitor's reading: the regime, a sentence, the remedies and the values it read.

    Examples:
        >>> import advloss
        >>> monitor = advloss.BalanceMonitor()
        >>> verdict = monitor.verdict(monitor.init())
        >>> verdict.regime, str(verdict)
        ('warming_up', '[warming_up] 0/10 updates averaged so far.')
    """

    regime: str
    message: str
    remedies: tuple[str, ...]
    values: dict[str, float]

    def __str__(self) -> str:
        text = f"[{self.regime}] {self.message}"
        if self.remedies:
            text += " Try: " + "; ".join(self.remedies) + "."
        return text


_REMEDIES = {
    DISCRIMINATOR_DOMINATING: (
        "a non-saturating loss (get_loss('ns') or 'lsgan') instead of minimax",
        "one-sided label smoothing (real_label=0.9)",
        "instance noise annealed to 0 (instance_noise='0.1:0:10000')",
        "more generator steps (FixedRatio(d_steps=1, g_steps=2) or AdaptiveRatio())",
        "a lower discriminator learning rate",
        "R1 (r1(gamma=...)) or spectral normalization on D",
    ),
    GENERATOR_DOMINATING: (
        "more discriminator steps (FixedRatio(d_steps=2, g_steps=1) or AdaptiveRatio())",
        "a higher discriminator learning rate",
        "less instance noise or a smaller penalty weight",
        "check the samples for mode collapse (few distinct outputs)",
    ),
    DIVERGING: (
        "lower both learning rates",
        "a gradient penalty (gp, r1) or spectral normalization",
        "with AMP: keep losses in float32 and use a gradient scaler",
        "check the data and inputs for NaN/inf",
    ),
}


#: The remedies an objective can already apply, and how to tell that it does.
_DONE_BY: dict[str, Any] = {
    _REMEDIES[DISCRIMINATOR_DOMINATING][0]: lambda o: (
        getattr(o.loss, "name", "minimax") != "minimax"
    ),
    _REMEDIES[DISCRIMINATOR_DOMINATING][1]: lambda o: (
        getattr(o.loss, "real_label", 1.0) != 1.0
        or any(getattr(t, "name", "") == "smooth" for t in o.labels)
    ),
    _REMEDIES[DISCRIMINATOR_DOMINATING][2]: lambda o: o.instance_noise is not None,
}


def _host(x: Any) -> float:
    if isinstance(x, (int, float)):
        return float(x)
    b = backend_for(x, where="BalanceMonitor.verdict")
    return float(b.to_numpy(x))


@dataclasses.dataclass(frozen=True, kw_only=True)
class BalanceMonitor(Configurable):
    """Exponential moving averages of the balance statistics, and a verdict on the regime.

    Args:
        decay: EMA decay per update (0.9: about the last 10 updates).
        warmup: updates before any verdict other than ``warming_up``.
        dominating: fake accuracy at or above which the discriminator dominates.
        fooled: fake accuracy at or below which the generator dominates.
        explode: a mean logit or loss beyond this magnitude counts as diverging.

    Usage::

        monitor = BalanceMonitor()
        state, last = monitor.init(), None
        for step in ...:
            out = objective.discriminator(...)          # out.stats: tensors
            state = monitor.update(state, out.stats, d_loss=out.total, g_loss=g_out.total)
            if step % 100 == 0:
                verdict = monitor.verdict(state)        # reads 8 numbers on the host
                if BalanceMonitor.changed(last, verdict):
                    print(verdict)
                last = verdict

    Examples:
        >>> import numpy as np
        >>> from advloss.balance import BalanceMonitor, balance_stats
        >>> monitor = BalanceMonitor(warmup=3)
        >>> state = monitor.init()
        >>> real, fake = np.full(64, -0.5), np.full(64, -4.0)   # D calls everything fake
        >>> for _ in range(5):
        ...     state = monitor.update(state, balance_stats(real, fake))
        >>> print(monitor.verdict(state).regime)
        discriminator_dominating
    """

    name: ClassVar[str] = "monitor"
    decay: float = 0.9
    warmup: int = 10
    dominating: float = 0.9
    fooled: float = 0.1
    explode: float = 1e4
    #: How far back across a threshold the accuracy must move to leave a regime (with
    #: ``verdict(state, previous=...)``): no flip-flopping around 0.9.
    hysteresis: float = 0.05

    def __post_init__(self) -> None:
        where = "BalanceMonitor"
        decay = hyperparameter(where, "decay", self.decay)
        if not 0.0 <= decay < 1.0:
            raise AdvlossValueError(f"{where}: decay must lie in [0, 1); received {decay}.")
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "warmup", integer(where, "warmup", self.warmup, minimum=0))
        for field in ("dominating", "fooled"):
            value = hyperparameter(where, field, getattr(self, field))
            if not 0.0 <= value <= 1.0:
                raise AdvlossValueError(f"{where}: {field} must lie in [0, 1]; received {value}.")
            object.__setattr__(self, field, value)
        if self.fooled >= self.dominating:
            raise AdvlossValueError(
                f"{where}: fooled ({self.fooled}) must be below dominating ({self.dominating})."
            )
        object.__setattr__(self, "explode", positive(where, "explode", self.explode))
        hysteresis = hyperparameter(where, "hysteresis", self.hysteresis)
        if not 0.0 <= hysteresis < 0.5:
            raise AdvlossValueError(
                f"{where}: hysteresis must lie in [0, 0.5); received {hysteresis}."
            )
        object.__setattr__(self, "hysteresis", hysteresis)

    def init(self) -> MonitorState:
        """The empty state (Python zeros: the first update makes them tensors)."""
        zeros = dict.fromkeys(_MONITORED, 0.0)
        return MonitorState(dict(zeros), dict(zeros), 0)

    def update(
        self,
        state: MonitorState,
        stats: Mapping[str, Any],
        *,
        d_loss: Any = None,
        g_loss: Any = None,
    ) -> MonitorState:
        """The state after one step's statistics (any subset of ``balance_stats``'s keys)
        and losses.  Pure arithmetic, no host sync; keys not given keep their averages."""
        if not isinstance(state, MonitorState):
            raise AdvlossTypeError(
                f"BalanceMonitor.update: state must be a MonitorState (from init()); received "
                f"{type(state).__name__}."
            )
        given = {k: v for k, v in stats.items() if k in _MONITORED}
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss)):
            if value is not None:
                b = backend_for(value, where="BalanceMonitor.update")
                given[name] = b.cast(b.stop_gradient(value), "float32")
        values, weights = dict(state.values), dict(state.weights)
        d = self.decay
        for key, x in given.items():
            values[key] = d * values[key] + (1.0 - d) * x
            weights[key] = d * weights[key] + (1.0 - d)
        return MonitorState(values, weights, state.updates + 1)

    def averages(self, state: MonitorState) -> dict[str, float]:
        """The bias-corrected averages, read on the host (statistics never updated omitted)."""
        out = {}
        for key in _MONITORED:
            w = _host(state.weights[key])
            if w > 0:
                out[key] = _host(state.values[key]) / w
        return out

    def verdict(
        self, state: MonitorState, previous: Verdict | None = None, *, objective: Any = None
    ) -> Verdict:
        """The regime of the averages (reads them on the host).  With the ``previous`` verdict,
        leaving a dominating regime needs the accuracy to move ``hysteresis`` back inside.  With
        the run's ``objective`` (an ``advloss.Objective``), the remedies leave out what it
        already does (e.g. no "non-saturating loss" advice to a run that uses ``ns``)."""
        verdict = self._verdict(state, previous)
        if objective is None or not verdict.remedies:
            return verdict
        remedies = tuple(
            r for r in verdict.remedies if not (r in _DONE_BY and _DONE_BY[r](objective))
        )
        return dataclasses.replace(verdict, remedies=remedies)

    def _verdict(self, state: MonitorState, previous: Verdict | None) -> Verdict:
        v = self.averages(state)
        updates = int(_host(state.updates))
        bad = sorted(k for k, x in v.items() if not math.isfinite(x))
        big = sorted(
            k
            for k in ("d_real", "d_fake", "d_loss", "g_loss")
            if k in v and abs(v[k]) > self.explode
        )
        if bad or big:
            what = (f"non-finite {', '.join(bad)}" if bad else "") + (
                f"{'; ' if bad else ''}|{', '.join(big)}| > {self.explode:g}" if big else ""
            )
            return Verdict(DIVERGING, f"Training is diverging: {what}.", _REMEDIES[DIVERGING], v)
        if updates < self.warmup:
            return Verdict(WARMING_UP, f"{updates}/{self.warmup} updates averaged so far.", (), v)
        fake_acc, real_acc = v.get("fake_acc"), v.get("real_acc")
        acc = f"real accuracy {real_acc:.0%}, " if real_acc is not None else ""
        prev = previous.regime if previous is not None else None
        dominating = self.dominating - (self.hysteresis if prev == DISCRIMINATOR_DOMINATING else 0)
        fooled = self.fooled + (self.hysteresis if prev == GENERATOR_DOMINATING else 0)
        if fake_acc is not None and fake_acc >= dominating:
            detail = (
                " It rejects real samples too (it calls nearly everything fake)."
                if real_acc is not None and real_acc <= 0.5
                else ""
            )
            return Verdict(
                DISCRIMINATOR_DOMINATING,
                f"The discriminator dominates ({acc}fake accuracy {fake_acc:.0%}): the "
                f"generator's gradients are weak or vanishing.{detail}",
                _REMEDIES[DISCRIMINATOR_DOMINATING],
                v,
            )
        gap = v.get("d_gap")
        if fake_acc is not None and fake_acc <= fooled:
            detail = (
                " D(fake) >= D(real) on average: check for mode collapse."
                if gap is not None and gap <= 0
                else ""
            )
            return Verdict(
                GENERATOR_DOMINATING,
                f"The generator dominates ({acc}fake accuracy {fake_acc:.0%}): the "
                f"discriminator is fooled, or the generator collapsed onto points it accepts."
                f"{detail}",
                _REMEDIES[GENERATOR_DOMINATING],
                v,
            )
        if fake_acc is None:
            return Verdict(BALANCED, "No fake-side statistics yet.", (), v)
        return Verdict(BALANCED, f"Balanced ({acc}fake accuracy {fake_acc:.0%}).", (), v)

    @staticmethod
    def changed(previous: Verdict | None, current: Verdict) -> bool:
        """Whether the regime changed (print verdicts only then)."""
        return previous is None or previous.regime != current.regime


# --------------------------------------------------------------------------- update ratio


@dataclasses.dataclass(frozen=True, kw_only=True)
class FixedRatio(Configurable):
    """``d_steps`` discriminator updates then ``g_steps`` generator updates per iteration
    (k:1 — WGAN's 5:1 — or 1:k).  Stateless: ``init``/``update`` exist for a uniform API.

    >>> FixedRatio(d_steps=5).plan()
    (5, 1)
    """

    name: ClassVar[str] = "fixed"
    d_steps: int = 1
    g_steps: int = 1

    def __post_init__(self) -> None:
        interval("FixedRatio", "d_steps", self.d_steps)
        interval("FixedRatio", "g_steps", self.g_steps)

    def init(self) -> Any:
        return None

    def update(self, state: Any, stats: Mapping[str, Any]) -> Any:
        return state

    def plan(self, state: Any = None) -> tuple[int, int]:
        """``(d_steps, g_steps)`` for the next iteration."""
        return self.d_steps, self.g_steps


class RatioState(NamedTuple):
    """``AdaptiveRatio``'s state: the EMA of the discriminator's accuracy and its weight."""

    accuracy: Any
    weight: Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptiveRatio(Configurable):
    r"""Keep the discriminator's accuracy (the mean of real and fake accuracy, EMA) in a band.

    With $a$ the averaged accuracy: above ``high`` the generator gets
    $1 + \operatorname{round}\big((a - \text{high}) / (1 - \text{high})\,(k - 1)\big)$
    steps per discriminator step ($k$ = ``max_steps``); below ``low`` the discriminator
    gets $1 + \operatorname{round}\big((\text{low} - a)/\text{low}\,(k - 1)\big)$ steps per
    generator step; inside the band 1:1.  Proportional and memoryless apart from the EMA, so it
    never winds up.

    Examples:
        >>> import numpy as np
        >>> ratio = AdaptiveRatio(low=0.4, high=0.6, max_steps=5)
        >>> state = ratio.init()
        >>> for _ in range(30):   # D right 98% of the time
        ...     state = ratio.update(state, {"real_acc": np.float32(0.98), "fake_acc": np.float32(0.98)})
        >>> ratio.plan(state)
        (1, 5)
    """

    name: ClassVar[str] = "adaptive"
    low: float = 0.4
    high: float = 0.6
    max_steps: int = 5
    decay: float = 0.9

    def __post_init__(self) -> None:
        where = "AdaptiveRatio"
        for field in ("low", "high"):
            value = hyperparameter(where, field, getattr(self, field))
            if not 0.0 < value < 1.0:
                raise AdvlossValueError(f"{where}: {field} must lie in (0, 1); received {value}.")
            object.__setattr__(self, field, value)
        if self.low > self.high:
            raise AdvlossValueError(
                f"{where}: low ({self.low}) must not exceed high ({self.high})."
            )
        interval(where, "max_steps", self.max_steps)
        decay = hyperparameter(where, "decay", self.decay)
        if not 0.0 <= decay < 1.0:
            raise AdvlossValueError(f"{where}: decay must lie in [0, 1); received {decay}.")
        object.__setattr__(self, "decay", decay)

    def init(self) -> RatioState:
        return RatioState(0.0, 0.0)

    def update(
        self, state: RatioState, stats: Mapping[str, Any], *, replicas: Any = None
    ) -> RatioState:
        """Fold in one step's ``real_acc`` and ``fake_acc`` (tensors; no host sync).
        ``replicas``: average them over data-parallel replicas first (not needed for the
        stats of an objective called with ``replicas=``: they are already global)."""
        missing = [k for k in ("real_acc", "fake_acc") if k not in stats]
        if missing:
            raise AdvlossValueError(
                f"AdaptiveRatio.update: stats must hold real_acc and fake_acc (from "
                f"balance_stats or an objective's discriminator output); missing {missing}."
            )
        real_acc, fake_acc = stats["real_acc"], stats["fake_acc"]
        if replicas is not None:
            b = backend_for(real_acc, fake_acc, where="AdaptiveRatio.update")
            real_acc, fake_acc = replica_mean(
                "AdaptiveRatio.update", b, [real_acc, fake_acc], replicas
            )
        acc = 0.5 * (real_acc + fake_acc)
        d = self.decay
        return RatioState(d * state.accuracy + (1.0 - d) * acc, d * state.weight + (1.0 - d))

    def accuracy(self, state: RatioState) -> float | None:
        """The averaged accuracy, read on the host (None before any update)."""
        w = _host(state.weight)
        return None if w == 0 else _host(state.accuracy) / w

    def plan(self, state: RatioState) -> tuple[int, int]:
        """``(d_steps, g_steps)`` for the next iteration; reads the accuracy on the host."""
        acc = self.accuracy(state)
        extra = self.max_steps - 1
        if acc is None or not math.isfinite(acc) or self.low <= acc <= self.high:
            return 1, 1
        if acc > self.high:
            return 1, 1 + round(min((acc - self.high) / (1.0 - self.high), 1.0) * extra)
        return 1 + round(min((self.low - acc) / self.low, 1.0) * extra), 1


def get_ratio(spec: Any) -> FixedRatio | AdaptiveRatio:
    """A ratio scheduler from ``"k:m"`` (fixed), a name (``"fixed"``, ``"adaptive"`` or one
    registered with ``advloss.registry.register("ratio", ...)``), a config dict (its name
    defaults to ``"fixed"``) or a ratio object (returned as it is).

    >>> get_ratio("5:1"), get_ratio({"name": "adaptive", "low": 0.3, "high": 0.7})
    (FixedRatio(d_steps=5, g_steps=1), AdaptiveRatio(low=0.3, high=0.7, max_steps=5, decay=0.9))
    """
    ratios = registry._KINDS["ratio"]
    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            return FixedRatio(d_steps=int(parts[0]), g_steps=int(parts[1]))
        if ratios.lookup(spec) is not None:
            return ratios.build("get_ratio", spec, {})
    elif isinstance(spec, Mapping):
        return ratios.build("get_ratio", {"name": "fixed", **spec}, {})
    elif ratios.is_object(spec) and not isinstance(spec, type):
        return spec
    raise AdvlossValueError(
        f"get_ratio: expected 'D:G' (e.g. '5:1'), a ratio name ({ratios.available()}), a config "
        f"dict or a ratio object; received {spec!r}."
    )


_register_builtins("ratio", FixedRatio, AdaptiveRatio)
