"""Everything around a GAN training step, shared by the trainers: device and DDP, the advloss
objective built from the options, optimizers, the random generators, the update-ratio scheduler,
the balance monitor, adaptive instance noise, AMP, torch.compile, logging, progress, evaluation,
atomic checkpoints and exact resume.

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
import math
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


def map_leaves(tree: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` applied to every leaf of nested dicts, lists and tuples (``None`` kept)."""
    if isinstance(tree, dict):
        return {k: map_leaves(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [map_leaves(v, fn) for v in tree]
    return None if tree is None else fn(tree)


class Loop:
    """The framework-neutral part of a training run: options checked, the objective, the
    update-ratio scheduler, the balance monitor, adaptive instance noise, metrics rows, the
    progress bar, evaluations and the summary.  :class:`Session` adds PyTorch (devices, DDP,
    optimizers, AMP, compile, checkpoints); the JAX and TensorFlow DCGANs use
    :class:`reference_trainers.arrays.ArrayLoop`.  Subclasses provide ``run`` (the run
    directory), ``checkpoint``, ``_num`` (a scalar tensor to a Python float) and
    ``_eval_context`` (evaluation mode)."""

    world = 1
    rank = 0

    def __init__(self, cfg: dict[str, Any], trainer: str, *, quality: str | list[str]) -> None:
        self.cfg, self.trainer, self.quality = cfg, trainer, quality
        common.check_counts(cfg)
        self.steps = int(cfg["steps"])
        # validates loss / penalty / labels / noise before anything slow happens
        self.objective = common.build_objective(cfg)
        self.has_penalty = bool(self.objective.penalties)

        # the generator loss of a relativistic loss needs D(real)
        self.needs_real = getattr(self.objective.loss, "generator_needs_real", False)
        self.step = 0
        self.noise_std: Any = None
        self._last: dict[str, Any] = {}
        self.progress: common.Progress | None = None
        self.run: common.Run  # the run directory: set by the subclass
        self.t0 = time.perf_counter()
        self._mark: float | None = None  # training-time clock (steps_per_second)
        self._timed, self._timed_steps, self._skip = 0.0, 0, False

    def penalty_interval(self) -> int:
        """The one lazy-penalty interval of the objective, for the JAX and TF trainers, which
        decide on the host whether the penalty is due (one error for several intervals)."""
        everys = {int(getattr(pen, "every", 1)) for pen in self.objective.penalties} or {1}
        if len(everys) > 1:
            raise common.TrainerError(
                f"--objective: penalties with different `every` intervals {sorted(everys)}; the "
                "JAX and TF trainers decide on the host whether the (one) lazy penalty is due"
            )
        return everys.pop()

    def d_norm(self, requested: str, default: str = "batch") -> str:
        """The discriminator's normalization: ``auto`` means ``default``, or layer norm with a
        gradient penalty (batch norm mixes samples, so per-sample input gradients are wrong)."""
        return common.d_norm_for(requested, self.has_penalty, default)

    def _init_controls(self, zero: Any) -> None:
        """The update-ratio scheduler, the balance monitor and adaptive noise (``zero``: a
        scalar tensor of the training framework, the adaptive noise's starting point)."""
        cfg = self.cfg
        self.ratio: Any = (
            advloss.AdaptiveRatio()
            if cfg["adaptive_ratio"]
            else advloss.FixedRatio(d_steps=cfg["d_steps"], g_steps=cfg["g_steps"])
        )
        self.monitor = advloss.BalanceMonitor(decay=0.98, warmup=50)  # ~50-step averages
        self.ratio_state, self.monitor_state = self.ratio.init(), self.monitor.init()
        self.verdict: advloss.balance.Verdict | None = None
        noise = self.objective.instance_noise
        self.ada = noise if isinstance(noise, advloss.AdaptiveNoise) else None
        self.ada_state: Any = self.ada.init(zero) if self.ada else None

    def plan(self) -> tuple[int, int]:
        """This iteration's D and G update counts; sets ``noise_std`` (adaptive noise)."""
        self.noise_std = self.ada.std(self.ada_state) if self.ada else None
        self.planned = self.ratio.plan(self.ratio_state)
        return self.planned

    def record_d_stats(self, stats: dict[str, Any]) -> None:
        """Feed a discriminator step's statistics to the update-ratio scheduler and the
        adaptive noise."""
        self.stats = stats
        self.ratio_state = self.ratio.update(self.ratio_state, stats)
        if self.ada:
            self.ada_state = self.ada.update(self.ada_state, stats["r_t"])

    def controls(self) -> dict[str, Any]:
        """The scheduler, monitor and adaptive-noise states, for a checkpoint."""
        return {
            "ratio": None if self.ratio_state is None else list(self.ratio_state),
            "monitor": self.monitor_state._asdict(),
            "ada": None if self.ada_state is None else list(self.ada_state),
        }

    def load_controls(
        self, ck: dict[str, Any], convert: Callable[[Any], Any] | None = None
    ) -> None:
        """Restore :meth:`controls`; ``convert`` maps every stored number (the leaves of
        :meth:`controls`) back to a tensor of the training framework."""
        ck = {k: ck[k] for k in ("ratio", "monitor", "ada")}
        if convert is not None:
            ck = map_leaves(ck, convert)
        if ck["ratio"] is not None:
            self.ratio_state = type(self.ratio_state)(*ck["ratio"])
        self.monitor_state = advloss.balance.MonitorState(**ck["monitor"])
        if ck["ada"] is not None:
            self.ada_state = advloss.AdaptiveNoiseState(*ck["ada"])

    def _num(self, x: Any) -> float:
        raise NotImplementedError

    def _eval_context(self) -> Any:
        return contextlib.nullcontext()

    def checkpoint(self) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- after the iteration

    def end_iteration(
        self,
        out: advloss.ObjectiveOutput,
        g_out: advloss.ObjectiveOutput,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Count the iteration, log a metrics row every ``--log-every`` steps (with ``extra``
        generator terms such as pix2pix's L1), update the progress bar and report balance-regime
        changes.  Returns whether an evaluation (and checkpoint) is due."""
        d_steps, g_steps = self.planned
        self._time_iteration()
        self.monitor_state = self.monitor.update(
            self.monitor_state, self.stats, d_loss=out.total, g_loss=g_out.total
        )
        self.step += 1
        step, cfg = self.step, self.cfg
        if self.rank == 0 and (step % cfg["log_every"] == 0 or step == self.steps):
            num = self._num  # host reads only when logging
            row: dict[str, Any] = {
                "step": step,
                "d_loss": num(out.total),
                "g_loss": num(g_out.total),
            }
            row.update({f"d_{k}": num(v) for k, v in out.terms.items()})
            row.update({f"g_{k}": num(v) for k, v in {**g_out.terms, **(extra or {})}.items()})
            row.update({
                "d_real_acc": num(out.stats["real_acc"]), "d_fake_acc": num(out.stats["fake_acc"]),
                "d_real": num(out.stats["d_real"]), "d_fake": num(out.stats["d_fake"]),
                "r_t": num(out.stats["r_t"]), "d_steps": d_steps, "g_steps": g_steps,
            })  # fmt: skip
            if "noise_std" in out.stats:
                row["noise_std"] = num(out.stats["noise_std"])
            if not all(math.isfinite(row[k]) for k in ("d_loss", "g_loss")):
                row["nonfinite"] = True
            self.run.log(row)
            assert self.progress is not None
            live = {"d": row["d_loss"], "g": row["g_loss"]}
            live.update({k: row[f"g_{k}"] for k in (extra or {})})
            live.update({"acc_r": row["d_real_acc"], "acc_f": row["d_fake_acc"]})
            self.progress.update(step, live)
            new = self.monitor.verdict(
                self.monitor_state, previous=self.verdict, objective=self.objective
            )
            if advloss.BalanceMonitor.changed(self.verdict, new) and new.regime != "warming_up":
                print(f"\nstep {step}: {new}", file=sys.stderr)
            self.verdict = new
        return step % cfg["eval_every"] == 0 or step == self.steps

    def _time_iteration(self) -> None:
        """Training time without evaluations and without the first iteration after a start
        or an evaluation (compilation, caches warming up): ``steps_per_second``."""
        now = time.perf_counter()
        if self._mark is not None and not self._skip:
            self._timed += now - self._mark
            self._timed_steps += 1
        self._mark, self._skip = now, False

    def untimed(self) -> None:
        """Leave the current iteration out of ``steps_per_second`` (it compiles something)."""
        self._skip = True

    def begin(self, fn: Callable[[int], dict[str, Any]]) -> None:
        """Training starts: the run folder is prepared
        (:meth:`~reference_trainers.common.Run.start`), then the step-0 evaluation of a fresh run (a resumed run has its own)."""
        self.run.start(self.step)
        if self.step == 0:
            self.evaluate(fn)

    def evaluate(self, fn: Callable[[int], dict[str, Any]]) -> None:
        """Run ``fn(step)`` (samples and quality metrics, in eval mode, without gradients) on
        rank 0, log its row, redraw curves.png and write the checkpoint (not at step 0)."""
        if self.rank == 0:
            with self._eval_context():
                row = {"step": self.step, "eval": True, **fn(self.step)}
            self.run.log(row)
            common.plot_curves(self.run.rows(), self.run.dir / "curves.png", self.quality)
            self._last = row
            if self.step > 0:
                self.checkpoint()
        self._after_evaluate()
        self._mark = None  # the next iteration starts the clock again

    def _after_evaluate(self) -> None:
        pass

    def steps_per_second(self) -> float:
        """Training iterations per second, timed as :meth:`_time_iteration` says (NaN when no
        iteration was timed, e.g. with ``--eval-every 1``)."""
        return self._timed_steps / self._timed if self._timed_steps else float("nan")

    def finish(self) -> dict[str, Any]:
        """Check DDP ranks agree, close the progress bar, print the summary; returns the last
        evaluation row (and ``steps_per_second``, which is not logged)."""
        self._before_finish()
        self.run.close()  # the folder's lock
        if self.progress is not None:
            self.progress.close()
        seconds = time.perf_counter() - self.t0
        if self._last:
            summary = ", ".join(
                f"{k} {v:.3g}" for k, v in self._last.items() if isinstance(v, float)
            )
            print(
                f"done: {self.step} steps in {seconds:.0f} s; {summary}; outputs in {self.run.dir}",
                file=sys.stderr,
            )
        return {**self._last, "steps_per_second": self.steps_per_second()}

    def _before_finish(self) -> None:
        pass


class Session(Loop):
    """The PyTorch side: device, DDP, optimizers, random generators, AMP, ``torch.compile``,
    checkpoints and resume."""

    def __init__(self, cfg: dict[str, Any], trainer: str, *, quality: str | list[str]) -> None:
        super().__init__(cfg, trainer, quality=quality)
        self.device = common.pick_device(cfg["device"])
        self.dtype = getattr(torch, cfg.get("dtype") or "float32")
        self.world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun --nproc_per_node=N
        if self.world > 1:
            if cfg["batch_size"] % self.world:
                raise TrainerError(
                    f"--batch-size {cfg['batch_size']} must be divisible by the {self.world} "
                    f"processes"
                )
            import torch.distributed as dist

            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
        self.local_batch = cfg["batch_size"] // self.world  # --batch-size is the global batch
        # the run folder, checked and locked before the data and networks are built
        self.run = common.Run(cfg["out"], cfg, cfg["resume"], write=self.rank == 0,
                              overwrite=bool(cfg.get("overwrite")))  # fmt: skip
        self.amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg["amp"])

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
        self.memory_format = (
            torch.channels_last if cfg.get("channels_last") else torch.contiguous_format
        )
        for net in (G, D):
            net.to(device, self.dtype)
            if cfg.get("channels_last"):
                net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.G, self.D, self.batches, self.streams = G, D, batches, streams
        if cfg["spectral_norm"]:
            from advloss.nn.torch import spectral_norm

            for m in D.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    spectral_norm(m)
        if after_spectral_norm is not None:  # e.g. load spectral-norm states drawn elsewhere
            after_spectral_norm()
        betas = (cfg["beta1"], cfg["beta2"])
        self.g_opt = torch.optim.Adam(G.parameters(), cfg["lr_g"], betas=betas)
        self.d_opt = torch.optim.Adam(D.parameters(), cfg["lr_d"], betas=betas)
        seed = cfg["seed"]
        self.gens = {
            name: torch.Generator(device).manual_seed(seed * 1000 + 100 * self.rank + i)
            for i, name in enumerate(("z", "objective", "data"))
        }
        self.key = self.gens["objective"]  # advloss draws labels, flips, noise, GP alphas from it
        self._init_controls(torch.zeros((), device=device))
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg["amp"] == "fp16")
        G_run: Any = G
        D_run: Any = D
        if self.world > 1:  # gradients all-reduced; BN/SN buffers broadcast from rank 0
            from torch.nn.parallel import DistributedDataParallel as DDP

            G_run, D_run = DDP(G), DDP(D)
        if cfg["compile"]:
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
