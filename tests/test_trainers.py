"""The DCGAN reference trainer on tiny sizes: a smoke run per loss family (with penalties,
spectral norm, labels, instance noise, update ratios), resume == straight, one-line errors for
bad input, the data loaders and the metrics' sanity."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("PIL")
pytest.importorskip("matplotlib")

from reference_trainers import dcgan  # noqa: E402
from reference_trainers.common import RUN_ONLY, TrainerError  # noqa: E402
from reference_trainers.data import Batches, image_folder  # noqa: E402
from tests.trainer_checks import check_four_step_run, rows  # noqa: E402

TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "16", "--log-every", "2",
        "--eval-samples", "200"]  # fmt: skip


def run(out, *args):
    return dcgan.main(["--out", str(out), *TINY, *args])


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
        [
            "--loss",
            "hinge",
            "--penalty",
            "gp",
            "--spectral-norm",
            "--d-steps",
            "2",
            "--channels-last",
        ],
        ["--loss", "wgan", "--penalty", "gp", "--penalty-weight", "5"],
        ["--loss", "minimax", "--flip-prob", "0.1", "--g-steps", "2"],
        ["--loss", "ragan", "--penalty", "r2", "--adaptive-ratio", "--instance-noise", "adaptive"],
        ["--loss", "rpgan", "--penalty", "r1", "--instance-noise", "0.1"],
        ["--loss", "wgan", "--penalty", "dragan", "--penalty-weight", "5"],
    ],
    ids=[
        "ns",
        "lsgan-r1-labels-noise",
        "hinge-gp-sn",
        "wgan-gp",
        "minimax-flip",
        "ragan-r2-adaptive",
        "rpgan-r1-noise",
        "wgan-dragan",
    ],
)
def test_smoke_run_per_loss_family(tmp_path, options):
    out = tmp_path / "run"
    assert run(out, "--steps", "4", "--eval-every", "4", *options) == 0
    _, evals = check_four_step_run(out, options)
    assert {"fd", "fd_baseline", "coverage", "class_kl"} <= set(evals[-1])
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == options[1] and config["steps"] == 4


@pytest.mark.parametrize(
    "rng", [[], ["--numpy-rng", "--dtype", "float64"]], ids=["torch-rng", "numpy-rng"]
)
@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tmp_path, rng):
    common = ["--loss", "ns", "--penalty", "r1", "--penalty-every", "2", "--flip-prob", "0.2",
              "--instance-noise", "0.2:0:8", "--eval-every", "3", *rng]  # fmt: skip
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
        (["--objective", "ns + r1(gamma=10)", "--loss", "hinge"], "--objective with --loss"),
        (["--objective", "ns + r1(gamma=10)", "--real-label", "0.9"], "--real-label"),
        (["--objective", "ns + + r1"], "--objective 'ns + + r1'"),
        (["--objective", "nonsaturating"], "unknown term 'nonsaturating'"),
        (
            ["--objective", "ns + diffaug('color')", "--augment", "apa"],
            "give the augmentation once",
        ),
        (["--augment-p", "0.5"], "--augment-p without --augment"),
        (["--augment", "diffaug", "--augment-p", "0.3"], "it has no probability p"),
        (["--augment", "apa", "--augment-p", "1.5"], "--augment-p must lie in [0, 1]"),
        (["--augment", "apa", "--augment-p", "0.2", "--augment-target", "0.6"], "either fixed"),
        (["--augment", "apa", "--augment-target", "2"], "target must lie in [-1, 1]"),
        (["--augment", "apa", "--augment-kimg", "0"], "ada_kimg must be > 0"),
        (["--augment", "diffaug", "--augment-policy", "zoom"], "unknown policy 'zoom'"),
        (["--train-size", "10"], "--train-size 10: expected at least --batch-size (16)"),
        (["--penalty", "lecam", "--penalty-every", "2"], "with --penalty lecam: it is not lazy"),
        (["--recipe", "r3gan", "--loss", "hinge"], "--recipe with --loss"),
        (["--recipe", "r3gan", "--beta1", "0.0"], "--recipe with --beta1"),
        (["--recipe", "r3gan", "--objective", "ns"], "--recipe with --objective"),
        (["--recipe", "r3gan(gamma=-1)"], "gamma must be >= 0"),
        (["--recipe", "r4gan"], "unknown recipe name 'r4gan'"),
        (["--feature-matching", "-1"], "--feature-matching: expected a finite weight >= 0"),
        (["--feature-matching", "nan"], "--feature-matching: expected a finite weight >= 0"),
        (
            ["--feature-matching", "1", "--objective", "ns + feature_matching(weight=0.5)"],
            "has feature_matching already",
        ),
        (["--gradient-norm", "--spectral-norm"], "choose one"),
        (["--gradient-norm", "--d-norm", "batch"], "--gradient-norm"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        run(tmp_path / "run", *args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert "Traceback" not in "\n".join(err)


@pytest.mark.slow
def test_feature_matching_and_lecam_in_the_torch_dcgan(tmp_path):
    """A generator term on D's intermediate features (the PyTorch Discriminator's
    ``features``) beside a discriminator term with explicit state: both logged, with batch
    norm kept in D (neither differentiates D with respect to its inputs)."""
    out = tmp_path / "run"
    assert run(out, "--steps", "3", "--objective",
               "ns + feature_matching(weight=0.5) + lecam(start=0)") == 0  # fmt: skip
    train = [r for r in rows(out) if "d_loss" in r]
    assert all(r["g_feature_matching"] > 0 and "lecam.ema_real" in r for r in train)
    assert json.loads((out / "config.json").read_text())["d_norm"] == "auto"


def test_objective_spec_builds_the_objective_the_separate_options_build():
    from reference_trainers.common import build_objective

    def objective(*args: str):
        return build_objective(dcgan.options(list(args)))

    flags = objective("--loss", "lsgan", "--penalty", "r1", "--penalty-weight", "5",
                      "--penalty-every", "4", "--real-label", "0.9", "--instance-noise", "0.1:0:50")  # fmt: skip
    spec = objective("--objective", "lsgan + r1(gamma=5, every=4) + smooth(real=0.9) + "
                     "noise('0.1:0:50')")  # fmt: skip
    assert repr(spec) == repr(flags)


def test_feature_matching_flag_adds_the_term_and_keeps_batch_norm():
    """``--feature-matching W`` is ``"<loss> + feature_matching(weight=W)"`` (0: off), beside
    the separate options, an --objective or a recipe; the term takes no input gradients, so D
    keeps batch norm; the JAX and TensorFlow DCGANs accept it (checked before any framework is
    imported)."""
    from reference_trainers.common import build_objective, input_gradients

    def objective(*args: str):
        return build_objective(dcgan.options(list(args)))

    flag = objective("--loss", "hinge", "--feature-matching", "0.5")
    assert repr(flag) == repr(objective("--objective", "hinge + feature_matching(weight=0.5)"))
    assert repr(objective("--feature-matching", "0")) == repr(objective())
    spec = objective("--objective", "ns + r1(gamma=1)", "--feature-matching", "2")
    assert [p.name for p in spec.penalties] == ["r1", "feature_matching"]
    assert spec.penalties[1].weight == 2.0
    recipe = objective("--recipe", "r3gan", "--feature-matching", "1")
    assert recipe.penalties[-1].name == "feature_matching"
    assert not input_gradients(flag) and input_gradients(spec)
    for framework in ("jax", "tf"):
        cfg = dcgan.options(["--framework", framework, "--feature-matching", "1"])
        dcgan.check(cfg)
        assert cfg.feature_matching == 1.0


def test_path_length_is_a_dcgan_term_on_z():
    """path_length in the DCGANs (checked before any framework is imported): ``--penalty
    path_length`` is the ``--objective`` term; it keeps batch norm in D; the JAX and TF trainers
    get it in NHWC and decide on the host when it is due (``Loop.latent_regularize``)."""
    from reference_trainers import common
    from reference_trainers.loop import Loop

    def objective(*args: str):
        return common.build_objective(dcgan.options(list(args)))

    flag = objective("--penalty", "path_length", "--penalty-every", "4", "--penalty-weight", "0.5")
    assert repr(flag) == repr(objective("--objective", "ns + path_length(weight=0.5, every=4)"))
    assert common.latent_terms(flag) == ["path_length"] and not common.input_gradients(flag)
    assert common.channels_last(flag).penalties[0].layout == "NHWC"
    for framework in ("torch", "jax", "tf"):
        dcgan.check(dcgan.options(["--framework", framework, "--objective", "ns + path_length"]))
    loop = Loop.__new__(Loop)  # the framework-neutral decision, without a run folder
    loop.objective = flag

    def due(step: int) -> bool | None:
        loop.step = step
        return loop.latent_regularize()

    assert [due(step) for step in range(5)] == [True, False, False, False, True]
    loop.objective = objective("--objective", "ns + r1(every=4)")
    assert due(0) is None


def test_recipe_builds_r3gans_objective_over_the_run():
    """``--recipe r3gan``: R3GAN's objective with its decays over ``--steps`` (or the spec's
    ``steps=``), and the optimizer values the loop sets at each iteration (no framework)."""
    import advloss
    from reference_trainers.common import build_objective, recipe_of
    from reference_trainers.loop import Loop

    R3GAN = advloss.recipes.R3GAN
    cfg = dcgan.options(["--recipe", "r3gan", "--steps", "300"])
    assert recipe_of(cfg) == R3GAN(steps=300)
    assert build_objective(cfg) == R3GAN(steps=300).objective()
    cfg = dcgan.options(["--recipe", "r3gan(gamma=0.1, steps=50)", "--steps", "300"])
    assert build_objective(cfg) == R3GAN(gamma=0.1, steps=50).objective()
    loop = Loop.__new__(Loop)  # the framework-neutral plan(), without a run folder
    loop.recipe, loop.ada, loop.step = R3GAN(steps=50), None, 25
    loop.aug_controller = loop.augmentation = None
    loop.ratio, loop.ratio_state = advloss.FixedRatio(), advloss.FixedRatio().init()
    assert loop.plan() == (1, 1) and loop.adam == R3GAN(steps=50).adam(25)
    assert loop.adam[1][0] == 0.0 and 0.9 < loop.adam[1][1] < 0.99


@pytest.mark.slow
def test_recipe_run_sets_the_optimizers_schedules(tmp_path):
    """Four torch steps of --recipe r3gan: the r1 and r2 terms are logged, and the optimizers
    hold the recipe's last learning rate and betas (step 3 of a 4-step cosine)."""
    import advloss

    out = tmp_path / "run"
    assert run(out, "--steps", "4", "--eval-every", "4", "--recipe", "r3gan") == 0
    train, _ = check_four_step_run(out, [])
    assert {"d_r1", "d_r2"} <= set(train[-1])
    lr, betas = advloss.recipes.R3GAN(steps=4).adam(3)
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    for opt in ("g_opt", "d_opt"):
        group = ck[opt]["param_groups"][0]
        assert group["lr"] == lr and tuple(group["betas"]) == betas
    assert json.loads((out / "config.json").read_text())["recipe"] == "r3gan"


def test_the_typed_config_holds_exactly_the_parsers_options():
    """One frozen, typed config per trainer (issue 17 item 7): its fields are the parser's
    options (the parser keeps the defaults, choices and help), it round-trips through the
    mapping config.json stores, and an option it does not have is a one-line error."""
    import dataclasses

    from reference_trainers import config, pix2pix

    for module, cls in ((dcgan, config.DCGANConfig), (pix2pix, config.Pix2PixConfig)):
        options = {a.dest for a in module.parser()._actions if a.dest != "help"}
        options -= set(RUN_ONLY)  # --threads: how to run, not part of the config
        assert {f.name for f in dataclasses.fields(cls)} == options
    cfg = dcgan.options(["--loss", "hinge", "--steps", "7"])
    assert isinstance(cfg, config.DCGANConfig) and (cfg.loss, cfg.steps) == ("hinge", 7)
    assert cfg.replace(loss="ns").loss == "ns" and cfg.loss == "hinge"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.loss = "ns"  # type: ignore[misc]
    assert config.DCGANConfig.from_options(cfg.as_dict()) == cfg
    with pytest.raises(TrainerError, match="--lambda-l1: not an option of this trainer"):
        config.DCGANConfig.from_options({**cfg.as_dict(), "lambda_l1": 100.0})
    with pytest.raises(TrainerError, match="--z-dim: no value"):
        config.DCGANConfig.from_options({k: v for k, v in cfg.as_dict().items() if k != "z_dim"})


def test_one_lazy_interval_for_the_jax_and_tf_trainers():
    from types import SimpleNamespace

    from reference_trainers.common import build_objective
    from reference_trainers.session import Session

    def interval(spec: str) -> int:
        objective = build_objective(dcgan.options(["--objective", spec]))
        return Session.penalty_interval(SimpleNamespace(objective=objective))

    assert interval("ns") == 1 and interval("ns + r1(every=16)") == 16
    with pytest.raises(TrainerError, match=r"different `every` intervals \[2, 4\]"):
        interval("wgan + gp(every=2) + r1(every=4)")


def test_objective_spec_trains_like_the_separate_options(tmp_path):
    """Four steps with --objective write the same rows as with the separate options."""
    common = ["--steps", "4", "--eval-every", "4"]
    assert run(tmp_path / "a", *common, "--loss", "ns", "--penalty", "r1", "--penalty-every",
               "2", "--real-label", "0.9") == 0  # fmt: skip
    assert run(tmp_path / "b", *common, "--objective",
               "ns + r1(every=2) + smooth(real=0.9)") == 0  # fmt: skip
    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    drop = ("seconds", "it_s", "elapsed")
    strip = lambda rs: [{k: v for k, v in r.items() if not any(d in k for d in drop)} for r in rs]
    assert strip(a) == strip(b)


def test_resume_with_other_options_is_one_line_and_keeps_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--steps", "2", "--eval-every", "2") == 0
    capsys.readouterr()
    for args, message in [(["--loss", "hinge"], "was written with --loss ns"),
                          (["--numpy-rng"], "was written with --numpy-rng False"),
                          (["--penalty", "r1"], "was written with --penalty none")]:  # fmt: skip
        with pytest.raises(SystemExit):
            run(out, "--steps", "4", "--resume", *args)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert json.loads((out / "config.json").read_text())["loss"] == "ns"
    assert run(out, "--steps", "4", "--resume", "--log-every", "1") == 0  # allowed to change


def test_config_file_values_are_checked_like_the_command_line(tmp_path, capsys):
    for values, message in [({"framework": "flax"}, "--framework 'flax'; expected one of"),
                            ({"image_size": 24}, "--image-size 24; expected one of"),
                            ({"steps": "many"}, "--steps 'many' is not valid")]:  # fmt: skip
        path = tmp_path / "config.json"
        path.write_text(json.dumps(values))
        with pytest.raises(SystemExit):
            run(tmp_path / "run", "--config", str(path))
        assert message in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"steps": "2", "eval_every": 2}))
    assert run(tmp_path / "ok", "--config", str(tmp_path / "config.json")) == 0


def test_resume_errors(tmp_path, capsys):
    out = tmp_path / "run"
    # no checkpoint yet: --resume starts the run afresh (tests/test_reliability_runs.py)
    assert run(out, "--steps", "2", "--eval-every", "2", "--resume") == 0
    assert "no checkpoint in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(out, "--steps", "2")  # would overwrite the run
    assert "already holds a run" in capsys.readouterr().err
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit):
        run(out, "--steps", "4", "--resume")
    assert "does not match its checksum" in capsys.readouterr().err
    (out / "checkpoint.pt.sha256").unlink()  # an older run's checkpoint: read unverified
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
    assert isinstance(x, np.ndarray) and x.dtype == np.float32
    np.testing.assert_allclose(x[3], np.ones((3, 16, 16)))  # sorted: sub/white.png last
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "small.png")
    with pytest.raises(TrainerError, match="mixed sizes"):
        image_folder(str(folder), 16, channels=3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainerError, match="no images"):
        image_folder(str(tmp_path / "empty"), 16, channels=3)


def test_batches_are_deterministic_and_resumable():
    data = np.arange(10, dtype=np.float32)[:, None]
    a = Batches(data, 3, seed=1)
    first = [a.next() for _ in range(5)]  # crosses an epoch (3 batches per epoch)
    b = Batches(data, 3, seed=1)
    for _ in range(2):
        b.next()
    c = Batches(data, 3, seed=1)
    c.load_state(b.state())
    assert all(
        np.array_equal(x, y) for x, y in zip(first[2:], [c.next() for _ in range(3)], strict=True)
    )
    assert len(np.unique(np.concatenate(first[:3]))) == 9  # no repeats within an epoch
    with pytest.raises(TrainerError, match="larger than the dataset"):
        Batches(data, 11, seed=0)


def test_metrics_sanity():
    from reference_trainers.data import digits
    from reference_trainers.metrics import DigitMetrics

    m = DigitMetrics(16)
    assert m.accuracy > 0.9
    x, y = digits(16)
    real = m(x[np.random.default_rng(0).permutation(len(x))[:900]])
    assert real["fd"] < 2 * m.baseline and real["coverage"] == 1.0 and real["class_kl"] < 0.05
    noise = m(np.random.default_rng(0).random((900, 1, 16, 16), np.float32) * 2 - 1)
    assert noise["fd"] > 50 * m.baseline
    ones = m(x[:900][y[:900] == 1])  # one class only
    assert ones["coverage"] <= 0.2 and ones["class_kl"] > 1.5


def test_idx_reader_on_small_generated_files(tmp_path):
    """(CIFAR-10's binary reader: tests/test_reliability_runs.py.)"""
    import gzip

    from reference_trainers.data import load

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    header = (2051).to_bytes(4, "big") + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    with gzip.open(mnist / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + images.tobytes())
    x, channels = load(str(mnist), 16)
    assert channels == 1 and x.shape == (5, 1, 16, 16)
    x28, _ = load(str(mnist), 32)
    assert x28.shape == (5, 1, 32, 32)
    (mnist / "train-images-idx3-ubyte.gz").unlink()
    (mnist / "train-images-idx3-ubyte").write_bytes(header + images.tobytes()[:100])
    with pytest.raises(TrainerError, match="truncated IDX"):
        load(str(mnist), 16)

    with pytest.raises(TrainerError, match="no such folder"):
        load(str(tmp_path / "missing"), 16)


def test_stacked_digits_and_mode_metrics():
    from reference_trainers.data import digits, stacked_digits
    from reference_trainers.metrics import StackedDigitMetrics

    x, modes = stacked_digits(16, n=3000, seed=0)
    assert x.shape == (3000, 3, 16, 16) and int(modes.min()) >= 0 and int(modes.max()) < 1000
    again, _ = stacked_digits(16, n=3000, seed=0)
    assert np.array_equal(x, again)
    m = StackedDigitMetrics(16, 1000)
    real = m(x[:1000])
    assert real["modes"] > 0.8 * m.real_scores["modes"] and real["fd"] < 2 * m.baseline
    one_digit = np.tile(digits(16)[0][:1], (1000, 3, 1, 1))  # a collapsed generator: one mode
    collapsed = m(one_digit)
    assert collapsed["modes"] == 1 and collapsed["mode_kl"] > 6.0


@pytest.mark.parametrize(("source", "size"), [(8, 16), (8, 32), (8, 64), (28, 16), (28, 32),
                                             (32, 16), (32, 64)])  # fmt: skip
def test_resize_bilinear_is_torch_interpolate(source, size):
    """The NumPy resize of the data readers gives PyTorch's bilinear numbers: bit for bit on the
    digits (dyadic values: every product and sum is exact), to float32 rounding elsewhere."""
    from reference_trainers.data import resize_bilinear

    rng = np.random.default_rng(source * size)
    x = (rng.integers(0, 256, (3, 2, source, source)) / 127.5 - 1).astype(np.float32)
    if source == 8:
        x = (rng.integers(0, 17, (3, 1, 8, 8)) / 16).astype(np.float32)  # the digits' values
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False
    ).numpy()
    ours = resize_bilinear(x, size)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    if source == 8:
        np.testing.assert_array_equal(ours, ref)
    else:
        np.testing.assert_allclose(ours, ref, rtol=0, atol=4e-7)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_numpy_digit_classifier_is_the_torch_one(size):
    """The JAX / TensorFlow trainers' evaluator (NumPy) and the PyTorch trainer's compute the
    same features, classes and metrics from the shipped weights (to float32 rounding)."""
    from reference_trainers.data import digits
    from reference_trainers.metrics import DigitMetrics, NumpyDigitClassifier
    from reference_trainers.metrics_torch import TorchDigitClassifier

    x, y = digits(size)
    x = x[:: 9 if size < 64 else 30]
    numpy_net, torch_net = NumpyDigitClassifier(size), TorchDigitClassifier(size)
    assert numpy_net.accuracy == torch_net.accuracy > 0.85  # 0.94 at 16 and 32, 0.88 at 64
    f_np, f_t = numpy_net.features(x), torch_net.features(x)
    np.testing.assert_allclose(f_np, f_t, rtol=1e-5, atol=1e-5 * np.abs(f_t).max())
    np.testing.assert_array_equal(numpy_net.classes(x), torch_net.classes(x))
    if size == 16:  # the metrics themselves: the same numbers to ~1e-6
        samples = x[:150] + np.float32(0.3) * np.random.default_rng(0).standard_normal(
            x[:150].shape, np.float32
        )
        a = DigitMetrics(size)(samples)
        b = DigitMetrics(size, torch_net)(samples)
        assert a["coverage"] == b["coverage"] and a["class_kl"] == pytest.approx(b["class_kl"])
        assert a["fd"] == pytest.approx(b["fd"], rel=1e-5)


@pytest.mark.slow
def test_shipped_digit_classifier_is_what_our_training_gives():
    """reference_trainers/weights/digits-classifier-16.npz is the classifier
    ``python -m reference_trainers.metrics_torch 16`` trains (deterministic on one machine; on
    another CPU float32 rounding may differ, so predictions and accuracy are compared)."""
    from reference_trainers.data import digits
    from reference_trainers.metrics_torch import classifier, train_classifier

    shipped, shipped_acc = classifier(16)
    trained, acc = train_classifier(16)
    assert acc == pytest.approx(shipped_acc, abs=0.01)
    x = torch.from_numpy(digits(16)[0])
    with torch.no_grad():
        agree = (shipped(x).argmax(1) == trained(x).argmax(1)).double().mean()
    assert agree > 0.98


def test_stacked_digits_run(tmp_path):
    out = tmp_path / "run"
    assert run(out, "--data", "stacked-digits", "--steps", "2", "--eval-every", "2") == 0
    last = [r for r in rows(out) if r.get("eval")][-1]
    assert {"modes", "mode_kl", "modes_baseline", "mode_kl_baseline", "fd"} <= set(last)


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    """torchrun --nproc_per_node=2 on gloo: the run completes with R1 + LeCam (its moving
    averages averaged over the ranks: replicas=) + spectral norm + the adaptive ratio
    (statistics averaged across ranks, so both plan the same steps), rank 0 alone writes the
    outputs, and both ranks end with identical weights."""
    import os
    import socket
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         f"--master_port={port}", "-m", "reference_trainers.dcgan", "--out", str(out),
         *TINY, "--steps", "4", "--eval-every", "4", "--objective",
         "ns + r1(gamma=10) + lecam(start=0)", "--spectral-norm", "--adaptive-ratio"],
        capture_output=True, text=True, timeout=300, cwd=root, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = rows(out)[-1]
    assert last == {"step": 4, "ddp_world_size": 2, "ddp_params_in_sync": True}
    assert len([r for r in rows(out) if r.get("eval")]) == 2  # written once (rank 0)


# ------------------------------------------------------------------------- the command line

#: runs each trainer module as ``python -m`` does (runpy, as __main__) with the arguments of
#: argv[1] (JSON: [module, args] pairs), in one fresh process; prints, per command, its exit
#: status, its last line of stderr and the frameworks imported by then
CLI_PROBE = """
import contextlib, io, json, runpy, sys
out = []
for module, args in json.loads(sys.argv[1]):
    sys.argv = [module, *args]
    err, code = io.StringIO(), 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_module(module, run_name="__main__")
        except SystemExit as exc:
            code = exc.code
    lines = err.getvalue().strip().splitlines()
    loaded = [m for m in ("torch", "tensorflow", "jax", "keras", "flax") if m in sys.modules]
    out.append([code, lines[-1] if lines else "", loaded])
print(json.dumps(out))
"""


def test_help_and_bad_options_answer_before_any_framework_is_imported(tmp_path):
    """``--help`` and every option error come before PyTorch, JAX or TensorFlow is imported
    (issue 16 item 13): the trainers parse and check their options in framework-free code."""
    from pathlib import Path

    a_file = tmp_path / "file"
    a_file.write_text("x")
    out = str(tmp_path / "run")
    dc, p2p, xf = ("reference_trainers." + m for m in ("dcgan", "pix2pix", "xframework"))
    cases = [
        (dc, ["--help"], 0, ""),
        (p2p, ["--help"], 0, ""),
        (xf, ["--help"], 0, ""),
        (dc, ["--out", out, "--loss", "nope"], 2, "unknown loss name 'nope'"),
        (dc, ["--out", out, "--steps", "0"], 2, "--steps must be >= 1"),
        (dc, ["--out", out, "--image-size", "24"], 2, "invalid choice: 24"),
        (dc, ["--out", out, "--penalty", "r1", "--d-norm", "batch"], 2, "batch norm"),
        (dc, ["--out", out, "--loss", "hinge", "--flip-prob", "0.1"], 2, "class targets"),
        (dc, ["--out", out, "--instance-noise", "fast"], 2, "unknown name 'fast'"),
        (dc, ["--out", out, "--framework", "jax", "--amp", "bf16"], 2, "PyTorch-only"),
        (dc, ["--out", out, "--data", str(tmp_path / "missing")], 2, "no such folder"),
        (dc, ["--out", out, "--config", str(tmp_path / "missing.json")], 2, "no such file"),
        (dc, ["--out", str(a_file)], 2, "is a file, not a folder"),
        (p2p, ["--out", out, "--lambda-l1", "-1"], 2, "--lambda-l1 must be >= 0"),
        (p2p, ["--out", out, "--direction", "BtoA"], 2, "synthetic-facades maps label maps"),
        (xf, ["--out", out, "--frameworks", "torch"], 2, "two or more of"),
    ]
    root = Path(__file__).resolve().parents[1]
    probe = json.dumps([[m, args] for m, args, _, _ in cases])
    proc = subprocess.run(
        [sys.executable, "-c", CLI_PROBE, probe], capture_output=True, text=True, timeout=300,
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (module, args, code, message), (got_code, last, loaded) in zip(cases, results, strict=True):
        assert loaded == [], f"{module} {args} imported {loaded}"
        assert got_code == code and message in last, (module, args, got_code, last)
    assert not (tmp_path / "run").exists()  # a bad option creates no run folder


def _parsers():
    from reference_trainers import pix2pix, xframework

    return {"dcgan": dcgan.parser(), "pix2pix": pix2pix.parser(), "xframework": xframework.parser()}


@pytest.mark.parametrize("name", ["dcgan", "pix2pix", "xframework"])
def test_every_option_has_a_sentence_of_help_and_its_default(name):
    """Every option's help is a sentence (BooleanOptionalAction may add its own '(default:
    ...)'); every option that takes a value shows its default (or the presets')."""
    parser = _parsers()[name]
    for action in parser._actions:
        if action.dest == "help":
            continue
        text = (action.help or "").replace(" (default: %(default)s)", "")
        assert text[:1].isupper() and text.endswith("."), (action.option_strings, text)
        if action.nargs != 0:
            assert "Default: " in text, (action.option_strings, text)
    shown = " ".join(parser.format_help().split())
    assert parser.description.rstrip().endswith(".")  # the whole docstring, not its first line
    if name == "xframework":
        assert "on the same numbers and compare the curves step for step." in shown
        return
    assert "The generator's Adam learning rate. Default: 0.0002." in shown
    assert "e.g. 0.9; 1.0 = no smoothing. Default: 1.0." in shown
    assert "(0.9)" not in shown
    if name == "dcgan":
        assert "Samples per training batch" in shown and "Default: 64 (cpu preset), 128" in shown


def test_the_gpu_preset_turns_on_bf16_autocast_for_torch_only():
    """The gpu preset's amp: bf16 was never applied (the --amp default "none" was not None, so
    the preset could not fill it); JAX/TF runs with the gpu preset were refused for it."""
    from reference_trainers import common, pix2pix

    def resolved(module, *argv):
        return module.options(list(argv))

    assert resolved(dcgan, "--preset", "gpu").amp == "bf16"
    assert resolved(dcgan, "--preset", "gpu").channels_last is True
    assert resolved(pix2pix, "--preset", "gpu").amp == "bf16"
    assert resolved(dcgan, "--preset", "cpu").amp == "none"
    assert resolved(dcgan, "--preset", "gpu", "--amp", "none").amp == "none"
    for framework in ("jax", "tf"):
        cfg = resolved(dcgan, "--preset", "gpu", "--framework", framework)
        assert cfg.amp == "none" and not cfg.channels_last
        common.torch_only_options(cfg, framework)  # no error
