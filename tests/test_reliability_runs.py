"""The reference trainers' run folders under failure (issue 15): CIFAR-10 read from its
binary version (never unpickled)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

from reference_trainers import data, dcgan  # noqa: E402
from reference_trainers.common import TrainerError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "16", "--log-every", "2",
        "--eval-samples", "200"]  # fmt: skip


def run(out, *args):
    return dcgan.main(["--out", str(out), *TINY, *args])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


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
        assert channels == 3 and x.shape == (5, 3, 32, 32) and x.dtype == torch.float32
        expected = pixels.reshape(5, 3, 32, 32).astype(np.float32) / 127.5 - 1.0  # CHW planes
        np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)
    x16, _ = data.load(str(folder), 16)
    assert x16.shape == (5, 3, 16, 16)
    (folder / "data_batch_2.bin").write_bytes(records[3:].tobytes()[:-1])
    with pytest.raises(TrainerError, match=r"data_batch_2\.bin is not a CIFAR-10 binary batch"):
        data.load(str(folder), 32)
