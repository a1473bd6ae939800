"""The DCGAN in JAX: Flax linen networks, optax's Adam, one ``jax.jit``-compiled step per network
with advloss's objective inside it.

    python -m reference_trainers.dcgan --framework jax [options of the PyTorch trainer]

The same architecture (:mod:`reference_trainers.dcgan_spec`), data order, initial weights,
latents and random numbers (:mod:`reference_trainers.arrays`) as ``--framework torch
--numpy-rng``, so the three frameworks' curves can be compared step for step
(``python -m reference_trainers.xframework``).  Differences from the PyTorch trainer: NHWC
layout, no AMP / DDP / ``--compile`` (the steps are always jitted), checkpoints are
``checkpoint.npz``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, NamedTuple

import numpy as np

import advloss
from reference_trainers import common, distributed
from reference_trainers.arrays import ArrayLoop, eval_latents, fixed_latents, restore
from reference_trainers.augmentation import convert_draws
from reference_trainers.common import TrainerError
from reference_trainers.config import DCGANConfig
from reference_trainers.data import Batches, load, training_subset
from reference_trainers.dcgan_spec import (
    BN_MOMENTUM,
    KERNEL,
    NORM_EPSILON,
    Layer,
    kernel_channels_last,
    numpy_dcgan,
    v_channels_last,
)


def _jax() -> Any:
    try:
        import flax.linen  # noqa: F401
        import jax
        import optax  # noqa: F401
    except ImportError as err:
        raise TrainerError(
            f"--framework jax needs jax, flax and optax ({err.name} is not installed): "
            f"pip install 'advloss[jax]'"
        ) from None
    return jax


def build_modules(dtype: Any) -> tuple[Any, Any]:
    """The Flax modules (defined here so that importing this file needs no JAX)."""
    import flax.linen as fnn
    import jax.numpy as jnp

    from advloss.nn.flax import SpectralNorm

    class Net(fnn.Module):
        """A :mod:`~reference_trainers.dcgan_spec` layer list in Flax (NHWC); layer ``i`` is
        named ``l{i}``, its spectral-norm wrapper ``l{i}_sn``.  ``upto``: run the first
        ``upto`` layers only (the same parameters; the others are not touched)."""

        layers: tuple[Layer, ...]
        spectral_norm: bool = False

        @fnn.compact
        def __call__(self, x: Any, train: bool, upto: int | None = None) -> Any:
            kw = {"dtype": dtype, "param_dtype": dtype}
            for i, layer in enumerate(self.layers[:upto]):
                name, s, p = f"l{i}", layer.stride, layer.padding
                if layer.kind == "conv":
                    conv = fnn.Conv(layer.cout, (KERNEL, KERNEL), strides=(s, s),
                                    padding=((p, p), (p, p)), use_bias=layer.bias, name=name, **kw)  # fmt: skip
                    if self.spectral_norm:
                        x = SpectralNorm(conv, name=f"{name}_sn")(x, update_stats=train)
                    else:
                        x = conv(x)
                elif layer.kind == "convT":
                    q = KERNEL - 1 - p  # PyTorch's padding p of a transposed convolution
                    x = fnn.ConvTranspose(layer.cout, (KERNEL, KERNEL), strides=(s, s),
                                          padding=((q, q), (q, q)), use_bias=layer.bias, name=name,
                                          **kw)(x)  # fmt: skip
                elif layer.kind == "batch":
                    x = fnn.BatchNorm(use_running_average=not train, momentum=1 - BN_MOMENTUM,
                                      epsilon=NORM_EPSILON, use_fast_variance=False, name=name,
                                      **kw)(x)  # fmt: skip
                elif layer.kind in ("layer", "instance"):
                    groups = {"num_groups": 1} if layer.kind == "layer" else {
                        "num_groups": None, "group_size": 1}  # fmt: skip
                    x = fnn.GroupNorm(**groups, epsilon=NORM_EPSILON, use_fast_variance=False,
                                      name=name, **kw)(x)  # fmt: skip
                elif layer.kind == "relu":
                    x = fnn.relu(x)
                elif layer.kind == "lrelu":
                    # PyTorch's and TF's rule, slope 0.2 at exactly 0 (flax's leaky_relu takes
                    # 1 there): augmentations such as cutout make exact zeros common
                    x = jnp.where(x > 0, x, 0.2 * x)
                else:
                    x = jnp.tanh(x)
            return x

    class Generator(fnn.Module):
        layers: tuple[Layer, ...]

        @fnn.compact
        def __call__(self, z: Any, train: bool) -> Any:
            return Net(self.layers, name="net")(z[:, None, None, :], train)

    class Discriminator(fnn.Module):
        """image → logits ``(N, 1)``; ``features=True``: the intermediate features feature
        matching compares instead, every layer but the last convolution ``(N, 4, 4, C)`` (the
        PyTorch Discriminator's ``features`` in NHWC), from the same parameters."""

        layers: tuple[Layer, ...]
        spectral_norm: bool = False

        @fnn.compact
        def __call__(self, x: Any, train: bool, features: bool = False) -> Any:
            net = Net(self.layers, self.spectral_norm, name="net")
            if features:
                return net(x, train, upto=len(self.layers) - 1)
            return net(x, train).reshape(len(x), -1)

    return Generator, Discriminator


class State(NamedTuple):
    """Everything the steps update (a pytree): parameters, batch statistics (batch-norm
    running averages and spectral-norm ``u``/``v``) and optimizer states of G and D."""

    g_params: Any
    g_stats: Any
    d_params: Any
    d_stats: Any
    g_opt: Any
    d_opt: Any


def load_numpy(
    variables: dict[str, Any], layers: list[Layer], weights: list[Any], sn: list[Any] | None
) -> tuple[Any, Any]:
    """``(params, batch_stats)`` of a Flax network with the NumPy weights (PyTorch layouts)
    and spectral-norm states converted to Flax's layouts."""
    params = dict(variables["params"]["net"])
    stats = dict(variables.get("batch_stats", {}).get("net", {}))
    dtype = next(iter(next(iter(params.values())).values())).dtype
    # Flax creates batch norm's running averages in float32 whatever the network's dtype; in
    # float64 training they would turn float64 after one step (and the jitted steps recompile)
    stats = {k: {n: np.asarray(v, dtype) for n, v in d.items()} for k, d in stats.items()}
    for i, (layer, w) in enumerate(zip(layers, weights, strict=True)):
        name = f"l{i}"
        if w is None:
            continue
        old = params[name]
        if layer.kind in ("conv", "convT"):
            new = {"kernel": kernel_channels_last(w["weight"], layer, flax=True)}
            if layer.bias:
                new["bias"] = w["bias"]
        else:
            new = {"scale": w["weight"], "bias": w["bias"]}
        params[name] = {k: np.asarray(v, old[k].dtype) for k, v in new.items()}
        if sn is not None and sn[i] is not None:
            u, v = sn[i]
            old_s = stats[f"{name}_sn"]
            stats[f"{name}_sn"] = {
                "kernel/u": np.asarray(u, old_s["kernel/u"].dtype),
                "kernel/v": np.asarray(v_channels_last(v, layer), old_s["kernel/v"].dtype),
            }
    return {"net": params}, {"net": stats}


def with_hyperparameters(opt_state: Any, hyper: Any) -> Any:
    """``opt_state`` of ``optax.inject_hyperparams(optax.adam)`` with this iteration's
    ``(learning_rate, b2)`` (a ``--recipe``'s schedules); unchanged when ``hyper`` is None."""
    if hyper is None:
        return opt_state
    lr, b2 = hyper
    return opt_state._replace(hyperparams={**opt_state.hyperparams, "learning_rate": lr, "b2": b2})


def make_steps(
    objective: Any,
    G: Any,
    D: Any,
    g_tx: Any,
    d_tx: Any,
    augmentation: Any = None,
    gradient_norm: bool = False,
) -> tuple[Any, Any]:
    """The jitted D and G steps.  advloss's objective calls D as a plain function; each call
    runs D in training mode and threads its batch statistics to the next call (spectral norm's
    power iteration advances once per forward, as in PyTorch).  ``step`` (an int32 array, with
    a ``--recipe``: its γ schedule reads it, traced) and ``hyper`` (the optimizer's
    ``(learning_rate, b2)`` for this iteration) are None otherwise; ``step`` is also given with
    an objective term that keeps explicit state (``states``: the moving averages of lecam and
    path_length, an input of each step whose next value is in the output's ``stats``); the G
    step's ``regularize`` (static) says whether path_length is due, as ``due`` does for D's
    lazy penalty.  ``augmentation``
    (:class:`~reference_trainers.augmentation.Augmentation`, or None) augments D's inputs with
    the draws and p each step is given."""
    import jax
    import optax

    # zcr perturbs G's latents, path_length differentiates G with respect to them: the
    # objective calls G itself (g_function)
    zcr = any(getattr(p, "needs_generator", False) for p in objective.penalties)
    latent_terms = bool(common.latent_terms(objective))
    # feature_matching: D's features on the real batch (the targets) and the generated one
    needs_features = bool(common.feature_terms(objective))
    needs_real = getattr(objective.loss, "generator_needs_real", False)

    def g_forward(params: Any, stats: Any, z: Any) -> tuple[Any, Any]:
        out, new = G.apply(
            {"params": params, "batch_stats": stats}, z, train=True, mutable=["batch_stats"]
        )
        return out, new["batch_stats"]

    def g_function(params: Any, stats: Any) -> tuple[Any, list[Any]]:
        """G as a plain function for the objective (zcr's G(z + σε), path_length's G(z)),
        threading its batch statistics from call to call as :func:`d_function` does D's.
        The statistics are kept without gradient: path_length calls G inside its own
        ``jax.vjp`` (the input gradient), and ``stop_gradient`` hands back the value of the
        enclosing trace, which may leave that transformation (the running averages are not
        differentiated anyway)."""
        seen = [stats]

        def generator(z: Any) -> Any:
            out, new = g_forward(params, seen[-1], z)
            seen.append(jax.lax.stop_gradient(new))
            return out

        return generator, seen

    def d_function(params: Any, stats: Any) -> tuple[Any, Any, list[Any]]:
        """D as a plain function for the objective and D's features (``features=True``), both
        in training mode, threading D's batch statistics from call to call in call order (as
        PyTorch's modules update theirs)."""
        seen = [stats]

        def discriminator(x: Any, features: bool = False) -> Any:
            out, new = D.apply(
                {"params": params, "batch_stats": seen[-1]}, x, train=True, features=features,
                mutable=["batch_stats"],
            )  # fmt: skip
            seen.append(new["batch_stats"])
            return out

        d_features = functools.partial(discriminator, features=True)
        if gradient_norm:  # GN-GAN (no batch statistics: D has no batch norm, no SN)
            return advloss.gradient_normalize(discriminator), d_features, seen
        return discriminator, d_features, seen

    @functools.partial(jax.jit, static_argnames=("due",))
    def d_step(
        state: State, real: Any, z: Any, draws: Any, noise_std: Any, step: Any, hyper: Any,
        due: bool, aug_p: Any = None, aug_draws: Any = None, states: Any = None,
        key: Any = None,
    ) -> Any:  # fmt: skip
        fake, g_stats = g_forward(state.g_params, state.g_stats, z)
        fake = jax.lax.stop_gradient(fake)
        if augmentation is not None:  # --augment: D sees augmented reals and fakes
            real, fake = augmentation.discriminator_inputs(real, fake, aug_p, draws=aug_draws,
                                                           layout="NHWC")  # fmt: skip
        # step 0 / 1: a lazy penalty is due / not due (the host decides: no lax.cond); a
        # recipe's scheduled γ and a stateful term read the true step (traced), and the host's
        # decision comes as `regularize`
        step_arg = (0 if due else 1) if step is None else step
        regularize = None if step is None else due

        def loss(d_params: Any) -> Any:
            discriminator, _, seen = d_function(d_params, state.d_stats)
            generator, g_seen = g_function(state.g_params, g_stats)
            out = objective.discriminator(discriminator, real, fake, step=step_arg,
                                          draws=draws, noise_std=noise_std, states=states,
                                          regularize=regularize, key=key,
                                          generator=generator if zcr else None,
                                          latent=z)  # fmt: skip
            return out.total, (out, seen[-1], g_seen[-1])

        (_, (out, d_stats, g_stats)), grads = jax.value_and_grad(loss, has_aux=True)(state.d_params)
        opt_state = with_hyperparameters(state.d_opt, hyper)
        updates, d_opt = d_tx.update(grads, opt_state, state.d_params)
        d_params = optax.apply_updates(state.d_params, updates)
        return state._replace(d_params=d_params, d_stats=d_stats, d_opt=d_opt, g_stats=g_stats), out

    @functools.partial(jax.jit, static_argnames=("regularize",))
    def g_step(state: State, z: Any, real: Any, draws: Any, noise_std: Any, hyper: Any,
               aug_p: Any = None, aug_draws: Any = None, states: Any = None,
               step: Any = None, key: Any = None, regularize: bool | None = None) -> Any:  # fmt: skip
        def loss(g_params: Any) -> Any:
            fake, g_stats = g_forward(g_params, state.g_stats, z)
            generator, g_seen = g_function(g_params, g_stats)
            discriminator, d_features, seen = d_function(state.d_params, state.d_stats)
            if augmentation is not None:  # --augment: G is trained through the augmentation
                fake, g_real = augmentation.generator_inputs(fake, real, aug_p, draws=aug_draws,
                                                             layout="NHWC")  # fmt: skip
            else:
                g_real = real
            features = None
            if needs_features:  # feature_matching: D's features on reals (targets), fakes
                features = (jax.lax.stop_gradient(d_features(g_real)), d_features(fake))
            out = objective.generator(discriminator, fake, real=g_real if needs_real else None,
                                      step=0 if step is None else step, draws=draws,
                                      noise_std=noise_std, states=states, key=key,
                                      generator=generator if zcr or latent_terms else None,
                                      latent=z, features=features,
                                      regularize=regularize)  # fmt: skip
            return out.total, (out, g_seen[-1], seen[-1])

        (_, (out, g_stats, d_stats)), grads = jax.value_and_grad(loss, has_aux=True)(state.g_params)
        opt_state = with_hyperparameters(state.g_opt, hyper)
        updates, g_opt = g_tx.update(grads, opt_state, state.g_params)
        g_params = optax.apply_updates(state.g_params, updates)
        return state._replace(g_params=g_params, g_stats=g_stats, d_stats=d_stats, g_opt=g_opt), out

    return d_step, g_step


def _device(name: str) -> Any:
    import jax

    if name == "cpu":
        return jax.default_device(jax.devices("cpu")[0])
    if name == "cuda":
        try:
            return jax.default_device(jax.devices("gpu")[0])
        except RuntimeError:
            raise TrainerError("--device cuda: JAX sees no GPU") from None
    return contextlib.nullcontext()


def train(cfg: DCGANConfig) -> dict[str, Any]:
    """Train the JAX DCGAN with the resolved config; returns the last evaluation row."""
    jax = _jax()
    x64 = jax.config.jax_enable_x64
    if not jax.config.jax_compilation_cache_dir:  # a later run with the same shapes skips XLA
        from reference_trainers.metrics import cache_dir

        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax-compilation"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    try:
        if cfg.dtype == "float64":
            jax.config.update("jax_enable_x64", True)  # float32 arrays stay float32
        with _device(cfg.device):
            return _train(cfg)
    finally:
        jax.config.update("jax_enable_x64", x64)


def _train(cfg: DCGANConfig) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax

    from reference_trainers.dcgan_eval import make_evaluate, metrics_for

    dtype = np.dtype(cfg.dtype)
    s = ArrayLoop(cfg, "dcgan", quality="fd", framework="jax", to_tensor=jnp.asarray)
    norm = s.d_norm(cfg.d_norm)
    data, channels = load(cfg.data, cfg.image_size)
    data = training_subset(data, cfg.train_size, cfg.seed)  # --train-size: limited data
    batches = Batches(data, cfg.batch_size, cfg.seed)
    size, z_dim = cfg.image_size, cfg.z_dim
    fake_shape = (s.local_batch, size, size, channels)

    net = numpy_dcgan(cfg, channels, norm, s.streams.gens["init"])
    Generator, Discriminator = build_modules(jnp.dtype(dtype))
    G = Generator(tuple(net.g_layers))
    D = Discriminator(tuple(net.d_layers), cfg.spectral_norm)
    key = jax.random.key(0)  # only shapes matter: the weights are replaced by the NumPy ones
    g_vars = G.init(key, jnp.zeros((2, z_dim), dtype), train=True)
    d_vars = D.init(key, jnp.zeros((2, size, size, channels), dtype), train=True)
    g_params, g_stats = load_numpy(g_vars, net.g_layers, net.g_weights, None)
    d_params, d_stats = load_numpy(d_vars, net.d_layers, net.d_weights, net.spectral)
    # optax's adam is PyTorch's: update = lr * m̂ / (sqrt(v̂) + eps), eps outside the root
    if s.adam is None:
        g_tx = optax.adam(cfg.lr_g, b1=cfg.beta1, b2=cfg.beta2, eps=1e-8)
        d_tx = optax.adam(cfg.lr_d, b1=cfg.beta1, b2=cfg.beta2, eps=1e-8)
    else:  # --recipe: lr and b2 set every iteration (with_hyperparameters), in the run's dtype
        lr, (b1, b2) = s.adam
        adam = optax.inject_hyperparams(optax.adam, hyperparam_dtype=jnp.dtype(dtype))
        g_tx = adam(learning_rate=lr, b1=b1, b2=b2, eps=1e-8)
        d_tx = adam(learning_rate=lr, b1=b1, b2=b2, eps=1e-8)
    state = State(g_params, g_stats, d_params, d_stats, g_tx.init(g_params), d_tx.init(d_params))
    state = jax.tree_util.tree_map(jnp.asarray, state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    names = [jax.tree_util.keystr(path) for path, _ in leaves]
    stored = s.open(batches)
    if stored is not None:
        values = restore(str(s.run.dir), stored, names, [np.shape(x) for _, x in leaves],
                         [x.dtype for _, x in leaves])  # fmt: skip
        state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in values])
    s.arrays = lambda: {  # type: ignore[method-assign]
        k: np.asarray(x) for k, x in zip(names, jax.tree_util.tree_leaves(state), strict=True)
    }
    d_step, g_step = make_steps(
        common.channels_last(s.objective), G, D, g_tx, d_tx, s.augmentation, cfg.gradient_norm
    )
    # --devices N: the state replicated and the batch arguments sharded over N devices
    d_step, g_step = distributed.jax_steps(cfg.devices, s.local_batch, d_step, g_step)
    nchw = (s.local_batch, channels, size, size)

    def aug_draws(side: str, with_real: bool = True) -> Any:
        """The augmentation's draws for one step (NumPy ``augment`` stream; None without)."""
        return s.augment_draws(s.streams, nchw, side, with_real,
                               lambda d: convert_draws(d, jnp.asarray, dtype))  # fmt: skip

    def sample(z: Any) -> np.ndarray:
        variables = {"params": state.g_params, "batch_stats": state.g_stats}
        x = G.apply(variables, jnp.asarray(z, dtype), train=False)
        return np.asarray(x, np.float32).transpose(0, 3, 1, 2)  # NCHW, as the metrics take

    evaluate = make_evaluate(
        s.run.dir, sample, fixed_latents(z_dim), lambda: eval_latents(cfg.eval_samples, z_dim),
        metrics_for(cfg),
    )  # fmt: skip

    def nhwc(batch: np.ndarray) -> Any:
        return jnp.asarray(batch.transpose(0, 2, 3, 1).astype(dtype))

    every = s.penalty_interval()
    zcr = any(getattr(p, "needs_generator", False) for p in s.objective.penalties)
    base_key = jax.random.key(cfg.seed)

    def zcr_key(call: int) -> Any:
        """zcr's latent perturbation: a JAX key from the seed, the step and the call (its
        draws are not in the NumPy stream), None without zcr."""
        return jax.random.fold_in(jax.random.fold_in(base_key, s.step), call) if zcr else None

    s.start()
    s.begin(evaluate)
    while s.step < s.steps:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = s.plan()
        std = s.noise_value(dtype)
        step = hyper = None
        if s.adam is not None:  # --recipe: the schedules' values at this iteration
            lr, (_, b2) = s.adam
            step, hyper = jnp.asarray(s.step, jnp.int32), (jnp.asarray(lr, dtype),
                                                           jnp.asarray(b2, dtype))  # fmt: skip
        elif s.term_states:  # a stateful term (lecam) reads the step: traced, one compile
            step = jnp.asarray(s.step, jnp.int32)
        for i in range(d_steps):
            real = nhwc(batches.next())
            due = s.step % every == 0
            s.first_call(due)  # the first call of each variant compiles it
            state, out = d_step(state, real, s.latents(z_dim, dtype),
                                s.draws(real, fake_shape, "discriminator", dtype), std, step,
                                hyper, due=due, aug_p=s.augment_p,
                                aug_draws=aug_draws("discriminator"),
                                states=s.term_states, key=zcr_key(i))  # fmt: skip
            s.record_d_stats(out.stats)
            s.advance_states(out)  # lecam's next averages, from out.stats (no host read)
        for i in range(g_steps):
            g_real = real if s.needs_real or s.needs_features else None
            loss_real = real if s.needs_real else None  # the draws of the loss's real side
            # path_length: due or not decided on the host (None without the term); its
            # state in s.term_states, its draws y in s.draws
            regularize = s.latent_regularize()
            s.first_call(("g", regularize))  # the first call of each variant compiles it
            state, g_out = g_step(state, s.latents(z_dim, dtype), g_real,
                                  s.draws(loss_real, fake_shape, "generator", dtype), std, hyper,
                                  s.augment_p, aug_draws("generator", g_real is not None),
                                  s.term_states, step, zcr_key(1000 + i),
                                  regularize=regularize)  # fmt: skip
            s.advance_states(g_out)
        # ---- logging, evaluation, checkpoints ----
        if s.end_iteration(out, g_out):
            s.evaluate(evaluate)
    return s.finish()
