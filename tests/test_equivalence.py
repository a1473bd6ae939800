"""``python -m advloss.equivalence``: the CLI passes on the installed frameworks, catches and names a
plugin that is wrong in one framework only, skips a framework that is not installed, writes JSON
records, and its comparison rule behaves."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import advloss
from advloss.equivalence import collect_items, compare
from advloss.equivalence.__main__ import main
from tests.frameworks import FRAMEWORKS

NAMES = {h.name for h in FRAMEWORKS}
needs_two = pytest.mark.skipif(len(NAMES) < 2, reason="needs two frameworks")
RECORD_KEYS = {
    "item",
    "frameworks",
    "dtype",
    "mode",
    "case",
    "quantity",
    "max_abs_err",
    "max_rel_err",
    "tolerance",
    "ok",
}


def test_every_registered_item_is_listed(capsys):
    names = [i.name for i in collect_items()]
    for expected in (
        "loss:ns.discriminator",
        "loss:ragan.generator",
        "loss:rpgan.discriminator",
        "loss:rp_lsgan.generator",
        "penalty:gp",
        "penalty:r1",
        "penalty:r2",
        "penalty:dragan",
        "penalty:maxgp",
        "penalty:lecam",
        "penalty:feature_matching",
        "penalty:cr",
        "penalty:bcr",
        "penalty:zcr",
        "combine:gradient_ratio",
        "penalty:path_length",
        "sn:spectral_normalize",
        "gn:gradient_normalize",
        "sn:front_ends",
        "transform:instance_noise",
        "transform:augment",
        "transform:ada",
        "transform:labels",
        "transform:schedules",
        "objective:discriminator",
        "objective:generator",
        "objective:adaptive_augment",
        "recipe:r3gan",
    ):
        assert expected in names
    assert main(["--list", "--items", "loss:*"]) == 0
    out = capsys.readouterr().out
    assert "loss:hinge.discriminator" in out and "penalty:" not in out


@needs_two
@pytest.mark.slow
def test_quick_eager_run_passes_and_writes_json(tmp_path, capsys):
    path = tmp_path / "records.json"
    code = main(["--quick", "--modes", "eager", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all frameworks agree" in out
    records = json.loads(path.read_text())
    assert records and all(set(r) >= RECORD_KEYS for r in records)
    assert all(r["ok"] for r in records)
    items = {r["item"] for r in records}
    assert {
        "loss:lsgan.discriminator",
        "penalty:r1",
        "sn:front_ends",
        "objective:generator",
    } <= items
    assert {r["dtype"] for r in records} == {"float32", "float64"}
    grads = [r for r in records if r["quantity"].startswith("d/d params.")]
    assert grads, "penalties compare gradients w.r.t. the discriminator's parameters"


@needs_two
@pytest.mark.slow
def test_compiled_mode_passes_on_a_subset(capsys):
    code = main(
        [
            "--items",
            "loss:hinge.*,penalty:r1,transform:schedules",
            "--modes",
            "compiled",
            "--dtypes",
            "float32",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out


@pytest.mark.skipif(
    "tensorflow" not in NAMES or len(NAMES) < 2, reason="needs tensorflow + another"
)
def test_plugin_wrong_in_one_framework_is_caught_and_named(capsys):
    from advloss.registry import unregister_loss, unregister_penalty

    try:
        code = main(
            [
                "--import",
                "tests.equivalence_plugin",
                "--items",
                "loss:skewed_ns.*,penalty:drift_ok",
                "--modes",
                "eager",
                "--quick",
            ]
        )
    finally:  # the module registered them at import: leave the registry as it was
        unregister_loss("skewed_ns")
        unregister_penalty("drift_ok")
        sys.modules.pop("tests.equivalence_plugin", None)
    out = capsys.readouterr().out
    assert code == 1
    assert "MISMATCH in 1 item(s): loss:skewed_ns.discriminator" in out
    assert "tensorflow" in out.split("MISMATCH", 1)[1]
    assert "loss:skewed_ns.generator" not in out.split("MISMATCH", 1)[1]  # the right side passes


@pytest.mark.slow
def test_missing_framework_is_skipped_with_a_message():
    """In a fresh process where TensorFlow cannot be imported, the run skips it, says so, and
    compares the others."""
    script = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from advloss.equivalence.__main__ import main\n"
        "sys.exit(main(['--items', 'loss:wgan.*', '--modes', 'eager', '--quick']))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    text = proc.stdout + proc.stderr
    assert "skipping tensorflow: not installed" in text
    others = NAMES - {"tensorflow"}
    if len(others) >= 2:
        assert proc.returncode == 0, text
        assert "all frameworks agree" in text
    else:  # one framework left: checked against the NumPy reference
        assert proc.returncode == 0, text
        assert "agrees with the reference" in text


def test_one_framework_is_checked_against_the_numpy_reference(capsys):
    name = sorted(NAMES)[0]
    code = main(
        ["--frameworks", name, "--items", "loss:hinge.*,penalty:r1", "--quick", "--modes", "eager"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"one framework to check ({name})" in out
    short = {"tensorflow": "tf"}.get(name, name)
    assert f"loss:hinge.discriminator           {short}-numpy" in out
    assert f"penalty:r1                         {short}-{name} float64 eager"[:60] in out
    assert f"{name} agrees with the reference" in out


class _WrongGradientInTorch:
    """The non-saturating loss, with a wrong gradient (same value) for torch tensors only."""

    name = "wronggrad"

    def discriminator(self, real_logits, fake_logits, **options):
        value = advloss.get_loss("ns").discriminator(real_logits, fake_logits)
        if type(real_logits).__module__.startswith("torch"):
            extra = real_logits.sum()
            return value + 0.5 * (extra - extra.detach())  # d/dr off by 0.5, value unchanged
        return value

    def generator(self, fake_logits, **options):
        return advloss.get_loss("ns").generator(fake_logits)


@pytest.mark.skipif("torch" not in NAMES, reason="needs torch")
def test_the_single_framework_reference_catches_a_wrong_gradient(capsys):
    from advloss.registry import register_loss, unregister_loss

    register_loss("wronggrad", _WrongGradientInTorch)
    try:
        code = main(
            ["--frameworks", "torch", "--items", "loss:wronggrad.*", "--quick", "--modes", "eager"]
        )
    finally:
        unregister_loss("wronggrad")
    out = capsys.readouterr().out
    assert code == 1, out
    mismatch = out.split("MISMATCH", 1)[1]
    assert "loss:wronggrad.discriminator [torch-numpy float32 eager]" in mismatch
    assert "d/d real_logits" in mismatch and "d/d fake_logits" not in mismatch
    assert "loss:wronggrad.generator" not in mismatch


def test_no_framework_is_said_before_any_work(monkeypatch, capsys):
    from advloss.equivalence import __main__ as cli

    monkeypatch.setattr(cli, "_importable", lambda module: False)
    assert main(["--quick"]) == 2
    captured = capsys.readouterr()
    assert "nothing can be verified" in captured.err
    assert "equivalence suite" not in captured.out  # said before starting


def test_usage_errors():
    assert main(["--items", "nothing:*"]) == 2
    assert main(["--dtypes", "float16"]) == 2
    assert main(["--import", "no_such_module_xyz"]) == 2


def test_compare_rule():
    assert compare(np.array([1.0, 2.0]), np.array([1.0, 2.0]), "float64")[3]
    # atol scales with the largest magnitude: 1e-5 off next to 100 is fine in float32 ...
    ok = compare(np.array([1e-5, 100.0]), np.array([0.0, 100.0]), "float32")
    assert ok[3] and ok[2] < 1
    # ... but not in float64
    assert not compare(np.array([1e-5, 100.0]), np.array([0.0, 100.0]), "float64")[3]
    assert not compare(np.array([np.nan]), np.array([1.0]), "float32")[3]
    assert compare(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), "float32")[3]
    assert compare(np.zeros(2), np.zeros(3), "float32")[0] == math.inf
