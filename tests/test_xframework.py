"""One DCGAN in PyTorch, JAX and TensorFlow (issue 9): the same layers and weights give the same
outputs, the optimizers the same updates, and trained on the same numbers the three give the same
per-step losses in float64; the JAX and TensorFlow trainers resume exactly and refuse
PyTorch-only options in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")
jax = pytest.importorskip("jax")
keras = pytest.importorskip("keras")
pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

import jax.numpy as jnp  # noqa: E402

import advloss  # noqa: E402
from reference_trainers import common, dcgan, dcgan_jax, dcgan_tf, xframework  # noqa: E402
from reference_trainers.arrays import NumpyStreams  # noqa: E402
from reference_trainers.dcgan_spec import (  # noqa: E402
    discriminator_layers,
    generator_layers,
    numpy_weights,
    spectral_state,
)
from tests.trainer_checks import rows  # noqa: E402

TINY = ["--width", "8", "--z-dim", "8", "--batch-size", "8", "--log-every", "1",
        "--eval-samples", "200"]  # fmt: skip


@pytest.fixture(autouse=True)
def _x64():
    jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("norm", ["batch", "layer", "instance", "none"])
@pytest.mark.slow
def test_the_three_networks_compute_the_same_function(norm):
    """G and D built from one layer list, loaded with one set of NumPy weights: equal outputs
    (float64; PyTorch in NCHW, Flax and Keras in NHWC), in training mode."""
    rng = np.random.default_rng(0)
    g_layers, d_layers = generator_layers(8, 8, 16, 3), discriminator_layers(8, 16, 3, norm)
    g_w, d_w = numpy_weights(g_layers, rng, np.float64), numpy_weights(d_layers, rng, np.float64)
    z = rng.standard_normal((4, 8))
    x = rng.standard_normal((4, 3, 16, 16))

    tg, td = dcgan.torch_net(g_layers).double(), dcgan.torch_net(d_layers).double()
    dcgan.load_numpy_weights(tg, g_w)
    dcgan.load_numpy_weights(td, d_w)
    t_img = tg(torch.from_numpy(z)[:, :, None, None]).detach().numpy().transpose(0, 2, 3, 1)
    t_logit = td(torch.from_numpy(x)).flatten(1).detach().numpy()

    Generator, Discriminator = dcgan_jax.build_modules(jnp.float64)
    fg, fd = Generator(tuple(g_layers)), Discriminator(tuple(d_layers))
    gv = fg.init(jax.random.key(0), jnp.zeros((2, 8)), train=True)
    dv = fd.init(jax.random.key(0), jnp.zeros((2, 16, 16, 3)), train=True)
    gp, gs = dcgan_jax.load_numpy(gv, g_layers, g_w, None)
    dp, ds = dcgan_jax.load_numpy(dv, d_layers, d_w, None)
    f_img, _ = fg.apply({"params": gp, "batch_stats": gs}, z, train=True, mutable=["batch_stats"])
    f_logit, _ = fd.apply(
        {"params": dp, "batch_stats": ds}, x.transpose(0, 2, 3, 1), train=True,
        mutable=["batch_stats"],
    )  # fmt: skip

    kg = dcgan_tf.keras_net(keras, g_layers, "float64", (8,), sn=False, name="g")
    kd = dcgan_tf.keras_net(keras, d_layers, "float64", (16, 16, 3), sn=False, name="d")
    dcgan_tf.load_numpy(kg, g_layers, g_w, None)
    dcgan_tf.load_numpy(kd, d_layers, d_w, None)
    k_img = np.asarray(kg(z, training=True))
    k_logit = np.asarray(kd(x.transpose(0, 2, 3, 1), training=True))

    assert t_img.shape == (4, 16, 16, 3) and t_logit.shape == (4, 1)
    for img, logit in ((np.asarray(f_img), np.asarray(f_logit)), (k_img, k_logit)):
        np.testing.assert_allclose(img, t_img, rtol=0, atol=1e-13)
        np.testing.assert_allclose(logit, t_logit, rtol=1e-12, atol=1e-14)


def test_keras_adam_is_pytorchs_adam():
    """The TensorFlow trainer's Adam: PyTorch's update to float64 rounding (Keras' own Adam
    puts ε outside the bias correction and rounds its constants through float32)."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(40)
    tw = torch.tensor(w0, requires_grad=True)
    t_opt = torch.optim.Adam([tw], 2e-4, betas=(0.5, 0.999))
    kv = keras.Variable(w0, dtype="float64")
    k_opt = dcgan_tf.torch_adam(keras)(2e-4, beta_1=0.5, beta_2=0.999)
    k_opt.build([kv])
    keras_own = keras.Variable(w0, dtype="float64")
    own = keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
    own.build([keras_own])
    for _ in range(5):
        g = rng.standard_normal(40) * 10.0 ** rng.uniform(-6, -1, 40)
        tw.grad = torch.from_numpy(g)
        t_opt.step()
        k_opt.apply_gradients([(tf.constant(g), kv)])
        own.apply_gradients([(tf.constant(g), keras_own)])
    moved = tw.detach().numpy() - w0
    np.testing.assert_allclose(np.asarray(kv) - w0, moved, rtol=1e-10, atol=1e-18)
    # the difference this replaces is real (relative 1e-3 on small gradients here)
    assert np.max(np.abs((np.asarray(keras_own) - w0) - moved) / np.abs(moved)) > 1e-4


def test_numpy_streams_draw_the_same_numbers_in_both_layouts():
    specs = {"noise.real": ("normal", (2, 4, 4, 3)), "flip.real": ("uniform", (2,))}
    nchw = NumpyStreams(3).draws({"noise.real": ("normal", (2, 3, 4, 4)),
                                  "flip.real": ("uniform", (2,))}, np.float64, channels_last=False)  # fmt: skip
    nhwc = NumpyStreams(3).draws(specs, np.float64, channels_last=True)
    np.testing.assert_array_equal(nhwc["noise.real"], nchw["noise.real"].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(nhwc["flip.real"], nchw["flip.real"])
    assert nhwc["flip.real"].min() >= 0 and nhwc["flip.real"].max() < 1


def test_spectral_state_is_the_top_singular_pair():
    layers = discriminator_layers(8, 16, 3, "none")
    w = numpy_weights(layers, np.random.default_rng(0), np.float64)
    sn = spectral_state(layers, w, np.random.default_rng(1), 200)
    for layer, wi, state in zip(layers, w, sn, strict=True):
        if layer.kind == "conv":
            u, v = state
            top = np.linalg.svd(wi["weight"].reshape(layer.cout, -1), compute_uv=False)[0]
            np.testing.assert_allclose(u @ wi["weight"].reshape(layer.cout, -1) @ v, top, rtol=1e-6)


# Together these cover every code path of the three trainers that touches the numbers: batch
# norm in D, layer norm with R1 (second derivatives) and spectral norm threaded through the
# penalty, WGAN-GP's interpolation draws, label smoothing / flips / instance-noise draws, a
# generator loss that needs D(real), 2 D steps per iteration, the adaptive G:D ratio and
# adaptive instance noise (host decisions from the statistics).
AGREEMENT = {
    "ns+r1+sn+labels+noise": ["--loss", "ns", "--penalty", "r1", "--spectral-norm",
                              "--real-label", "0.9", "--flip-prob", "0.2",
                              "--instance-noise", "0.1:0:6"],
    "wgan+gp+adaptive-ratio": ["--loss", "wgan", "--penalty", "gp", "--adaptive-ratio"],
    "ragan+batchnorm+2d+adaptive-noise": ["--loss", "ragan", "--d-steps", "2",
                                          "--instance-noise", "adaptive"],
    # --augment: DiffAugment's draws from the NumPy stream, R1 on augmented reals, a generator
    # loss that needs D(augmented real); cutout's exact zeros meet LeakyReLU's kink at 0
    "ragan+r1+diffaug": ["--loss", "ragan", "--penalty", "r1", "--augment", "diffaug"],
}  # fmt: skip
if hasattr(advloss.augment, "ada"):  # the ADA pipeline, once advloss.augment has it
    AGREEMENT["ns+ada"] = ["--loss", "ns", "--augment", "ada", "--augment-kimg", "0.05"]


@pytest.mark.parametrize("name", list(AGREEMENT))
@pytest.mark.slow
def test_the_three_trainers_agree_step_for_step_in_float64(tmp_path, name):
    result = xframework.compare(
        name, AGREEMENT[name], ["torch", "jax", "tf"], steps=8, dtype="float64",
        work=tmp_path, sizes=[*TINY[:6], "--eval-samples", "200"], seed=1, quiet=True,
    )  # fmt: skip
    assert set(result["diffs"]) == {"jax vs torch", "tf vs torch"}
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 8
            assert max(values) < 1e-12, (pair, key, values)
    curve = result["curves"]["torch"]
    assert all(np.isfinite(curve["d_loss"])) and len(set(curve["d_loss"])) > 1  # it trains


@pytest.mark.slow
def test_the_three_trainers_agree_on_the_r3gan_recipe(tmp_path):
    """--recipe r3gan: γ on its cosine (a traced step in JAX / TF, a Python one in torch) and
    Adam's lr and β2 schedules (param_groups, optax.inject_hyperparams, a Keras variable)
    give the same run in float64; 3 steps of a 3-step decay cover the whole cosine."""
    result = xframework.compare(
        "r3gan", ["--recipe", "r3gan"], ["torch", "jax", "tf"], steps=3, dtype="float64",
        work=tmp_path, sizes=[*TINY[:6], "--eval-samples", "200"], seed=1, quiet=True,
    )  # fmt: skip
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 3 and max(values) < 1e-12, (pair, key, values)


@pytest.mark.slow
def test_the_three_trainers_agree_with_gradient_normalization(tmp_path):
    """--gradient-norm (advloss.gradient_normalize around D in both losses: a nested tape in
    TF, jax.vjp inside the jitted steps, autograd.grad in torch): the same run in float64."""
    result = xframework.compare(
        "gn", ["--loss", "hinge", "--gradient-norm"], ["torch", "jax", "tf"], steps=2,
        dtype="float64", work=tmp_path, sizes=[*TINY[:6], "--eval-samples", "200"], seed=1,
        quiet=True,
    )  # fmt: skip
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 2 and max(values) < 1e-12, (pair, key, values)


@pytest.mark.slow
def test_the_three_trainers_agree_with_lecam_and_resume_it(tmp_path):
    """A term with explicit state (LeCam's moving averages): carried between steps as tensors
    (an input of the jitted / traced steps, its next value read from their statistics), with
    the true step traced beside a lazy R1 decided on the host (`regularize`): the same run in
    float64, its averages logged; and in the checkpoint: each framework's run split at step 2
    and resumed logs the same rows as its straight run."""
    spec = ["--objective", "hinge + lecam(start=1, decay=0.5) + r1(gamma=1, every=2)"]
    sizes = [*TINY[:6], "--eval-samples", "200"]
    result = xframework.compare(
        "lecam", spec, ["torch", "jax", "tf"], steps=4, dtype="float64", work=tmp_path,
        sizes=sizes, seed=1, quiet=True,
    )  # fmt: skip
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 4 and max(values) < 1e-12, (pair, key, values)
    last = {}
    for framework in ("torch", "jax", "tf"):
        train = [r for r in rows(tmp_path / "lecam-float64" / framework) if "d_loss" in r]
        last[framework] = train[-1]
        assert train[-1]["d_lecam"] > 0 and train[0]["d_lecam"] == 0  # on from step 2
        split = tmp_path / f"split-{framework}"
        argv = ["--framework", framework, "--numpy-rng", "--dtype", "float64", "--log-every",
                "1", "--eval-every", "2", "--seed", "1", "--out", str(split), *sizes, *spec]  # fmt: skip
        assert dcgan.main([*argv, "--steps", "2"]) == 0
        assert dcgan.main([*argv, "--steps", "4", "--resume"]) == 0
        assert [r for r in rows(split) if "d_loss" in r] == train, framework
    for framework in ("jax", "tf"):
        for key in ("lecam.ema_real", "lecam.ema_fake"):
            assert last[framework][key] == pytest.approx(last["torch"][key], rel=1e-12, abs=1e-14)


@pytest.mark.slow
def test_the_three_trainers_agree_with_path_length_and_resume_it(tmp_path):
    """path_length on z, the DCGAN's only latent: the objective calls G itself in the
    generator step (in JAX inside the term's own ``jax.vjp``, G's batch statistics threaded
    through that call), the directions y come from the NumPy stream, the moving average is
    carried from generator step to generator step (an input and output of the jitted / traced
    step) and the lazy ``every=2`` is decided on the host: the same run in float64 (which
    needs exact second derivatives through G's batch norm: the TF trainer's own
    BatchNormalization), the term and its average logged; and the PyTorch and JAX runs split
    at step 2 and resumed log the same rows as their straight runs (the TF checkpoint carries
    term states by the same code: the lecam test above resumes it)."""
    spec = ["--objective", "ns + path_length(every=2, decay=0.5)"]
    sizes = [*TINY[:6], "--eval-samples", "200"]
    result = xframework.compare(
        "pl", spec, ["torch", "jax", "tf"], steps=4, dtype="float64", work=tmp_path,
        sizes=sizes, seed=1, quiet=True,
    )  # fmt: skip
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 4 and max(values) < 1e-12, (pair, key, values)
    train = {}
    for framework in ("torch", "jax", "tf"):
        train[framework] = [r for r in rows(tmp_path / "pl-float64" / framework) if "d_loss" in r]
        terms = [r["g_path_length"] for r in train[framework]]
        means = [r["path_length.pl_mean"] for r in train[framework]]
        assert terms[0] > 0 and terms[2] > 0 and terms[1] == terms[3] == 0, (framework, terms)
        assert 0 < means[0] == means[1] != means[2] == means[3], (framework, means)
        if framework == "tf":
            continue
        split = tmp_path / f"split-{framework}"
        argv = ["--framework", framework, "--numpy-rng", "--dtype", "float64", "--log-every",
                "1", "--eval-every", "2", "--seed", "1", "--out", str(split), *sizes, *spec]  # fmt: skip
        assert dcgan.main([*argv, "--steps", "2"]) == 0
        assert dcgan.main([*argv, "--steps", "4", "--resume"]) == 0
        assert [r for r in rows(split) if "d_loss" in r] == train[framework], framework
    for framework in ("jax", "tf"):
        for key in ("g_path_length", "path_length.pl_mean"):
            got = [r[key] for r in train[framework]]
            want = [r[key] for r in train["torch"]]
            assert got == pytest.approx(want, rel=1e-12, abs=1e-14), (framework, key)


def test_xframework_command_writes_the_figure_and_the_tables(tmp_path):
    args = ["--tiny", "--steps", "3", "--configs", "hinge", "--frameworks", "torch,tf",
            "--out", str(tmp_path)]  # fmt: skip
    assert xframework.main(args) == 0
    assert (tmp_path / "curves_xframework.png").stat().st_size > 5000
    md = (tmp_path / "xframework.md").read_text()
    assert "| hinge | float64 | 3 |" in md and "tf vs torch" in md
    assert "1 thread per framework" in md  # --threads 1, the default: reproducible float32
    data = json.loads((tmp_path / "xframework.json").read_text())
    assert data["tolerance"] == 1e-6 and data["results"][0]["max_rel_diff"] < 1e-12
    with pytest.raises(SystemExit):
        xframework.main(["--configs", "nonsaturating"])
    with pytest.raises(SystemExit):
        xframework.main(["--threads", "0"])
    with pytest.raises(ValueError, match="threads: expected an integer >= 1; received 0"):
        common.limit_threads(0)


@pytest.mark.parametrize("framework", ["jax", "tf"])
@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tmp_path, framework):
    """Split at step 3 (a checkpoint) and resumed: the same weights, optimizer states and rows
    as the straight run — with a lazy penalty (two compiled variants), label flips, the
    adaptive G:D ratio, adaptive instance noise and APA's adaptive p (their states are in the
    checkpoint)."""
    common = ["--framework", framework, "--dtype", "float64", "--loss", "lsgan", "--penalty",
              "r1", "--penalty-every", "2", "--flip-prob", "0.2", "--adaptive-ratio",
              "--instance-noise", "adaptive", "--augment", "apa", "--augment-kimg", "0.05",
              "--eval-every", "3", *TINY]  # fmt: skip
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert dcgan.main(["--out", str(straight), "--steps", "6", *common]) == 0
    assert dcgan.main(["--out", str(split), "--steps", "3", *common]) == 0
    with (split / "metrics.jsonl").open("a") as fh:  # written after the checkpoint, then died
        fh.write(json.dumps({"step": 4, "d_loss": 123.0}) + "\n")
    assert dcgan.main(["--out", str(split), "--steps", "6", "--resume", *common]) == 0
    a, b = np.load(straight / "checkpoint.npz"), np.load(split / "checkpoint.npz")
    assert set(a.files) == set(b.files) and len(a.files) > 10
    for k in a.files:
        if k != "__meta__":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert rows(straight) == rows(split)  # every row (one per step) identical
    last = [r for r in rows(split) if "d_loss" in r][-1]
    assert "noise_std" in last and "augment_p" in last


@pytest.mark.slow
def test_the_three_trainers_agree_with_zcr_at_sigma_0(tmp_path):
    """zcr: the objective calls G itself (G(z + σε); JAX threads G's batch statistics through
    those calls).  Its ε comes from each framework's own generator, so only σ = 0 (G(z) twice,
    D compared on equal batches) gives the same run in all three: the plumbing, not the draws."""
    result = xframework.compare(
        "zcr", ["--objective", "ns + zcr(sigma=0.0)"], ["torch", "jax", "tf"], steps=2,
        dtype="float64", work=tmp_path, sizes=[*TINY[:6], "--eval-samples", "200"], seed=1,
        quiet=True,
    )  # fmt: skip
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 2 and max(values) < 1e-12, (pair, key, values)


@pytest.mark.slow
def test_the_three_trainers_agree_with_feature_matching(tmp_path):
    """--feature-matching 1: D's features below its last convolution (PyTorch's
    ``Discriminator.features``, Flax's ``features=True``, a Keras model of D's own layers) on
    the real and generated batch feed feature_matching inside the jitted / traced G step, D in
    training mode with its batch norm (kept: the term takes no input gradients); with spectral
    norm, whose power iteration advances at every forward, D's statistics are threaded through
    those calls in PyTorch's order.  The same run in float64, the term's values too."""
    result = xframework.compare(
        "fm", ["--feature-matching", "1", "--spectral-norm"], ["torch", "jax", "tf"], steps=3,
        dtype="float64", work=tmp_path, sizes=[*TINY[:6], "--eval-samples", "200"], seed=1,
        quiet=True,
    )  # fmt: skip
    for pair, d in result["diffs"].items():
        for key, values in d.items():
            assert len(values) == 3 and max(values) < 1e-12, (pair, key, values)
    terms = {}
    for framework in ("torch", "jax", "tf"):
        run = tmp_path / "fm-float64" / framework
        assert json.loads((run / "config.json").read_text())["feature_matching"] == 1.0
        terms[framework] = [r["g_feature_matching"] for r in rows(run) if "d_loss" in r]
        assert len(terms[framework]) == 3 and min(terms[framework]) > 0, framework
    for framework in ("jax", "tf"):
        assert terms[framework] == pytest.approx(terms["torch"], rel=1e-12), framework


@pytest.mark.parametrize(
    "args, message",
    [
        (["--framework", "jax", "--amp", "bf16"], "PyTorch-only"),
        (["--framework", "tf", "--channels-last"], "channels-last already"),
        (["--framework", "jax", "--compile"], "always jax.jit-compiled"),
        (["--framework", "tf", "--loss", "hinge", "--flip-prob", "0.1"], "class targets"),
        (["--framework", "jax", "--resume", "--overwrite"], "--resume with --overwrite"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        dcgan.main(["--out", str(tmp_path / "run"), *TINY, *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_run_is_resumed_only_by_its_own_trainer_and_options(tmp_path, capsys):
    torch_run, tf_run = tmp_path / "torch", tmp_path / "tf"
    assert dcgan.main(["--out", str(torch_run), "--steps", "1", *TINY]) == 0
    assert dcgan.main(["--out", str(tf_run), "--steps", "1", "--framework", "tf", *TINY]) == 0
    capsys.readouterr()
    cases = [
        (torch_run, ["--framework", "jax"], "it holds checkpoint.pt, written by the --framework torch"),
        (tf_run, ["--framework", "jax"], "was written with --framework tf"),
        (tf_run, ["--framework", "tf", "--loss", "hinge"], "was written with --loss ns"),
        (tf_run, ["--framework", "tf", "--dtype", "float64"], "was written with --dtype float32"),
    ]  # fmt: skip
    for out, args, message in cases:
        with pytest.raises(SystemExit) as exc:
            dcgan.main(["--out", str(out), "--steps", "2", "--resume", *TINY, *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and message in err[0], (args, err)
    # a refused resume leaves the run as it was
    assert json.loads((tf_run / "config.json").read_text())["loss"] == "ns"
    assert dcgan.main(["--out", str(tf_run), "--steps", "2", "--resume", "--framework", "tf",
                       *TINY]) == 0  # fmt: skip


def test_relative_difference_never_hides_a_non_finite_loss():
    assert xframework.relative(1.0, 1.0 + 1e-12) == pytest.approx(1e-12)
    assert xframework.relative(0.0, 0.0) == 0.0
    for a, b in [
        (float("nan"), 1.0),
        (1.0, float("nan")),
        (float("nan"),) * 2,
        (float("inf"), 1.0),
    ]:
        assert xframework.relative(a, b) == float("inf")
