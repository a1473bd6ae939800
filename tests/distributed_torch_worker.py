"""Worker for tests/test_distributed.py: the step of ``tests.distributed_problem`` on this
rank's shard, in a 2-process gloo group, with ``replicas=True`` and the gradients averaged over
the ranks (as DistributedDataParallel does), must agree to float64 precision with the step on
one process over the global batch; the controllers' states must be the same on both ranks.
Exits non-zero (an assertion) otherwise; rank 0 prints ``OK``."""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.distributed as dist

import advloss
import advloss.augment
from advloss.testing import assert_close
from tests import distributed_problem as problem

OBJECTIVE, NOISE, RATIO, ADA = problem.OBJECTIVE_VALUE, problem.NOISE, problem.RATIO, problem.ADA


def generator(params, z):
    return torch.tanh(z @ params["g_w"]).reshape(-1, *problem.IMAGE)


def discriminator(params, sn, x):
    w1 = advloss.spectral_normalize(params["d_w1"], sn["u"], sn["v"], dim=1).weight
    return torch.nn.functional.softplus(x.reshape(-1, problem.WIDTH) @ w1) @ params["d_w2"]


def step(params, sn, states, data, replicas):
    state = advloss.spectral_normalize(params["d_w1"], sn["u"], sn["v"], dim=1)
    new_sn = {"u": state.u, "v": state.v}
    fake = generator(params, data["z"]).detach()
    std = NOISE.std(states["noise"])
    out = problem.d_objective(
        lambda x: discriminator(params, new_sn, x), data, fake, std, states, replicas
    )
    d_grads = torch.autograd.grad(out.total, [params["d_w1"], params["d_w2"]])
    g = problem.g_objective(
        lambda x: discriminator(params, new_sn, x),
        generator(params, data["z"]),
        lambda z: generator(params, z),
        data,
        std,
        states,
        replicas,
    )
    (g_grad,) = torch.autograd.grad(g.total, [params["g_w"]])
    flat = [out.total.detach(), g.total.detach(), *d_grads, g_grad]
    if replicas is not None:  # DDP's gradient averaging, by hand
        for t in flat:
            dist.all_reduce(t)
            t /= dist.get_world_size()
    stats = [out.stats[k] for k in ("d_real", "d_fake", "real_acc", "fake_acc", "r_t")]
    controllers = [
        *OBJECTIVE.next_states(out, states)["lecam"],
        *OBJECTIVE.next_states(g, states)["path_length"],
        *NOISE.update(states["noise"], out.stats["r_t"]),
        *RATIO.update(states["ratio"], out.stats),
        *ADA.update(states["ada"], out.stats["r_t"]),
    ]
    return [x.detach().numpy() for x in (*flat, new_sn["u"], new_sn["v"], *stats, *controllers)]


def run(rank: int, world: int, port: int) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        params = {
            k: torch.tensor(v, requires_grad=not k.startswith("sn"))
            for k, v in problem.params().items()
        }
        sn = {"u": params.pop("sn_u"), "v": params.pop("sn_v")}
        data = {k: torch.tensor(v) for k, v in problem.batch().items()}
        like = torch.zeros((), dtype=torch.float64)
        states = problem.initial_states(like)
        n = problem.BATCH // world
        shard = {k: v[rank * n : (rank + 1) * n] for k, v in data.items()}
        parallel = step(params, sn, states, shard, True)
        single = step(params, sn, states, data, None)
        for i, (x, y) in enumerate(zip(single, parallel, strict=True)):
            assert_close(y, x, "float64", what=f"rank {rank}: output {i}")
        gathered: list[list[np.ndarray] | None] = [None] * world
        dist.all_gather_object(gathered, parallel)
        for i, (a, b) in enumerate(zip(*gathered, strict=True)):
            assert np.array_equal(a, b), f"ranks disagree on output {i}: {a} vs {b}"
        dist.barrier()
        if rank == 0:
            print("OK")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
