"""The reference trainers' run folders under failure (issue 15, items 1 and 8-12): CIFAR-10
read from its binary version (never unpickled), fresh runs that refuse an old run's files
(``--overwrite``), ``--resume`` without a checkpoint, the folder's lock, checkpoint checksums,
options stored in the checkpoint, one-line errors for an unwritable ``--out``, and SIGKILL at
random points (``@pytest.mark.slow``)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

from reference_trainers import common, data, dcgan, dcgan_torch  # noqa: E402
from reference_trainers.common import TrainerError  # noqa: E402
from tests.trainer_checks import rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "16", "--log-every", "2",
        "--eval-samples", "200"]  # fmt: skip


def run(out, *args):
    return dcgan.main(["--out", str(out), *TINY, *args])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-step DCGAN run (checkpoint at step 2), copied by the tests that change it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert run(out, "--steps", "2", "--eval-every", "2") == 0
    return out


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("run.lock"))
    return out


# ------------------------------------------------------------------ 1. CIFAR-10, no pickles


class _Marker:
    """Unpickling this creates ``path`` (what a crafted data_batch_1 could do, and worse)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_cifar_python_batches_are_refused_and_never_unpickled(tmp_path, capsys):
    marker = tmp_path / "marker"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Marker(marker)}))
    with pytest.raises(TrainerError, match="use the binary version"):
        data.load(str(folder), 32)
    assert not marker.exists()
    with pytest.raises(TrainerError, match="use the binary version"):
        data.load(str(tmp_path), 32)  # the folder that holds cifar-10-batches-py/
    assert not marker.exists()
    # through the command line, also as `data:` in a --config file
    config = tmp_path / "config.yaml"
    config.write_text(f"data: {folder}\nimage_size: 32\n")
    for args in (["--data", str(folder), "--image-size", "32"], ["--config", str(config)]):
        with pytest.raises(SystemExit) as exc:
            run(tmp_path / "out", "--steps", "2", *args)
        assert exc.value.code == 2
        assert "CIFAR-10 python batches" in one_error_line(capsys)
        assert not marker.exists()


def test_cifar_binary_reader_on_small_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    pixels = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    records = np.concatenate([labels[:, None], pixels], axis=1)  # 1 label byte + 3,072 pixels
    (folder / "data_batch_1.bin").write_bytes(records[:3].tobytes())
    (folder / "data_batch_2.bin").write_bytes(records[3:].tobytes())
    (folder / "test_batch.bin").write_bytes(records[:1].tobytes())  # not training data
    (folder / "batches.meta.txt").write_text("airplane\n")
    for where in (folder, tmp_path):  # the batches' folder or the one that holds it
        x, channels = data.load(str(where), 32)
        assert channels == 3 and x.shape == (5, 3, 32, 32) and x.dtype == np.float32
        expected = pixels.reshape(5, 3, 32, 32).astype(np.float32) / 127.5 - 1.0  # CHW planes
        np.testing.assert_allclose(x, expected, atol=1e-6)
    x16, _ = data.load(str(folder), 16)
    assert x16.shape == (5, 3, 16, 16)
    (folder / "data_batch_2.bin").write_bytes(records[3:].tobytes()[:-1])
    with pytest.raises(TrainerError, match=r"data_batch_2\.bin is not a CIFAR-10 binary batch"):
        data.load(str(folder), 32)


# --------------------------------------------------- 8. fresh runs, --overwrite, --resume


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "checkpoint.pt"])
def test_a_fresh_run_refuses_a_folder_with_any_run_file(tmp_path, capsys, name):
    out = tmp_path / "run"
    out.mkdir()
    (out / name).write_text('{"step": 0}\n')
    with pytest.raises(SystemExit) as exc:
        run(out, "--steps", "2")
    assert exc.value.code == 2
    assert f"already holds a run ({name}); pass --resume" in one_error_line(capsys)
    assert (out / name).read_text() == '{"step": 0}\n'  # left as it was


def test_overwrite_replaces_the_run_files_only(tmp_path, finished_run, capsys):
    out = copy_of(finished_run, tmp_path)
    (out / "metrics.jsonl").write_text(json.dumps({"step": 99, "d_loss": 1.0}) + "\n")
    (out / "notes.txt").write_text("mine")
    assert run(out, "--steps", "2", "--eval-every", "2", "--overwrite") == 0
    assert rows(out) == rows(finished_run)  # the new run's rows, and nothing else
    assert (out / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        run(out, "--steps", "2", "--resume", "--overwrite")
    assert "--resume with --overwrite" in one_error_line(capsys)


def test_resume_without_a_checkpoint_starts_afresh(tmp_path, finished_run, capsys):
    """A run killed before its first checkpoint (or that failed once training started) left
    config.json and rows: --resume starts cleanly instead of appending to them."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"loss": "hinge"}))
    stale = [{"step": 0, "eval": True, "fd": 1.0}, {"step": 2, "d_loss": 5.0}]
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stale) + '{"st')
    assert run(out, "--steps", "2", "--eval-every", "2", "--resume") == 0
    err = capsys.readouterr().err
    assert f"--resume: no checkpoint in {out} yet; starting the run afresh" in err
    assert rows(out) == rows(finished_run)  # no stale row, no duplicate
    assert json.loads((out / "config.json").read_text())["loss"] == "ns"


def test_an_error_before_training_leaves_the_folder_reusable(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit):
        run(out, "--steps", "2", "--data", str(tmp_path / "missing"))
    assert "no such folder" in one_error_line(capsys)
    assert not common.holds_run(out)  # nothing written: the same command, fixed, may run
    assert run(out, "--steps", "2", "--eval-every", "2") == 0


# ------------------------------------------------------------------------- 9. the lock


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process that locks ``folder`` as a trainer does, until killed."""
    code = (
        "import sys, time; from pathlib import Path; from reference_trainers import common; "
        "common.check_writable(Path(sys.argv[1])); common.lock_folder(Path(sys.argv[1])); "
        "print('locked', flush=True); time.sleep(600)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_trainer_on_one_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    holder = _hold_lock(out)
    try:
        with pytest.raises(SystemExit) as exc:
            run(out, "--steps", "2")
        assert exc.value.code == 2
        line = one_error_line(capsys)
        assert f"--out {out}: another run (pid {holder.pid}) is using this folder" in line
        with pytest.raises(SystemExit):  # --resume too (and nothing was written)
            run(out, "--steps", "2", "--resume")
        assert f"(pid {holder.pid})" in one_error_line(capsys)
        assert not common.holds_run(out)
        # a DDP rank other than 0 (write=False) neither locks nor writes
        common.Run(str(out), dcgan.options([]), False, write=False).close()
        assert sorted(p.name for p in out.iterdir()) == ["run.lock", "run.lock.pid"]
    finally:
        holder.kill()
        holder.wait()
    # a killed holder leaves no stale lock; a finished run releases its own
    assert run(out, "--steps", "2", "--eval-every", "2") == 0
    common.lock_folder(out).release()


def test_the_array_trainers_lock_their_folder_too(tmp_path, capsys):
    """ArrayLoop (the JAX and TensorFlow trainers) opens the folder the same way; run here
    with NumPy arrays, which needs neither framework."""
    out = tmp_path / "run"
    holder = _hold_lock(out)
    try:
        with pytest.raises(TrainerError, match=rf"another run \(pid {holder.pid}\)"):
            array_loop(out)
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------- 10. checksums


def _flip_bytes(path: Path, n: int = 16) -> None:
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    for i in range(middle, middle + n):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_corrupt_torch_checkpoint_is_refused_by_its_checksum(tmp_path, finished_run, capsys):
    out = copy_of(finished_run, tmp_path)
    sums = (out / "checkpoint.pt.sha256").read_text().split()
    assert sums[1] == "checkpoint.pt" and sums[0] == common.sha256_of(out / "checkpoint.pt")
    _flip_bytes(out / "checkpoint.pt")
    with pytest.raises(SystemExit) as exc:
        run(out, "--steps", "4", "--resume")
    assert exc.value.code == 2
    line = one_error_line(capsys)
    assert f"the checkpoint {out / 'checkpoint.pt'} does not match its checksum" in line
    assert rows(out) == rows(finished_run)  # nothing written


def test_a_checkpoint_without_checksum_is_read_with_a_warning(tmp_path, finished_run, capsys):
    out = copy_of(finished_run, tmp_path)
    (out / "checkpoint.pt.sha256").unlink()  # written before checksums existed
    assert run(out, "--steps", "4", "--eval-every", "2", "--resume") == 0
    err = capsys.readouterr().err
    assert f"warning: {out / 'checkpoint.pt'} has no checksum (checkpoint.pt.sha256)" in err
    assert "resumed from step 2" in err
    assert (out / "checkpoint.pt.sha256").is_file()  # the next checkpoint has one


def test_a_save_killed_between_its_renames_still_verifies(tmp_path):
    path = tmp_path / "checkpoint.pt"
    common.save_checked(path, lambda fh: fh.write(b"old"))
    sums = path.with_name("checkpoint.pt.sha256")
    old = sums.read_text()
    common.save_checked(path, lambda fh: fh.write(b"new"))
    # the state a kill after the checkpoint's rename leaves: new checkpoint, old checksum
    sums.with_name(sums.name + ".tmp").write_text(sums.read_text())
    sums.write_text(old)
    common.verify_checksum(path)
    sums.with_name(sums.name + ".tmp").unlink()
    with pytest.raises(TrainerError, match="does not match its checksum"):
        common.verify_checksum(path)


def test_a_corrupt_npz_checkpoint_is_refused_by_its_checksum(tmp_path):
    out = tmp_path / "run"
    s = array_loop(out)
    s.save({"w": np.arange(4096, dtype=np.float32)}, {})
    s.run.close()
    assert (out / "checkpoint.npz.sha256").is_file()
    _flip_bytes(out / "checkpoint.npz")
    s = array_loop(out, "--resume")
    with pytest.raises(TrainerError, match=r"checkpoint\.npz does not match its checksum"):
        s.open(data.Batches(torch.zeros(64, 1), 16, 0))
    s.run.close()


# ----------------------------------------------------- 11. options stored in the checkpoint


def test_the_checkpoint_carries_its_options(tmp_path, finished_run, capsys):
    out = copy_of(finished_run, tmp_path)
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["config"]["loss"] == "ns"
    (out / "config.json").unlink()
    with pytest.raises(SystemExit):
        run(out, "--steps", "4", "--resume", "--loss", "hinge")
    line = one_error_line(capsys)
    assert f"the checkpoint {out / 'checkpoint.pt'} was written with --loss ns" in line
    assert not (out / "config.json").exists()  # a refused resume writes nothing
    assert run(out, "--steps", "4", "--eval-every", "2", "--resume") == 0


def test_the_npz_checkpoint_carries_its_options(tmp_path):
    out = tmp_path / "run"
    s = array_loop(out)
    s.save({"w": np.zeros(3, np.float32)}, {})
    s.run.close()
    (out / "config.json").unlink()
    s = array_loop(out, "--resume", "--loss", "hinge")
    with pytest.raises(TrainerError, match=r"checkpoint\.npz was written with --loss ns"):
        s.open(data.Batches(torch.zeros(64, 1), 16, 0))
    s.run.close()


def array_loop(out: Path, *args: str):
    """A :class:`~reference_trainers.arrays.ArrayLoop` over NumPy, its run folder started."""
    from reference_trainers.arrays import ArrayLoop

    cfg = dcgan.options(["--out", str(out), "--framework", "jax", *args])
    s = ArrayLoop(cfg, "dcgan", quality="fd", framework="jax", to_tensor=np.asarray)
    s.batches = data.Batches(torch.zeros(64, 1), 16, 0)
    if not s.run.resuming:
        s.run.start(0)
    return s


# ------------------------------------------------------------------ 12. unwritable --out


def test_an_unwritable_out_is_one_line_before_anything_is_built(tmp_path, capsys, monkeypatch):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded before --out was checked")

    monkeypatch.setattr(dcgan_torch, "load", no_data)  # the PyTorch trainer's data loader
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [(a_file, f"--out {a_file}: is a file, not a folder"),
             (a_file / "run", f"--out {a_file / 'run'}: cannot write there (Not a directory)")]  # fmt: skip
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder is no test there
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(0o500)
        cases.append((read_only, f"--out {read_only}: cannot write there (Permission denied)"))
    for out, message in cases:
        with pytest.raises(SystemExit) as exc:
            run(out, "--steps", "2")
        assert exc.value.code == 2
        assert message in one_error_line(capsys)


def test_an_unwritable_out_exits_non_zero_without_traceback(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "reference_trainers.dcgan", "--out", str(a_file / "run")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: --out {a_file / 'run'}: cannot write there (Not a directory)"
    ]
    assert time.perf_counter() - t0 < 60


# --------------------------------------------------------------------- fault injection


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_rows(tmp_path):
    """5 SIGKILLs (seeded; two during a checkpoint write, one between its two renames), each
    followed by --resume: metrics.jsonl ends identical to the uninterrupted run's."""
    from benchmarks import fault_injection

    result = fault_injection.inject(5, tmp_path, seed=0, steps=12)
    assert result["kills"] == 5, result
    assert result["kills_by_kind"]["write"] >= 1 and result["kills_by_kind"]["rename"] >= 1
    assert result["duplicates"] == 0 and result["rows"] == result["reference_rows"]
    assert result["identical"] and result["identical_resumes"] == result["resumes"] == 5, result


# ----------------------------------------------------------------- config files (issue 15, 6-7)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.yaml", "steps: 4\nloss: ns\nsteps: 8\n", "the option 'steps' is given twice"),
        ("c.json", '{"steps": 4, "loss": "ns", "steps": 8}', "the option 'steps' is given twice"),
        ("c.yaml", "steps: 1.0e+400\n", "--steps must be an int; received inf"),
        ("c.json", '{"steps": 1e400}', "--steps must be an int; received inf"),
        ("c.json", '{"steps": 2.5}', "--steps must be an int; received 2.5"),
        ("c.json", '{"steps": true}', "--steps must be an int; received True"),
        ("c.json", '{"lr_d": NaN}', "--lr-d must be a finite number; received nan"),
    ],
    ids=["yaml-duplicate", "json-duplicate", "yaml-inf", "json-inf", "json-2.5", "bool", "nan"],
)
def test_config_file_duplicates_and_non_finite_numbers_are_refused(
    tmp_path, capsys, name, text, message
):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        run(tmp_path / "run", "--config", str(path))
    assert exc.value.code == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_config_file_integral_float_is_an_int(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"steps": 2.0, "eval_every": 2}')
    assert run(tmp_path / "run", "--config", str(path)) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 2
