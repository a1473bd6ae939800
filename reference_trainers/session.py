"""The PyTorch trainers' session (:class:`Session`): device and DDP, optimizers, the random
generators, AMP, torch.compile, atomic checkpoints and exact resume, around the
framework-neutral :class:`~reference_trainers.loop.Loop` (the advloss objective built from the
options, the update-ratio scheduler, the balance monitor, adaptive instance noise, logging,
progress and evaluation).

A trainer builds its networks and data, then writes its step in plain sight::

    s = Session(cfg, "dcgan", quality="fd")
    G, D = s.setup(Generator(...), Discriminator(...), batches)
    s.begin(evaluate_fn)                          # the step-0 evaluation of a fresh run
    while s.step < s.steps:
        d_steps, g_steps = s.plan()
        for _ in range(d_steps):
            real = s.local(batches.next())
            with s.autocast():
                out = s.objective.discriminator(D, real, G(z).detach(),
                                                step=s.step, key=s.key, noise_std=s.noise_std)
            s.update_d(out)
        for _ in range(g_steps):
            with s.autocast():
                g_out = s.objective.generator(D, G(z), step=s.step, key=s.key,
                                              noise_std=s.noise_std)
            s.update_g(g_out.total)
        if s.end_iteration(out, g_out):
            s.evaluate(evaluate_fn)
    s.finish()
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import advloss
from reference_trainers import common
from reference_trainers.common import TrainerError
from reference_trainers.config import TrainerConfig
from reference_trainers.loop import Loop, map_leaves  # noqa: F401 (importable from here as before)


class Session(Loop):
    """The PyTorch side: device, DDP, optimizers, random generators, AMP, ``torch.compile``,
    checkpoints and resume."""

    def __init__(self, cfg: TrainerConfig, trainer: str, *, quality: str | list[str]) -> None:
        super().__init__(cfg, trainer, quality=quality)
        self.device = common.pick_device(cfg.device)
        self.dtype = getattr(torch, getattr(cfg, "dtype", "float32"))  # DCGAN's --dtype
        self.world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun --nproc_per_node=N
        if self.world > 1:
            if cfg.batch_size % self.world:
                raise TrainerError(
                    f"--batch-size {cfg.batch_size} must be divisible by the {self.world} processes"
                )
            import torch.distributed as dist

            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
        self.local_batch = cfg.batch_size // self.world  # --batch-size is the global batch
        # the run folder, checked and locked before the data and networks are built
        self.run = common.Run(cfg.out, cfg, cfg.resume, write=self.rank == 0,
                              overwrite=cfg.overwrite)  # fmt: skip
        self.amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)

    # ------------------------------------------------------------------------------- setup

    def setup(
        self,
        G: nn.Module,
        D: nn.Module,
        batches: Any,
        *,
        after_spectral_norm: Callable[[], None] | None = None,
        streams: Any = None,
    ) -> tuple[Any, Any]:
        """Move the networks to the device, add spectral norm, build the optimizers, the random
        generators and the schedulers, wrap for DDP / torch.compile, and resume if asked.
        ``batches`` is the data stream (its ``state()`` is checkpointed).  Returns the networks
        to call in the training step (possibly wrapped).  ``after_spectral_norm`` runs once
        spectral norm is on (to load states drawn elsewhere); ``streams`` are NumPy streams
        (:class:`~reference_trainers.arrays.NumpyStreams`) to checkpoint with the rest."""
        cfg, device = self.cfg, self.device
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        for net in (G, D):
            net.to(device, self.dtype)
            if cfg.channels_last:
                net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.G, self.D, self.batches, self.streams = G, D, batches, streams
        if cfg.spectral_norm:
            from advloss.nn.torch import spectral_norm

            for m in D.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    spectral_norm(m)
        if after_spectral_norm is not None:  # e.g. load spectral-norm states drawn elsewhere
            after_spectral_norm()
        betas = (cfg.beta1, cfg.beta2)
        lr_g, lr_d = cfg.lr_g, cfg.lr_d
        if self.adam is not None:  # --recipe: its schedules' first values (set in plan())
            lr_g, betas = self.adam
            lr_d = lr_g
        self.g_opt = torch.optim.Adam(G.parameters(), lr_g, betas=betas)
        self.d_opt = torch.optim.Adam(D.parameters(), lr_d, betas=betas)
        seed = cfg.seed
        self.gens = {
            name: torch.Generator(device).manual_seed(seed * 1000 + 100 * self.rank + i)
            for i, name in enumerate(("z", "objective", "data"))
        }
        self.key = self.gens["objective"]  # advloss draws labels, flips, noise, GP alphas from it
        self._init_controls(torch.zeros((), device=device))
        self.init_term_states(torch.zeros((), device=device, dtype=self.dtype))
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        G_run: Any = G
        D_run: Any = D
        if self.world > 1:  # gradients all-reduced; BN/SN buffers broadcast from rank 0
            from torch.nn.parallel import DistributedDataParallel as DDP

            G_run, D_run = DDP(G), DDP(D)
        if cfg.compile:
            G_run = torch.compile(G_run)
            if not self.has_penalty:  # AOTAutograd cannot differentiate a gradient penalty twice
                D_run = torch.compile(D_run)
        if self.run.resuming:
            self._resume()
        self.progress = common.Progress(self.steps, self.step) if self.rank == 0 else None
        self.t0 = time.perf_counter()
        return G_run, D_run

    def _resume(self) -> None:
        ck = self.run.load()
        try:
            self.G.load_state_dict(ck["G"])
            self.D.load_state_dict(ck["D"])
            self.g_opt.load_state_dict(ck["g_opt"])
            self.d_opt.load_state_dict(ck["d_opt"])
        except (RuntimeError, KeyError, ValueError) as err:
            first = str(err).strip().splitlines()[0]
            raise TrainerError(
                f"--resume: the checkpoint in {self.run.dir} does not fit these networks "
                f"({first}); resume with the options it was written with"
            ) from None
        common.set_rng_state(ck["rng"], self.gens)
        self.batches.load_state(ck["batches"])
        if self.streams is not None:
            if not ck.get("streams"):  # the options check catches this for current versions
                raise TrainerError(
                    f"--resume: the checkpoint in {self.run.dir} has no NumPy streams; resume "
                    f"without --numpy-rng"
                )
            self.streams.load_state(ck["streams"])
        self.step = int(ck["step"])
        self.load_controls(ck)
        self.scaler.load_state_dict(ck["scaler"])
        print(f"resumed from step {self.step} in {self.run.dir}", file=sys.stderr)

    # -------------------------------------------------------------------- inside the step

    def plan(self) -> tuple[int, int]:
        """:meth:`Loop.plan`, and a ``--recipe``'s learning rate and betas for this iteration
        set on both optimizers (R3GAN's loop: ``g['lr'] = cur_lr; g['betas'] = (0,
        cur_beta2)``)."""
        planned = super().plan()
        if self.adam is not None:
            lr, betas = self.adam
            for opt in (self.g_opt, self.d_opt):
                for group in opt.param_groups:
                    group["lr"], group["betas"] = lr, betas
        return planned

    def local(self, batch: Any) -> Any:
        """This process's slice of a global batch (a tensor or a tuple of tensors), on the device."""
        if isinstance(batch, tuple):
            return tuple(self.local(b) for b in batch)
        batch = batch[self.rank :: self.world].to(self.device)
        if batch.is_floating_point():
            batch = batch.to(self.dtype)
        return batch.contiguous(memory_format=self.memory_format) if batch.dim() == 4 else batch

    def autocast(self) -> Any:
        return (
            torch.autocast(self.device.type, dtype=self.amp)
            if self.amp
            else contextlib.nullcontext()
        )

    def update_d(self, out: advloss.ObjectiveOutput) -> None:
        """Backward and step for D; feed the (process-averaged) statistics to the update-ratio
        scheduler and the adaptive noise."""
        self._backward_step(out.total, self.d_opt)
        self.record_d_stats(self._shared(out.stats))

    def update_g(self, loss: torch.Tensor) -> None:
        self._backward_step(loss, self.g_opt)

    def _backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()

    def _shared(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Statistics averaged over the processes: every rank then plans the same G:D ratio
        (DDP needs the same number of backward passes everywhere) and the same noise std."""
        if self.world == 1:
            return stats
        import torch.distributed as dist

        out = {}
        for k, v in stats.items():
            v = v.detach().clone()
            dist.all_reduce(v)
            out[k] = v / self.world
        return out

    def _num(self, x: Any) -> float:
        return float(x.detach())

    def _like(self, value: Any, current: Any) -> Any:
        return torch.as_tensor(value).to(current.device, current.dtype)

    @contextlib.contextmanager
    def _eval_context(self) -> Any:
        self.G.eval()
        try:
            with torch.no_grad(), self.autocast():
                yield
        finally:
            self.G.train()

    def _after_evaluate(self) -> None:
        if self.world > 1 and self.step > 0:
            torch.distributed.barrier()

    def _before_finish(self) -> None:
        if self.world > 1:
            self._check_in_sync()

    def checkpoint(self) -> None:
        self.run.save({
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "g_opt": self.g_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
            "step": self.step, "rng": common.rng_state(self.gens),
            "batches": self.batches.state(), **self.controls(),
            "streams": None if self.streams is None else self.streams.state(),
            "scaler": self.scaler.state_dict(),
        })  # fmt: skip

    def _check_in_sync(self) -> None:
        """DDP's invariant: every rank ends with the same weights (logged, then the group
        closes)."""
        import torch.distributed as dist

        mine = torch.stack(
            [torch.stack([p.detach().double().sum() for p in m.parameters()]).sum()
             for m in (self.G, self.D)]
        )  # fmt: skip
        every = [torch.zeros_like(mine) for _ in range(self.world)]
        dist.all_gather(every, mine)
        in_sync = all(torch.equal(every[0], e) for e in every)
        if self.rank == 0:
            self.run.log(
                {"step": self.step, "ddp_world_size": self.world, "ddp_params_in_sync": in_sync}
            )
        dist.barrier()
        dist.destroy_process_group()
        if not in_sync:
            raise TrainerError(f"DDP: the {self.world} processes ended with different weights")
