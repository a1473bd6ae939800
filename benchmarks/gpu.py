"""GPU throughput: the reference trainers' gpu presets against a plain PyTorch loop.

    bash benchmarks/gpu.sh                       # CUDA: <= 8 min (--budget 450 s), results/gpu.*
    bash benchmarks/gpu.sh --dry-run --out /tmp/gpu   # CPU, tiny sizes, no compile: the smoke test
    python -m benchmarks.gpu --seconds 10 --rounds 5  # what gpu.sh runs (after its checks)

For DCGAN (64×64, the ``--preset gpu`` sizes) and pix2pix (256×256, batch 1), with bf16
autocast, channels_last and ``torch.compile`` on both sides:

* **advloss**: the reference trainer itself (``reference_trainers.dcgan_torch.train_torch`` /
  ``pix2pix_torch.train``, options resolved exactly as ``python -m reference_trainers.<t>
  --preset gpu --compile --device cuda`` resolves them), with its evaluations skipped (the
  step-0 and periodic quality evaluations and checkpoints: not training throughput) and a timer
  attached after each iteration;
* **plain**: the same architecture (DCGAN built here from ``dcgan_spec``'s layer lists; pix2pix
  with the trainer's ``UNet`` / ``PatchGAN`` modules), the same batch, data pipeline, autocast,
  memory format and compilation, and a step written here the pytorch/examples way:
  ``BCEWithLogitsLoss``, ``Adam(2e-4, (0.5, 0.999))``, no advloss.  It does the trainer's work per
  iteration: D on the real and on a detached fake batch, then G on a fresh forward pass.

Each side runs in its own process (its own peak-memory counter and a cold compile cache of its
own); the two processes stay alive and take turns: after a warm-up, ``--rounds`` rounds of one
``--seconds`` window each, the order alternating between rounds.  Reported per side: images/s
(real images, or pairs, through the training step per second: batch × iterations / window
time, synchronised at both ends) as the median and interquartile range over the rounds, the
peak ``torch.cuda.max_memory_allocated`` over the windows, the compile time (the wall time of
the first iterations, where torch.compile does its work) and the set-up time; then advloss / plain.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import report

if TYPE_CHECKING:
    from reference_trainers.config import TrainerConfig

ROOT = Path(__file__).resolve().parent.parent
TRAINERS = ("dcgan", "pix2pix")
IMPLS = ("advloss", "plain")
#: iterations whose wall time is reported as the compile time (torch.compile compiles G and D,
#: forward and backward, in the first iterations; the G step's D call recompiles once)
COMPILE_ITERATIONS = 3

#: the trainers' options, as on their command lines: the gpu preset, and tiny CPU sizes for
#: --dry-run (no AMP, no compile: seconds on a 2-core CPU)
GPU_ARGS = {
    "dcgan": ["--preset", "gpu", "--compile", "--device", "cuda"],
    "pix2pix": ["--preset", "gpu", "--compile", "--device", "cuda"],
}
DRY_ARGS = {
    "dcgan": ["--preset", "gpu", "--device", "cpu", "--amp", "none", "--image-size", "16",
              "--width", "8", "--z-dim", "16", "--batch-size", "4"],
    "pix2pix": ["--preset", "gpu", "--device", "cpu", "--amp", "none", "--image-size", "32",
                "--width", "8", "--batch-size", "2"],
}  # fmt: skip


# ------------------------------------------------------------------------------- provenance


def code_digest(root: Path = ROOT) -> str:
    """SHA-256 (first 16 hex digits) of the code the numbers depend on: every ``.py`` / ``.sh``
    file under advloss/, reference_trainers/ and benchmarks/ (results excluded), by path and
    content.  Needs no git: on a machine that received a copy of the tree without its
    repository, this ties the result to a commit (run ``python -m benchmarks.gpu --digest`` in
    a checkout of that commit: the same value)."""
    h = hashlib.sha256()
    for top in ("advloss", "reference_trainers", "benchmarks"):
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if (
                not path.is_file()
                or path.suffix not in (".py", ".sh")
                or "__pycache__" in path.parts
                or rel.startswith("benchmarks/results/")
            ):
                continue
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------- configs


def trainer_config(
    trainer: str, dry_run: bool, run_dir: str, data: str | None, compile: bool = True
) -> TrainerConfig:
    """The trainer's resolved options: its own parser and presets, as its command line would
    resolve them (``data``: pix2pix's dataset folder)."""
    from reference_trainers import dcgan, pix2pix

    module = {"dcgan": dcgan, "pix2pix": pix2pix}[trainer]
    argv = [*trainer_args(trainer, dry_run, compile), "--out", run_dir]
    if data is not None:
        argv += ["--data", data]
    # the run stops when the benchmark says so; the evaluations are skipped (TimedSession)
    argv += ["--steps", str(10**9)]
    cfg = module.options(argv)
    module.check(cfg)
    return cfg


def trainer_args(trainer: str, dry_run: bool, compile: bool = True) -> list[str]:
    args = (DRY_ARGS if dry_run else GPU_ARGS)[trainer]
    return [a for a in args if compile or a != "--compile"]


def command_line(trainer: str, dry_run: bool, compile: bool = True) -> str:
    return " ".join(
        ["python -m reference_trainers." + trainer, *trainer_args(trainer, dry_run, compile)]
    )


# --------------------------------------------------------------------------------- the timer


class Probe:
    """Called after every training iteration (both sides): times the compile iterations and
    the warm-up, then answers the parent's commands — ``("run", seconds)``: one timed window;
    ``("stop",)``: end the loop."""

    def __init__(self, conn: Any, device: Any, batch: int, warmup_s: float, t_setup: float):
        self.conn, self.device, self.batch, self.warmup_s = conn, device, batch, warmup_s
        self.t_setup = t_setup
        self.step = 0
        self.phase = "compile"
        self.window_s = 0.0
        self.stopped = False

    def sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self) -> None:
        """The training loop begins (everything built, nothing run)."""
        self.sync()
        self.setup_s = time.perf_counter() - self.t_setup
        self.t0 = time.perf_counter()

    def after_step(self) -> bool:
        """After one iteration; returns True when the loop must end."""
        self.step += 1
        now = time.perf_counter()
        if self.phase == "compile":
            if self.step >= COMPILE_ITERATIONS:
                self.sync()
                now = time.perf_counter()
                self.compile_s = now - self.t0
                self.phase, self.t0 = "warmup", now
            return False
        if self.phase == "warmup":
            if now - self.t0 >= self.warmup_s:
                self.sync()
                self.warmup_steps = self.step - COMPILE_ITERATIONS
                self.send("ready", setup_s=self.setup_s, compile_s=self.compile_s,
                          warmup_steps=self.warmup_steps)  # fmt: skip
                return self.wait()
            return False
        self.n += 1  # phase "measure"
        if now - self.t0 >= self.window_s:
            self.sync()
            seconds = time.perf_counter() - self.t0
            self.send("window", steps=self.n, seconds=seconds,
                      images_per_s=self.n * self.batch / seconds, peak_bytes=self.peak())  # fmt: skip
            return self.wait()
        return False

    def wait(self) -> bool:
        """Block for the parent's next command; start a window or stop."""
        command = self.conn.recv()
        if command[0] == "stop":
            self.stopped = True
            return True
        self.window_s, self.n, self.phase = float(command[1]), 0, "measure"
        self.reset_peak()
        self.sync()
        self.t0 = time.perf_counter()
        return False

    def reset_peak(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        """Peak bytes in the window: CUDA's allocated memory, or on the CPU the process's peak
        resident set (since the start: a coarse bound, for the dry run only)."""
        import torch

        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    def send(self, kind: str, **info: Any) -> None:
        self.conn.send((kind, info))


# ------------------------------------------------------------------------- advloss: the trainer


def run_advloss(trainer: str, cfg: TrainerConfig, probe: Probe) -> None:
    """The reference trainer's own training function, with :class:`Probe` after each
    iteration and the evaluations (quality metrics, samples, checkpoints) skipped."""
    from unittest import mock

    from reference_trainers import dcgan_torch, pix2pix_torch
    from reference_trainers.session import Session

    class TimedSession(Session):
        def begin(self, fn: Any) -> None:
            self.run.start(self.step)
            probe.start()

        def evaluate(self, fn: Any) -> None:
            self._mark = None

        def end_iteration(self, out: Any, g_out: Any, extra: Any = None) -> bool:
            due = super().end_iteration(out, g_out, extra)
            if probe.after_step():
                self.steps = self.step
            return due or self.step >= self.steps

    module: Any = {"dcgan": dcgan_torch, "pix2pix": pix2pix_torch}[trainer]
    patches: list[Any] = [mock.patch.object(module, "Session", TimedSession)]
    if trainer == "dcgan":  # the digit classifier of the quality metrics: not needed
        patches.append(mock.patch.object(dcgan_torch, "metrics_for", lambda *args: None))
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        if trainer == "dcgan":
            dcgan_torch.train_torch(cfg)
        else:
            pix2pix_torch.train(cfg)


# ---------------------------------------------------------------------- plain: written here


def plain_layers(layers: list[Any]) -> Any:
    """An ``nn.Sequential`` of a ``dcgan_spec`` layer list, written out the pytorch/examples
    way."""
    from torch import nn

    from reference_trainers.dcgan_spec import KERNEL

    mods: list[nn.Module] = []
    for layer in layers:
        if layer.kind == "conv":
            mods.append(nn.Conv2d(layer.cin, layer.cout, KERNEL, layer.stride, layer.padding,
                                  bias=layer.bias))  # fmt: skip
        elif layer.kind == "convT":
            mods.append(nn.ConvTranspose2d(layer.cin, layer.cout, KERNEL, layer.stride,
                                           layer.padding, bias=layer.bias))  # fmt: skip
        elif layer.kind == "batch":
            mods.append(nn.BatchNorm2d(layer.cout))
        elif layer.kind == "relu":
            mods.append(nn.ReLU(True))
        elif layer.kind == "lrelu":
            mods.append(nn.LeakyReLU(0.2, True))
        elif layer.kind == "tanh":
            mods.append(nn.Tanh())
        else:
            raise ValueError(f"plain DCGAN: no {layer.kind!r} layer in the gpu preset")
    return nn.Sequential(*mods)


def weights_init(m: Any) -> None:
    """pytorch/examples' DCGAN initialisation."""
    from torch import nn

    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def plain_dcgan(cfg: TrainerConfig) -> tuple[Any, Any]:
    """G (z as a 1×1 image) and D (one logit per image) from ``dcgan_spec``."""
    from reference_trainers.dcgan_spec import discriminator_layers, generator_layers

    G = plain_layers(generator_layers(cfg.z_dim, cfg.width, cfg.image_size, 1))
    D = plain_layers(discriminator_layers(cfg.width, cfg.image_size, 1, "batch"))
    return G, D


def run_plain(trainer: str, cfg: TrainerConfig, probe: Probe) -> None:
    """The plain loop: same networks, batch, data, autocast, memory format and compilation as
    the trainer; BCE-with-logits GAN loss (pix2pix: + 100·L1), Adam(2e-4, (0.5, 0.999))."""
    import torch
    from torch import nn

    from reference_trainers import data

    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if trainer == "dcgan":
        x, channels = data.load(cfg.data, cfg.image_size)
        x = torch.from_numpy(x)
        assert channels == 1
        G, D = plain_dcgan(cfg)
        batches = data.Batches(x, cfg.batch_size, cfg.seed)
    else:
        from reference_trainers.pix2pix_torch import PatchGAN, UNet, patch_layers

        size = cfg.image_size
        pairs = tuple(
            torch.from_numpy(a)
            for a in data.paired_folder(cfg.data, "train", data.jitter_size(size))
        )
        G = UNet(3, 3, cfg.width, size, cfg.dropout)
        D = PatchGAN(6, cfg.width, patch_layers(size), "batch")
        batches = data.Batches(pairs, cfg.batch_size, cfg.seed)
        crop_gen = torch.Generator().manual_seed(cfg.seed)  # jitter on the CPU
    G.apply(weights_init)
    D.apply(weights_init)
    G.to(device, memory_format=fmt)
    D.to(device, memory_format=fmt)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    netG, netD = (torch.compile(G), torch.compile(D)) if cfg.compile else (G, D)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)

    def autocast() -> Any:
        if amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=amp)

    b, z_dim = int(cfg.batch_size), int(getattr(cfg, "z_dim", 0))  # pix2pix has none
    probe.start()
    while True:
        if trainer == "dcgan":
            real = batches.next().to(device).contiguous(memory_format=fmt)
            # (1) D: maximize log D(x) + log(1 - D(G(z)))
            with autocast():
                fake = netG(torch.randn(b, z_dim, 1, 1, device=device))
                out_real, out_fake = netD(real).view(-1), netD(fake.detach()).view(-1)
                err_d = criterion(out_real, torch.ones_like(out_real)) + criterion(
                    out_fake, torch.zeros_like(out_fake)
                )
            opt_d.zero_grad(set_to_none=True)
            err_d.backward()
            opt_d.step()
            # (2) G: maximize log D(G(z)), on a fresh batch of z as the trainer does
            with autocast():
                out = netD(netG(torch.randn(b, z_dim, 1, 1, device=device))).view(-1)
                err_g = criterion(out, torch.ones_like(out))
            opt_g.zero_grad(set_to_none=True)
            err_g.backward()
            opt_g.step()
        else:
            a, y = data.jitter(batches.next(), size, crop_gen)
            a = a.to(device).contiguous(memory_format=fmt)
            y = y.to(device).contiguous(memory_format=fmt)
            with autocast():
                fake = netG(a)
                out_real = netD(torch.cat([a, y], 1))
                out_fake = netD(torch.cat([a, fake.detach()], 1))
                err_d = criterion(out_real, torch.ones_like(out_real)) + criterion(
                    out_fake, torch.zeros_like(out_fake)
                )
            opt_d.zero_grad(set_to_none=True)
            err_d.backward()
            opt_d.step()
            with autocast():
                fake = netG(a)  # G again, as the trainer does
                out = netD(torch.cat([a, fake], 1))
                err_g = (
                    criterion(out, torch.ones_like(out)) + 100.0 * (fake.float() - y).abs().mean()
                )
            opt_g.zero_grad(set_to_none=True)
            err_g.backward()
            opt_g.step()
        if probe.after_step():
            return


# ------------------------------------------------------------------------------ the workers


def worker(conn: Any, trainer: str, impl: str, cfg: TrainerConfig, opts: dict[str, Any]) -> None:
    """One side in its own process: output to the log file, a compile cache of its own, then
    the loop; errors go back to the parent as one message."""
    t_setup = time.perf_counter()
    log = os.open(opts["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    print(f"\n=== {trainer} {impl} (pid {os.getpid()}) ===", flush=True)
    cache = Path(opts["cache"]) / f"{trainer}-{impl}"  # a cold compile for each side
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "inductor")
    os.environ["TRITON_CACHE_DIR"] = str(cache / "triton")
    try:
        import torch

        if opts["threads"]:
            torch.set_num_threads(opts["threads"])
        device = torch.device(cfg.device)
        probe = Probe(conn, device, cfg.batch_size, opts["warmup_s"], t_setup)
        if impl == "advloss":
            run_advloss(trainer, cfg, probe)
        else:
            run_plain(trainer, cfg, probe)
        if not probe.stopped:
            raise RuntimeError("the training loop ended before the benchmark stopped it")
        probe.send("done")
    except BaseException as err:
        traceback.print_exc()
        lines = traceback.format_exception_only(type(err), err)
        conn.send(("error", {"error": lines[-1].strip()[:500]}))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


class Side:
    """The parent's handle on one worker process."""

    def __init__(self, ctx: Any, trainer: str, impl: str, cfg: TrainerConfig, opts: dict) -> None:
        self.impl = impl
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(child, trainer, impl, cfg, opts), daemon=False)
        self.proc.start()
        child.close()
        self.info: dict[str, Any] = {"windows": []}

    def receive(self, timeout: float) -> tuple[str, dict[str, Any]]:
        if not self.conn.poll(timeout):
            return "error", {"error": f"no answer within {timeout:.0f} s"}
        try:
            message: tuple[str, dict[str, Any]] = self.conn.recv()
            return message
        except EOFError:
            return "error", {"error": f"the worker exited (code {self.proc.exitcode})"}

    def ask(self, command: tuple, expect: str, timeout: float) -> bool:
        if command:
            self.conn.send(command)
        kind, info = self.receive(timeout)
        if kind != expect:
            self.info.setdefault("error", info.get("error", kind))
            return False
        if kind == "window":
            self.info["windows"].append(info)
        else:
            self.info.update(info)
        return True

    def close(self) -> None:
        if self.proc.is_alive() and "error" not in self.info:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(("stop",))
                self.receive(60)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def measure(
    trainer: str,
    cfg: TrainerConfig,
    args: Any,
    opts: dict[str, Any],
    share: float,
    deadline: float,
) -> dict[str, Any]:
    """Both sides of one trainer: start each (set-up, compile, warm-up) one after the other,
    then alternate timed windows for ``--rounds`` rounds or until ``share`` (the first round
    always runs); a side not ready by ``deadline`` is recorded as failed."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    sides: dict[str, Side] = {}
    try:
        for impl in IMPLS:
            side = sides[impl] = Side(ctx, trainer, impl, cfg, opts)
            side.ask((), "ready", max(deadline - time.perf_counter(), 30.0))
            print(f"  {trainer} {impl}: " + (
                f"set-up {side.info['setup_s']:.1f} s, compile {side.info['compile_s']:.1f} s"
                if "error" not in side.info else f"FAILED: {side.info['error']}"), flush=True)  # fmt: skip
        live = [s for s in sides.values() if "error" not in s.info]
        for r in range(args.rounds):
            if r and time.perf_counter() + len(live) * (args.seconds + 5) > share:
                print(f"  {trainer}: stopped after {r} rounds (time budget)", flush=True)
                break
            for side in live if r % 2 == 0 else live[::-1]:
                if "error" not in side.info:
                    side.ask(("run", args.seconds), "window", args.seconds + 120)
            done = {s.impl: s.info["windows"][-1]["images_per_s"]
                    for s in live if s.info["windows"] and "error" not in s.info}  # fmt: skip
            print(f"  {trainer} round {r + 1}: " + ", ".join(
                f"{k} {v:.1f} images/s" for k, v in done.items()), flush=True)  # fmt: skip
    finally:
        for side in sides.values():
            side.close()
    return {impl: summarize(side.info) for impl, side in sides.items()}


def summarize(info: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    rates = [w["images_per_s"] for w in info["windows"]]
    out = dict(info)
    if rates:
        q25, q50, q75 = np.percentile(rates, [25, 50, 75])
        out.update(images_per_s=rates, median=float(q50), iqr=float(q75 - q25),
                   peak_bytes=max(w["peak_bytes"] for w in info["windows"]))  # fmt: skip
    return out


# ---------------------------------------------------------------------------------- output


def ratio(result: dict[str, Any]) -> float | None:
    a, p = result.get("advloss", {}), result.get("plain", {})
    if "median" in a and "median" in p and p["median"] > 0:
        return float(a["median"] / p["median"])
    return None


def markdown(results: dict[str, Any], info: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# GPU throughput: the reference trainers vs a plain PyTorch loop",
        "",
        report.header(info),
        "",
        f"Settings: {meta['settings']}. Each side in its own process with a cold compile cache; "
        f"{meta['rounds']} rounds of one {meta['seconds']:g} s window per side, the order "
        f"alternating; {meta['warmup_s']:g} s warm-up after the first {COMPILE_ITERATIONS} "
        f"iterations (the compile time). images/s = batch × iterations / window (real images, or "
        f"pairs for pix2pix). Code digest {info['code_digest']}.",
        "",
        table(results, meta),
        "",
        "advloss = the reference trainer (`" + "`, `".join(meta["commands"].values()) + "`) with "
        "its evaluations skipped; plain = the same networks, batch, data and settings with a "
        "BCE-with-logits step written in `benchmarks/gpu.py` (pytorch/examples style, no advloss). "
        "Worker output: `gpu.log`.",
        "",
    ]
    return "\n".join(lines)


def table(results: dict[str, Any], meta: dict[str, Any]) -> str:
    gib = 1024**3
    memory = (
        "peak CUDA memory allocated (GiB)" if meta["device"] == "cuda" else "peak RSS (GiB, CPU)"
    )
    lines = [
        f"| trainer | side | images/s (median) | IQR | rounds | {memory} | compile (s) | set-up (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for trainer, result in results.items():
        label = f"{trainer} {meta['shapes'][trainer]}"
        for impl in IMPLS:
            r = result.get(impl, {})
            if "median" not in r:
                lines.append(
                    f"| {label} | {impl} | failed: {r.get('error', 'not run')} | | | | | |"
                )
                continue
            lines.append(
                f"| {label} | {impl} | {r['median']:.1f} | {r['iqr']:.1f} | {len(r['images_per_s'])} "
                f"| {r['peak_bytes'] / gib:.2f} | {r.get('compile_s', float('nan')):.1f} "
                f"| {r.get('setup_s', float('nan')):.1f} |"
            )
        q = ratio(result)
        lines.append(f"| {label} | advloss / plain | {q:.3f} | | | | | |" if q is not None
                     else f"| {label} | advloss / plain | n/a | | | | | |")  # fmt: skip
    return "\n".join(lines)


def mini_facades(folder: Path, n: int = 8) -> Path:
    """A few synthetic-facades pairs in the pix2pix layout, for --dry-run (the full set takes
    ~15-35 s to generate on a small CPU)."""
    import shutil

    import numpy as np
    from PIL import Image

    from reference_trainers import facades

    textures = facades._textures()
    for split in ("train", "val"):
        (folder / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a, b = facades.example(split, i, textures)
            Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / split / f"{i:04d}.png")
    shutil.rmtree(folder / "test", ignore_errors=True)
    return folder


def shapes(dry_run: bool) -> dict[str, str]:
    from reference_trainers import dcgan, pix2pix

    out = {}
    for trainer, module in (("dcgan", dcgan), ("pix2pix", pix2pix)):
        p = dict(module.PRESETS["gpu"])
        args = DRY_ARGS[trainer] if dry_run else []
        for opt in ("--image-size", "--batch-size"):
            if opt in args:
                p[opt[2:].replace("-", "_")] = int(args[args.index(opt) + 1])
        out[trainer] = f"{p['image_size']}×{p['image_size']}, batch {p['batch_size']}"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--dry-run", action="store_true",
                   help="CPU, tiny sizes, no AMP or compile, short windows: the smoke test")  # fmt: skip
    p.add_argument("--out", default=None,
                   help="results folder (default benchmarks/results; --dry-run requires one)")  # fmt: skip
    p.add_argument("--seconds", type=float, default=None,
                   help="one timed window (default 8; dry run 0.5)")  # fmt: skip
    p.add_argument("--rounds", type=int, default=3, help="windows per side (>= 3 for an IQR)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of warm-up after the compile iterations (default 5; dry run 0.2)")  # fmt: skip
    p.add_argument("--budget", type=float, default=None,
                   help="total seconds: rounds left out past it (default 450; dry run 300)")  # fmt: skip
    p.add_argument("--trainers", default=",".join(TRAINERS), help="comma-separated: dcgan, pix2pix")
    p.add_argument("--no-compile", action="store_true",
                   help="both sides without torch.compile (where compilation fails)")  # fmt: skip
    p.add_argument("--commit", default=None,
                   help="the commit, where the tree has no git repository (a device machine's copy)")  # fmt: skip
    p.add_argument("--digest", action="store_true",
                   help="print the code digest (to match a result to a checkout) and exit")  # fmt: skip
    args = p.parse_args(argv)
    if args.digest:
        print(code_digest())
        return 0
    trainers = report.pick(p, "trainers", args.trainers, list(TRAINERS))
    if args.dry_run and not args.out:
        p.error("--dry-run needs --out (it never writes the committed results)")
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    dry = args.dry_run
    args.seconds = args.seconds if args.seconds is not None else (0.5 if dry else 8.0)
    warmup = args.warmup if args.warmup is not None else (0.2 if dry else 5.0)
    budget = args.budget if args.budget is not None else (300.0 if dry else 450.0)
    t0 = time.perf_counter()
    deadline = t0 + budget

    import torch

    if not dry and not torch.cuda.is_available():
        print(
            "benchmarks.gpu: no CUDA device (use --dry-run for the CPU smoke test)", file=sys.stderr
        )
        return 2
    from reference_trainers import facades
    from reference_trainers.metrics import cache_dir

    paths = report.paths("gpu", False, args.out)
    log = paths["md"].with_name("gpu.log")
    log.write_text("")
    meta = {
        "device": "cpu" if dry else "cuda",
        "seconds": args.seconds, "rounds": args.rounds, "warmup_s": warmup, "budget_s": budget,
        "settings": "CPU dry run: tiny sizes, float32, channels_last, no compile" if dry
        else "bf16 autocast, channels_last, "
        + ("no torch.compile" if args.no_compile else "torch.compile (default mode)")
        + ", cudnn.benchmark off",
        "shapes": shapes(dry),
        "commands": {t: command_line(t, dry, not args.no_compile) for t in trainers},
    }  # fmt: skip
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="advloss-gpu-") as tmp:
        opts = {"log": str(log), "cache": tmp, "warmup_s": warmup,
                "threads": 1 if dry else 0}  # fmt: skip
        folder = None
        if "pix2pix" in trainers:  # synthetic-facades as a folder: no segmenter for the metrics
            t = time.perf_counter()
            folder = str(
                mini_facades(Path(tmp) / "facades") if dry else facades.ensure(cache_dir())
            )
            meta["data_s"] = round(time.perf_counter() - t, 1)
        for i, trainer in enumerate(trainers):
            print(
                f"{trainer}: {meta['shapes'][trainer]} ({time.perf_counter() - t0:.0f} s in)",
                flush=True,
            )
            data = folder if trainer == "pix2pix" else None
            run_dir = str(Path(tmp) / f"{trainer}-run")
            cfg = trainer_config(trainer, dry, run_dir, data, not args.no_compile)
            # the time left, shared equally with the trainers still to come
            now = time.perf_counter()
            left = len(trainers) - i
            share = max(now + (deadline - now) / left, now + 60)
            # a slow start (compilation) may borrow from the later trainers' time, not all of it
            ready_by = deadline if left == 1 else max(now + (deadline - now) * 0.75, share)
            results[trainer] = measure(trainer, cfg, args, opts, share, ready_by)
            q = ratio(results[trainer])
            print(
                f"{trainer}: advloss / plain = {q:.3f}"
                if q is not None
                else f"{trainer}: incomplete",
                flush=True,
            )
            write(paths, results, meta, args)  # after each trainer: partial results survive a kill
    print(table(results, meta))
    print(f"wrote {paths['md']} and {paths['json']} in {time.perf_counter() - t0:.0f} s")
    ok = all(ratio(r) is not None for r in results.values())
    return 0 if ok else 1


def write(
    paths: dict[str, Path], results: dict[str, Any], meta: dict[str, Any], args: Any
) -> dict[str, Any]:
    import torch  # report.machine names the GPU and torch's version once torch is imported

    info = report.machine("benchmarks.gpu", code_digest=code_digest())
    if os.environ.get("ADVLOSS_GPU_COMMAND"):  # started by benchmarks/gpu.sh
        info["command"] = os.environ["ADVLOSS_GPU_COMMAND"]
    if info["commit"] == "?" and args.commit:  # a copy of the tree without its repository
        info["commit"] = f"{args.commit} (given with --commit; no git repository here)"
    if "gpu" in info:
        info["gpu_memory_gib"] = round(
            torch.cuda.get_device_properties(0).total_memory / 1024**3, 1
        )
    report.write(paths["md"], markdown(results, info, meta))
    ratios = {t: ratio(r) for t, r in results.items()}
    report.write_json(paths["json"], {"machine": info, "meta": meta, "results": results,
                                      "ratio_advloss_over_plain": ratios})  # fmt: skip
    return info


if __name__ == "__main__":
    sys.exit(main())
