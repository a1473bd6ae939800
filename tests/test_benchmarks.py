"""The benchmark scripts on tiny settings: their metrics against known answers, their outputs,
and reuse of finished runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from benchmarks import toy2d


@pytest.mark.parametrize("dataset", ["ring", "grid"])
def test_toy2d_metrics_on_known_distributions(dataset):
    c, sigma = toy2d.centres(dataset)
    k = len(c)
    rng = np.random.default_rng(0)
    real = c[rng.integers(0, k, 2500)] + sigma * rng.standard_normal((2500, 2))
    s = toy2d.score(real, dataset)
    # within 3 sigma in 2D: P = 1 - exp(-9/2) = 98.9 %
    assert s["modes"] == k and abs(s["hq"] - 98.9) < 1.0 and s["rkl"] < 0.02
    collapsed = c[3] + sigma * rng.standard_normal((2500, 2))
    s = toy2d.score(collapsed, dataset)
    assert s["modes"] == 1 and s["rkl"] == pytest.approx(np.log(k))
    blurry = c[rng.integers(0, k, 2500)] + 20 * sigma * rng.standard_normal((2500, 2))
    s = toy2d.score(blurry, dataset)
    assert s["hq"] < 5 and s["rkl"] < 0.1  # spread over modes, but few high-quality samples
    assert toy2d.score(np.full((100, 2), 50.0), dataset)["modes"] == 0


def test_toy2d_command_writes_tables_and_reuses_runs(tmp_path, capsys):
    args = ["--datasets", "ring", "--losses", "ns,wgan", "--regs", "none,gp", "--seeds", "0",
            "--steps", "30", "--workers", "1", "--out", str(tmp_path)]  # fmt: skip
    assert toy2d.main(args) == 0
    md = (tmp_path / "toy2d.md").read_text()
    assert "## ring: modes captured (of 8)" in md and "| wgan |" in md and "Machine:" in md
    data = json.loads((tmp_path / "toy2d.json").read_text())
    assert len(data["runs"]) == 4 and {r["reg"] for r in data["runs"]} == {"none", "gp"}
    assert all(0 <= r["modes"] <= 8 and 0 <= r["hq"] <= 100 for r in data["runs"])
    assert (tmp_path / "toy2d.png").stat().st_size > 1000
    lines = (tmp_path / "toy2d.runs.jsonl").read_text().splitlines()
    assert toy2d.main(args) == 0  # every run cached: nothing recomputed
    assert (tmp_path / "toy2d.runs.jsonl").read_text().splitlines() == lines
    assert "4 runs (4 cached)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        toy2d.main(["--losses", "nonsaturating"])


def test_toy2d_sn_study_options(tmp_path, capsys):
    """--name, --variants (scale, SN power iterations and layers): one row per setting, a
    none run an SN-only variant shares is run once, and a run at the defaults keeps the cache
    key it had before these options existed (the committed toy2d runs stay valid)."""
    legacy = {"dataset": "ring", "loss": "ns", "reg": "sn", "seed": 0, "steps": 8000,
              "batch": 256, "lr": 1e-3}  # fmt: skip
    assert toy2d.key(legacy) == json.dumps([1, "ring", "ns", "sn", 0, 8000, 256, 1e-3])
    assert toy2d.key({**legacy, **toy2d.DEFAULTS}) == toy2d.key(legacy)
    assert toy2d.key({**legacy, "scale": 10.0}) != toy2d.key(legacy)
    none = {**legacy, "reg": "none"}
    assert toy2d.key({**none, "sn_iters": 5}) == toy2d.key(none)  # SN settings: sn runs only
    args = ["--name", "study", "--datasets", "ring", "--losses", "ns", "--regs", "none,sn",
            "--seeds", "0", "--steps", "5", "--workers", "1", "--out", str(tmp_path),
            "--variants", "base,scale=10,sn_iters=2+sn_layers=all-but-last"]  # fmt: skip
    assert toy2d.main(args) == 0
    assert "6 runs (1 cached)" in capsys.readouterr().err  # the shared none run
    assert len((tmp_path / "study.runs.jsonl").read_text().splitlines()) == 5
    md = (tmp_path / "study.md").read_text()
    assert "| loss | setting | none | sn |" in md and "| ns | scale=10 |" in md
    assert "| ns | sn_iters=2+sn_layers=all-but-last |" in md
    data = json.loads((tmp_path / "study.json").read_text())
    assert data["machine"]["variants"]["scale=10"]["scale"] == 10.0
    cell = next(c for c in data["cells"] if (c["variant"], c["reg"]) == ("scale=10", "sn"))
    assert cell["n"] == 1 and 0 <= cell["hq"] <= 100
    runs = {(r["variant"], r["reg"]): r for r in data["runs"]}
    assert runs["scale=10", "none"]["scale"] == 10.0 and "scale" not in runs["base", "none"]
    assert runs["sn_iters=2+sn_layers=all-but-last", "sn"]["sn_iters"] == 2
    assert (tmp_path / "study.png").is_file() and not (tmp_path / "toy2d.md").exists()
    with pytest.raises(SystemExit):
        toy2d.main([*args[:-1], "scale=-1"])
    with pytest.raises(SystemExit):
        toy2d.main([*args[:-1], "lr"])


@pytest.mark.slow
def test_trainer_benchmarks_write_tables_and_reuse_finished_runs(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("skimage")
    from benchmarks import balance, modes, quality

    work, out = tmp_path / "work", tmp_path / "out"
    common = ["--seeds", "0", "--workers", "2", "--work", str(work), "--out", str(out)]
    assert balance.main(["--configs", "baseline,combined", "--steps", "4", *common]) == 0
    md = (out / "balance.md").read_text()
    assert "| baseline |" in md and "| combined |" in md and "→" in md
    runs = json.loads((out / "balance.json").read_text())["runs"]
    assert {r["config"] for r in runs} == {"baseline", "combined"}
    assert all(0 <= r["real_acc_last"] <= 1 and r["l1"] > 0 for r in runs)
    assert (out / "balance.png").is_file()

    assert modes.main(["--configs", "ns", "--steps", "2", "--eval-samples", "300", *common]) == 0
    md = (out / "modes.md").read_text()
    assert "| ns |" in md and "| real stacked digits |" in md
    assert (out / "modes.png").stat().st_size > 1000

    args = ["--trainers", "pix2pix", "--losses", "ns", "--regs", "none", "--steps", "2", *common]
    assert quality.main(args) == 0
    first = [r["run_seconds"] for r in json.loads((out / "quality.json").read_text())["runs"]]
    assert all(s > 0 for s in first)  # each run's wall time is recorded in its folder
    md = (out / "quality.md").read_text()
    assert "| L1 only (no adversarial term) |" in md and "| ns | none |" in md
    assert "**L1 only vs L1 + cGAN**" in md and "Of the 1 L1 + cGAN configurations" in md
    assert (out / "quality.png").stat().st_size > 1000
    capsys.readouterr()
    assert quality.main(args) == 0  # finished runs are reused, not recomputed
    seconds = [r["seconds"] for r in json.loads((out / "quality.json").read_text())["runs"]]
    assert seconds == [0.0, 0.0]
    again = [r["run_seconds"] for r in json.loads((out / "quality.json").read_text())["runs"]]
    assert again == first  # ... and still reported when the run is reused


def test_quality_summary_and_plot_from_known_rows(tmp_path):
    """The L1-only comparison counts what the rows say; the figure draws both trainers."""
    from benchmarks import quality

    def p2p(loss, reg, l1, seg, iou, seed=0):
        return {"trainer": "pix2pix", "loss": loss, "reg": reg, "seed": seed, "l1": l1,
                "seg_pixel_acc": seg, "seg_iou": iou, "seg_pixel_acc_baseline": 0.96}  # fmt: skip

    rows = [p2p("l1-only", "none", 0.170, 0.950, 0.80), p2p("ns", "none", 0.180, 0.960, 0.78),
            p2p("ns", "none", 0.190, 0.970, 0.80, seed=1), p2p("lsgan", "r1", 0.160, 0.940, 0.85)]  # fmt: skip
    text = " ".join(quality.l1_only_summary(rows))
    # ns+none: mean seg 0.965 > 0.950, iou 0.79 < 0.80, l1 0.185 worse; lsgan+r1: iou higher
    assert "Of the 2 L1 + cGAN configurations, 1 have a higher segmentation pixel accuracy, " \
        "1 a higher IoU, and 1 a worse (higher) l1" in text  # fmt: skip
    assert "The best by segmentation accuracy is ns+none (0.965, IoU 0.790" in text
    assert quality.l1_only_summary(rows[1:]) == []  # no L1-only run: nothing to compare

    dcgan = [{"trainer": "dcgan", "loss": lo, "reg": reg, "seed": 0, "fd": fd, "fd_baseline": 1.8}
             for lo, reg, fd in [("ns", "none", 7.0), ("ns", "r1", 9.0), ("hinge", "none", 6.0)]]  # fmt: skip
    quality.plot(dcgan + rows, ["dcgan", "pix2pix"], tmp_path / "q.png")
    # the control for the penalties: their layer norm in D, without a penalty
    assert quality.options("dcgan", "ns", "ln") == ["--loss", "ns", "--d-norm", "layer"]
    assert quality.options("dcgan", "ns", "r1") == ["--loss", "ns", "--penalty", "r1"]
    assert quality.options("pix2pix", "l1-only", "none") == ["--gan-weight", "0"]
    assert (tmp_path / "q.png").stat().st_size > 1000


@pytest.mark.slow
def test_speed_sweep_and_collation(tmp_path):
    from pathlib import Path

    from benchmarks import speed

    args = ["--parts", "sweep", "--frameworks", "torch", "--batches", "2,4", "--quick",
            "--out", str(tmp_path), "--allow-load", "--threads", "1"]  # fmt: skip
    assert speed.main(args) == 0
    data = json.loads((tmp_path / "speed-quick.json").read_text())
    (sweep,) = data["sweep"]
    assert sweep["framework"] == "torch" and set(sweep["ms"]) == {"2", "4"}
    assert all(ms > 0 for row in sweep["ms"].values() for ms in row.values())
    assert "| torch (eager) | r1_fused |" in (tmp_path / "speed-quick.md").read_text()
    assert (tmp_path / "speed-quick.png").is_file()
    # the collation reads the committed overhead / penalties results
    results = Path(speed.__file__).parent / "results"
    md = speed.markdown(data["machine"], [], results, quick=False)
    assert "## advloss vs hand-written losses" in md and "| torch | eager |" in md
    assert "## Penalty and spectral-norm cost" in md


def test_speed_tables_give_the_spread_and_claim_a_difference_only_beyond_it():
    """Medians with their interquartile range and the number of rounds; a ratio whose spread
    holds 1 reads "parity", "faster"/"slower" only beyond it; speed.md compares the plain step
    the two parts measured with one definition."""
    from pathlib import Path

    from benchmarks import penalties, report, speed

    assert report.spread([3.0, 1.0, 2.0, 4.0]) == {"median": 2.5, "q1": 1.25, "q3": 3.75,
                                                    "rounds": 4}  # fmt: skip
    assert report.ratio_verdict(report.paired([1.0, 1.1, 0.9], [1.0, 1.0, 1.0])).endswith("parity")
    assert report.ratio_verdict(report.paired([0.9, 0.8, 0.85], [1.0] * 3)).endswith("faster")
    assert report.ratio_verdict(report.paired([1.2, 1.3, 1.25], [1.0] * 3)).endswith("slower")
    base = [10.0, 11.0, 9.0, 10.5, 9.5]
    ms = {v: [t * (2.0 if v.startswith(("gp", "r1")) else 1.0) for t in base]
          for v in penalties.VARIANTS}  # fmt: skip
    ms["r1_fused"] = [t * 1.6 for t in base]  # clearly below separate R1 (2x), on every round
    row = penalties.row("torch", "eager", 8, ms)
    info = report.machine("benchmarks.penalties", rounds=5, **report.end_load(
        {"load_before": [0.1, 0.1, 0.1], "load_limit": 1.0, "usable_cpus": 2,
         "under_load": False}, 1))  # fmt: skip
    text = "\n".join(penalties.markdown(info, [row], [], 8, 1, 5, 4))
    assert "5 rounds of 4 steps" in text and "10.00 (9.25–10.75)" in text
    assert "| torch | 1.000 (1.000–1.000) parity | 0.800 (0.800–0.800) faster |" in text
    assert "Load average (1, 5, 15 min) before: 0.10 0.10 0.10" in text
    sweep = [{"framework": "torch", "mode": "eager", "rounds": 5,
              "ms": {"8": {v: 10.0 for v in speed.SWEEP_VARIANTS}},
              "spread": {"8": {v: report.spread(base) for v in speed.SWEEP_VARIANTS}}}]  # fmt: skip
    pen = {"batch": 8, "rows": [row], "machine": info}
    assert "ranges overlap" in speed.agreement(pen, sweep)[0]
    # the committed files (written before the spread was recorded) still collate
    md = speed.markdown(info, [], Path(speed.__file__).parent / "results", quick=False)
    assert "| torch | eager |" in md and "at parity" in md


def test_a_loaded_machine_is_refused_or_marked(monkeypatch):
    import argparse

    from benchmarks import report

    monkeypatch.setattr(report, "load_average", lambda: [3.0, 2.0, 1.0])
    monkeypatch.setattr(report, "usable_cpus", lambda: 2)
    p = argparse.ArgumentParser()
    report.load_options(p)
    with pytest.raises(SystemExit, match=r"load average is 3\.00, above 1\.00"):
        report.check_load(p.parse_args([]), "bench")
    assert not report.check_load(p.parse_args(["--max-load", "4"]), "bench")["under_load"]
    load = report.end_load(report.check_load(p.parse_args(["--allow-load"]), "bench"), 1)
    assert load["under_load"] and "**measured under load**" in report.load_text(load)


def test_threads_default_to_the_free_cores_and_are_printed(monkeypatch, capsys):
    from reference_trainers import common

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(common.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(common, "runnable_samples", lambda: [3, 1, 1, 2, 1])
    assert common.default_threads() == (
        4,
        "4 usable cores, 0 other runnable tasks: median of 5 samples",
    )
    monkeypatch.setattr(common, "runnable_samples", lambda: None)  # no /proc/loadavg: macOS
    monkeypatch.setattr(common.os, "getloadavg", lambda: (2.6, 1.0, 1.0))
    assert common.default_threads() == (1, "4 usable cores, 1-minute load 2.60")
    monkeypatch.setattr(common.os, "getloadavg", lambda: (0.2, 1.0, 1.0))
    assert common.default_threads()[0] == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert common.default_threads() == (3, "OMP_NUM_THREADS")
    applied = []
    monkeypatch.setattr(common, "limit_threads", applied.append)
    assert common.apply_threads(None, "dcgan") == 3
    assert common._THREADS_NOTE == ["dcgan: 3 threads per framework (OMP_NUM_THREADS)"]
    assert common.apply_threads(2, "x") == 2
    assert applied == [3, 2]
    assert common._THREADS_NOTE == ["x: 2 threads per framework (--threads)"]
    common._THREADS_NOTE.clear()
    assert capsys.readouterr().err == ""  # printed when a run starts, not before its checks


def test_threads_count_the_tasks_runnable_now():
    """The choice from made-up /proc/loadavg samples: the median less the reader, so a burst in
    one sample or a slowly decaying 1-minute average does not take a core away."""
    from reference_trainers.common import choose_threads

    # just after other work: the 1-minute average still counts it, nothing else runs now
    assert choose_threads(2, [1, 1, 1, 1, 1], load=1.9) == (
        2, "2 usable cores, 0 other runnable tasks: median of 5 samples")  # fmt: skip
    assert choose_threads(2, [2, 3, 2, 2, 3]) == (
        1, "2 usable cores, 1 other runnable task: median of 5 samples")  # fmt: skip
    assert choose_threads(2, [1, 6, 1, 1, 1])[0] == 2  # one sample's burst is ignored
    assert choose_threads(8, [9, 9, 12, 9, 9])[0] == 1  # at least 1
    assert choose_threads(8, [3, 4])[0] == 5  # even count: the higher middle sample
    assert choose_threads(8, [0, 0, 0])[0] == 8  # a count without the reader is not negative
    assert choose_threads(4, None, load=1.5) == (2, "4 usable cores, 1-minute load 1.50")
    assert choose_threads(4, []) == (4, "4 usable cores, no load information")


def test_runnable_samples_read_proc_loadavg(tmp_path):
    from reference_trainers.common import runnable_samples

    loadavg, waits = tmp_path / "loadavg", []
    loadavg.write_text("1.90 1.20 0.80 2/431 12345\n")
    assert runnable_samples(5, 0.25, loadavg, waits.append) == [2] * 5
    assert waits == [0.0625] * 4  # 5 reads spread over 0.25 s
    assert runnable_samples(1, 0.25, loadavg, waits.append) == [2] and len(waits) == 4
    loadavg.write_text("garbled\n")
    assert runnable_samples(3, 0.0, loadavg, waits.append) is None
    assert runnable_samples(3, 0.0, tmp_path / "absent", waits.append) is None


def test_a_trainer_refuses_zero_threads(capsys):
    from reference_trainers import dcgan

    with pytest.raises(SystemExit) as exit_:
        dcgan.main(["--threads", "0", "--steps", "1"])
    assert (
        exit_.value.code == 2 and "--threads: expected an integer >= 1" in capsys.readouterr().err
    )


def test_a_result_names_the_commit_and_the_hash_of_an_uncommitted_change(tmp_path):
    """A result measured on a modified tree records which change (issue: overhead and speed
    were measured on modified trees that no commit identifies)."""
    import subprocess

    from reference_trainers.provenance import git_commit

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    (tmp_path / "advloss").mkdir()
    (tmp_path / "advloss" / "a.py").write_text("x = 1\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "d.md").write_text("text\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    clean = git_commit(tmp_path)
    assert "+" not in clean and len(clean) >= 7
    (tmp_path / "docs" / "d.md").write_text("other text\n")  # not code: still clean
    assert git_commit(tmp_path) == clean
    (tmp_path / "advloss" / "a.py").write_text("x = 2\n")
    first = git_commit(tmp_path)
    assert first.startswith(clean + "+diff.") and len(first) == len(clean) + 18
    (tmp_path / "advloss" / "a.py").write_text("x = 3\n")
    assert git_commit(tmp_path) not in (first, clean)  # another change, another hash
    (tmp_path / "advloss" / "a.py").write_text("x = 1\n")
    (tmp_path / "advloss" / "new.py").write_text("y = 1\n")  # an untracked file counts too
    assert git_commit(tmp_path).startswith(clean + "+diff.")
    assert git_commit(tmp_path / "docs" / "no-such") == "?"


def test_timings_refuses_unknown_parts(capsys):
    from benchmarks import timings

    with pytest.raises(SystemExit):
        timings.main(["--parts", "demo,nope"])
    assert "unknown ['nope']" in capsys.readouterr().err


def test_memory_benchmark_quick_smoke(tmp_path, monkeypatch):
    """benchmarks.memory --quick: peak memory of the fused R1 step and the StyleGAN2-style hand
    step (torch.profiler), written as a table; fused R1 holds no more than a separate R1."""
    pytest.importorskip("torch")
    from benchmarks import memory
    from reference_trainers import common

    monkeypatch.setattr(common, "limit_threads", lambda n: None)  # keep this process's settings

    assert memory.main(["--quick", "--batch", "2", "--threads", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "memory-quick.json").read_text())
    peaks = {v: max(p) for v, p in data["peak_bytes"].items()}
    assert set(peaks) == set(memory.VARIANTS) and all(b > 0 for b in peaks.values())
    assert peaks["r1_fused"] <= peaks["r1_separate"]
    assert "| r1_fused |" in (tmp_path / "memory-quick.md").read_text()


def test_guard_sources_are_sorted_by_what_they_protect():
    from benchmarks.guards import category

    assert category("", "GRAD_MODE") == "dynamo state"
    assert category("L['r']", "TENSOR_MATCH") == "inputs"
    kw = "dict(type(L['loss']).__mro__[2].__dict__)['discriminator'].__kwdefaults__['weights']"
    assert category(kw, "CONSTANT_MATCH") == "keyword defaults"
    assert category("L['loss'].real_label", "CONSTANT_MATCH") == "loss object"
    assert category("G['__import_advloss_dot_losses']._Call", "CLASS_MATCH") == "advloss globals"
    assert category("G['__builtins_dict___0']['len']", "BUILTIN_MATCH") == "builtins"
    assert category("L['F'].softplus", "BUILTIN_MATCH") == "torch globals"
    assert category("L['h_fn']", "CLOSURE_MATCH") == "other"
