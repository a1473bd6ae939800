"""Worker for tests/test_distributed.py: the step of ``tests.distributed_problem`` under
``tf.distribute.MirroredStrategy`` over two logical CPU devices, with ``replicas=True``, must
agree to float64 precision with the step on one device over the global batch, and the
controllers' states must be the same on both replicas.  Exits non-zero (an assertion)
otherwise; prints ``OK``."""

from __future__ import annotations

import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import numpy as np  # noqa: E402

import advloss  # noqa: E402
import advloss.augment  # noqa: E402
from advloss.testing import assert_close  # noqa: E402
from tests import distributed_problem as problem  # noqa: E402

OBJECTIVE, NOISE, RATIO, ADA = problem.OBJECTIVE_VALUE, problem.NOISE, problem.RATIO, problem.ADA
D_NAMES, G_NAMES = ("d_w1", "d_w2"), ("g_w",)


def generator(params, z):
    return tf.reshape(tf.tanh(z @ params["g_w"]), (-1, *problem.IMAGE))


def discriminator(params, sn, x):
    w1 = advloss.spectral_normalize(params["d_w1"], sn["u"], sn["v"], dim=1).weight
    return tf.math.softplus(tf.reshape(x, (-1, problem.WIDTH)) @ w1) @ params["d_w2"]


def step(params, sn, states, data, replicas):
    """One D step and one G step on this replica's batch; gradients averaged over
    ``replicas`` (a tf.distribute replica context) when given."""
    state = advloss.spectral_normalize(params["d_w1"], sn["u"], sn["v"], dim=1)
    new_sn = {"u": state.u, "v": state.v}
    fake = tf.stop_gradient(generator(params, data["z"]))
    std = NOISE.std(states["noise"])
    with tf.GradientTape() as tape:
        tape.watch([params[k] for k in D_NAMES])
        out = problem.d_objective(
            lambda x: discriminator(params, new_sn, x), data, fake, std, states, replicas
        )
    d_grads = tape.gradient(out.total, {k: params[k] for k in D_NAMES})
    with tf.GradientTape() as tape:
        tape.watch(params["g_w"])
        g = problem.g_objective(
            lambda x: discriminator(params, new_sn, x),
            generator(params, data["z"]),
            lambda z: generator(params, z),
            data,
            std,
            states,
            replicas,
        )
    grads = {**d_grads, "g_w": tape.gradient(g.total, params["g_w"])}
    losses = {"d_total": out.total, "g_total": g.total}
    if replicas is not None:
        # Each replica's loss is its shard's mean: the mean over replicas is the global batch's
        # (equal shards).  A loss summed over replicas instead (TF's optimizers sum the
        # replicas' gradients) must be divided by num_replicas_in_sync.
        ctx = tf.distribute.get_replica_context()
        losses, grads = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, (losses, grads))
    stats = {k: out.stats[k] for k in ("d_real", "d_fake", "real_acc", "fake_acc", "r_t")}
    new_states = {
        "lecam": OBJECTIVE.next_states(out, states)["lecam"],
        "path_length": OBJECTIVE.next_states(g, states)["path_length"],
        "noise": NOISE.update(states["noise"], out.stats["r_t"]),
        "ratio": RATIO.update(states["ratio"], out.stats),
        "ada": ADA.update(states["ada"], out.stats["r_t"]),
    }
    return losses, grads, new_sn, new_states, stats


def main() -> None:
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, devices
    params = {k: tf.constant(v) for k, v in problem.params().items()}
    sn = {"u": params.pop("sn_u"), "v": params.pop("sn_v")}
    data = {k: tf.constant(v) for k, v in problem.batch().items()}
    like = tf.zeros((), tf.float64)
    states = problem.initial_states(like)
    single = tf.function(step, autograph=False)(params, sn, states, data, None)

    strategy = tf.distribute.MirroredStrategy(devices)
    n = strategy.num_replicas_in_sync
    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: {
            k: v[ctx.replica_id_in_sync_group * problem.BATCH // n :][: problem.BATCH // n]
            for k, v in data.items()
        }
    )

    def replica_step(shard):
        return step(params, sn, states, shard, True)

    @tf.function(autograph=False)
    def run(shards):
        return strategy.run(replica_step, (shards,))

    parallel = run(shards)
    for name, a, b in zip(
        ("losses", "grads", "sn", "states", "stats"), single, parallel, strict=True
    ):
        for i, (x, y) in enumerate(zip(tf.nest.flatten(a), tf.nest.flatten(b), strict=True)):
            replicas = strategy.experimental_local_results(y)
            assert len(replicas) == 2
            for r in replicas:
                what = f"MirroredStrategy {name} leaf {i}"
                assert_close(r.numpy(), x.numpy(), "float64", what=what)
            assert np.array_equal(replicas[0].numpy(), replicas[1].numpy()), (name, i)
    keras_spectral_norm(strategy)
    print("OK")


def keras_spectral_norm(strategy) -> None:
    """advloss's Keras SpectralNormalization built under the strategy: a training call in every
    replica takes the power-iteration step of one device, and its u, v (mirrored variables)
    stay identical on both replicas."""
    import keras

    from advloss.nn.keras import SpectralNormalization

    with strategy.scope():
        layer = SpectralNormalization(keras.layers.Dense(4, dtype="float64"), dtype="float64")
        layer.build((None, problem.WIDTH))
    before = [np.asarray(w.value.values[0]) for w in (layer.layer.kernel, layer.u, layer.v)]
    expected = advloss.spectral_normalize(*before, dim=-1)
    x = tf.constant(problem.batch()["real"].reshape(problem.BATCH, -1))
    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: x[ctx.replica_id_in_sync_group * 4 :][:4]
    )

    def call(shard):
        return layer(shard, training=True)

    tf.function(lambda d: strategy.run(call, (d,)), autograph=False)(shards)
    for name, want in (("u", expected.u), ("v", expected.v)):
        values = [v.numpy() for v in getattr(layer, name).value.values]
        assert len(values) == 2 and np.array_equal(values[0], values[1]), (name, values)
        assert_close(values[0], want, "float64", what=f"Keras SpectralNormalization {name}")


if __name__ == "__main__":
    main()
