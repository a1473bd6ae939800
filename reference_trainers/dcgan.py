"""DCGAN (Radford et al. 2016) with any advloss loss and regularizer, on offline digits.

    python -m reference_trainers.dcgan                       # CPU preset: ~1-2 min here
    python -m reference_trainers.dcgan --loss lsgan --penalty r1 --penalty-every 4 \\
        --real-label 0.9 --instance-noise 0.1:0:1000 --out runs/lsgan-r1
    python -m reference_trainers.dcgan --out runs/lsgan-r1 --resume --steps 3000

Writes config.json, metrics.jsonl, samples/*.png, curves.png and checkpoint.pt to --out.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import advloss
from reference_trainers import common
from reference_trainers.common import TrainerError
from reference_trainers.data import Batches, load

PRESETS = {
    "cpu": {"image_size": 16, "width": 32, "z_dim": 32, "batch_size": 64, "steps": 1500,
            "eval_every": 500, "log_every": 25, "data": "digits", "eval_samples": 1000},
    "gpu": {"image_size": 64, "width": 64, "z_dim": 100, "batch_size": 128, "steps": 20000,
            "eval_every": 2000, "log_every": 100, "data": "digits", "eval_samples": 2000,
            "amp": "bf16"},
}  # fmt: skip


# ---------------------------------------------------------------------------------- networks


def _d_norm(kind: str, channels: int) -> nn.Module:
    return {
        "batch": lambda: nn.BatchNorm2d(channels),
        "layer": lambda: nn.GroupNorm(1, channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "none": lambda: nn.Identity(),
    }[kind]()


class Generator(nn.Module):
    """z (N, z_dim) → image (N, C, S, S) in [-1, 1]: a 4×4 projection, then ×2 upsampling
    transposed convolutions with batch norm and ReLU, halving the channels."""

    def __init__(self, z_dim: int, width: int, image_size: int, channels: int) -> None:
        super().__init__()
        n_up = int(math.log2(image_size)) - 2
        ch = width * 2 ** (n_up - 1) if n_up > 0 else width
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """image → one logit per sample (N, 1): stride-2 convolutions with LeakyReLU(0.2), doubling
    the channels down to 4×4, then a 4×4 convolution."""

    def __init__(self, width: int, image_size: int, channels: int, norm: str) -> None:
        super().__init__()
        n_down = int(math.log2(image_size)) - 2
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"),
                _d_norm(norm, ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) norm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------- training


def parser() -> Any:
    p = common.common_parser("python -m reference_trainers.dcgan", __doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, choices=[16, 32, 64], default=None)
    p.add_argument("--width", type=int, default=None, help="base channel count")
    p.add_argument("--z-dim", type=int, default=None)
    p.add_argument(
        "--d-norm",
        choices=["auto", "batch", "layer", "instance", "none"],
        default="auto",
        help="D's normalization; auto = batch norm, or layer norm with a gradient penalty",
    )
    p.add_argument("--eval-samples", type=int, default=None)
    return p


def train(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train with the resolved config; returns the last evaluation row."""
    device = common.pick_device(cfg["device"])
    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun --nproc_per_node=N: DDP
    rank = 0
    if world > 1:
        if cfg["batch_size"] % world:
            raise TrainerError(
                f"--batch-size {cfg['batch_size']} must be divisible by the {world} processes"
            )
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank = dist.get_rank()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
    objective = common.build_objective(cfg)  # validates loss/penalty/labels/noise first
    has_penalty = bool(objective.penalties)
    norm = cfg["d_norm"] if cfg["d_norm"] != "auto" else ("layer" if has_penalty else "batch")
    if norm == "batch" and has_penalty:
        raise TrainerError(
            "--d-norm batch with a gradient penalty: the penalty's per-sample "
            "gradients are wrong under batch norm; use layer, instance or none"
        )
    for key in ("steps", "batch_size", "eval_every", "log_every", "d_steps", "g_steps"):
        if int(cfg[key]) < 1:
            raise TrainerError(f"--{key.replace('_', '-')} must be >= 1; received {cfg[key]}")
    data, channels = load(cfg["data"], cfg["image_size"])
    run = common.Run(cfg["out"], cfg, cfg["resume"], write=rank == 0)
    common.seed_everything(cfg["seed"])

    G = Generator(cfg["z_dim"], cfg["width"], cfg["image_size"], channels).to(device)
    D = Discriminator(cfg["width"], cfg["image_size"], channels, norm).to(device)
    G.apply(init_weights)
    D.apply(init_weights)
    if cfg["spectral_norm"]:
        from advloss.nn.torch import spectral_norm

        for m in D.modules():
            if isinstance(m, nn.Conv2d):
                spectral_norm(m)
    g_opt = torch.optim.Adam(G.parameters(), cfg["lr_g"], betas=(cfg["beta1"], cfg["beta2"]))
    d_opt = torch.optim.Adam(D.parameters(), cfg["lr_d"], betas=(cfg["beta1"], cfg["beta2"]))
    gens = {
        name: torch.Generator(device).manual_seed(cfg["seed"] * 1000 + 100 * rank + i)
        for i, name in enumerate(("z", "objective"))
    }
    batches = Batches(data, cfg["batch_size"], cfg["seed"])
    ratio = (
        advloss.AdaptiveRatio()
        if cfg["adaptive_ratio"]
        else advloss.FixedRatio(d_steps=cfg["d_steps"], g_steps=cfg["g_steps"])
    )
    monitor = advloss.BalanceMonitor(decay=0.98, warmup=50)  # ~50-step averages: fewer flips
    ratio_state, monitor_state, verdict = ratio.init(), monitor.init(), None
    ada = (
        objective.instance_noise
        if isinstance(objective.instance_noise, advloss.AdaptiveNoise)
        else None
    )
    ada_state = ada.init(torch.zeros((), device=device)) if ada else None
    scaler = torch.amp.GradScaler(device.type, enabled=cfg["amp"] == "fp16")
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg["amp"])
    G_run: Any = G
    D_run: Any = D
    if world > 1:  # gradients all-reduced; BN/SN buffers broadcast from rank 0 each forward
        from torch.nn.parallel import DistributedDataParallel as DDP

        G_run, D_run = DDP(G), DDP(D)
    if cfg["compile"]:
        G_run = torch.compile(G_run)
        if not has_penalty:  # AOTAutograd cannot differentiate a gradient penalty twice
            D_run = torch.compile(D_run)

    step = 0
    if cfg["resume"]:
        ck = run.load()
        G.load_state_dict(ck["G"]), D.load_state_dict(ck["D"])
        g_opt.load_state_dict(ck["g_opt"]), d_opt.load_state_dict(ck["d_opt"])
        common.set_rng_state(ck["rng"], gens)
        batches.load_state(ck["batches"])
        step = int(ck["step"])
        ratio_state = type(ratio_state)(*ck["ratio"]) if ck["ratio"] is not None else None
        monitor_state = advloss.balance.MonitorState(**ck["monitor"])
        ada_state = advloss.AdaptiveNoiseState(*ck["ada"]) if ck["ada"] is not None else None
        scaler.load_state_dict(ck["scaler"])
        run.truncate_metrics(step)
        print(f"resumed from step {step} in {run.dir}", file=sys.stderr)

    from reference_trainers.metrics import DigitMetrics, StackedDigitMetrics

    metrics: Any = None
    if cfg["data"] == "digits":
        metrics = DigitMetrics(cfg["image_size"])
    elif cfg["data"] == "stacked-digits":
        metrics = StackedDigitMetrics(cfg["image_size"], cfg["eval_samples"])
    fixed_z = torch.randn(64, cfg["z_dim"], generator=torch.Generator().manual_seed(12345)).to(
        device
    )

    def autocast() -> Any:
        return torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()

    def evaluate(at: int) -> dict[str, Any]:
        G.eval()
        eval_gen = torch.Generator().manual_seed(777)  # never touches the training RNGs
        with torch.no_grad(), autocast():
            common.save_grid(G(fixed_z), run.dir / "samples" / f"step_{at:06d}.png")
            row: dict[str, Any] = {"step": at, "eval": True}
            if metrics is not None:
                z = torch.randn(cfg["eval_samples"], cfg["z_dim"], generator=eval_gen).to(device)
                row.update(metrics(torch.cat([G(z[i : i + 500]) for i in range(0, len(z), 500)])))
        G.train()
        run.log(row)
        common.plot_curves(run.rows(), run.dir / "curves.png", "fd")
        return row

    def checkpoint(at: int) -> None:
        run.save({
            "G": G.state_dict(), "D": D.state_dict(), "g_opt": g_opt.state_dict(),
            "d_opt": d_opt.state_dict(), "step": at, "rng": common.rng_state(gens),
            "batches": batches.state(), "ratio": None if ratio_state is None else list(ratio_state),
            "monitor": monitor_state._asdict(), "ada": None if ada_state is None else list(ada_state),
            "scaler": scaler.state_dict(),
        })  # fmt: skip

    def shared(stats: dict[str, Any]) -> dict[str, Any]:
        """Statistics averaged over the processes: every rank then plans the same G:D ratio
        (DDP needs the same number of backward passes everywhere) and the same noise std."""
        if world == 1:
            return stats
        import torch.distributed as dist

        out = {}
        for k, v in stats.items():
            v = v.detach().clone()
            dist.all_reduce(v)
            out[k] = v / world
        return out

    last = evaluate(step) if step == 0 and rank == 0 else {}
    progress = common.Progress(cfg["steps"], step) if rank == 0 else None
    t0 = time.perf_counter()
    n = cfg["batch_size"] // world  # --batch-size is the global batch
    needs_real = getattr(objective.loss, "generator_needs_real", False)  # ragan's G uses D(real)
    while step < cfg["steps"]:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = ratio.plan(ratio_state)
        noise_std = ada.std(ada_state) if ada else None
        for _ in range(d_steps):
            real = batches.next()[rank::world].to(device)
            z = torch.randn(n, cfg["z_dim"], generator=gens["z"], device=device)
            with autocast():
                fake = G_run(z)
                out = objective.discriminator(
                    D_run,
                    real,
                    fake.detach(),
                    step=step,
                    key=gens["objective"],
                    noise_std=noise_std,
                )
            d_opt.zero_grad(set_to_none=True)
            scaler.scale(out.total).backward()
            scaler.step(d_opt)
            scaler.update()
            stats = shared(out.stats)
            ratio_state = ratio.update(ratio_state, stats)
            if ada:
                ada_state = ada.update(ada_state, stats["r_t"])
        for _ in range(g_steps):
            z = torch.randn(n, cfg["z_dim"], generator=gens["z"], device=device)
            with autocast():
                g_out = objective.generator(
                    D_run, G_run(z), real=real if needs_real else None, step=step,
                    key=gens["objective"], noise_std=noise_std,
                )  # fmt: skip
            g_opt.zero_grad(set_to_none=True)
            scaler.scale(g_out.total).backward()
            scaler.step(g_opt)
            scaler.update()
        monitor_state = monitor.update(monitor_state, stats, d_loss=out.total, g_loss=g_out.total)
        step += 1
        # ---- logging, evaluation, checkpoints ----
        if rank == 0 and (step % cfg["log_every"] == 0 or step == cfg["steps"]):
            num = lambda x: float(x.detach())  # noqa: E731 - host reads only when logging
            row = {"step": step, "d_loss": num(out.total), "g_loss": num(g_out.total),
                   **{f"d_{k}": num(v) for k, v in out.terms.items()},
                   "d_real_acc": num(out.stats["real_acc"]), "d_fake_acc": num(out.stats["fake_acc"]),
                   "d_real": num(out.stats["d_real"]), "d_fake": num(out.stats["d_fake"]),
                   "r_t": num(out.stats["r_t"]), "d_steps": d_steps, "g_steps": g_steps}  # fmt: skip
            if "noise_std" in out.stats:
                row["noise_std"] = num(out.stats["noise_std"])
            if not all(math.isfinite(v) for v in (row["d_loss"], row["g_loss"])):
                row["nonfinite"] = True
            run.log(row)
            assert progress is not None
            progress.update(
                step,
                {
                    "d": row["d_loss"],
                    "g": row["g_loss"],
                    "acc_r": row["d_real_acc"],
                    "acc_f": row["d_fake_acc"],
                },
            )
            new = monitor.verdict(monitor_state, previous=verdict)
            if advloss.BalanceMonitor.changed(verdict, new) and new.regime != "warming_up":
                print(f"\nstep {step}: {new}", file=sys.stderr)
            verdict = new
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            if rank == 0:
                last = evaluate(step)
                checkpoint(step)
            if world > 1:
                torch.distributed.barrier()
    if world > 1:
        _check_in_sync(run, G, D, step, world, rank)
    if progress is not None:
        progress.close()
    seconds = time.perf_counter() - t0
    if last:
        summary = ", ".join(f"{k} {v:.3g}" for k, v in last.items() if isinstance(v, float))
        print(
            f"done: {step} steps in {seconds:.0f} s; {summary}; outputs in {run.dir}",
            file=sys.stderr,
        )
    return last


def _check_in_sync(
    run: common.Run, G: nn.Module, D: nn.Module, step: int, world: int, rank: int
) -> None:
    """DDP's invariant: every rank ends with the same weights (logged, then the group closes)."""
    import torch.distributed as dist

    mine = torch.stack([sum(p.detach().double().sum() for p in m.parameters()) for m in (G, D)])
    every = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    in_sync = all(torch.equal(every[0], e) for e in every)
    if rank == 0:
        run.log({"step": step, "ddp_world_size": world, "ddp_params_in_sync": in_sync})
    dist.barrier()
    dist.destroy_process_group()
    if not in_sync:
        raise TrainerError(f"DDP: the {world} processes ended with different weights")


def main(argv: list[str] | None = None) -> int:
    with common.one_line_errors():
        cfg = common.resolve(parser(), argv, PRESETS)
        if cfg["out"] is None:  # a fresh directory per run (an explicit --out is never reused)
            base = f"runs/dcgan-{cfg['loss']}-{cfg['penalty']}-seed{cfg['seed']}"
            cfg["out"], i = base, 2
            while (Path(cfg["out"]) / "checkpoint.pt").exists() and not cfg["resume"]:
                cfg["out"], i = f"{base}-{i}", i + 1
        train(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
