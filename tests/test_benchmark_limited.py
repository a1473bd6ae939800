"""``python -m benchmarks.limited`` (issue 19, limited data): the run options, the curves a run's
rows hold, the table; (slow) a smoke run that writes the table and the figure and redraws them
from the JSON; and ``benchmarks.augment_cost``'s smoke."""

from __future__ import annotations

import json

import pytest

from benchmarks import limited


def _rows(p_values):
    rows = [{"step": 0, "eval": True, "fd": 400.0, "fd_baseline": 1.8}]
    for i, p in enumerate(p_values, 1):
        rows.append({"step": i * 10, "d_loss": 1.0, "r_t": 0.5 + i / 10, "augment_p": p})
    rows.append({"step": 40, "eval": True, "fd": 100.0, "fd_baseline": 1.8, "coverage": 1.0,
                 "class_kl": 0.1})  # fmt: skip
    return rows


def test_options_and_summaries():
    job = {"config": "apa", "size": 100, "seed": 2, "steps": 2000, "eval_samples": 1000}
    opts = limited.options(job)
    assert opts[:4] == ["--augment", "apa", "--augment-kimg", limited.KIMG]
    assert opts[4:] == ["--train-size", "100", "--seed", "2", "--eval-every", "500",
                        "--log-every", "25", "--eval-samples", "1000"]  # fmt: skip
    s = limited.summarize({**job, "steps": 40}, _rows([0.0, 0.1, 0.2, 0.3]))
    assert s["curve"]["p"] == [0.0, 0.1, 0.2, 0.3] and s["p_end"] == 0.3
    assert s["r_t_end"] == pytest.approx(0.9) and s["fd_best"] == 100.0  # r_t at step 40 only
    assert "p_end" not in limited.summarize({**job, "steps": 40}, _rows([None] * 4))
    runs = [{"config": c, "seed": 0, "steps": 40, "size": 100, "fd": 100.0, "coverage": 1.0,
             "class_kl": 0.1, "fd_baseline": 1.8, **limited.summarize({**job, "steps": 40}, _rows(p))}
            for c, p in (("none", [None] * 4), ("apa", [0.0, 0.1, 0.2, 0.3]))]  # fmt: skip
    info = {"command": "python -m benchmarks.limited", "date": "d", "commit": "c", "cpu": "x",
            "logical_cpus": 2, "versions": {"python": "3"}}  # fmt: skip
    md = limited.markdown(runs, {"100": {"fd": 5.0, "coverage": 1.0, "class_kl": 0.0}}, info)
    assert "## 100 training images" in md and "| apa | 100.0 | 100.0 |" in md
    assert "*the 100 training images themselves* | 5.0 |" in md and "fd 1.80" in md


@pytest.mark.slow
def test_quick_smoke_writes_the_table_and_the_figure(tmp_path):
    out, work = tmp_path / "res", tmp_path / "work"
    args = ["--quick", "--configs", "diffaug", "--steps", "4", "--workers", "1",
            "--out", str(out), "--work", str(work)]  # fmt: skip
    assert limited.main(args) == 0
    data = json.loads((out / "limited-quick.json").read_text())
    (run,) = data["runs"]
    assert run["config"] == "diffaug" and run["size"] == 100 and len(run["curve"]["r_t"]) == 4
    assert set(data["references"]) == {"100"} and data["references"]["100"]["fd"] > 0
    md = (out / "limited-quick.md").read_text()
    assert "| diffaug |" in md and "Command: `python -m benchmarks.limited" in md
    assert (out / "limited-quick.png").stat().st_size > 5000
    (out / "limited-quick.png").unlink()
    assert limited.main(["--quick", "--replot", "--out", str(out)]) == 0
    assert (out / "limited-quick.png").exists()
    with pytest.raises(SystemExit):
        limited.main(["--configs", "zoom"])


@pytest.mark.slow
def test_augment_cost_quick_smoke(tmp_path):
    from benchmarks import augment_cost

    assert (
        augment_cost.main(["--quick", "--rounds", "2", "--number", "1", "--out", str(tmp_path)])
        == 0
    )
    data = json.loads((tmp_path / "augment_cost-quick.json").read_text())
    names = [r["variant"] for r in data["d_step"]]
    assert names[:3] == ["none", "advloss diffaugment", "reference DiffAugment"]
    assert all(r["ms"] > 0 for r in data["d_step"] + data["alone"])
    md = (tmp_path / "augment_cost-quick.md").read_text()
    assert "× reference DiffAugment" in md and "Load average before / after" in md


def test_the_reference_diffaugment_recreation_keeps_shapes_and_ranges():
    """The timing re-creation does the reference's work: translation moves pixels by at most
    H/8, cutout zeroes a (H/2 × W/2) rectangle clipped to the image."""
    torch = pytest.importorskip("torch")
    from benchmarks import augment_cost

    torch.manual_seed(0)
    x = torch.ones(16, 1, 16, 16)
    y = augment_cost._ref_cutout(x)
    zeros = (y == 0).sum(dim=(1, 2, 3))
    assert y.shape == x.shape and int(zeros.max()) == 64 and int(zeros.min()) >= 16
    t = augment_cost._ref_translation(torch.arange(16.0).repeat(4, 1, 16, 1))
    assert t.shape == (4, 1, 16, 16) and float(t.max()) <= 15.0
    assert augment_cost.reference_diffaugment(x).shape == x.shape
