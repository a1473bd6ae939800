"""What augmentation costs per discriminator step: advloss's DiffAugment against the reference
implementation and against no augmentation (PyTorch, CPU).

    python -m benchmarks.augment_cost             # full: 30 interleaved rounds of 20 steps
    python -m benchmarks.augment_cost --quick     # smoke: 3 rounds of 2 steps

One discriminator step of the DCGAN reference trainer's CPU preset (16×16 digits-shaped batches,
batch 64, width 32, batch norm; the ns loss; Adam): forward on the real and the fake batch,
backward, optimizer step -- without augmentation, with ``advloss.augment.diffaugment`` (policy
color,translation,cutout, drawing from torch's global generator, as the reference does), and
with the reference DiffAugment (mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py`` at
HEAD), re-created below from its source for this comparison.  Then the augmentation alone (both
batches, forward only), and ``advloss.augment.ada`` (p = 0.5) where it exists.

The variants run in interleaved rounds (``report.interleaved_rounds``: each round times every
variant, the order reversed every other round), on one thread; the table gives the median ms per
step and the interquartile range over rounds, the per-round paired ratios' median and IQR, and
the load average before and after.  The issue's goal: advloss ≤ 1.1× the reference.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import report

POLICY = "color,translation,cutout"
BATCH, SIZE, CHANNELS, WIDTH = 64, 16, 1, 32


# ----------------------------------------------------- the reference, re-created for timing


def reference_diffaugment(x: Any, policy: str = POLICY) -> Any:
    """mit-han-lab/data-efficient-gans ``DiffAugment(x, policy)`` (channels first), re-created
    from ``DiffAugment_pytorch.py`` at HEAD: the same draws (``torch.rand`` /
    ``torch.randint``) and the same tensor operations (a gather from the zero-padded batch for
    translation, a scatter of zeros into a mask for cutout), so it costs what the reference
    costs."""
    transforms: dict[str, list[Callable[[Any], Any]]] = {
        "color": [_ref_brightness, _ref_saturation, _ref_contrast],
        "translation": [_ref_translation],
        "cutout": [_ref_cutout],
    }
    for name in policy.split(","):
        for fn in transforms[name]:
            x = fn(x)
    return x


def _per_sample_uniform(x: Any) -> Any:
    import torch

    return torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device)


def _ref_brightness(x: Any) -> Any:
    return x + (_per_sample_uniform(x) - 0.5)


def _ref_saturation(x: Any) -> Any:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_per_sample_uniform(x) * 2) + mean


def _ref_contrast(x: Any) -> Any:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_per_sample_uniform(x) + 0.5) + mean


def _grids(n: int, h: int, w: int, device: Any) -> tuple[Any, Any, Any]:
    import torch

    return torch.meshgrid(
        torch.arange(n, device=device),
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )


def _ref_translation(x: Any, ratio: float = 0.125) -> Any:
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, size=[n, 1, 1], device=x.device)
    dx = torch.randint(-sw, sw + 1, size=[n, 1, 1], device=x.device)
    gb, gy, gx = _grids(n, h, w, x.device)
    gy = torch.clamp(gy + dy + 1, 0, h + 1)
    gx = torch.clamp(gx + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded[gb, :, gy, gx].permute(0, 3, 1, 2)


def _ref_cutout(x: Any, ratio: float = 0.5) -> Any:
    import torch

    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), size=[n, 1, 1], device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), size=[n, 1, 1], device=x.device)
    gb, gy, gx = _grids(n, ch, cw, x.device)
    gy = torch.clamp(gy + oy - ch // 2, min=0, max=h - 1)
    gx = torch.clamp(gx + ox - cw // 2, min=0, max=w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


# --------------------------------------------------------------------------------- timing


def variants() -> dict[str, Callable[[Any], Any] | None]:
    """Name -> the augmentation of one batch (None: none)."""
    import advloss.augment

    out: dict[str, Callable[[Any], Any] | None] = {
        "none": None,
        "advloss diffaugment": lambda x: advloss.augment.diffaugment(x, POLICY),
        "reference DiffAugment": reference_diffaugment,
    }
    ada = getattr(advloss.augment, "ada", None)
    if ada is not None:
        out["advloss ada (p = 0.5)"] = lambda x: ada(x, 0.5)
    return out


def timers() -> tuple[dict[str, Callable[[], Any]], dict[str, Callable[[], Any]]]:
    """``(D steps, augmentation alone)``: one zero-argument callable per variant."""
    import torch

    import advloss
    from reference_trainers.dcgan_torch import Discriminator, init_weights

    torch.manual_seed(0)
    D = Discriminator(WIDTH, SIZE, CHANNELS, "batch")
    D.apply(init_weights)
    opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    loss = advloss.get_loss("ns")
    real = torch.rand(BATCH, CHANNELS, SIZE, SIZE) * 2 - 1
    fake = torch.rand(BATCH, CHANNELS, SIZE, SIZE) * 2 - 1

    def d_step(aug: Callable[[Any], Any] | None) -> Callable[[], Any]:
        def step() -> None:
            r, f = (real, fake) if aug is None else (aug(real), aug(fake))
            total = loss.discriminator(D(r), D(f))
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()

        return step

    def alone(aug: Callable[[Any], Any]) -> Callable[[], Any]:
        def call() -> None:
            aug(real)
            aug(fake)

        return call

    found = variants()
    steps = {name: d_step(aug) for name, aug in found.items()}
    calls = {name: alone(aug) for name, aug in found.items() if aug is not None}
    return steps, calls


def summarize(times: dict[str, list[float]], base: str, against: str) -> list[dict[str, Any]]:
    """Per variant: median ms and IQR over rounds; per-round paired ratios to ``base`` and to
    ``against`` (median and IQR)."""
    rows = []
    for name, values in times.items():
        med, q1, q3 = report.median_iqr([v * 1e3 for v in values])
        row: dict[str, Any] = {"variant": name, "ms": med, "ms_q1": q1, "ms_q3": q3}
        for key, other in (("vs_base", base), ("vs_reference", against)):
            if other in times and other != name:
                ratios = [a / b for a, b in zip(values, times[other], strict=True)]
                row[key], row[f"{key}_q1"], row[f"{key}_q3"] = report.median_iqr(ratios)
        rows.append(row)
    return rows


def _ratio(row: dict[str, Any], key: str) -> str:
    if key not in row:
        return "—"
    return f"{row[key]:.3f} ({row[f'{key}_q1']:.3f}–{row[f'{key}_q3']:.3f})"


def markdown(data: dict[str, Any]) -> str:
    info = data["machine"]
    lines = [
        "# Augmentation cost per discriminator step (PyTorch, CPU, 1 thread)", "",
        report.header(info), "",
        f"Protocol: `benchmarks/augment_cost.py` (module docstring). {data['rounds']} interleaved "
        f"rounds of {data['number']} calls; median and interquartile range over rounds; ratios "
        "are per-round paired ratios (median and IQR). Load average before / after: "
        f"{data['load_before']} / {data['load_after']}.", "",
        f"## One D step (batch {BATCH}, {SIZE}×{SIZE}, width {WIDTH}, batch norm, ns, Adam)", "",
    ]  # fmt: skip
    header = ["variant", "ms per step (IQR)", "× no augmentation", "× reference DiffAugment"]
    rows = [[r["variant"], f"{r['ms']:.2f} ({r['ms_q1']:.2f}–{r['ms_q3']:.2f})",
             _ratio(r, "vs_base"), _ratio(r, "vs_reference")] for r in data["d_step"]]  # fmt: skip
    lines += [*report.table(header, rows), ""]
    lines += ["## The augmentation alone (real and fake batch, forward)", ""]
    header = ["variant", "ms per call (IQR)", "× reference DiffAugment"]
    rows = [[r["variant"], f"{r['ms']:.2f} ({r['ms_q1']:.2f}–{r['ms_q3']:.2f})",
             _ratio(r, "vs_reference")] for r in data["alone"]]  # fmt: skip
    lines += [*report.table(header, rows), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.augment_cost", description=__doc__.splitlines()[0]
    )
    p.add_argument("--quick", action="store_true", help="smoke: 3 rounds of 2 calls")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 30)")
    p.add_argument("--number", type=int, default=None, help="calls per round (default 20)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    from reference_trainers.common import limit_threads

    limit_threads(1)
    rounds = args.rounds or (3 if args.quick else 30)
    number = args.number or (2 if args.quick else 20)
    load_before = [round(x, 2) for x in os.getloadavg()]
    steps, calls = timers()
    base, reference = "none", "reference DiffAugment"
    for fn in (*steps.values(), *calls.values()):  # warm-up: allocator, first-call paths
        fn()
    d_times = report.interleaved_rounds(steps, rounds, number)
    a_times = report.interleaved_rounds(calls, rounds, number)
    load_after = [round(x, 2) for x in os.getloadavg()]
    import torch

    info = report.machine("benchmarks.augment_cost", quick=args.quick, threads=1,
                          torch=torch.__version__)  # fmt: skip
    data = {
        "machine": info, "rounds": rounds, "number": number, "load_before": load_before,
        "load_after": load_after, "d_step": summarize(d_times, base, reference),
        "alone": summarize(a_times, base, reference),
        "raw": {"d_step": d_times, "alone": a_times},
    }  # fmt: skip
    out = report.paths("augment_cost", args.quick, args.out)
    report.write_json(out["json"], data)
    report.write(out["md"], markdown(data))
    print(f"wrote {out['md']}, {out['json'].name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
