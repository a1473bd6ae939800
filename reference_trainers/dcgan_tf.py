"""The DCGAN in TensorFlow: Keras 3 networks, an Adam with PyTorch's update formula, one
``tf.function`` step per network with advloss's objective inside it.

    python -m reference_trainers.dcgan --framework tf [options of the PyTorch trainer]

The same architecture (:mod:`reference_trainers.dcgan_spec`), data order, initial weights,
latents and random numbers (:mod:`reference_trainers.arrays`) as ``--framework torch
--numpy-rng``, so the three frameworks' curves can be compared step for step
(``python -m reference_trainers.xframework``).  Differences from the PyTorch trainer: NHWC
layout, no AMP / DDP, ``--compile`` means XLA (``tf.function(jit_compile=True)``),
checkpoints are ``checkpoint.npz``.
"""

from __future__ import annotations

import contextlib
from typing import Any

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


def _keras() -> Any:
    try:
        import keras
        import tensorflow  # noqa: F401
    except ImportError as err:
        raise TrainerError(
            f"--framework tf needs tensorflow and keras ({err.name} is not installed): "
            f"pip install 'advloss[tf]'"
        ) from None
    if keras.backend.backend() != "tensorflow":
        raise TrainerError(
            f"--framework tf: Keras runs on {keras.backend.backend()!r} (KERAS_BACKEND); "
            f"set KERAS_BACKEND=tensorflow"
        )
    return keras


def torch_adam(keras: Any) -> Any:
    """A Keras Adam with PyTorch's (and optax's) update ``lr · m̂ / (√v̂ + ε)``.

    Keras' own Adam computes ``lr · √(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)``: its ε sits outside the
    bias correction, i.e. PyTorch's ε multiplied by ``√(1−β₂ᵗ)`` (0.03 at step 1 with β₂ =
    0.999), and its default ε is 1e-7, not 1e-8.  The learning rate is kept as a Python float
    (Keras stores it as a float32 variable, which would round 2e-4 in float64 training)."""
    from keras import ops

    class TorchAdam(keras.optimizers.Adam):
        def __init__(self, learning_rate: float, **kwargs: Any) -> None:
            super().__init__(learning_rate=learning_rate, epsilon=1e-8, **kwargs)
            self.lr_value = float(learning_rate)
            #: a ``--recipe``'s schedules: a float64 tf.Variable ``[lr, beta_2]`` assigned
            #: every iteration (read inside the traced step), or None (the constants)
            self.schedule: Any = None

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            # constants via convert_to_tensor: ops.cast(0.999, "float64") rounds through float32
            dtype = variable.dtype
            const = lambda x: ops.convert_to_tensor(x, dtype=dtype)  # noqa: E731
            g = ops.cast(gradient, dtype)
            t = ops.cast(self.iterations + 1, dtype)
            b1, b2 = const(self.beta_1), const(self.beta_2)
            lr = const(self.lr_value)
            if self.schedule is not None:
                lr, b2 = ops.cast(self.schedule[0], dtype), ops.cast(self.schedule[1], dtype)
            m = self._momentums[self._get_variable_index(variable)]
            v = self._velocities[self._get_variable_index(variable)]
            self.assign(m, b1 * m + (1 - b1) * g)
            self.assign(v, b2 * v + (1 - b2) * ops.square(g))
            step_size = lr / (1 - ops.power(b1, t))
            denom = ops.sqrt(v) / ops.sqrt(1 - ops.power(b2, t)) + const(self.epsilon)
            self.assign_sub(variable, step_size * m / denom)

    return TorchAdam


def exact_batch_norm(keras: Any) -> Any:
    """``keras.layers.BatchNormalization`` whose batch variance lets the gradient flow through
    the batch mean (as PyTorch's and Flax's do): Keras' TensorFlow backend computes the moments
    with ``tf.nn.moments``, which stops it there — the same outputs and first derivatives, but
    wrong second derivatives, which path_length takes through G's batch norm (its gradient
    reaches G's weights through the input gradient).  The synchronized form (several replicas)
    computes ``E[x²] - E[x]²`` and is exact already: it is kept."""
    from keras import ops

    class BatchNormalization(keras.layers.BatchNormalization):
        def _moments(self, inputs: Any, mask: Any) -> Any:
            if mask is not None or self.synchronized:
                return super()._moments(inputs, mask)
            axes = list(self._reduction_axes)
            mean = ops.mean(inputs, axis=axes, keepdims=True)
            variance = ops.mean(ops.square(inputs - mean), axis=axes, keepdims=True)
            axis = tuple(axes)  # only the reduced axes: a 1-channel layer keeps its channel
            return ops.squeeze(mean, axis=axis), ops.squeeze(variance, axis=axis)

    return BatchNormalization


def keras_net(
    keras: Any,
    layers: list[Layer],
    dtype: str,
    input_shape: tuple[int, ...],
    *,
    sn: bool,
    name: str,
) -> Any:
    """A :mod:`~reference_trainers.dcgan_spec` layer list as a Keras ``Sequential`` (NHWC);
    layer ``i`` is named ``l{i}``, its spectral-norm wrapper ``l{i}_sn``.  Generators take z
    ``(N, z_dim)``; discriminators return ``(N, 1)``."""
    from keras import ops

    from advloss.nn.keras import GroupNormalization, SpectralNormalization

    L = keras.layers
    BatchNormalization = exact_batch_norm(keras)
    stack: list[Any] = [keras.Input(input_shape, dtype=dtype)]
    if len(input_shape) == 1:
        stack.append(L.Reshape((1, 1, input_shape[0]), dtype=dtype))
    for i, layer in enumerate(layers):
        nm, k, s = f"l{i}", KERNEL, layer.stride
        if layer.kind == "conv":
            if layer.padding:
                stack.append(L.ZeroPadding2D(layer.padding, dtype=dtype, name=f"{nm}_pad"))
            conv = L.Conv2D(layer.cout, k, strides=s, padding="valid", use_bias=layer.bias,
                            dtype=dtype, name=nm)  # fmt: skip
            stack.append(SpectralNormalization(conv, dtype=dtype, name=f"{nm}_sn") if sn else conv)
        elif layer.kind == "convT":
            padding = {(2, 1): "same", (1, 0): "valid"}.get((s, layer.padding))
            if padding is None:
                raise ValueError(f"no Keras padding for a transposed conv with {layer}")
            stack.append(L.Conv2DTranspose(layer.cout, k, strides=s, padding=padding,
                                           use_bias=layer.bias, dtype=dtype, name=nm))  # fmt: skip
        elif layer.kind == "batch":
            # exact second derivatives (path_length differentiates G's input gradient)
            stack.append(BatchNormalization(momentum=1 - BN_MOMENTUM, epsilon=NORM_EPSILON,
                                            dtype=dtype, name=nm,
                                            **distributed.tf_batch_norm()))  # fmt: skip
        elif layer.kind in ("layer", "instance"):
            groups = 1 if layer.kind == "layer" else layer.cout
            # advloss's: Keras' GroupNormalization breaks the penalties' second derivatives
            stack.append(GroupNormalization(groups, epsilon=NORM_EPSILON, dtype=dtype, name=nm))
        elif layer.kind == "relu":
            stack.append(L.ReLU(dtype=dtype))
        elif layer.kind == "lrelu":
            # not keras.layers.LeakyReLU: TensorFlow's LeakyRelu op stores its slope as a
            # float32 attribute, so in float64 it multiplies by 0.20000000298
            stack.append(L.Lambda(lambda x: ops.where(x > 0, x, x * 0.2), dtype=dtype))
        else:
            stack.append(L.Activation("tanh", dtype=dtype))
    if len(input_shape) == 3:
        stack.append(L.Flatten(dtype=dtype))
    return keras.Sequential(stack, name=name)


def features_model(keras: Any, model: Any, layers: list[Layer]) -> Any:
    """The intermediate features feature matching compares, from a discriminator
    :func:`keras_net`: a functional model of the same layer objects (no weights of its own)
    that runs every layer but the last convolution, ``(N, 4, 4, C)`` (the PyTorch
    Discriminator's ``features`` in NHWC)."""
    last = f"l{len(layers) - 1}"
    names = [layer.name for layer in model.layers]
    # the last convolution's first Keras layer: its padding, its spectral-norm wrapper or itself
    cut = min(names.index(n) for n in (f"{last}_pad", f"{last}_sn", last) if n in names)
    return keras.Model(model.inputs[0], model.layers[cut - 1].output, name=f"{model.name}_features")


def load_numpy(model: Any, layers: list[Layer], weights: list[Any], sn: list[Any] | None) -> None:
    """Set a :func:`keras_net`'s weights from the NumPy weights (PyTorch layouts) and
    spectral-norm states."""
    names = {layer.name: layer for layer in model.layers}
    for i, (layer, w) in enumerate(zip(layers, weights, strict=True)):
        if w is None:
            continue
        wrapper = names.get(f"l{i}_sn")
        target = wrapper.layer if wrapper is not None else names[f"l{i}"]
        if layer.kind in ("conv", "convT"):
            values = [kernel_channels_last(w["weight"], layer)]
            if layer.bias:
                values.append(w["bias"])
        else:
            values = [w["weight"], w["bias"]]
            if layer.kind == "batch":  # moving mean and variance start at PyTorch's 0 and 1
                values += [np.zeros_like(w["bias"]), np.ones_like(w["bias"])]
        current = target.get_weights()
        target.set_weights([np.asarray(v, c.dtype) for v, c in zip(values, current, strict=True)])
        if wrapper is not None and sn is not None and sn[i] is not None:
            u, v = sn[i]
            wrapper.u.assign(np.asarray(u, wrapper.u.dtype))
            wrapper.v.assign(np.asarray(v_channels_last(v, layer), wrapper.v.dtype))


def _device(name: str) -> Any:
    import tensorflow as tf

    if name == "cpu":
        return tf.device("/CPU:0")
    if name == "cuda":
        if not tf.config.list_physical_devices("GPU"):
            raise TrainerError("--device cuda: TensorFlow sees no GPU")
        return tf.device("/GPU:0")
    return contextlib.nullcontext()


def train(cfg: DCGANConfig) -> dict[str, Any]:
    """Train the TensorFlow DCGAN with the resolved config; returns the last evaluation row."""
    _keras()
    # --devices N: built and trained under a MirroredStrategy over N devices
    with distributed.tf_scope(cfg.devices, cfg.device, _device(cfg.device)):
        return _train(cfg)


def _train(cfg: DCGANConfig) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    from reference_trainers.dcgan_eval import make_evaluate, metrics_for

    dtype = cfg.dtype
    s = ArrayLoop(cfg, "dcgan", quality="fd", framework="tf", to_tensor=tf.constant)
    norm = s.d_norm(cfg.d_norm)
    data, channels = load(cfg.data, cfg.image_size)
    data = training_subset(data, cfg.train_size, cfg.seed)  # --train-size: limited data
    batches = Batches(data, cfg.batch_size, cfg.seed)
    size, z_dim = cfg.image_size, cfg.z_dim
    fake_shape = (s.local_batch, size, size, channels)

    net = numpy_dcgan(cfg, channels, norm, s.streams.gens["init"])
    G = keras_net(keras, net.g_layers, dtype, (z_dim,), sn=False, name="generator")
    D = keras_net(keras, net.d_layers, dtype, (size, size, channels), sn=cfg.spectral_norm,
                  name="discriminator")  # fmt: skip
    D_features = features_model(keras, D, net.d_layers)  # D's own layers, up to the last conv
    load_numpy(G, net.g_layers, net.g_weights, None)
    load_numpy(D, net.d_layers, net.d_weights, net.spectral)
    Adam = torch_adam(keras)
    if s.adam is None:
        g_opt = Adam(cfg.lr_g, beta_1=cfg.beta1, beta_2=cfg.beta2)
        d_opt = Adam(cfg.lr_d, beta_1=cfg.beta1, beta_2=cfg.beta2)
    else:  # --recipe: lr and beta_2 from a variable assigned every iteration
        lr, (b1, b2) = s.adam
        g_opt = Adam(lr, beta_1=b1, beta_2=b2)
        d_opt = Adam(lr, beta_1=b1, beta_2=b2)
        schedule = tf.Variable([lr, b2], dtype=tf.float64, trainable=False)
        g_opt.schedule = d_opt.schedule = schedule
    g_opt.build(G.trainable_variables)
    d_opt.build(D.trainable_variables)
    variables = [("G", v) for v in G.weights] + [("D", v) for v in D.weights]
    variables += [("g_opt", v) for v in g_opt.variables] + [("d_opt", v) for v in d_opt.variables]
    # by position (Keras makes variable paths unique per process: optimizer "torch_adam_3")
    names = [f"{owner}/{i}" for i, (owner, v) in enumerate(variables)]
    stored = s.open(batches)
    if stored is not None:
        values = restore(str(s.run.dir), stored, names, [tuple(v.shape) for _, v in variables],
                         [v.dtype for _, v in variables])  # fmt: skip
        for (_, v), value in zip(variables, values, strict=True):
            v.assign(value)
    s.arrays = lambda: {  # type: ignore[method-assign]
        k: np.asarray(v) for k, (_, v) in zip(names, variables, strict=True)
    }

    objective = distributed.tf_objective(common.channels_last(s.objective))  # per replica
    discriminator: Any = lambda x: D(x, training=True)  # noqa: E731 - advloss calls D on batches
    if cfg.gradient_norm:  # GN-GAN: D(x) / (||grad_x D(x)|| + |D(x)|) in both losses
        discriminator = advloss.gradient_normalize(discriminator)

    augmentation = s.augmentation
    needs_real = s.needs_real  # the generator loss reads D(real) (relativistic losses)
    needs_features = s.needs_features  # feature_matching: D's features on reals and fakes
    # zcr perturbs G's latents, path_length differentiates G with respect to them: the
    # objective calls G itself (in training mode: batch norm updates its moving averages)
    zcr = any(getattr(p, "needs_generator", False) for p in objective.penalties)
    generator = None
    if zcr or common.latent_terms(objective):
        generator = lambda z: G(z, training=True)  # noqa: E731

    def d_step(real: Any, z: Any, draws: Any, noise_std: Any, step: Any, due: bool,
               aug_p: Any = None, aug_draws: Any = None, states: Any = None,
               key: Any = None) -> Any:  # fmt: skip
        fake = tf.stop_gradient(G(z, training=True))
        if augmentation is not None:  # --augment: D sees augmented reals and fakes
            real, fake = augmentation.discriminator_inputs(real, fake, aug_p, draws=aug_draws,
                                                           layout="NHWC")  # fmt: skip
        # step 0 / 1: a lazy penalty is due / not due (decided on the host: two traces); a
        # recipe's scheduled γ and a stateful term (lecam) read the true step (a tensor: one
        # trace per decision, given as `regularize`)
        step_arg = (0 if due else 1) if step is None else step
        regularize = None if step is None else due
        with tf.GradientTape() as tape:
            out = objective.discriminator(discriminator, real, fake, step=step_arg,
                                          draws=draws, noise_std=noise_std, states=states,
                                          regularize=regularize, key=key,
                                          generator=generator, latent=z)  # fmt: skip
        grads = tape.gradient(out.total, D.trainable_variables)
        d_opt.apply_gradients(zip(grads, D.trainable_variables, strict=True))
        return out

    def g_step(z: Any, real: Any, draws: Any, noise_std: Any, aug_p: Any = None,
               aug_draws: Any = None, states: Any = None, step: Any = None,
               key: Any = None, regularize: bool | None = None) -> Any:  # fmt: skip
        with tf.GradientTape() as tape:
            fake = G(z, training=True)
            if augmentation is not None:  # --augment: G is trained through the augmentation
                fake, real = augmentation.generator_inputs(fake, real, aug_p, draws=aug_draws,
                                                           layout="NHWC")  # fmt: skip
            features = None
            if needs_features:  # feature_matching: D's features on reals (targets), fakes
                features = (tf.stop_gradient(D_features(real, training=True)),
                            D_features(fake, training=True))  # fmt: skip
            out = objective.generator(discriminator, fake, real=real if needs_real else None,
                                      step=0 if step is None else step, draws=draws,
                                      noise_std=noise_std, states=states, key=key,
                                      generator=generator, latent=z,
                                      features=features, regularize=regularize)  # fmt: skip
        grads = tape.gradient(out.total, G.trainable_variables)
        g_opt.apply_gradients(zip(grads, G.trainable_variables, strict=True))
        return out

    d_step = tf.function(d_step, jit_compile=bool(cfg.compile))
    g_step = tf.function(g_step, jit_compile=bool(cfg.compile))
    # --devices N: each step in every replica on its share of the batch; the global output
    d_step = distributed.tf_step(d_step, s.local_batch)
    g_step = distributed.tf_step(g_step, s.local_batch)

    def sample(z: Any) -> np.ndarray:
        x = G(tf.constant(np.asarray(z, dtype)), training=False)
        return np.asarray(x, np.float32).transpose(0, 3, 1, 2)  # NCHW, as the metrics take

    evaluate = make_evaluate(
        s.run.dir, sample, fixed_latents(z_dim), lambda: eval_latents(cfg.eval_samples, z_dim),
        metrics_for(cfg),
    )  # fmt: skip

    def nhwc(batch: np.ndarray) -> Any:
        return tf.constant(batch.transpose(0, 2, 3, 1).astype(dtype))

    nchw = (s.local_batch, channels, size, size)

    def aug_draws(side: str, with_real: bool = True) -> Any:
        """The augmentation's draws for one step (NumPy ``augment`` stream; None without)."""
        return s.augment_draws(s.streams, nchw, side, with_real,
                               lambda d: convert_draws(d, tf.constant, dtype))  # fmt: skip

    every = s.penalty_interval()

    def zcr_key(call: int) -> Any:
        """zcr's latent perturbation: a stateless TF seed from the seed, the step and the call
        (its draws are not in the NumPy stream), None without zcr."""
        if not zcr:
            return None
        return tf.constant([cfg.seed, s.step * 1024 + call], tf.int64)

    s.start()
    s.begin(evaluate)
    while s.step < s.steps:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = s.plan()
        std = s.noise_value(dtype)
        step = None
        if s.adam is not None:  # --recipe: the schedules' values at this iteration
            lr, (_, b2) = s.adam
            schedule.assign([lr, b2])
            step = tf.constant(s.step, tf.int32)
        elif s.term_states:  # a stateful term (lecam) reads the step: a tensor, one trace
            step = tf.constant(s.step, tf.int32)
        for i in range(d_steps):
            real = nhwc(batches.next())
            due = s.step % every == 0
            s.first_call(due)  # the first call of each variant traces it
            out = d_step(real, s.latents(z_dim, dtype),
                         s.draws(real, fake_shape, "discriminator", dtype), std, step, due=due,
                         aug_p=s.augment_p, aug_draws=aug_draws("discriminator"),
                         states=s.term_states, key=zcr_key(i))  # fmt: skip
            s.record_d_stats(out.stats)
            s.advance_states(out)  # lecam's next averages, from out.stats (no host read)
        for i in range(g_steps):
            g_real = real if s.needs_real or s.needs_features else None
            loss_real = real if s.needs_real else None  # the draws of the loss's real side
            # path_length: due or not decided on the host (a Python bool: one trace each;
            # None without the term); its state in s.term_states, its draws y in s.draws
            regularize = s.latent_regularize()
            s.first_call(("g", regularize))  # the first call of each variant traces it
            g_out = g_step(s.latents(z_dim, dtype), g_real,
                           s.draws(loss_real, fake_shape, "generator", dtype), std,
                           s.augment_p, aug_draws("generator", g_real is not None),
                           s.term_states, step, zcr_key(512 + i),
                           regularize=regularize)  # fmt: skip
            s.advance_states(g_out)
        # ---- logging, evaluation, checkpoints ----
        if s.end_iteration(out, g_out):
            s.evaluate(evaluate)
    return s.finish()
