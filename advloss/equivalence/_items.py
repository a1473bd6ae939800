"""What the equivalence suite compares: one ``Item`` per registered loss side, penalty,
spectral-norm entry point, transform and objective — each a function of named NumPy inputs,
evaluated in every framework."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from advloss.backend import get_backend

Inputs = dict[str, np.ndarray]


@dataclasses.dataclass
class Case:
    """One input set of an item: named NumPy inputs and the names to differentiate."""

    name: str
    inputs: Inputs
    diff: tuple[str, ...] = ()


@dataclasses.dataclass
class Item:
    """A comparable unit: ``build(framework)`` returns ``f(case, tensors) -> {quantity: tensor}``.

    ``cases(quick)`` gives the input sets (all are evaluated in one call of one compiled
    function per framework, dtype and mode).  ``runner`` (optional) replaces the generic
    evaluation for items that are not a pure function of tensors (the stateful spectral-norm
    layers): ``runner(framework, dtype, mode, quick) -> {(case, quantity): array}``.
    """

    name: str
    description: str
    cases: Callable[[bool], list[Case]]
    build: Callable[[str], Callable[[Case, dict[str, Any]], dict[str, Any]]] | None = None
    modes: tuple[str, ...] = ("eager", "compiled")
    dtypes: tuple[str, ...] = ("float32", "float64")
    frameworks: tuple[str, ...] = ("torch", "tensorflow", "jax")
    runner: Callable[[str, str, str, bool], dict[tuple[str, str], np.ndarray]] | None = None
    #: Whether frameworks may cover different cases (compare the cases they share).
    partial: bool = False


# ---------------------------------------------------------------------------------- losses


def _logit_cases(quick: bool, needs_real: bool, side: str) -> list[Case]:
    rng = np.random.default_rng(0)
    extreme = np.array([-1e4, -3e3, -80.0, -20.0, -1.0, 0.0, 0.5, 20.0, 80.0, 3e3, 1e4])
    specs = [
        ("random", rng.normal(0.5, 2.0, (8, 1)), rng.normal(-0.5, 2.0, (8, 1))),
        ("extreme", extreme.reshape(-1, 1), -extreme[::-1].reshape(-1, 1) * 0.7),
        ("patchgan", rng.normal(0.3, 1.5, (4, 1, 6, 6)), rng.normal(-0.3, 1.5, (4, 1, 6, 6))),
        ("batch_of_one", np.array([[1.3]]), np.array([[-0.4]])),
    ]
    if quick:
        specs = specs[:1]
    cases = []
    for name, real, fake in specs:
        if side == "discriminator" or needs_real:
            cases.append(
                Case(
                    name, {"real_logits": real, "fake_logits": fake}, ("real_logits", "fake_logits")
                )
            )
        else:
            cases.append(Case(name, {"fake_logits": fake}, ("fake_logits",)))
    return cases


def _provided_by(registry: Any, name: str) -> str:
    """`` [not built in: <origin>]`` for a name that is not built in: a user running the suite sees
    which plugin or registration each non-built-in item verifies."""
    origin = registry.origin(name)
    return "" if origin == "built-in" else f" [not built in: {origin}]"


def loss_items() -> list[Item]:
    from advloss.registry import _LOSS_REGISTRY, available_losses, get_loss

    items = []
    for name in available_losses():
        try:
            loss = get_loss(name)
        except Exception as err:  # a plugin that cannot be built with defaults
            message = f"{type(err).__name__}: {err}"

            def broken(quick: bool, message: str = message) -> list[Case]:
                raise RuntimeError(
                    f"cannot build the loss with default hyperparameters ({message})"
                )

            items.append(Item(f"loss:{name}", "unbuildable loss", broken))
            continue
        needs_real = bool(getattr(loss, "generator_needs_real", False))
        for side in ("discriminator", "generator"):

            def build(
                framework: str, loss: Any = loss, side: str = side, needs_real: bool = needs_real
            ) -> Any:
                def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
                    if side == "discriminator":
                        return {"value": loss.discriminator(t["real_logits"], t["fake_logits"])}
                    if needs_real:
                        return {
                            "value": loss.generator(t["fake_logits"], real_logits=t["real_logits"])
                        }
                    return {"value": loss.generator(t["fake_logits"])}

                return f

            items.append(
                Item(
                    f"loss:{name}.{side}",
                    f"{name} {side} loss: value and gradients w.r.t. the logits"
                    + _provided_by(_LOSS_REGISTRY, name),
                    functools.partial(_logit_cases, needs_real=needs_real, side=side),
                    build,
                )
            )
    return items


# ------------------------------------------------------------------------------- penalties


def _penalty_cases(penalty: Any, quick: bool) -> list[Case]:
    from advloss._objective_plan import penalty_draw_specs
    from advloss.equivalence.nets import INPUT_SHAPES, weights

    rng = np.random.default_rng(1)
    cases = []
    images = bool(getattr(penalty, "image_batches", False))  # cr, bcr: transforms of images
    for kind, n in (("mlp", 5), ("conv", 3)):
        if (quick and kind == "conv" and not images) or (images and kind == "mlp"):
            continue
        shape = (n, *INPUT_SHAPES[kind])
        inputs: Inputs = {f"params.{k}": v for k, v in weights(kind).items()}
        inputs["real"] = rng.normal(size=shape)
        inputs["fake"] = rng.normal(size=shape)
        specs = penalty_draw_specs(penalty, shape, shape)
        for draw, (dist, dshape) in specs.items():
            dshape = cast("tuple[int, ...]", dshape)  # static: built from the concrete `shape`
            inputs[f"draw.{draw}"] = (
                rng.random(dshape) if dist == "uniform" else rng.normal(size=dshape)
            )
        if getattr(penalty, "needs_generator", False):  # zcr: a linear G from latents (n, 4)
            inputs["z"], inputs["draw.noise"] = rng.normal(size=(n, 4)), rng.normal(size=(n, 4))
            inputs["params.G"] = rng.normal(0, 0.5, (4, int(np.prod(INPUT_SHAPES[kind]))))
        cases.append(Case(kind, inputs, tuple(k for k in inputs if k.startswith("params."))))
    return cases


#: The images of the generator-side items with a generator (path_length): (C, H, W).
_IMAGE = (2, 3, 3)


def _latent_cases(penalty: Any, quick: bool) -> list[Case]:
    """A small generator G(w) = softplus(flat(w) A) as images, on latents (N, D) and
    StyleGAN-like broadcast latents (N, num_ws, D); N(0, I) noise of the images' shape."""
    rng = np.random.default_rng(5)
    cases = []
    for name, shape in (("flat", (4, 5)), ("ws", (3, 2, 4))):
        if quick and name == "ws":
            continue
        inputs: Inputs = {
            "latent": rng.normal(size=shape),
            "params.A": rng.normal(0.0, 0.5, (int(np.prod(shape[1:])), int(np.prod(_IMAGE)))),
            "draw.noise": rng.normal(size=(shape[0], *_IMAGE)),
            "state": np.array(0.3),
        }
        cases.append(Case(name, inputs, ("params.A", "latent")))
    return cases


def _build_latent(penalty: Any) -> Callable[[str], Any]:
    def build(framework: str) -> Any:
        b = get_backend(framework)

        def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
            def generator(w: Any) -> Any:
                n = cast("int", b.shape(w)[0])  # static: the cases' latents
                flat = b.matmul(b.reshape(w, (n, -1)), t["params.A"])
                return b.reshape(b.softplus(flat), (n, *_IMAGE))

            state = penalty.state_type(t["state"])
            value, new = penalty.latent_term(
                generator, t["latent"], state=state, step=0, draws={"noise": t["draw.noise"]}
            )
            return {"value": value, "state": new[0]}

        return f

    return build


def penalty_items() -> list[Item]:
    from advloss.equivalence.nets import INPUT_SHAPES, forward
    from advloss.registry import _PENALTY_REGISTRY, available_penalties, get_penalty

    items = []
    for name in available_penalties():
        penalty = get_penalty(name)
        stateful = bool(getattr(penalty, "stateful", False))
        if callable(getattr(penalty, "latent_term", None)):  # on a generator and its latents
            items.append(
                Item(
                    f"penalty:{name}",
                    f"{name} on a small generator (state 0.3), with latents "
                    f"(N, D) and (N, num_ws, D): value, next state and gradients w.r.t. G's "
                    f"parameters and the latents" + _provided_by(_PENALTY_REGISTRY, name),
                    functools.partial(_latent_cases, penalty),
                    _build_latent(penalty),
                )
            )
            continue

        def build(framework: str, penalty: Any = penalty) -> Any:
            def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
                fwd = forward(framework, case.name)
                params = {
                    k.removeprefix("params."): v for k, v in t.items() if k.startswith("params.")
                }
                draws = {k.removeprefix("draw."): v for k, v in t.items() if k.startswith("draw.")}
                if getattr(penalty, "side", "discriminator") == "generator":  # on features
                    real_logits, fake_logits = fwd(params, t["real"]), fwd(params, t["fake"])
                    return {"value": penalty.features_term(real_logits, fake_logits)}
                if getattr(penalty, "stateful", False):  # on the logits, from its initial state
                    real_logits, fake_logits = fwd(params, t["real"]), fwd(params, t["fake"])
                    state = penalty.init(real_logits)
                    value, _ = penalty.logits_term(
                        real_logits, fake_logits, state=state, step=1 << 30
                    )
                    return {"value": value}
                if getattr(penalty, "needs_generator", False):  # zcr: both of its terms
                    b, shape, gen_w = (
                        get_backend(framework),
                        INPUT_SHAPES[case.name],
                        params.pop("G"),
                    )
                    g = lambda z: b.reshape(b.matmul(z, gen_w), (-1, *shape))  # noqa: E731
                    disc = lambda x: fwd(params, x)  # noqa: E731
                    return {
                        "value": penalty.discriminator_term(disc, g, t["z"], noise=draws["noise"]),
                        "generator term": penalty.generator_term(g, t["z"], noise=draws["noise"]),
                    }
                kwargs: dict[str, Any] = {"step": 0}
                if draws:
                    kwargs["draws"] = draws
                value = penalty.term(lambda x: fwd(params, x), t["real"], t["fake"], **kwargs)
                return {"value": value}

            return f

        items.append(
            Item(
                f"penalty:{name}",
                f"{name} penalty on an MLP and a conv discriminator"
                + (" (its logits, one update from its initial state)" if stateful else "")
                + (
                    " (D's outputs as the features)"
                    if getattr(penalty, "side", "discriminator") == "generator"
                    else " (and a linear generator: both terms; w.r.t. G's weights too)"
                    if getattr(penalty, "needs_generator", False)
                    else ""
                )
                + ": value and gradients w.r.t. D's parameters"
                + _provided_by(_PENALTY_REGISTRY, name),
                functools.partial(_penalty_cases, penalty),
                build,
            )
        )
    return items


# ------------------------------------------------------------------------ spectral norm


def _sn_cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(2)
    cases = []
    for name, shape in (("dense", (6, 5)), ("conv", (4, 3, 3, 3))):
        if quick and name == "conv":
            continue
        out, rest = shape[0], int(np.prod(shape[1:]))
        u, v = rng.normal(size=out), rng.normal(size=rest)
        inputs = {
            "weight": rng.normal(size=shape),
            "u": u / np.linalg.norm(u),
            "v": v / np.linalg.norm(v),
            "probe": rng.normal(size=shape),
        }
        cases.append(Case(name, inputs, ("weight",)))
    return cases


def _build_sn(framework: str) -> Any:
    from advloss.spectral import spectral_normalize

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        state = spectral_normalize(t["weight"], t["u"], t["v"], n_power_iterations=2)
        # The probe makes the gradient w.r.t. the weight non-trivial (through σ and W / σ).
        return {
            "weight/sigma * probe": state.weight * t["probe"],
            "sigma": state.sigma,
            "u": get_backend(framework).stop_gradient(state.u),
        }

    return f


def _gn_cases(quick: bool) -> list[Case]:
    from advloss.equivalence.nets import INPUT_SHAPES, weights

    rng = np.random.default_rng(6)
    cases = []
    for kind, n in (("mlp", 5), ("conv", 3)):
        if quick and kind == "conv":
            continue
        inputs: Inputs = {f"params.{k}": v for k, v in weights(kind).items()}
        inputs["x"] = rng.normal(size=(n, *INPUT_SHAPES[kind]))
        cases.append(Case(kind, inputs, (*(k for k in inputs if k != "x"), "x")))
    return cases


def _build_gn(framework: str) -> Any:
    from advloss.equivalence.nets import forward
    from advloss.gradient_norm import gradient_normalize

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        fwd = forward(framework, case.name)
        params = {k.removeprefix("params."): v for k, v in t.items() if k.startswith("params.")}
        return {"value": gradient_normalize(lambda x: fwd(params, x))(t["x"])}

    return f


def _sn_front_end_runner(
    framework: str, dtype: str, mode: str, quick: bool
) -> dict[tuple[str, str], np.ndarray]:
    from advloss.equivalence.spectral import FRONT_END_KINDS, front_end_results

    out = {}
    kinds = FRONT_END_KINDS[framework][:1] if quick else FRONT_END_KINDS[framework]
    for kind in kinds:
        for i, call in enumerate(front_end_results(framework, kind)):
            for quantity, value in call.items():
                out[(f"{kind}.call{i}", quantity)] = value
    return out


def spectral_items() -> list[Item]:
    return [
        Item(
            "sn:spectral_normalize",
            "spectral_normalize (2 power iterations): W/σ, σ, u and the gradient w.r.t. W",
            _sn_cases,
            _build_sn,
        ),
        Item(
            "gn:gradient_normalize",
            "gradient_normalize on an MLP and a conv discriminator: D̂(x) and its gradients "
            "w.r.t. D's parameters and x (through D's second derivatives)",
            _gn_cases,
            _build_gn,
        ),
        Item(
            "sn:front_ends",
            "advloss.nn.torch / .keras / .flax layers: outputs, kernel gradients and u over "
            "two training calls and one eval call (float64, eager)",
            lambda quick: [],
            modes=("eager",),
            dtypes=("float64",),
            runner=_sn_front_end_runner,
            partial=True,  # conv_transpose: torch and Keras only (Flax flips the kernel)
        ),
    ]


# ------------------------------------------------------------------------------ transforms


def _noise_cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(3)
    return [
        Case(
            "images",
            {"x": rng.normal(size=(4, 3, 5, 5)), "eps": rng.normal(size=(4, 3, 5, 5))},
            ("x",),
        )
    ]


def _build_noise(framework: str) -> Any:
    from advloss.noise import instance_noise

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        return {"x + 0.3 eps": instance_noise(t["x"], 0.3, noise=t["eps"])}

    return f


def _augment_cases(quick: bool) -> list[Case]:
    """Non-square images whose sides are not multiples of 8, and draws at the ranges' ends."""
    rng = np.random.default_rng(6)
    n, h, w = 4, 12, 10  # shifts up to [12/8] = 2 and [10/8] = 1; cutout 6 x 5
    inputs = {"x": rng.normal(size=(n, 3, h, w)), "w": rng.normal(size=(n, 3, h, w))}
    for name in ("brightness", "saturation", "contrast"):
        inputs[f"draw.{name}"] = rng.random(n)
    inputs["draw.translation"] = np.array([[-2, 1], [2, -1], [0, 0], [1, -1]], dtype=float)
    inputs["draw.cutout"] = np.array([[0, 9], [12, 0], [6, 5], [3, 7]], dtype=float)
    inputs["fake"], inputs["draw.apa"] = rng.normal(size=(n, 3, h, w)), rng.random(n)
    return [Case("images", inputs, ("x", "fake"))]


def _build_augment(framework: str) -> Any:
    from advloss.augment import apa, diffaugment

    b = get_backend(framework)

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        draws = {k.removeprefix("draw."): v for k, v in t.items() if k.startswith("draw.")}
        for k in ("translation", "cutout"):  # integers, carried as floats by the suite
            draws[k] = b.cast(draws[k], "int32")
        u = draws.pop("apa")
        return {
            "diffaugment(x) * w": diffaugment(t["x"], draws=draws) * t["w"],
            "apa(x, fake, 0.4) * w": apa(t["x"], t["fake"], 0.4, draws={"apa": u}) * t["w"],
        }

    return f


def _ada_draws(rng: Any, n: int, ops: str, channels: int) -> Inputs:
    """``draw.<name>`` inputs for ``ada(..., ops=ops)`` from its ``draw_specs``."""
    from advloss.augment import ADA

    specs = ADA(ops=ops).draw_specs((n, channels, 1, 1))
    return {
        f"draw.{name}": rng.random(shape) if dist == "uniform" else rng.normal(size=shape)
        for name, (dist, shape) in specs.items()
    }


#: The transforms R1 runs through, per case of ``transform:ada``.
_ADA_R1_OPS = {"r1_conv": "bg", "r1_conv_quick": "rotate,xint"}


def _ada_cases(quick: bool) -> list[Case]:
    """A non-square RGB batch through every bgc transform (values and d/dx), and R1 through
    the geometric ones on a conv D (its gradient w.r.t. D's parameters is a second derivative:
    the backward pass of the resampling, differentiated)."""
    from advloss.equivalence.nets import INPUT_SHAPES, weights

    rng = np.random.default_rng(7)
    n, h, w = 4, 8, 7
    images: Inputs = {"x": rng.normal(size=(n, 3, h, w)), "w": rng.normal(size=(n, 3, h, w))}
    images |= _ada_draws(rng, n, "bgc", 3)
    conv: Inputs = {f"params.{k}": v for k, v in weights("conv").items()}
    conv["real"] = rng.normal(size=(3, *INPUT_SHAPES["conv"]))
    # --quick: R1 through two transforms only (eager JAX compiles each op once per shape)
    case = "r1_conv_quick" if quick else "r1_conv"
    conv |= _ada_draws(rng, 3, _ADA_R1_OPS[case], INPUT_SHAPES["conv"][0])
    r1 = Case(case, conv, tuple(k for k in conv if k.startswith("params.")))
    return [r1] if quick else [Case("images", images, ("x",)), r1]


def _build_ada(framework: str) -> Any:
    from advloss.augment import ada
    from advloss.equivalence.nets import forward
    from advloss.penalties import r1_penalty

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        draws = {k.removeprefix("draw."): v for k, v in t.items() if k.startswith("draw.")}
        if case.name == "images":
            return {"ada(x, 0.7) * w": ada(t["x"], 0.7, draws=draws) * t["w"]}
        fwd = forward(framework, "conv")
        params = {k.removeprefix("params."): v for k, v in t.items() if k.startswith("params.")}
        ops = _ADA_R1_OPS[case.name]
        d = lambda x: fwd(params, ada(x, 0.8, ops=ops, draws=draws))  # noqa: E731
        return {"r1 through ada(x, 0.8)": r1_penalty(d, t["real"], gamma=1.0)}

    return f


def _label_cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(4)
    return [
        Case(
            "patchgan",
            {
                "real_logits": rng.normal(size=(16, 1, 2, 2)),
                "fake_logits": rng.normal(size=(16, 1, 2, 2)),
                "flip.real": rng.random(16),
                "flip.fake": rng.random(16),
                "noisy.real": rng.random(16),
                "noisy.fake": rng.random(16),
            },
        )
    ]


def _build_labels(framework: str) -> Any:
    from advloss.labels import FlipLabels, NoisyLabels, apply_labels

    b = get_backend(framework)
    transforms = [NoisyLabels(real=(0.7, 1.2), fake=(0.0, 0.3)), FlipLabels(p=0.3)]

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        draws = {k: t[k] for k in ("flip.real", "flip.fake", "noisy.real", "noisy.fake")}
        y_r, y_f = apply_labels(b, transforms, t["real_logits"], t["fake_logits"], draws=draws)
        return {"real labels": y_r, "fake labels": y_f}

    return f


_SCHEDULE_STEPS = np.array([0.0, 1.0, 99.0, 100.0, 250.0, 1000.0, 1e4, 1e5])


def _schedule_cases(quick: bool) -> list[Case]:
    return [Case("steps", {"steps": _SCHEDULE_STEPS})]


def _build_schedules(framework: str) -> Any:
    from advloss.schedules import Constant, Cosine, Exponential, Linear, Piecewise

    schedules = [
        Constant(value=0.1),
        Linear(start=0.1, end=0.0, steps=1000, begin=100),
        Cosine(start=0.2, end=0.01, steps=1000),
        Exponential(start=0.1, half_life=250.0),
        Piecewise(boundaries=(100, 1000), values=(0.1, 0.05, 0.0)),
    ]

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        steps = t["steps"]
        return {
            s.name: get_backend(framework).reshape(
                _stack(framework, [s(steps[i]) for i in range(len(_SCHEDULE_STEPS))]), (-1,)
            )
            for s in schedules
        }

    return f


def _stack(framework: str, values: list[Any]) -> Any:
    if framework == "torch":
        import torch

        return torch.stack(values)
    if framework == "tensorflow":
        import tensorflow as tf

        return tf.stack(values)
    import jax.numpy as jnp

    return jnp.stack(values)


OBJECTIVES = {
    "discriminator": "ns(real_label=0.9) + r1(gamma=1) + gp + flip(p=0.3) + noise(0.1)",
    "generator": "ragan + noise(0.1)",
}


def _objective_cases(side: str, quick: bool) -> list[Case]:
    from advloss.equivalence.nets import weights
    from advloss.objective import Objective

    objective = Objective.parse(OBJECTIVES[side])
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    inputs: Inputs = {f"params.{k}": v for k, v in weights("mlp").items()}
    inputs["real"], inputs["fake"] = real, fake
    for name, (dist, shape) in objective.draw_specs(real.shape, fake.shape, side=side).items():
        size: Any = shape
        inputs[f"draw.{name}"] = rng.random(size) if dist == "uniform" else rng.normal(size=size)
    diff = tuple(k for k in inputs if k.startswith("params.")) + (
        ("fake",) if side == "generator" else ()
    )
    return [Case("mlp", inputs, diff)]


def _build_objective(side: str) -> Callable[[str], Any]:
    def build(framework: str) -> Any:
        from advloss.equivalence.nets import forward
        from advloss.objective import Objective

        objective = Objective.parse(OBJECTIVES[side])
        fwd = forward(framework, "mlp")

        def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
            params = {k.removeprefix("params."): v for k, v in t.items() if k.startswith("params.")}
            draws = {k.removeprefix("draw."): v for k, v in t.items() if k.startswith("draw.")}
            disc = lambda x: fwd(params, x)  # noqa: E731
            if side == "discriminator":
                out = objective.discriminator(disc, t["real"], t["fake"], step=0, draws=draws)
            else:
                out = objective.generator(disc, t["fake"], real=t["real"], step=0, draws=draws)
            return {"total": out.total, **{f"stats.{k}": v for k, v in out.stats.items()}}

        return f

    return build


#: The adaptive augmentation terms: p read from the state (a tensor), r_t moving it.
ADAPTIVE = {
    "ada": "hinge + r1(gamma=1) + ada(p=0.4, ops='xflip,rotate90,xint', target=0.6, "
    "ada_kimg=1, interval=1)",
    "apa": "ns + apa(p=0.5, target=0.6, ada_kimg=1, interval=1)",
}


def _adaptive_cases(quick: bool) -> list[Case]:
    from advloss.equivalence.nets import INPUT_SHAPES, weights
    from advloss.objective import Objective

    rng = np.random.default_rng(11)
    shape = (3, *INPUT_SHAPES["conv"])
    cases = []
    for name, text in ADAPTIVE.items():
        inputs: Inputs = {f"params.{k}": v for k, v in weights("conv").items()}
        inputs["real"], inputs["fake"] = rng.normal(size=shape), rng.normal(size=shape)
        inputs["state.p"] = np.array(0.45)
        for draw, (dist, dshape) in Objective.parse(text).draw_specs(shape, shape).items():
            size: Any = dshape
            inputs[f"draw.{draw}"] = (
                rng.random(size) if dist == "uniform" else rng.normal(size=size)
            )
        diff = (*(k for k in inputs if k.startswith("params.")), "real")
        cases.append(Case(name, inputs, diff))
    return cases


def _build_adaptive(framework: str) -> Any:
    from advloss.augment import AdaptiveProbabilityState
    from advloss.equivalence.nets import forward
    from advloss.objective import Objective

    fwd = forward(framework, "conv")
    b = get_backend(framework)
    objectives = {name: Objective.parse(text) for name, text in ADAPTIVE.items()}

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        objective = objectives[case.name]
        params = {k.removeprefix("params."): v for k, v in t.items() if k.startswith("params.")}
        draws = {k.removeprefix("draw."): v for k, v in t.items() if k.startswith("draw.")}
        p = b.cast(t["state.p"], "float32")
        zero = b.full(0.0, "float32", p)
        states = {case.name: AdaptiveProbabilityState(p, zero, zero)}
        out = objective.discriminator(
            lambda x: fwd(params, x), t["real"], t["fake"], draws=draws, states=states
        )
        nxt = objective.next_states(out, states)[case.name]
        return {"total": out.total, "r_t": out.stats["r_t"], "next p": nxt.p}

    return f


#: The recipe items: R3GAN's discriminator objective with γ on its cosine, at a step given as
#: a tensor (the schedule then runs in the tensors' dtype inside the compiled function).
RECIPE = "r3gan(gamma=0.8, steps=40)"


def _recipe_cases(quick: bool) -> list[Case]:
    from advloss.equivalence.nets import weights

    rng = np.random.default_rng(7)
    inputs: Inputs = {f"params.{k}": v for k, v in weights("mlp").items()}
    inputs["real"], inputs["fake"] = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    inputs["step"] = np.array(13.0)  # carried as a float by the suite, cast to int32
    return [Case("mlp", inputs, tuple(k for k in inputs if k.startswith("params.")))]


def _build_recipe(framework: str) -> Any:
    from advloss.equivalence.nets import forward
    from advloss.objective import Objective

    objective = Objective.parse(RECIPE)
    fwd = forward(framework, "mlp")
    b = get_backend(framework)

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        params = {k.removeprefix("params."): v for k, v in t.items() if k.startswith("params.")}
        step = b.cast(t["step"], "int32")
        out = objective.discriminator(lambda x: fwd(params, x), t["real"], t["fake"], step=step)
        return {"total": out.total, **{f"terms.{k}": v for k, v in out.terms.items()}}

    return f


def _combine_cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(7)
    inputs = {
        "x": rng.normal(size=(4, 2, 3, 3)),
        "target": rng.normal(size=(4, 2, 3, 3)),
        "v": rng.normal(0, 0.3, (2, 3, 3)),
    }
    return [Case("images", inputs, ("x", "v"))]


def _build_combine(framework: str) -> Any:
    from advloss.combine import combine_adversarial_loss

    b = get_backend(framework)

    def f(case: Case, t: dict[str, Any]) -> dict[str, Any]:
        def main(x: Any) -> Any:  # a mean square "reconstruction" loss
            d = x - t["target"]
            return b.mean(d * d)

        def adv(x: Any) -> Any:  # the non-saturating G loss of a linear D
            return b.mean(b.softplus(-b.sum_per_sample(x * t["v"])))

        value, w = combine_adversarial_loss(
            main, adv, t["x"], gradient_ratio=2.5, return_weight=True
        )
        return {"combined": value, "weight": w}

    return f


def recipe_items() -> list[Item]:
    return [
        Item(
            "recipe:r3gan",
            f"Objective.parse({RECIPE!r}).discriminator at a tensor step (γ on its cosine): "
            f"total, terms and gradients w.r.t. D's parameters",
            _recipe_cases,
            _build_recipe,
        )
    ]


def transform_items() -> list[Item]:
    return [
        Item(
            "combine:gradient_ratio",
            "combine_adversarial_loss(gradient_ratio=2.5) of a mean square and a linear D's "
            "ns generator loss: the combined loss, the weight and the gradients",
            _combine_cases,
            _build_combine,
        ),
        Item(
            "transform:instance_noise",
            "instance_noise with explicit draws: value and gradient",
            _noise_cases,
            _build_noise,
        ),
        Item(
            "transform:augment",
            "diffaugment (color, translation, cutout) and apa with explicit draws: values and "
            "gradients w.r.t. the images (fake: zero, it is detached)",
            _augment_cases,
            _build_augment,
        ),
        Item(
            "transform:ada",
            "ada (bgc) with explicit draws: values and gradients w.r.t. the images; R1 through "
            "its geometric transforms on a conv D and R1's gradients w.r.t. D's parameters "
            "(second order through the resampling)",
            _ada_cases,
            _build_ada,
        ),
        Item(
            "transform:labels",
            "noisy labels then flips, on shared uniform draws",
            _label_cases,
            _build_labels,
        ),
        Item(
            "transform:schedules",
            "constant/linear/cosine/exponential/piecewise at tensor steps (float32 by design)",
            _schedule_cases,
            _build_schedules,
            dtypes=("float32",),
        ),
        Item(
            "objective:adaptive_augment",
            f"adaptive augmentation terms {list(ADAPTIVE.values())}: p from the state, "
            f"total, r_t and the next p, gradients w.r.t. D's parameters and the reals",
            _adaptive_cases,
            _build_adaptive,
        ),
        *[
            Item(
                f"objective:{side}",
                f"Objective.parse({OBJECTIVES[side]!r}).{side}: total, stats and gradients",
                functools.partial(_objective_cases, side),
                _build_objective(side),
            )
            for side in ("discriminator", "generator")
        ],
    ]


def collect_items() -> list[Item]:
    """Every item, from what is registered now (plugins included)."""
    return [*loss_items(), *penalty_items(), *spectral_items(), *transform_items(), *recipe_items()]
