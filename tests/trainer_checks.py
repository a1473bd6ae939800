"""Checks shared by the reference-trainer tests (tests/test_trainers.py, tests/test_pix2pix.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

TRAIN_KEYS = {"d_loss", "g_loss", "d_adversarial", "g_adversarial", "d_real_acc", "d_fake_acc",
              "d_real", "d_fake"}  # fmt: skip


def rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def check_four_step_run(out: Path, options: list[str]) -> tuple[list[dict], list[dict]]:
    """A run of ``--steps 4 --eval-every 4 --log-every 2``: every output file, samples at steps
    0 and 4, training rows at 2 and 4 with every logged key and finite losses, the penalty term
    when one was asked for.  Returns (training rows, evaluation rows)."""
    for name in ("config.json", "metrics.jsonl", "curves.png", "checkpoint.pt"):
        assert (out / name).is_file(), name
    samples = sorted(p.name for p in (out / "samples").iterdir())
    assert samples == ["step_000000.png", "step_000004.png"]
    train = [r for r in rows(out) if "d_loss" in r]
    evals = [r for r in rows(out) if r.get("eval")]
    assert [r["step"] for r in train] == [2, 4] and [r["step"] for r in evals] == [0, 4]
    for r in train:
        assert set(r) >= TRAIN_KEYS, TRAIN_KEYS - set(r)
        assert np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
    if "--penalty" in options:
        penalty = options[options.index("--penalty") + 1]
        assert f"d_{penalty}" in train[-1], sorted(train[-1])
    return train, evals
