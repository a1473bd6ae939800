"""The configuration-table benchmarks' bookkeeping, without training: committed rows reused
only when their options match, the balance band fractions, the cgan reference ordering and its
"does each metric see the degradation" line."""

from __future__ import annotations

import json

import pytest

from benchmarks import balance, cgan, trainer_runs


def test_reuse_takes_matching_committed_rows_only(tmp_path):
    committed = tmp_path / "table.json"
    rows = [
        {"config": "a", "seed": 0, "steps": 10, "x": 1.0, "options": ["--a"]},
        {"config": "b", "seed": 0, "steps": 10, "x": 2.0, "options": ["--old"]},
        {"config": "c", "seed": 0, "steps": 10, "x": 3.0},  # predates per-row options
    ]
    committed.write_text(json.dumps({"machine": {"commit": "abc1234"}, "runs": rows}))
    jobs = trainer_runs.config_jobs(["a", "b", "c", "d"], [0], 10, tmp_path / "work")
    opts = {"a": ["--a"], "b": ["--new"], "c": ["--c"], "d": ["--d"]}
    key = lambda r: (r["config"], r["seed"], r["steps"])
    todo, reused = trainer_runs.reuse_committed(jobs, committed, key, lambda j: opts[j["config"]])
    assert [j["config"] for j in todo] == ["b", "d"]  # b's options changed, d is new
    assert reused[("a", 0, 10)]["commit"] == "abc1234" and reused[("a", 0, 10)]["reused"]
    assert ("c", 0, 10) in reused
    none, _ = trainer_runs.reuse_committed(jobs, committed, key, lambda j: [], enabled=False)
    assert none == jobs
    note = trainer_runs.provenance_note([*reused.values(), {"config": "b"}], "def5678")
    assert note.startswith("1 of 3 runs computed at commit def5678; 2 reused")


def test_band_fractions():
    curve = [[20, 0.5, 0.5], [40, 0.9, 0.2], [60, 0.9, 0.95], [80, 0.45, 0.62]]
    mean_in, both_in = balance.band_fractions(curve)
    assert mean_in == pytest.approx(3 / 4) and both_in == pytest.approx(1 / 4)


REFS = {
    "_feature_net_accuracy": {"accuracy": 0.8},
    "conditional median of 9 draws (L1-optimal)": {
        "fd": 500.0,
        "hf_ratio": 0.7,
        "c2st": 0.85,
        "precision": 0.98,
    },
    "real: another draw per label map": {
        "fd": 90.0,
        "hf_ratio": 0.95,
        "c2st": 0.51,
        "precision": 1.0,
    },
    "that draw blurred, σ = 2 px": {
        "fd": 230.0,
        "hf_ratio": 0.07,
        "c2st": 0.49,
        "precision": 1.0,
    },
}


def test_cgan_reference_sets_read_in_order_and_sanity_line():
    names = cgan.reference_names(REFS)  # sorted JSON keys put the median first
    assert names[0].startswith("real") and "median" in names[-1]
    lines = "\n".join(cgan.sanity(REFS))
    assert "*that draw blurred, σ = 2 px*: 2 of 4 (fd, hf_ratio); not: precision, c2st." in lines
    assert "*conditional median of 9 draws (L1-optimal)*: 4 of 4" in lines


def test_cgan_badness_reads_each_metric_in_its_direction():
    assert cgan.badness("fd", 2.0) > cgan.badness("fd", 1.0)
    assert cgan.badness("recall", 0.5) > cgan.badness("recall", 0.9)
    assert cgan.badness("hf_ratio", 0.5) > cgan.badness("hf_ratio", 1.0) == 0.0
    assert cgan.badness("c2st", 0.9) > cgan.badness("c2st", 0.45)


def test_quality_run_of_one_trainer_keeps_the_others_rows(tmp_path):
    """``--trainers pix2pix`` with every run committed trains nothing, and the rewritten table
    still holds the DCGAN rows (a run of some trainers never drops the others')."""
    from benchmarks import quality

    src = json.loads((quality.report.RESULTS / "quality.json").read_text())
    (tmp_path / "quality.json").write_text(json.dumps(src))
    seeds = sorted({r["seed"] for r in src["runs"] if r["trainer"] == "pix2pix"})
    argv = ["--trainers", "pix2pix", "--losses", "ns", "--regs", "none", "--out", str(tmp_path),
            "--seeds", ",".join(map(str, seeds)), "--work", str(tmp_path / "work"), "--workers", "1"]  # fmt: skip
    assert quality.main(argv) == 0
    out = json.loads((tmp_path / "quality.json").read_text())
    dcgan = [r for r in out["runs"] if r["trainer"] == "dcgan"]
    assert len(dcgan) == sum(r["trainer"] == "dcgan" for r in src["runs"])
    assert all(r["reused"] for r in out["runs"])
    assert not (tmp_path / "work").exists()  # nothing trained
    md = (tmp_path / "quality.md").read_text()
    assert "\n## dcgan\n" in md and "\n## pix2pix\n" in md


def test_provenance_note_names_the_commit_of_each_run_folder():
    rows = [{"config": "a", "commit": "aaa1111"}, {"config": "b", "commit": "unknown"},
            {"config": "c", "commit": "ccc3333", "reused": True}]  # fmt: skip
    note = trainer_runs.provenance_note(rows, "aaa1111")
    assert note.startswith(
        "2 of 3 runs computed in this table's run folders (1 at aaa1111, 1 at unknown)"
    )
    assert "1 reused from the committed results (computed at ccc3333" in note
    assert (
        trainer_runs.provenance_note(rows[:1], "aaa1111")
        == "All 1 runs computed at commit aaa1111."
    )


def test_run_folder_records_its_commit(tmp_path):
    assert trainer_runs.run_commit(tmp_path) is None  # a folder without the record: unknown
    (tmp_path / trainer_runs.TIMING).write_text(json.dumps({"seconds": 1.0, "commit": "abc1234"}))
    assert trainer_runs.run_commit(tmp_path) == "abc1234"
