"""Worker for tests/test_distributed.py, run with 2 simulated host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``): one discriminator and one generator
step of ``tests.distributed_problem`` — on one device over the global batch, under
``shard_map`` over the 2 devices with ``replicas="batch"``, and under plain ``jax.jit`` over
the batch sharded across them — must agree to float64 precision, and the controllers' states must
be the same on both replicas.  Exits non-zero (an assertion) otherwise; prints ``OK``."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import advloss  # noqa: E402
import advloss.augment  # noqa: E402
from advloss.testing import assert_close  # noqa: E402
from tests import distributed_problem as problem  # noqa: E402

OBJECTIVE, NOISE, RATIO, ADA = problem.OBJECTIVE_VALUE, problem.NOISE, problem.RATIO, problem.ADA


def generator(params, z):
    return jnp.tanh(z @ params["g_w"]).reshape(-1, *problem.IMAGE)


def discriminator(params, sn, x):
    w1 = advloss.spectral_normalize(params["d_w1"], sn["u"], sn["v"], dim=1).weight
    return jax.nn.softplus(x.reshape(-1, problem.WIDTH) @ w1) @ params["d_w2"]


def step(params, sn, states, data, replicas):
    """One D step then one G step on this replica's batch; the gradients are this replica's
    (averaged by the caller under shard_map)."""
    state = advloss.spectral_normalize(params["d_w1"], sn["u"], sn["v"], dim=1)
    new_sn = {"u": state.u, "v": state.v}  # the power iteration reads only W and u
    fake = jax.lax.stop_gradient(generator(params, data["z"]))
    std = NOISE.std(states["noise"])

    def d_loss(p):
        out = problem.d_objective(
            lambda x: discriminator(p, new_sn, x), data, fake, std, states, replicas
        )
        return out.total, out

    (d_total, out), d_grads = jax.value_and_grad(d_loss, has_aux=True)(params)

    def g_loss(p):
        fake = generator(p, data["z"])
        g = problem.g_objective(
            lambda x: discriminator(p, new_sn, x),
            fake,
            lambda z: generator(p, z),
            data,
            std,
            states,
            replicas,
        )
        return g.total, g

    (g_total, g), g_grads = jax.value_and_grad(g_loss, has_aux=True)(params)
    grads = {"d_w1": d_grads["d_w1"], "d_w2": d_grads["d_w2"], "g_w": g_grads["g_w"]}
    stats = {k: out.stats[k] for k in ("d_real", "d_fake", "real_acc", "fake_acc", "r_t")}
    new_states = {
        "lecam": OBJECTIVE.next_states(out, states)["lecam"],
        "path_length": OBJECTIVE.next_states(g, states)["path_length"],
        # The controllers read the (already global) statistics: the same decision everywhere.
        "noise": NOISE.update(states["noise"], out.stats["r_t"]),
        "ratio": RATIO.update(states["ratio"], out.stats),
        "ada": ADA.update(states["ada"], out.stats["r_t"]),
    }
    return {"d_total": d_total, "g_total": g_total}, grads, new_sn, new_states, stats


def main() -> None:
    devices = jax.devices()
    assert len(devices) == 2, devices
    params = {k: jnp.asarray(v) for k, v in problem.params().items()}
    sn = {"u": params.pop("sn_u"), "v": params.pop("sn_v")}
    data = {k: jnp.asarray(v) for k, v in problem.batch().items()}
    like = jnp.zeros((), jnp.float64)
    states = problem.initial_states(like)

    single = jax.jit(lambda p, s, st, d: step(p, s, st, d, None))(params, sn, states, data)

    mesh = Mesh(np.array(devices), ("batch",))

    def sharded(p, s, st, d):
        losses, grads, new_sn, new_states, stats = step(p, s, st, d, "batch")
        # The replicas' losses and gradients are means over their shards: their mean is the
        # global batch's (equal shard sizes).
        losses, grads = jax.lax.pmean((losses, grads), "batch")
        # Every replica's controller states, stacked: they must be identical.
        per_replica = jax.tree.map(lambda x: x[None], new_states)
        return losses, grads, new_sn, new_states, stats, per_replica

    replicated = P()
    run = jax.jit(
        jax.shard_map(
            sharded,
            mesh=mesh,
            in_specs=(replicated, replicated, replicated, P("batch")),
            out_specs=(replicated,) * 5 + (P("batch"),),
            check_vma=False,
        )
    )
    *parallel, per_replica = run(params, sn, states, data)
    for name, a, b in zip(
        ("losses", "grads", "sn", "states", "stats"), single, parallel, strict=True
    ):
        for (path, x), y in zip(jax.tree.leaves_with_path(a), jax.tree.leaves(b), strict=True):
            assert_close(np.asarray(y), np.asarray(x), "float64", what=f"shard_map {name}{path}")
    for path, x in jax.tree.leaves_with_path(per_replica):
        x = np.asarray(x)
        assert x.shape[0] == 2 and np.array_equal(x[0], x[1]), f"replicas disagree: {path} {x}"

    # Plain jit over arrays sharded across the devices: the means are already global.
    shard = NamedSharding(mesh, P("batch"))
    data_sharded = {k: jax.device_put(v, shard) for k, v in data.items()}
    assert len(data_sharded["real"].sharding.device_set) == 2
    global_view = jax.jit(lambda p, s, st, d: step(p, s, st, d, None))(
        params, sn, states, data_sharded
    )
    for (path, x), y in zip(
        jax.tree.leaves_with_path(single), jax.tree.leaves(global_view), strict=True
    ):
        assert_close(np.asarray(y), np.asarray(x), "float64", what=f"jit over shards {path}")
    flax_spectral_norm(mesh, data["real"])
    print("OK")


def flax_spectral_norm(mesh, real) -> None:
    """advloss's linen SpectralNorm under shard_map: every replica's new u, v (batch_stats)
    is the one device's — the power iteration reads only the replicated kernel and state."""
    import flax.linen as nn

    from advloss.nn.flax import SpectralNorm

    x = real.reshape(problem.BATCH, -1)
    layer = SpectralNorm(nn.Dense(4, param_dtype=jnp.float64))
    variables = layer.init(jax.random.key(0), x, update_stats=False)

    def apply(variables, x):
        _, updated = layer.apply(variables, x, update_stats=True, mutable=["batch_stats"])
        return updated["batch_stats"]

    single = jax.jit(apply)(variables, x)
    per_replica = jax.jit(
        jax.shard_map(
            lambda v, x: jax.tree.map(lambda a: a[None], apply(v, x)),
            mesh=mesh,
            in_specs=(P(), P("batch")),
            out_specs=P("batch"),
            check_vma=False,
        )
    )(variables, x)
    for (path, want), got in zip(
        jax.tree.leaves_with_path(single), jax.tree.leaves(per_replica), strict=True
    ):
        got = np.asarray(got)
        assert np.array_equal(got[0], got[1]), f"replicas disagree: {path}"
        assert_close(got[0], np.asarray(want), "float64", what=f"flax SpectralNorm {path}")


if __name__ == "__main__":
    main()
