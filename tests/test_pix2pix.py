"""The pix2pix reference trainer on tiny sizes: a smoke run per loss family, resume ==
straight, one-line errors, the A|B folder reader and jitter, the procedural facades, and the
metrics' sanity (real targets score perfectly, shuffled pairs worse; SSIM == scikit-image)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("skimage")
pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

from reference_trainers import data, facades, pix2pix  # noqa: E402
from reference_trainers.common import TrainerError  # noqa: E402
from tests.trainer_checks import check_four_step_run, rows  # noqa: E402

TINY = ["--image-size", "32", "--width", "4", "--batch-size", "4", "--log-every", "2"]


def run(out, *args):
    return pix2pix.main(["--out", str(out), *TINY, *args])


def ab_folder(root, split, n, size=16, seed=0):
    """A pix2pix-layout split of random A|B images; B = 255 - A, so the pairing is checkable."""
    from PIL import Image

    (root / split).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / split / f"{i}.png")
    return root


@pytest.mark.parametrize(
    "options",
    [
        ["--loss", "ns"],
        ["--loss", "lsgan", "--penalty", "r1", "--penalty-every", "2", "--real-label", "0.9",
         "--instance-noise", "0.1:0:4"],
        ["--loss", "hinge", "--penalty", "gp", "--spectral-norm", "--d-steps", "2",
         "--channels-last"],
        ["--loss", "wgan", "--penalty", "gp", "--lambda-l1", "0"],
        ["--loss", "ns", "--gan-weight", "0"],
        ["--loss", "minimax", "--flip-prob", "0.1", "--g-steps", "2", "--no-jitter"],
        ["--loss", "ragan", "--penalty", "r2", "--adaptive-ratio", "--instance-noise", "adaptive"],
        ["--loss", "hinge", "--penalty", "lecam"],  # explicit state carried between steps
    ],
    ids=["ns", "lsgan-r1-labels-noise", "hinge-gp-sn", "wgan-gp-no-l1", "l1-only", "minimax-flip",
         "ragan-r2-adaptive", "hinge-lecam"],
)  # fmt: skip
@pytest.mark.slow
def test_smoke_run_per_loss_family(tmp_path, options):
    out = tmp_path / "run"
    assert run(out, "--steps", "4", "--eval-every", "4", *options) == 0
    train, evals = check_four_step_run(out, options)
    assert all(r["g_l1"] > 0 for r in train)
    assert {"l1", "psnr", "ssim", "seg_pixel_acc", "seg_class_acc", "seg_iou",
            "seg_pixel_acc_baseline"} <= set(evals[-1])  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    if "--gan-weight" in options:  # L1 only: G's gradient comes from L1 alone
        assert config["gan_weight"] == 0.0
    assert config["loss"] == options[1] and config["lambda_l1"] == (
        0.0 if "--lambda-l1" in options else 100.0
    )


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    """Jitter, dropout, flips, lazy R1 and instance noise all draw random numbers: the resumed
    run must continue every stream exactly."""
    common = ["--penalty", "r1", "--penalty-every", "2", "--flip-prob", "0.2",
              "--instance-noise", "0.2:0:8", "--eval-every", "3"]  # fmt: skip
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert run(straight, "--steps", "7", *common) == 0
    assert run(split, "--steps", "3", *common) == 0
    assert run(split, "--steps", "7", "--resume", *common) == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(split / "checkpoint.pt", weights_only=True)
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k}"
    key = lambda r: (r["step"], bool(r.get("eval")))
    a_rows, b_rows = {key(r): r for r in rows(straight)}, {key(r): r for r in rows(split)}
    assert all(a_rows[k] == b_rows[k] for k in a_rows if k in b_rows)
    assert {(6, True), (7, True), (6, False)} <= set(a_rows) & set(b_rows)


def test_user_ab_folder_run_direction_and_no_segmentation(tmp_path):
    folder = ab_folder(tmp_path / "pairs", "train", 6)
    ab_folder(folder, "test", 3, seed=1)  # no val/: the test split is used for evaluation
    out = tmp_path / "run"
    assert run(out, "--data", str(folder), "--direction", "BtoA", "--steps", "2",
               "--eval-every", "2") == 0  # fmt: skip
    last = [r for r in rows(out) if r.get("eval")][-1]
    assert {"l1", "psnr", "ssim"} <= set(last) and "seg_pixel_acc" not in last


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lambda-l1", "-1"], "--lambda-l1 must be >= 0"),
        (["--lambda-l1", "0", "--gan-weight", "0"], "no loss"),
        (["--direction", "BtoA"], "synthetic-facades maps label maps"),
        (["--data", "/nonexistent/pairs"], "no such folder"),
        (["--loss", "hinge", "--real-label", "0.9"], "need a loss with class targets"),
        (["--penalty", "gp", "--d-norm", "batch"], "batch norm"),
        (["--feature-matching", "1"], "--feature-matching 1.0: the pix2pix trainer's"),
        (["--objective", "ns + feature_matching"], "does not expose its intermediate features"),
        (["--objective", "ns + path_length"], "maps an input image, not a latent"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        run(tmp_path / "run", *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err[-1]


def test_resume_with_other_networks_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--steps", "2", "--eval-every", "2") == 0
    with pytest.raises(SystemExit):
        pix2pix.main(["--out", str(out), *TINY, "--width", "8", "--steps", "4", "--resume"])
    assert "was written with --width 4; this command has --width 8" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ data


def test_ab_folder_reader(tmp_path):
    folder = ab_folder(tmp_path / "pairs", "train", 3, size=16)
    a, b = data.paired_folder(str(folder), "train", 8)
    assert a.shape == b.shape == (3, 3, 8, 8) and a.min() >= -1 and b.max() <= 1
    same = data.paired_folder(str(folder), "train", 16)
    assert a.dtype == np.float32 and a.flags.c_contiguous
    np.testing.assert_allclose(same[0], -same[1], atol=1 / 127.5, rtol=0)  # B = 255 - A
    swapped = data.paired_folder(str(folder), "train", 16, direction="BtoA")
    assert np.array_equal(swapped[0], same[1]) and np.array_equal(swapped[1], same[0])
    with pytest.raises(TrainerError, match="no val/ folder"):
        data.paired_folder(str(folder), "val", 8)
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "train" / "square.png")
    with pytest.raises(TrainerError, match="side by side"):
        data.paired_folder(str(folder), "train", 8)
    (folder / "train" / "square.png").unlink()
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(folder / "train" / "small.png")
    with pytest.raises(TrainerError, match="mixed sizes"):
        data.paired_folder(str(folder), "train", 8)
    (folder / "train" / "small.png").write_bytes(b"not a png")
    with pytest.raises(TrainerError, match="cannot read"):
        data.paired_folder(str(folder), "train", 8)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(TrainerError, match="no images"):
        data.paired_folder(str(tmp_path / "empty"), "train", 8)


def test_jitter_crops_and_mirrors_pairs_together():
    a = torch.arange(2 * 3 * 9 * 9, dtype=torch.float32).view(2, 3, 9, 9)
    pair = (a, a + 0.5)
    g = torch.Generator().manual_seed(0)
    outs = [data.jitter(pair, 8, g) for _ in range(20)]
    for ja, jb in outs:
        assert ja.shape == (2, 3, 8, 8) and torch.equal(jb, ja + 0.5)  # same crop, same mirror
    firsts = {float(ja[0, 0, 0, 0]) for ja, _ in outs}
    assert len(firsts) > 2  # offsets and mirrors vary
    again = [data.jitter(pair, 8, torch.Generator().manual_seed(0)) for _ in range(1)]
    assert torch.equal(again[0][0], outs[0][0])
    assert data.jitter_size(256) == 286 and data.jitter_size(64) == 72


def test_synthetic_facades_are_deterministic_and_labelled(tmp_path):
    textures = facades._textures()
    a1, b1 = facades.example("train", 3, textures)
    a2, b2 = facades.example("train", 3, textures)
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)
    a3, _ = facades.example("val", 3, textures)
    assert not np.array_equal(a1, a3)  # splits differ
    labels = facades.labels_from_colors(a1)
    assert np.array_equal(facades.PALETTE[labels], a1)
    assert {0, 1, 2, 5} <= set(np.unique(labels).tolist())  # sky, wall, windows, pavement
    assert a1.shape == b1.shape == (facades.SIZE, facades.SIZE, 3) and b1.dtype == np.uint8


# --------------------------------------------------------------------------------- metrics


def _ssim_by_hand(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """SSIM written out (the trainers' own implementation until scikit-image replaced it): the
    independent check of the wiring -- the [0, 1] scale, the channel axis, the Gaussian window,
    population (co)variances and the crop to windows inside the image."""
    import torch.nn.functional as F

    x, y = (x.double() + 1) / 2, (y.double() + 1) / 2
    radius = int(3.5 * sigma + 0.5)  # scikit-image's truncation
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    w_rows, w_cols = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)

    def blur(v: torch.Tensor) -> torch.Tensor:  # separable, "valid": windows inside the image
        return F.conv2d(F.conv2d(v, w_rows, groups=c), w_cols, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def test_psnr_and_ssim_are_scikit_images_on_the_unit_scale():
    """PSNR and SSIM come from scikit-image (issue 17 item 9); checked against the closed-form
    PSNR and SSIM written out by hand: same numbers, identical images 100 dB and SSIM 1."""
    from reference_trainers.metrics import psnr, ssim

    rng = np.random.default_rng(0)
    x = (rng.random((3, 3, 24, 24)) * 2 - 1).astype(np.float32)
    y = np.clip(x + 0.4 * rng.standard_normal(x.shape), -1, 1).astype(np.float32)
    mse = (((x.astype(np.float64) - y) / 2) ** 2).reshape(3, -1).mean(1)  # on the [0, 1] scale
    np.testing.assert_allclose(psnr(x, y), -10 * np.log10(mse), rtol=1e-8)  # float32 differences
    np.testing.assert_array_equal(psnr(x, x), [100.0] * 3)
    ref = _ssim_by_hand(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(ssim(x, y), ref, rtol=0, atol=1e-7)  # filter rounding differs
    np.testing.assert_allclose(ssim(x, x), np.ones(3), rtol=0, atol=1e-12)
    assert psnr(x, y).shape == ssim(x, y).shape == (3,)


def test_metrics_sanity_real_targets_and_shuffled_pairs():
    d = pix2pix.load_data(pix2pix.options(["--image-size", "32", "--no-jitter"]))
    from reference_trainers.metrics import PairMetrics

    assert d["segmenter_accuracy"] > 0.85
    x, y = d["val"]
    m = PairMetrics(y, d["labels"], d["segmenter"], len(facades.CLASSES))
    real = m(y)
    assert real["l1"] == 0 and real["ssim"] > 0.999 and real["psnr"] == pytest.approx(100)
    assert real["seg_pixel_acc"] == pytest.approx(m.baseline["seg_pixel_acc"])
    assert real["seg_pixel_acc"] > 0.85
    shuffled = m(y[torch.roll(torch.arange(len(y)), 1)])  # every output paired with another input
    assert shuffled["l1"] > 0.1 and shuffled["ssim"] < 0.5
    assert shuffled["seg_pixel_acc"] < real["seg_pixel_acc"] - 0.15
    assert shuffled["seg_iou"] < real["seg_iou"] - 0.2
    blank = m(torch.zeros_like(y))
    assert blank["seg_pixel_acc"] < 0.6


def test_gan_weight_zero_is_l1_only(tmp_path):
    """With --gan-weight 0 the generator learns from L1 alone: the same G whatever the loss."""
    outs = []
    for loss in ("ns", "lsgan"):
        out = tmp_path / loss
        assert (
            run(out, "--loss", loss, "--gan-weight", "0", "--steps", "3", "--eval-every", "3") == 0
        )
        outs.append(torch.load(out / "checkpoint.pt", weights_only=True))
    assert all(torch.equal(outs[0]["G"][k], outs[1]["G"][k]) for k in outs[0]["G"])
    assert not all(torch.equal(outs[0]["D"][k], outs[1]["D"][k]) for k in outs[0]["D"])
