"""The objective's compute path: one discriminator or generator step of an ``Objective`` —
augmentation, instance noise, penalties (reusing the logits their forward passes computed), label transforms,
the adversarial loss and the balance statistics.  Private: ``Objective.discriminator`` and
``Objective.generator`` (``advloss.objective``) are the public face.  Nothing here reads a
value on the host."""

from __future__ import annotations

from typing import Any

from advloss._checks import discriminator as check_discriminator
from advloss._objective_plan import (
    augments,
    noise_std,
    penalty_randomness,
    randomness,
    term_names,
)
from advloss._stats import Stats
from advloss.backend import Backend, backend_for, optional_primitive
from advloss.balance import balance_stats, loss_threshold
from advloss.errors import AdvlossValueError
from advloss.labels import apply_labels
from advloss.noise import instance_noise
from advloss.penalties import _Penalty

#: ``(total, terms, stats)``, the fields of ``advloss.ObjectiveOutput``.
Output = tuple[Any, dict[str, Any], dict[str, Any]]


def loss_alone(
    loss: Any, d: Any, real: Any, fake: Any, backend: str | None, replicas: Any
) -> Output:
    """``Objective.discriminator`` of an objective that is a loss alone (``Objective("ns")``),
    called with nothing drawn and no state: ``discriminator``'s values, fewer Python frames."""
    check_discriminator("Objective.discriminator", d)
    b = backend_for(real, fake, backend=backend, where="Objective.discriminator")
    real_logits, fake_logits = d(real), d(fake)
    adversarial = loss.discriminator(real_logits, fake_logits)
    stats = _stats(b, loss, real_logits, fake_logits, None, None, replicas)
    return adversarial, {"adversarial": adversarial}, stats


def discriminator(
    objective: Any,
    d: Any,
    real: Any,
    fake: Any,
    step: Any,
    key: Any,
    draws: Any,
    std: Any,
    backend: str | None,
    states: Any = None,
    regularize: bool | None = None,
    generator_fn: Any = None,
    latent: Any = None,
    replicas: Any = None,
) -> Output:
    """``Objective.discriminator``."""
    where = "Objective.discriminator"
    b, std, keys, given = _prepare(
        objective,
        where,
        d,
        (real, fake),
        real,
        fake,
        "discriminator",
        step,
        key,
        draws,
        std,
        backend,
    )
    aug_p = _augment_p(where, objective, states)
    real_in = _noisy(
        b,
        _augmented(objective, real, "real", keys, given, "discriminator", aug_p, fake),
        "noise.real",
        std,
        keys,
        given,
    )
    fake_in = _noisy(
        b,
        _augmented(objective, fake, "fake", keys, given, "discriminator", aug_p),
        "noise.fake",
        std,
        keys,
        given,
    )

    terms: dict[str, Any] = {}
    real_logits = fake_logits = None
    penalties = objective.penalties
    names = term_names(penalties)
    for name, p in zip(names, penalties, strict=True):
        if getattr(p, "stateful", False):  # runs on the logits, below
            continue
        if getattr(p, "side", "discriminator") == "generator":  # Objective.generator's term
            continue
        p_key, p_draws = penalty_randomness(name, keys, given)
        # `regularize` reaches the built-in penalties only: the plugin protocol has no such
        # keyword (a plugin's lazy schedule reads `step`).
        lazy = {"regularize": regularize} if regularize is not None and _builtin(p) else {}
        if getattr(p, "needs_generator", False):  # zCR: on G(z) and G(z + Δz)
            value, f_out = p.objective_discriminator_term(
                d, fake_in, generator=generator_fn, latent=latent, key=p_key, step=step
            )
            fake_logits = fake_logits if f_out is None else f_out
        elif callable(getattr(p, "term_and_logits", None)):  # hands back the logits it computed
            value, r_out, f_out = p.term_and_logits(
                d, real_in, fake_in, step=step, key=p_key, draws=p_draws, **lazy
            )
            real_logits = real_logits if r_out is None else r_out
            fake_logits = fake_logits if f_out is None else f_out
        elif callable(getattr(p, "draw_specs", None)):
            value = p.term(d, real_in, fake_in, step=step, key=p_key, draws=p_draws)
        else:  # the minimal penalty protocol
            value = p.term(d, real_in, fake_in, step=step, key=p_key)
        terms[name] = value
    if real_logits is None:
        real_logits = d(real_in)
    if fake_logits is None:
        fake_logits = d(fake_in)

    loss = objective.loss
    label_kwargs: dict[str, Any] = {}
    if objective.labels:
        y_real, y_fake = apply_labels(
            b,
            objective.labels,
            real_logits,
            fake_logits,
            keys=keys,
            draws=given,
            real_label=getattr(loss, "real_label", 1.0),
            where=where,
        )
        label_kwargs = {"real_label": y_real, "fake_label": y_fake}
    adversarial = loss.discriminator(real_logits, fake_logits, **label_kwargs)
    new_states: dict[str, Any] = {}
    for name, p in zip(names, penalties, strict=True):
        if getattr(p, "stateful", False) and getattr(p, "side", "") != "generator":
            terms[name], new_states[name] = _stateful_term(
                where, name, p, real_logits, fake_logits, states, step, replicas
            )
    if aug_p is not None:  # the adaptive augmentation's p, moved by this step's r_t
        new_states[objective.augment.name] = _adapted(
            where, b, objective, loss, real_logits, states[objective.augment.name], replicas
        )
    terms = {name: terms[name] for name in names if name in terms}  # in the objective's order
    total = adversarial
    for value in terms.values():
        total = total + value
    stats = _stats(b, loss, real_logits, fake_logits, std, _state_stats(new_states), replicas)
    return total, {"adversarial": adversarial, **terms}, stats


def _state_stats(new_states: dict[str, Any]) -> dict[str, Any]:
    """The next states, as statistics ``"<name>.<field>"`` (no gradient)."""
    return {
        f"{name}.{field}": value
        for name, state in new_states.items()
        for field, value in zip(state._fields, state, strict=True)
    }


def _builtin(penalty: Any) -> bool:
    return isinstance(penalty, _Penalty)


def _replicas(where: str, name: str, p: Any, replicas: Any) -> dict[str, Any]:
    """``{"replicas": replicas}`` for a stateful term that synchronises its state (the
    built-in ones say so with ``takes_replicas``); ``{}`` without replicas."""
    if replicas is None:
        return {}
    if not getattr(p, "takes_replicas", False):
        raise AdvlossValueError(
            f"{where}: the {name!r} term keeps explicit state but does not say how to average "
            f"it over replicas (no takes_replicas attribute), so replicas= cannot be used with "
            f"it; received replicas={replicas!r:.60}."
        )
    return {"replicas": replicas}


def _stateful_term(
    where: str,
    name: str,
    p: Any,
    real_logits: Any,
    fake_logits: Any,
    states: Any,
    step: Any,
    replicas: Any = None,
) -> tuple[Any, Any]:
    """A term with explicit state (LeCam): ``(value, next state)`` on the objective's logits."""
    state = _state_of(where, name, states)
    if step is None:
        raise AdvlossValueError(
            f"{where}: the {name!r} term's moving averages depend on the step: pass "
            f"step=<int or integer tensor>."
        )
    return p.logits_term(
        real_logits, fake_logits, state=state, step=step, **_replicas(where, name, p, replicas)
    )


def _state_of(where: str, name: str, states: Any) -> Any:
    state = states.get(name) if isinstance(states, dict) else None
    if state is None:
        received = "None" if states is None else f"states with keys {sorted(states)}"
        raise AdvlossValueError(
            f"{where}: the {name!r} term keeps explicit state: pass "
            f"states=objective.init_states(<a real batch's logits>) on the first step and "
            f"states=objective.next_states(out, states) after each; received {received}."
        )
    return state


def generator(
    objective: Any,
    d: Any,
    fake: Any,
    real: Any,
    step: Any,
    key: Any,
    draws: Any,
    std: Any,
    backend: str | None,
    features: Any = None,
    generator_fn: Any = None,
    latent: Any = None,
    states: Any = None,
    regularize: bool | None = None,
    replicas: Any = None,
) -> Output:
    """``Objective.generator``."""
    where = "Objective.generator"
    loss = objective.loss
    needs_real = getattr(loss, "generator_needs_real", False)
    if needs_real and real is None:
        raise AdvlossValueError(
            f"{where}: the {loss.name!r} loss's generator term compares fake with real "
            f"logits: pass real=<real batch>."
        )
    b, std, keys, given = _prepare(
        objective, where, d, (fake, real), real, fake, "generator", step, key, draws, std, backend
    )
    aug_p = _augment_p(where, objective, states)
    fake_in = _augmented(objective, fake, "fake", keys, given, "generator", aug_p)
    fake_logits = d(_noisy(b, fake_in, "noise.fake", std, keys, given))
    real_logits = None
    if real is not None:
        real_in = _augmented(objective, real, "real", keys, given, "generator", aug_p)
        real_logits = d(_noisy(b, real_in, "noise.real", std, keys, given))
    if needs_real:
        adversarial = loss.generator(fake_logits, real_logits=real_logits)
    else:
        adversarial = loss.generator(fake_logits)
    terms: dict[str, Any] = {"adversarial": adversarial}
    total = adversarial
    new_states: dict[str, Any] = {}
    for name, p in zip(term_names(objective.penalties), objective.penalties, strict=True):
        if getattr(p, "needs_generator", False):  # zCR's generator term
            p_key, _ = penalty_randomness(name, keys, given)
            terms[name] = p.objective_generator_term(
                fake, generator=generator_fn, latent=latent, key=p_key
            )
            total = total + terms[name]
            continue
        if getattr(p, "side", "discriminator") != "generator":
            continue
        if getattr(p, "stateful", False):  # path_length: on G and its latents, with state
            if generator_fn is None or latent is None:
                raise AdvlossValueError(
                    f"{where}: the {name!r} term differentiates the generator with respect to "
                    f"its latents: pass generator=G and latent=w (G(w) an image batch)."
                )
            p_key, p_draws = penalty_randomness(name, keys, given)
            terms[name], new_states[name] = p.latent_term(
                generator_fn,
                latent,
                state=_state_of(where, name, states),
                step=step,
                key=p_key,
                draws=p_draws,
                regularize=regularize,
                **_replicas(where, name, p, replicas),
            )
            total = total + terms[name]
            continue
        if not isinstance(features, (tuple, list)) or len(features) != 2:
            raise AdvlossValueError(
                f"{where}: the {name!r} term matches D's intermediate features: pass "
                f"features=(real_features, fake_features) (each a tensor or a list of "
                f"tensors, one per layer); received "
                f"{'None' if features is None else type(features).__name__}."
            )
        terms[name] = p.features_term(*features)
        total = total + terms[name]
    real_stats = None if real_logits is None else b.stop_gradient(real_logits)
    stats = _stats(b, loss, real_stats, fake_logits, std, _state_stats(new_states), replicas)
    return total, terms, stats


def _prepare(
    objective: Any,
    where: str,
    d: Any,
    values: tuple[Any, Any],
    real: Any,
    fake: Any,
    side: str,
    step: Any,
    key: Any,
    draws: Any,
    std: Any,
    backend: str | None,
) -> tuple[Backend, Any, dict[str, Any], dict[str, Any]]:
    """The backend, the noise std, the random sources and the explicit draws of a call."""
    check_discriminator(where, d)
    b = backend_for(*values, backend=backend, where=where)
    std = noise_std(where, objective.instance_noise, step, std)
    if (
        not draws
        and not objective.penalties
        and objective.augment is None
        and (objective.instance_noise is None and not objective.labels)
    ):  # nothing is drawn: no draw plan, no key split (the common eager "ns" call)
        return b, std, {}, {}
    real_shape = None if real is None else b.shape(real)
    specs = objective.draw_specs(real_shape, b.shape(fake), side=side)
    keys, given = randomness(
        where, b, objective.penalties, specs, key, draws, std, objective.augment
    )
    return b, std, keys, given


def _augmented(
    objective: Any,
    x: Any,
    batch: str,
    keys: Any,
    draws: Any,
    side: str,
    p: Any = None,
    fake: Any = None,
) -> Any:
    """``x`` through the objective's augmentation (if any), with its share of the randomness:
    the source of its first draw and its explicit draws (``augment.<batch>.<name>``); ``p`` is
    an adaptive augmentation's current probability, ``fake`` the fake batch APA draws from."""
    augment = objective.augment
    if augment is None or not augments(augment, side, batch):
        return x
    key, given = penalty_randomness(f"augment.{batch}", keys, draws)
    adaptive = {} if p is None else {"p": p}
    if callable(getattr(augment, "augment_real", None)):  # APA: reals replaced by fakes
        return augment.augment_real(x, fake, key=key, draws=given or None, **adaptive)
    if callable(getattr(augment, "draw_specs", None)):
        return augment.augment(x, key=key, draws=given or None, **adaptive)
    return augment.augment(x, key=key)  # the minimal augmentation protocol


def _augment_p(where: str, objective: Any, states: Any) -> Any:
    """An adaptive augmentation's current probability, from its state in ``states`` (None when
    the objective's augmentation, if any, is not adaptive)."""
    augment = objective.augment
    if augment is None or not getattr(augment, "stateful", False):
        return None
    return _state_of(where, augment.name, states).p


def _adapted(
    where: str,
    b: Backend,
    objective: Any,
    loss: Any,
    real_logits: Any,
    state: Any,
    replicas: Any = None,
) -> Any:
    """The adaptive augmentation's next state: its controller's update with this step's r_t
    (on the logits of the batch D saw as real, as ``stats["r_t"]``; averaged over
    ``replicas``, whose global batch the term's ``batch_size`` must then give)."""
    augment = objective.augment
    n = b.shape(real_logits)[0]
    if replicas is not None and augment.batch_size is None:
        raise AdvlossValueError(
            f"{where}: with replicas= the adaptive {augment.name!r} term moves p by the global "
            f"batch (batch_size · interval / (ada_kimg · 1000)), which one replica's shard does "
            f"not show: set batch_size= on the term to the global batch, e.g. "
            f"{augment.name}(target={augment.target}, batch_size=64)."
        )
    if augment.batch_size is None and not isinstance(n, int):
        raise AdvlossValueError(
            f"{where}: the adaptive {augment.name!r} term moves p by batch_size · interval / "
            f"(ada_kimg · 1000) and the real batch's size is not known while tracing (shape "
            f"{tuple(b.shape(real_logits))}): set batch_size= on the term, e.g. "
            f"{augment.name}(target={augment.target}, batch_size=64)."
        )
    threshold, higher_is_real = loss_threshold(loss)
    r_t = balance_stats(
        real_logits, None, threshold=threshold, higher_is_real=higher_is_real, backend=b.name
    )["r_t"]
    controller = augment.controller(n if isinstance(n, int) else 1)
    return controller.update(state, b.cast(r_t, "float32"), replicas=replicas)


def _noisy(b: Backend, x: Any, name: str, std: Any, keys: Any, draws: Any) -> Any:
    if std is None:
        return x
    return instance_noise(x, std, key=keys.get(name), noise=draws.get(name), backend=b.name)


def _stats(
    b: Backend,
    loss: Any,
    real_logits: Any,
    fake_logits: Any,
    std: Any,
    extra: dict[str, Any] | None = None,
    replicas: Any = None,
) -> Any:
    """The balance statistics (then ``extra``): a ``dict`` when the logits are traced (a
    compiled graph drops what is not used), else a ``Stats`` computing them on first access —
    in eager mode a loop that never reads them pays nothing.  Averaged over ``replicas``
    (always computed then: a collective must run on every replica, read or not)."""

    def compute() -> dict[str, Any]:
        threshold, higher_is_real = loss_threshold(loss)
        stats = balance_stats(
            real_logits,
            fake_logits,
            threshold=threshold,
            higher_is_real=higher_is_real,
            replicas=replicas,
        )
        if std is not None:
            dtype = b.dtype(stats["d_fake"])
            stats["noise_std"] = (
                b.full(float(std), dtype, fake_logits)
                if isinstance(std, (int, float))
                else b.cast(b.stop_gradient(std), dtype)
            )
        return stats

    concrete = optional_primitive(b, "is_concrete")  # optional primitive: see backend.Backend
    # The logits of one call are traced or concrete together: one of them tells (fake's is
    # always computed); a tensor std (a controller's) is checked too.
    if (
        replicas is None
        and concrete is not None
        and concrete(fake_logits)
        and (std is None or isinstance(std, (int, float)) or concrete(std))
    ):
        return Stats(compute, extra)
    return {**compute(), **(extra or {})}
