"""What the trainers share: the command line and config files, the objective built from them,
the run directory (config.json, metrics.jsonl, samples/, curves.png), atomic checkpoints with
every random state, and one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import advloss
from advloss.labels import FlipLabels, SmoothLabels


class TrainerError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


# ------------------------------------------------------------------------------ command line


def common_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    a = p.add_argument
    a("--config", help="a JSON or YAML file with any of these options (command line wins)")
    a("--preset", choices=["cpu", "gpu"], default="cpu", help="size/steps defaults (default cpu)")
    a(
        "--loss",
        default="ns",
        help="any registered loss: minimax, ns, lsgan, hinge, wgan, ragan, ...",
    )
    a("--penalty", default="none", help="none, gp, r1, r2 (or a registered penalty)")
    a("--penalty-weight", type=float, default=None, help="gp: lambda (10); r1/r2: gamma (10)")
    a("--penalty-every", type=int, default=1, help="lazy regularization interval k")
    a("--spectral-norm", action="store_true", help="spectral normalization on D's layers")
    a("--real-label", type=float, default=1.0, help="one-sided label smoothing target (0.9)")
    a("--flip-prob", type=float, default=0.0, help="label flipping probability")
    a(
        "--instance-noise",
        default=None,
        metavar="START[:END:STEPS]",
        help="instance-noise std: constant, or linear from START to END over STEPS; 'adaptive'",
    )
    a("--d-steps", type=int, default=1, help="discriminator updates per iteration")
    a("--g-steps", type=int, default=1, help="generator updates per iteration")
    a(
        "--adaptive-ratio",
        action="store_true",
        help="adapt the G:D ratio to keep D's accuracy in 40-60%% (overrides --d-steps/--g-steps)",
    )
    a("--lr-g", type=float, default=2e-4)
    a("--lr-d", type=float, default=2e-4)
    a("--beta1", type=float, default=0.5)
    a("--beta2", type=float, default=0.999)
    a("--batch-size", type=int, default=None)
    a("--steps", type=int, default=None,
      help="training iterations (each: --d-steps D updates, then --g-steps G updates)")  # fmt: skip
    a("--seed", type=int, default=0)
    a("--device", choices=["auto", "cpu", "cuda"], default="auto")
    a("--amp", choices=["none", "bf16", "fp16"], default="none")
    a("--compile", action="store_true", help="torch.compile the networks")
    a(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels_last memory format for networks and batches (gpu preset: on)",
    )
    a("--data", default=None, help="dataset name or folder")
    a("--out", default=None, help="run directory (default runs/<trainer>-<loss>-...)")
    a("--resume", action="store_true", help="continue from the checkpoint in --out")
    a("--eval-every", type=int, default=None, help="steps between evaluations")
    a("--log-every", type=int, default=None, help="steps between metrics rows")
    return p


def resolve(
    parser: argparse.ArgumentParser, argv: list[str] | None, presets: dict[str, dict]
) -> dict[str, Any]:
    """Command line > config file > preset > parser defaults, as one plain dict."""
    args = parser.parse_args(argv)
    explicit = {k for k in vars(args) if _given(parser, argv, k)}
    config: dict[str, Any] = dict(vars(args))
    file_values: dict[str, Any] = {}
    if args.config:
        file_values = _read_config(args.config)
        known = set(config)
        unknown = sorted(set(file_values) - known)
        if unknown:
            raise TrainerError(f"--config {args.config}: unknown options {unknown}")
    preset = presets[args.preset]
    for key, value in preset.items():
        if key not in explicit and key not in file_values and config.get(key) is None:
            config[key] = value
    actions = {a.dest: a for a in parser._actions}
    for key, value in file_values.items():
        if key not in explicit:
            config[key] = _checked(args.config, actions[key], value)
    return config


def _checked(path: str, action: argparse.Action, value: Any) -> Any:
    """A config-file value converted and checked like the same option on the command line."""
    flag = action.option_strings[0] if action.option_strings else action.dest
    if value is not None and action.type is not None and isinstance(value, str):
        try:
            value = action.type(value)  # type: ignore[operator]
        except (TypeError, ValueError):
            raise TrainerError(f"--config {path}: {flag} {value!r} is not valid") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise TrainerError(f"--config {path}: {flag} {value!r}; expected one of {choices}")
    return value


def _given(parser: argparse.ArgumentParser, argv: list[str] | None, dest: str) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    for action in parser._actions:
        if action.dest == dest:
            return any(a == o or a.startswith(o + "=") for a in argv for o in action.option_strings)
    return False


def _read_config(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise TrainerError(f"--config: no such file {path}")
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:
        raise TrainerError(f"--config {path}: cannot parse ({err})") from None
    if not isinstance(data, dict):
        raise TrainerError(f"--config {path}: expected a mapping of options")
    return {k.replace("-", "_"): v for k, v in data.items()}


def build_objective(cfg: dict[str, Any]) -> advloss.Objective:
    """The advloss objective the options describe (clear errors for impossible combinations)."""
    penalties: list[Any] = []
    if cfg["penalty"] != "none":
        kwargs: dict[str, Any] = {"every": cfg["penalty_every"]}
        if cfg["penalty_weight"] is not None:
            kwargs["weight" if cfg["penalty"] == "gp" else "gamma"] = cfg["penalty_weight"]
        penalties.append(advloss.get_penalty(cfg["penalty"], **kwargs))
    labels: list[Any] = []
    if cfg["real_label"] != 1.0:
        labels.append(SmoothLabels(real=cfg["real_label"]))
    if cfg["flip_prob"]:
        labels.append(FlipLabels(p=cfg["flip_prob"]))
    noise = cfg["instance_noise"]
    return advloss.Objective(cfg["loss"], penalties=penalties, labels=labels, instance_noise=noise)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainerError("--device cuda: no CUDA device is available")
    return torch.device(name)


# ------------------------------------------------------------------------------- run directory


class Run:
    """The run directory: config.json, metrics.jsonl, samples/, curves.png and the checkpoint
    (``checkpoint.pt`` for PyTorch, ``checkpoint.npz`` for the JAX and TensorFlow trainers)."""

    def __init__(
        self,
        out: str,
        config: dict[str, Any],
        resume: bool,
        *,
        write: bool = True,
        checkpoint: str = "checkpoint.pt",
    ) -> None:
        self.dir = Path(out)
        self.write = write  # False on DDP ranks other than 0: they only read checkpoints
        self.checkpoint_path = self.dir / checkpoint
        self.metrics_path = self.dir / "metrics.jsonl"
        if resume and not self.checkpoint_path.is_file():
            other = [n for n in CHECKPOINTS if n != checkpoint and (self.dir / n).is_file()]
            by = "--framework torch" if other and other[0].endswith(".pt") else "jax or tf"
            found = f" (it holds {other[0]}, written by the {by} trainer)" if other else ""
            raise TrainerError(f"--resume: no checkpoint ({checkpoint}) in {self.dir}{found}")
        if not resume and _holds_run(self.dir):
            raise TrainerError(
                f"{self.dir} already holds a run; pass --resume to continue it or choose --out"
            )
        if resume:
            check_same_options(self.dir / "config.json", config)
        if write:
            (self.dir / "samples").mkdir(parents=True, exist_ok=True)
            (self.dir / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True))

    def truncate_metrics(self, step: int) -> None:
        """Drop rows written after ``step`` (by a run interrupted after its last checkpoint)."""
        if not self.write or not self.metrics_path.exists():
            return
        rows = [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line]
        keep = [r for r in rows if r["step"] <= step]  # rows of step <= S precede checkpoint S
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in keep))

    def log(self, row: dict[str, Any]) -> None:
        if not self.write:
            return
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line]

    def save(self, state: dict[str, Any]) -> None:
        """Write the checkpoint atomically: a crash mid-write leaves the previous one intact."""
        tmp = self.checkpoint_path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint_path)

    def load(self) -> dict[str, Any]:
        try:
            return torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise TrainerError(
                f"--resume: the checkpoint {self.checkpoint_path} cannot be read ({type(err).__name__}); "
                f"it is corrupt or from another version"
            ) from None


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _np_state(),
        "python": _py_state(),
    }
    state.update({f"gen.{k}": g.get_state() for k, g in generators.items()})
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    for k, g in generators.items():
        g.set_state(state[f"gen.{k}"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def _np_state() -> list[Any]:
    s: Any = np.random.get_state()
    return [s[0], s[1].tolist(), int(s[2]), int(s[3]), float(s[4])]


def _py_state() -> list[Any]:
    s = random.getstate()
    return [s[0], list(s[1]), s[2]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX ``flock``), so that processes that start together
    build a shared cache once; without POSIX locks the work may run twice (still atomic)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------------ output


class Progress:
    """A one-line progress bar with live values (a plain line per update when not a TTY)."""

    def __init__(self, total: int, start: int = 0) -> None:
        self.total, self.t0, self.start = total, time.perf_counter(), start
        self.tty = sys.stderr.isatty()

    def update(self, step: int, values: dict[str, float]) -> None:
        done = step / max(self.total, 1)
        rate = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
        eta = (self.total - step) / max(rate, 1e-9)
        bar = "#" * int(24 * done) + "-" * (24 - int(24 * done))
        text = " ".join(f"{k} {v:.3g}" for k, v in values.items())
        line = f"[{bar}] {step}/{self.total} {rate:.1f} it/s eta {eta:.0f}s {text}"
        if self.tty:
            print("\r" + line[:160], end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """Save a (N, C, H, W) batch in [-1, 1] as a PNG grid."""
    from PIL import Image

    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    grid = torch.zeros(c, rows * (h + 2) + 2, nrow * (w + 2) + 2, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[
            :, 2 + r * (h + 2) : 2 + r * (h + 2) + h, 2 + col * (w + 2) : 2 + col * (w + 2) + w
        ] = x[i]
    array = grid.permute(1, 2, 0).numpy()
    Image.fromarray(array[..., 0] if c == 1 else array).save(path)


def plot_curves(rows: list[dict[str, Any]], path: Path, quality: str | list[str]) -> None:
    """curves.png: losses, mean D(real)/D(fake), the two accuracies (the discriminator-dominance
    plot) and the quality metric(s) over steps, each beside its real-data baseline if logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qualities = [quality] if isinstance(quality, str) else list(quality)
    train = [r for r in rows if "d_loss" in r]
    fig, axes = plt.subplots(1, 3 + len(qualities), figsize=(4.5 * (3 + len(qualities)), 3.6))
    steps = [r["step"] for r in train]
    for key in ("d_loss", "g_loss"):
        axes[0].plot(steps, [r[key] for r in train], label=key)
    for key in ("d_real", "d_fake"):
        axes[1].plot(steps, [r.get(key, float("nan")) for r in train], label=f"mean {key}")
    for key in ("d_real_acc", "d_fake_acc"):
        axes[2].plot(steps, [r.get(key, float("nan")) for r in train], label=key)
    axes[2].axhspan(0.4, 0.6, color="green", alpha=0.08, label="balanced band")
    axes[2].set_ylim(-0.02, 1.02)
    for name, ax in zip(qualities, axes[3:], strict=True):
        evals = [r for r in rows if name in r]
        ax.plot([r["step"] for r in evals], [r[name] for r in evals], "o-", label=name)
        if name == "fd" and evals and all(r[name] > 0 for r in evals):
            ax.set_yscale("log")
        if evals and f"{name}_baseline" in evals[0]:
            ax.axhline(evals[0][f"{name}_baseline"], color="gray", ls="--", label="real data")
    titles = ("losses", "discriminator outputs", "discriminator accuracy", *qualities)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn TrainerError and advloss's validation errors into one line and exit status 2."""
    try:
        yield
    except (TrainerError, advloss.AdvlossError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


CHECKPOINTS = ("checkpoint.pt", "checkpoint.npz")
#: options a resumed run may change: lengths, logging, evaluation size and where it runs
RESUMABLE = {"steps", "eval_every", "log_every", "eval_samples", "out", "resume", "device",
             "config", "compile", "channels_last"}  # fmt: skip


def _holds_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in CHECKPOINTS)


def check_same_options(path: Path, config: dict[str, Any]) -> None:
    """A resumed run must train what its checkpoint was written with: every option but those
    in :data:`RESUMABLE` must equal the stored ``config.json``'s (options it does not have,
    from an older version, are not compared)."""
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        raise TrainerError(f"--resume: {path} cannot be read (the run's options)") from None
    for key in sorted(set(stored) & set(config) - RESUMABLE):
        if stored[key] != config[key]:
            flag = "--" + key.replace("_", "-")
            raise TrainerError(
                f"--resume: the run in {path.parent} was written with {flag} {stored[key]}; this "
                f"command has {flag} {config[key]} (resume with the options it was written with, "
                f"or choose another --out)"
            )


def main(
    trainer: str,
    parser: argparse.ArgumentParser,
    presets: dict[str, dict],
    train: Any,
    argv: list[str] | None,
) -> int:
    """A trainer's command: resolve the options, pick a fresh run directory unless --out is
    given, train; user errors become one line and exit status 2."""
    with one_line_errors():
        cfg = resolve(parser, argv, presets)
        if cfg["out"] is None:  # a fresh directory per run (an explicit --out is never reused)
            framework = cfg.get("framework", "torch")
            name = trainer if framework == "torch" else f"{trainer}-{framework}"
            base = f"runs/{name}-{cfg['loss']}-{cfg['penalty']}-seed{cfg['seed']}"
            out, i = base, 2
            while _holds_run(Path(out)) and not cfg["resume"]:
                out, i = f"{base}-{i}", i + 1
            cfg["out"] = out
        train(cfg)
    return 0
