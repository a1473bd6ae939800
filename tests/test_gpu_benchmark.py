"""benchmarks/gpu.sh and benchmarks.gpu on the CPU: the dry run end to end (both trainers, both
sides, provenance), the plain loop's networks against the trainer's, the resolved gpu-preset
options, and the script's refusals."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from benchmarks import gpu  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def script_env() -> dict[str, str]:
    return {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_dry_run_writes_both_sides_of_both_trainers(tmp_path):
    out = tmp_path / "gpu"
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--out", str(out)], cwd=tmp_path,
                          env=script_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((out / "gpu.json").read_text())
    md = (out / "gpu.md").read_text()
    for trainer in gpu.TRAINERS:
        result = data["results"][trainer]
        for impl in gpu.IMPLS:
            side = result[impl]
            assert "error" not in side, side
            assert len(side["images_per_s"]) == 3
            assert all(math.isfinite(v) and v > 0 for v in side["images_per_s"])
            assert math.isfinite(side["median"]) and side["iqr"] >= 0 and side["peak_bytes"] > 0
            assert side["compile_s"] >= 0 and side["setup_s"] > 0
            assert f"| {trainer} " in md and f"| {impl} |" in md
        assert math.isfinite(data["ratio_advloss_over_plain"][trainer])
        assert "advloss / plain" in md
    machine = data["machine"]
    assert machine["command"] == f"bash benchmarks/gpu.sh --dry-run --out {out}"
    assert machine["commit"] not in ("", "?") and machine["cpu"] and machine["date"]
    assert machine["code_digest"] == gpu.code_digest()
    assert "torch" in machine["versions"] and "gpu" not in machine  # no GPU here
    assert data["meta"]["device"] == "cpu" and data["meta"]["rounds"] == 3
    assert f"Command: `{machine['command']}`" in md and "Machine:" in md
    # the committed results are never touched by a dry run
    assert sorted(p.name for p in out.iterdir()) == ["gpu.json", "gpu.log", "gpu.md"]


def test_plain_dcgan_is_the_trainers_architecture():
    from reference_trainers import dcgan_torch

    cfg = gpu.trainer_config("dcgan", False, "unused", None)
    G, D = gpu.plain_dcgan(cfg)
    G_ref = dcgan_torch.Generator(cfg.z_dim, cfg.width, cfg.image_size, 1)
    D_ref = dcgan_torch.Discriminator(cfg.width, cfg.image_size, 1, "batch")
    for mine, ref in ((G, G_ref.net), (D, D_ref.net)):
        assert [type(m) for m in mine] == [type(m) for m in ref]
        assert [p.shape for p in mine.parameters()] == [p.shape for p in ref.parameters()]
    z = torch.randn(2, cfg.z_dim, 1, 1)
    assert G(z).shape == (2, 1, 64, 64) and D(G(z)).view(-1).shape == (2,)


def test_the_gpu_preset_options_as_the_trainers_resolve_them():
    for trainer, size, batch in (("dcgan", 64, 128), ("pix2pix", 256, 1)):
        cfg = gpu.trainer_config(trainer, False, "unused", None if trainer == "dcgan" else ".")
        assert (cfg.image_size, cfg.batch_size) == (size, batch)
        assert cfg.amp == "bf16" and cfg.channels_last and cfg.compile
        assert cfg.device == "cuda" and cfg.loss == "ns" and cfg.penalty == "none"
        assert (cfg.lr_g, cfg.lr_d, cfg.beta1, cfg.beta2) == (2e-4, 2e-4, 0.5, 0.999)
        assert not gpu.trainer_config(trainer, False, "u", ".", compile=False).compile
        dry = gpu.trainer_config(trainer, True, "unused", None if trainer == "dcgan" else ".")
        assert dry.device == "cpu" and dry.amp == "none" and not dry.compile
    assert gpu.command_line("dcgan", False) == (
        "python -m reference_trainers.dcgan --preset gpu --compile --device cuda"
    )


def test_script_refuses_without_cuda_and_dry_run_needs_out(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run(["bash", str(SCRIPT), "--out", str(tmp_path)], env=script_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("gpu.sh: torch ") and "no CUDA device" in line and "--dry-run" in line
    assert not any(tmp_path.iterdir())
    with pytest.raises(SystemExit):
        gpu.main(["--dry-run"])  # never the committed results folder


def test_code_digest_ties_a_result_to_the_code(tmp_path):
    for top in ("advloss", "reference_trainers", "benchmarks/results"):
        (tmp_path / top).mkdir(parents=True)
    (tmp_path / "advloss" / "a.py").write_text("x = 1\n")
    first = gpu.code_digest(tmp_path)
    (tmp_path / "benchmarks" / "results" / "gpu.md").write_text("numbers\n")  # not code
    (tmp_path / "advloss" / "notes.txt").write_text("not code\n")
    assert gpu.code_digest(tmp_path) == first and len(first) == 16
    (tmp_path / "advloss" / "a.py").write_text("x = 2\n")
    assert gpu.code_digest(tmp_path) != first


def test_jitter_draws_on_the_generators_device_with_the_cpu_numbers_unchanged():
    from reference_trainers import data

    pair = (torch.randn(3, 3, 9, 9), torch.randn(3, 3, 9, 9))
    a, b = data.jitter(pair, 8, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the draws before the device argument was added
    offsets = torch.randint(0, 2, (3, 2), generator=g).tolist()
    flips = (torch.rand(3, generator=g) < 0.5).tolist()
    for i, ((y, x), flip) in enumerate(zip(offsets, flips, strict=True)):
        want = pair[0][i, :, y : y + 8, x : x + 8]
        assert torch.equal(a[i], want.flip(-1) if flip else want)
    assert b.shape == a.shape == (3, 3, 8, 8)
