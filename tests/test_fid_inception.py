"""``--fid-weights``: pytorch-fid's Inception network re-created in
reference_trainers/fid_inception.py, loaded from a weights file the user provides.

No real weights can be had here, so the file is a same-architecture one of random weights made
in tmp_path: the numbers are meaningless, the path (names, shapes, weights-only loading, the
scores, the trainer's evaluation) is what is tested.  The names and shapes are checked against
a list written here from torchvision's published Inception-v3 (``Inception3(num_classes=1008,
aux_logits=False)``, the model pytorch-fid loads its file into), independent of the module's
block tables.  The Inception forward at 299×299 costs ~0.5 s per image on one CPU thread, so
every test that runs it is slow-marked; the default tier checks names, errors and formulas."""

from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
scipy_linalg = pytest.importorskip("scipy.linalg")

from reference_trainers import dcgan, fid_inception  # noqa: E402
from reference_trainers.common import TrainerError  # noqa: E402
from reference_trainers.metrics import frechet_distance  # noqa: E402

# ------------------------------------------------------------------ the expected state dict

BN = ("weight", "bias", "running_mean", "running_var")


def _conv(name: str, cin: int, cout: int, kh: int, kw: int | None = None) -> dict:
    """A torchvision BasicConv2d: conv without bias, BatchNorm2d (with its counter)."""
    keys = {f"{name}.conv.weight": (cout, cin, kh, kh if kw is None else kw)}
    keys.update({f"{name}.bn.{p}": (cout,) for p in BN})
    keys[f"{name}.bn.num_batches_tracked"] = ()
    return keys


def _independent_list() -> dict[str, tuple[int, ...]]:
    """torchvision's Inception3 with 1008 classes and no auxiliary head, layer by layer."""
    s: dict[str, tuple[int, ...]] = {}
    # stem: (name, in, out, kernel)
    for name, cin, cout, k in [("Conv2d_1a_3x3", 3, 32, 3), ("Conv2d_2a_3x3", 32, 32, 3),
                               ("Conv2d_2b_3x3", 32, 64, 3), ("Conv2d_3b_1x1", 64, 80, 1),
                               ("Conv2d_4a_3x3", 80, 192, 3)]:  # fmt: skip
        s.update(_conv(name, cin, cout, k))
    # InceptionA(in, pool_features)
    for m, cin, pf in [("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)]:
        s.update(_conv(f"{m}.branch1x1", cin, 64, 1))
        s.update(_conv(f"{m}.branch5x5_1", cin, 48, 1))
        s.update(_conv(f"{m}.branch5x5_2", 48, 64, 5))
        s.update(_conv(f"{m}.branch3x3dbl_1", cin, 64, 1))
        s.update(_conv(f"{m}.branch3x3dbl_2", 64, 96, 3))
        s.update(_conv(f"{m}.branch3x3dbl_3", 96, 96, 3))
        s.update(_conv(f"{m}.branch_pool", cin, pf, 1))
    # InceptionB(288)
    s.update(_conv("Mixed_6a.branch3x3", 288, 384, 3))
    s.update(_conv("Mixed_6a.branch3x3dbl_1", 288, 64, 1))
    s.update(_conv("Mixed_6a.branch3x3dbl_2", 64, 96, 3))
    s.update(_conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3))
    # InceptionC(768, channels_7x7)
    for m, c7 in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)]:
        s.update(_conv(f"{m}.branch1x1", 768, 192, 1))
        s.update(_conv(f"{m}.branch7x7_1", 768, c7, 1))
        s.update(_conv(f"{m}.branch7x7_2", c7, c7, 1, 7))
        s.update(_conv(f"{m}.branch7x7_3", c7, 192, 7, 1))
        s.update(_conv(f"{m}.branch7x7dbl_1", 768, c7, 1))
        s.update(_conv(f"{m}.branch7x7dbl_2", c7, c7, 7, 1))
        s.update(_conv(f"{m}.branch7x7dbl_3", c7, c7, 1, 7))
        s.update(_conv(f"{m}.branch7x7dbl_4", c7, c7, 7, 1))
        s.update(_conv(f"{m}.branch7x7dbl_5", c7, 192, 1, 7))
        s.update(_conv(f"{m}.branch_pool", 768, 192, 1))
    # InceptionD(768)
    s.update(_conv("Mixed_7a.branch3x3_1", 768, 192, 1))
    s.update(_conv("Mixed_7a.branch3x3_2", 192, 320, 3))
    s.update(_conv("Mixed_7a.branch7x7x3_1", 768, 192, 1))
    s.update(_conv("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7))
    s.update(_conv("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1))
    s.update(_conv("Mixed_7a.branch7x7x3_4", 192, 192, 3))
    # InceptionE(in): FID's E_1 and E_2 have the same parameters
    for m, cin in [("Mixed_7b", 1280), ("Mixed_7c", 2048)]:
        s.update(_conv(f"{m}.branch1x1", cin, 320, 1))
        s.update(_conv(f"{m}.branch3x3_1", cin, 384, 1))
        s.update(_conv(f"{m}.branch3x3_2a", 384, 384, 1, 3))
        s.update(_conv(f"{m}.branch3x3_2b", 384, 384, 3, 1))
        s.update(_conv(f"{m}.branch3x3dbl_1", cin, 448, 1))
        s.update(_conv(f"{m}.branch3x3dbl_2", 448, 384, 3))
        s.update(_conv(f"{m}.branch3x3dbl_3a", 384, 384, 1, 3))
        s.update(_conv(f"{m}.branch3x3dbl_3b", 384, 384, 3, 1))
        s.update(_conv(f"{m}.branch_pool", cin, 192, 1))
    s["fc.weight"] = (1008, 2048)
    s["fc.bias"] = (1008,)
    return s


def test_state_dict_names_and_shapes_match_pytorch_fid():
    expected = _independent_list()
    assert len(expected) == 94 * 6 + 2
    assert fid_inception.expected_shapes() == expected
    # torchvision documents 27,161,264 parameters for inception_v3 (1000 classes, aux head);
    # less the aux head (3,326,696) plus 8 more classes (8 × 2049) leaves pytorch-fid's model.
    params = sum(int(np.prod(v)) for k, v in expected.items() if "running" not in k and v)
    assert params == 27_161_264 - 3_326_696 + 8 * 2049


# ------------------------------------------------------------------------- bad files


def _meta_state() -> dict:
    return {k: torch.empty(v, device="meta") for k, v in fid_inception.expected_shapes().items()}


def test_check_state_names_what_is_wrong():
    state = _meta_state()
    assert fid_inception.check_state(state, "w.pth").keys() == state.keys()

    missing = dict(state)
    del missing["Mixed_6c.branch7x7_2.conv.weight"]
    with pytest.raises(TrainerError, match=r"w\.pth.*missing 1 \(Mixed_6c\.branch7x7_2\.conv"):
        fid_inception.check_state(missing, "w.pth")

    extra = {**state, "AuxLogits.fc.weight": torch.empty(1000, 768, device="meta")}
    with pytest.raises(TrainerError, match=r"expected 566 tensors; unexpected 1 \(AuxLogits"):
        fid_inception.check_state(extra, "w.pth")

    wrong = {**state, "fc.weight": torch.empty(1000, 2048, device="meta")}
    with pytest.raises(TrainerError, match=r"fc\.weight has shape \(1000, 2048\); expected "
                       r"\(1008, 2048\)"):  # fmt: skip
        fid_inception.check_state(wrong, "w.pth")

    ints = {**state, "fc.bias": torch.zeros(1008, dtype=torch.int64)}
    with pytest.raises(TrainerError, match=r"fc\.bias is torch\.int64; expected floating"):
        fid_inception.check_state(ints, "w.pth")

    with pytest.raises(TrainerError, match=r"'fc\.bias' is a list"):
        fid_inception.check_state({**state, "fc.bias": [0.0] * 1008}, "w.pth")
    with pytest.raises(TrainerError, match=r"w\.pth: expected a state dict .* found a list"):
        fid_inception.check_state([state], "w.pth")


class Payload:
    """An object in a pickle: what a weights-only load must refuse."""

    def __reduce__(self):
        return (print, ("this would run when unpickled",))


def test_load_refuses_bad_files(tmp_path):
    with pytest.raises(TrainerError, match=r"--fid-weights .*absent\.pth: no such file"):
        fid_inception.load(tmp_path / "absent.pth")

    obj = tmp_path / "object.pth"
    torch.save({"fc.weight": torch.zeros(1), "x": Payload()}, obj)
    with pytest.raises(TrainerError, match=r"object\.pth: cannot be read as a weights-only .*"
                       r"holds a reference to print, which a weights-only load refuses"):  # fmt: skip
        fid_inception.load(obj)

    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"fc.weight": Payload()}, protocol=2))
    with pytest.raises(TrainerError, match=r"raw\.pkl: cannot be read as a weights-only"):
        fid_inception.load(raw)

    text = tmp_path / "text.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(
        TrainerError, match=r"text\.pth: .*unpickler refuses it \(Unsupported operand"
    ):
        fid_inception.load(text)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(TrainerError, match=r"empty\.pth: .*not a PyTorch file \(EOFError\)"):
        fid_inception.load(empty)

    small = tmp_path / "small.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, small)
    with pytest.raises(TrainerError, match=r"small\.pth: .*expected 566 tensors; missing 565 "
                       r"\(Conv2d_1a_3x3\.conv\.weight, .* and 562 more\)"):  # fmt: skip
        fid_inception.load(small)


# ------------------------------------------------------------------------------ formulas


def _pytorch_fid_formula(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """pytorch-fid's calculate_frechet_distance, re-created from its source: sqrtm of Σ₁Σ₂,
    eps on the diagonals when that is not finite, the real part."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = np.eye(len(s1)) * eps
        covmean = scipy_linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_is_pytorch_fids_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 24))
    b = 1.3 * a[::-1] @ rng.normal(size=(24, 24)) / 5 + 0.2 + rng.normal(size=(300, 24))
    ours = frechet_distance(a, b, ridge=0.0)
    assert ours == pytest.approx(_pytorch_fid_formula(a, b), rel=1e-6)
    assert abs(frechet_distance(a, a, ridge=0.0)) < 1e-9 * np.trace(np.cov(a, rowvar=False))


def _torch_fidelity_isc(logits: np.ndarray, splits: int) -> float:
    """torch-fidelity's isc_features_to_metric without its shuffle, re-created from its
    source: softmax, log-softmax, per split exp(mean KL(p ‖ mean p)), the mean."""
    z = torch.from_numpy(logits).double()
    p, log_p = z.softmax(1), z.log_softmax(1)
    n, out = len(z), []
    for i in range(splits):
        pc, lc = (
            p[i * n // splits : (i + 1) * n // splits],
            log_p[i * n // splits : (i + 1) * n // splits],
        )
        q = pc.mean(0, keepdim=True)
        out.append(float((pc * (lc - q.log())).sum(1).mean().exp()))
    return float(np.mean(out))


def test_inception_score_formula():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 1008)) * 3
    ours = fid_inception.inception_score(logits)
    assert ours == pytest.approx(_torch_fidelity_isc(logits, 10), rel=1e-12)
    assert fid_inception.inception_score(np.zeros((20, 1008))) == pytest.approx(1.0)
    confident = np.full((40, 1008), -50.0)
    confident[np.arange(40), np.arange(40)] = 50.0  # 4 distinct sure classes per split
    assert fid_inception.inception_score(confident) == pytest.approx(4.0, rel=1e-9)


def test_images_become_8_bit_rgb_in_unit_range():
    x = np.array([[[[-1.0, 0.0], [0.3, 1.2]]]], np.float32)  # (1, 1, 2, 2)
    out = fid_inception.as_unit_rgb(x)
    assert out.shape == (1, 3, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [[0, 128 / 255], [166 / 255, 1]], atol=1e-7)
    assert (out[:, 0] == out[:, 2]).all()
    with pytest.raises(TrainerError, match=r"\(N, 1 or 3, S, S\); received shape \(2, 2, 4, 4\)"):
        fid_inception.as_unit_rgb(np.zeros((2, 2, 4, 4)))


# ------------------------------------------------------------------------ the trainer option


def _check(tmp_path, *args):
    cfg = dcgan.options(["--out", str(tmp_path / "run"), *args])
    dcgan.check(cfg)


def test_option_errors_before_any_framework(tmp_path, monkeypatch):
    with pytest.raises(TrainerError, match=r"--fid-weights .*nope\.pth: no such file"):
        _check(tmp_path, "--fid-weights", str(tmp_path / "nope.pth"))
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    _check(tmp_path, "--fid-weights", str(weights), "--framework", "jax")  # content: at load
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(TrainerError, match=r"--fid-weights: .* PyTorch, which is not installed"):
        _check(tmp_path, "--fid-weights", str(weights), "--framework", "tf")


# ------------------------------------------------------- random weights: the whole path


def _random_network(seed: int = 0) -> fid_inception.FIDInceptionV3:
    """The architecture with random weights that keep the activations' scale (He-normal
    convolutions; batch norm's running statistics 0 and 1)."""
    torch.manual_seed(seed)
    net = fid_inception.FIDInceptionV3()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    net = _random_network()
    path = tmp_path_factory.mktemp("fid") / fid_inception.WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    return path, net


@pytest.mark.slow
def test_random_weights_file_features_and_scores(random_weights):
    from reference_trainers.data import digits
    from reference_trainers.realism import degraded

    path, net = random_weights
    assert {k: tuple(v.shape) for k, v in torch.load(path, weights_only=True).items()} == (
        _independent_list()
    )
    loaded = fid_inception.load(path)
    real = digits(16)[0][:4]
    metrics = fid_inception.InceptionMetrics(loaded, lambda: real)
    feats = metrics.real_features()
    assert feats.shape == (4, 2048)
    assert np.isfinite(feats).all() and feats.std(0).mean() > 1e-3  # not a dead network
    with torch.no_grad():  # the file's network computes what the network that wrote it does
        direct = net.features(torch.from_numpy(fid_inception.as_unit_rgb(real[:1])))
    np.testing.assert_allclose(feats[:1], direct.double().numpy(), rtol=1e-5, atol=1e-6)

    scale = 2 * np.trace(np.cov(feats, rowvar=False))
    assert abs(frechet_distance(feats, feats, ridge=0.0)) < 1e-4 * scale  # a set and itself
    x = torch.from_numpy(real)
    blurred = [metrics(degraded(x, s).numpy()) for s in (0.7, 2.0)]
    assert set(blurred[0]) == {"fid_inception", "kid_inception", "is_inception"}
    assert 0 < blurred[0]["fid_inception"] < blurred[1]["fid_inception"], blurred
    assert 1.0 <= blurred[0]["is_inception"] <= 1008


@pytest.mark.slow
def test_dcgan_reports_inception_scores(random_weights, tmp_path):
    path, _ = random_weights
    out = tmp_path / "run"
    code = dcgan.main(["--out", str(out), "--width", "8", "--z-dim", "8", "--batch-size", "8",
                       "--steps", "1", "--eval-every", "1", "--log-every", "1",
                       "--eval-samples", "4", "--fid-weights", str(path)])  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("eval")]
    assert [r["step"] for r in evals] == [0, 1]
    for row in evals:
        assert {"fd", "fid_inception", "kid_inception", "is_inception"} <= set(row)
        assert np.isfinite([row["fid_inception"], row["kid_inception"], row["is_inception"]]).all()
        # meaningless with random weights, but bounded whatever the weights: FID >= 0, IS >= 1
        assert row["fid_inception"] >= 0.0 and row["is_inception"] >= 1.0 - 1e-9
    assert json.loads((out / "config.json").read_text())["fid_weights"] == str(path)
