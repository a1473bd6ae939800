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
import sys
from typing import Any, NamedTuple

import numpy as np

from reference_trainers import common
from reference_trainers.arrays import ArrayLoop, eval_latents, fixed_latents, restore
from reference_trainers.common import TrainerError
from reference_trainers.data import Batches, load
from reference_trainers.dcgan_spec import (
    BN_MOMENTUM,
    KERNEL,
    NORM_EPSILON,
    Layer,
    discriminator_layers,
    generator_layers,
    kernel_channels_last,
    numpy_weights,
    spectral_state,
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
        named ``l{i}``, its spectral-norm wrapper ``l{i}_sn``."""

        layers: tuple[Layer, ...]
        spectral_norm: bool = False

        @fnn.compact
        def __call__(self, x: Any, train: bool) -> Any:
            kw = {"dtype": dtype, "param_dtype": dtype}
            for i, layer in enumerate(self.layers):
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
                    x = fnn.leaky_relu(x, 0.2)
                else:
                    x = jnp.tanh(x)
            return x

    class Generator(fnn.Module):
        layers: tuple[Layer, ...]

        @fnn.compact
        def __call__(self, z: Any, train: bool) -> Any:
            return Net(self.layers, name="net")(z[:, None, None, :], train)

    class Discriminator(fnn.Module):
        layers: tuple[Layer, ...]
        spectral_norm: bool = False

        @fnn.compact
        def __call__(self, x: Any, train: bool) -> Any:
            return Net(self.layers, self.spectral_norm, name="net")(x, train).reshape(len(x), -1)

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


def make_steps(objective: Any, G: Any, D: Any, g_tx: Any, d_tx: Any) -> tuple[Any, Any]:
    """The jitted D and G steps.  advloss's objective calls D as a plain function; each call
    runs D in training mode and threads its batch statistics to the next call (spectral norm's
    power iteration advances once per forward, as in PyTorch)."""
    import jax
    import optax

    def g_forward(params: Any, stats: Any, z: Any) -> tuple[Any, Any]:
        out, new = G.apply(
            {"params": params, "batch_stats": stats}, z, train=True, mutable=["batch_stats"]
        )
        return out, new["batch_stats"]

    def d_function(params: Any, stats: Any) -> tuple[Any, list[Any]]:
        seen = [stats]

        def discriminator(x: Any) -> Any:
            out, new = D.apply(
                {"params": params, "batch_stats": seen[-1]}, x, train=True,
                mutable=["batch_stats"],
            )  # fmt: skip
            seen.append(new["batch_stats"])
            return out

        return discriminator, seen

    @functools.partial(jax.jit, static_argnames=("due",))
    def d_step(state: State, real: Any, z: Any, draws: Any, noise_std: Any, due: bool) -> Any:
        fake, g_stats = g_forward(state.g_params, state.g_stats, z)
        fake = jax.lax.stop_gradient(fake)

        def loss(d_params: Any) -> Any:
            discriminator, seen = d_function(d_params, state.d_stats)
            # step 0 / 1: a lazy penalty is due / not due (the host decides: no lax.cond)
            out = objective.discriminator(discriminator, real, fake, step=0 if due else 1,
                                          draws=draws, noise_std=noise_std)  # fmt: skip
            return out.total, (out, seen[-1])

        (_, (out, d_stats)), grads = jax.value_and_grad(loss, has_aux=True)(state.d_params)
        updates, d_opt = d_tx.update(grads, state.d_opt, state.d_params)
        d_params = optax.apply_updates(state.d_params, updates)
        return state._replace(d_params=d_params, d_stats=d_stats, d_opt=d_opt, g_stats=g_stats), out

    @jax.jit
    def g_step(state: State, z: Any, real: Any, draws: Any, noise_std: Any) -> Any:
        def loss(g_params: Any) -> Any:
            fake, g_stats = g_forward(g_params, state.g_stats, z)
            discriminator, seen = d_function(state.d_params, state.d_stats)
            out = objective.generator(discriminator, fake, real=real, step=0, draws=draws,
                                      noise_std=noise_std)  # fmt: skip
            return out.total, (out, g_stats, seen[-1])

        (_, (out, g_stats, d_stats)), grads = jax.value_and_grad(loss, has_aux=True)(state.g_params)
        updates, g_opt = g_tx.update(grads, state.g_opt, state.g_params)
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


def train(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train the JAX DCGAN with the resolved config; returns the last evaluation row."""
    jax = _jax()
    if cfg["dtype"] == "float64":
        jax.config.update("jax_enable_x64", True)  # process-wide; float32 stays float32
    if not jax.config.jax_compilation_cache_dir:  # a later run with the same shapes skips XLA
        from reference_trainers.metrics import cache_dir

        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax-compilation"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    with _device(cfg["device"]):
        return _train(cfg)


def _train(cfg: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import optax
    import torch

    from advloss.nn import WARMUP_ITERATIONS
    from reference_trainers.dcgan import metrics_for

    cfg["numpy_rng"] = True  # the JAX trainer's random numbers always come from NumPy
    dtype = np.dtype(cfg["dtype"])
    s = ArrayLoop(cfg, "dcgan", quality="fd", framework="jax", to_tensor=jnp.asarray)
    norm = s.d_norm(cfg["d_norm"])
    data, channels = load(cfg["data"], cfg["image_size"])
    s.batches = batches = Batches(data, cfg["batch_size"], cfg["seed"])
    size, z_dim, n = cfg["image_size"], cfg["z_dim"], s.local_batch

    g_layers = generator_layers(z_dim, cfg["width"], size, channels)
    d_layers = discriminator_layers(cfg["width"], size, channels, norm)
    Generator, Discriminator = build_modules(jnp.dtype(dtype))
    G, D = Generator(tuple(g_layers)), Discriminator(tuple(d_layers), cfg["spectral_norm"])
    key = jax.random.key(0)  # only shapes matter: the weights are replaced by the NumPy ones
    g_vars = G.init(key, jnp.zeros((2, z_dim), dtype), train=True)
    d_vars = D.init(key, jnp.zeros((2, size, size, channels), dtype), train=True)
    init = s.streams.gens["init"]
    g_w = numpy_weights(g_layers, init, np.float64)
    d_w = numpy_weights(d_layers, init, np.float64)
    sn = spectral_state(d_layers, d_w, init, WARMUP_ITERATIONS) if cfg["spectral_norm"] else None
    g_params, g_stats = load_numpy(g_vars, g_layers, g_w, None)
    d_params, d_stats = load_numpy(d_vars, d_layers, d_w, sn)
    # optax's adam is PyTorch's: update = lr * m̂ / (sqrt(v̂) + eps), eps outside the root
    g_tx = optax.adam(cfg["lr_g"], b1=cfg["beta1"], b2=cfg["beta2"], eps=1e-8)
    d_tx = optax.adam(cfg["lr_d"], b1=cfg["beta1"], b2=cfg["beta2"], eps=1e-8)
    state = State(g_params, g_stats, d_params, d_stats, g_tx.init(g_params), d_tx.init(d_params))
    state = jax.tree_util.tree_map(jnp.asarray, state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    names = [jax.tree_util.keystr(path) for path, _ in leaves]
    if cfg["resume"]:
        arrays, _ = s.load()
        stored = restore(str(s.run.dir), arrays, names, [np.shape(x) for _, x in leaves])
        state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in stored])
        print(f"resumed from step {s.step} in {s.run.dir}", file=sys.stderr)
    d_step, g_step = make_steps(s.objective, G, D, g_tx, d_tx)

    metrics = metrics_for(cfg)
    fixed_z = jnp.asarray(fixed_latents(z_dim).astype(dtype))

    def sample(z: Any) -> torch.Tensor:
        x = G.apply({"params": state.g_params, "batch_stats": state.g_stats}, z, train=False)
        return torch.from_numpy(np.asarray(x, np.float32)).permute(0, 3, 1, 2)

    def evaluate(step: int) -> dict[str, Any]:
        common.save_grid(sample(fixed_z), s.run.dir / "samples" / f"step_{step:06d}.png")
        if metrics is None:
            return {}
        z = eval_latents(cfg["eval_samples"], z_dim).astype(dtype)
        return metrics(
            torch.cat([sample(jnp.asarray(z[i : i + 500])) for i in range(0, len(z), 500)])
        )

    s.arrays = lambda: {  # type: ignore[method-assign]
        k: np.asarray(x) for k, x in zip(names, jax.tree_util.tree_leaves(state), strict=True)
    }

    def nhwc(batch: torch.Tensor) -> Any:
        return jnp.asarray(batch.numpy().transpose(0, 2, 3, 1).astype(dtype))

    def draws(real: Any, side: str) -> Any:
        shape = None if real is None else tuple(real.shape)
        specs = s.objective.draw_specs(shape, (n, size, size, channels), side=side)
        return {
            k: jnp.asarray(v) for k, v in s.streams.draws(specs, dtype, channels_last=True).items()
        }

    noise = s.objective.instance_noise
    every = cfg["penalty_every"]
    s.start()
    s.begin(evaluate)
    while s.step < s.steps:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = s.plan()
        std = s.noise_std if s.noise_std is not None else (
            None if noise is None else jnp.asarray(noise(s.step), dtype))  # fmt: skip
        for _ in range(d_steps):
            real = nhwc(batches.next())
            z = jnp.asarray(s.streams.latents(n, z_dim, np.float64).astype(dtype))
            state, out = d_step(state, real, z, draws(real, "discriminator"), std,
                                due=s.step % every == 0)  # fmt: skip
            s.record_d_stats(out.stats)
        for _ in range(g_steps):
            z = jnp.asarray(s.streams.latents(n, z_dim, np.float64).astype(dtype))
            g_real = real if s.needs_real else None
            state, g_out = g_step(state, z, g_real, draws(g_real, "generator"), std)
        # ---- logging, evaluation, checkpoints ----
        if s.end_iteration(out, g_out):
            s.evaluate(evaluate)
    return s.finish()
