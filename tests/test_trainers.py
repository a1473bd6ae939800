"""The DCGAN reference trainer on tiny sizes: a smoke run per loss family (with penalties,
spectral norm, labels, instance noise, update ratios), resume == straight, one-line errors for
bad input, the data loaders and the metrics' sanity."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

from reference_trainers import dcgan  # noqa: E402
from reference_trainers.common import TrainerError  # noqa: E402
from reference_trainers.data import Batches, image_folder  # noqa: E402

TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "16", "--log-every", "2",
        "--eval-samples", "200"]  # fmt: skip


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """One classifier cache for the whole session (it trains once, ~10 s)."""
    monkeypatch.setenv("ADVLOSS_CACHE", str(tmp_path_factory.getbasetemp() / "advloss-cache"))


def run(out, *args):
    return dcgan.main(["--out", str(out), *TINY, *args])


def rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "options",
    [
        ["--loss", "ns"],
        [
            "--loss",
            "lsgan",
            "--penalty",
            "r1",
            "--penalty-every",
            "2",
            "--real-label",
            "0.9",
            "--instance-noise",
            "0.1:0:4",
        ],
        ["--loss", "hinge", "--penalty", "gp", "--spectral-norm", "--d-steps", "2"],
        ["--loss", "wgan", "--penalty", "gp", "--penalty-weight", "5"],
        ["--loss", "minimax", "--flip-prob", "0.1", "--g-steps", "2"],
        ["--loss", "ragan", "--penalty", "r2", "--adaptive-ratio", "--instance-noise", "adaptive"],
    ],
    ids=[
        "ns",
        "lsgan-r1-labels-noise",
        "hinge-gp-sn",
        "wgan-gp",
        "minimax-flip",
        "ragan-r2-adaptive",
    ],
)
def test_smoke_run_per_loss_family(tmp_path, options):
    out = tmp_path / "run"
    assert run(out, "--steps", "4", "--eval-every", "4", *options) == 0
    for name in ("config.json", "metrics.jsonl", "curves.png", "checkpoint.pt"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "step_000000.png",
        "step_000004.png",
    ]
    train = [r for r in rows(out) if "d_loss" in r]
    evals = [r for r in rows(out) if r.get("eval")]
    assert [r["step"] for r in train] == [2, 4] and [r["step"] for r in evals] == [0, 4]
    for r in train:
        assert {
            "d_loss",
            "g_loss",
            "d_adversarial",
            "d_real_acc",
            "d_fake_acc",
            "d_real",
            "d_fake",
        } <= set(r)
        assert np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
    if "--penalty" in options:
        assert any(k in train[-1] for k in ("d_r1", "d_r2", "d_gp"))
    assert {"fd", "fd_baseline", "coverage", "class_kl"} <= set(evals[-1])
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == options[1] and config["steps"] == 4


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    common = ["--loss", "ns", "--penalty", "r1", "--penalty-every", "2", "--flip-prob", "0.2",
              "--instance-noise", "0.2:0:8", "--eval-every", "3"]  # fmt: skip
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run(straight, "--steps", "8", *common) == 0
    assert run(split, "--steps", "3", *common) == 0
    # a row written after the checkpoint by a run that then died must be dropped on resume
    with (split / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"step": 4, "d_loss": 123.0}) + "\n")
    assert run(split, "--steps", "8", "--resume", *common) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(split / "checkpoint.pt", weights_only=True)
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k}"
    # every row both runs wrote is identical (the split run also logged its last step, 3)
    key = lambda r: (r["step"], bool(r.get("eval")))
    a_rows, b_rows = {key(r): r for r in rows(straight)}, {key(r): r for r in rows(split)}
    assert set(a_rows) <= set(b_rows) and set(b_rows) - set(a_rows) == {(3, False)}
    assert all(a_rows[k] == b_rows[k] for k in a_rows)
    assert (4, False) in a_rows and b_rows[(4, False)]["d_loss"] != 123.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--loss", "nonsaturating"], "unknown loss name 'nonsaturating'"),
        (["--loss", "hinge", "--flip-prob", "0.1"], "need a loss with class targets"),
        (["--penalty", "r1", "--d-norm", "batch"], "batch norm"),
        (["--data", "/nonexistent/folder"], "no such folder"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--instance-noise", "fast"], "unknown name 'fast'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        run(tmp_path / "run", *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_resume_errors(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        run(out, "--resume")
    assert "no checkpoint" in capsys.readouterr().err
    assert run(out, "--steps", "2", "--eval-every", "2") == 0
    with pytest.raises(SystemExit):
        run(out, "--steps", "2")  # would overwrite the run
    assert "already holds a run" in capsys.readouterr().err
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit):
        run(out, "--steps", "4", "--resume")
    assert "cannot be read" in capsys.readouterr().err


def test_command_line_runs_without_traceback(tmp_path):
    """The module entry point itself, in a fresh process (exit status and one-line error)."""
    proc = subprocess.run(
        [sys.executable, "-m", "reference_trainers.dcgan", "--out", str(tmp_path / "r"),
         "--loss", "wgan", "--real-label", "0.9"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------ data


def test_image_folder_reader(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    Image.fromarray(np.full((12, 12, 3), 255, np.uint8)).save(folder / "sub" / "white.png")
    x = image_folder(str(folder), 16, channels=3)
    assert x.shape == (4, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[3], torch.ones(3, 16, 16))  # sorted: sub/white.png last
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "small.png")
    with pytest.raises(TrainerError, match="mixed sizes"):
        image_folder(str(folder), 16, channels=3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainerError, match="no images"):
        image_folder(str(tmp_path / "empty"), 16, channels=3)


def test_batches_are_deterministic_and_resumable():
    data = torch.arange(10).float()[:, None]
    a = Batches(data, 3, seed=1)
    first = [a.next() for _ in range(5)]  # crosses an epoch (3 batches per epoch)
    b = Batches(data, 3, seed=1)
    for _ in range(2):
        b.next()
    c = Batches(data, 3, seed=1)
    c.load_state(b.state())
    assert all(
        torch.equal(x, y) for x, y in zip(first[2:], [c.next() for _ in range(3)], strict=True)
    )
    assert len(torch.cat(first[:3]).unique()) == 9  # no repeats within an epoch
    with pytest.raises(TrainerError, match="larger than the dataset"):
        Batches(data, 11, seed=0)


def test_metrics_sanity():
    from reference_trainers.data import digits
    from reference_trainers.metrics import DigitMetrics

    m = DigitMetrics(16)
    assert m.accuracy > 0.9
    x, _ = digits(16)
    real = m(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:900]])
    assert real["fd"] < 2 * m.baseline and real["coverage"] == 1.0 and real["class_kl"] < 0.05
    noise = m(torch.rand(900, 1, 16, 16) * 2 - 1)
    assert noise["fd"] > 50 * m.baseline
    ones = m(x[:900][torch.from_numpy(digits(16)[1][:900].numpy() == 1)])  # one class only
    assert ones["coverage"] <= 0.2 and ones["class_kl"] > 1.5
