"""Balance diagnostics: statistics against NumPy in every framework (and compiled), the monitor's
regimes on synthetic logit streams of each kind, the update-ratio schedulers, configuration and
errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import advloss
from advloss.balance import (
    BALANCED,
    DISCRIMINATOR_DOMINATING,
    DIVERGING,
    GENERATOR_DOMINATING,
    WARMING_UP,
    AdaptiveRatio,
    BalanceMonitor,
    FixedRatio,
    balance_stats,
    get_ratio,
    loss_threshold,
)
from advloss.testing import assert_close
from tests.frameworks import FRAMEWORK_PARAMS, FRAMEWORKS, PAIRS

NAMES = {h.name for h in FRAMEWORKS}


def reference(r, f, t=0.0, higher=True):
    s = 1.0 if higher else -1.0
    return {
        "d_real": r.mean(),
        "real_acc": (s * (r - t) > 0).mean(),
        "r_t": np.sign(s * (r - t)).mean(),
        "d_fake": f.mean(),
        "fake_acc": (s * (f - t) < 0).mean(),
        "d_gap": r.mean() - f.mean(),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_stats_match_numpy_on_patchgan_maps(fw, dtype):
    rng = np.random.default_rng(0)
    r = np.round(rng.normal(0.5, 1.0, (4, 1, 5, 5)), 1)  # rounding puts some logits on 0 (ties)
    f = np.round(rng.normal(-0.5, 1.0, (6, 1, 5, 5)), 1)
    r_d, f_d = (fw.numpy(fw.tensor(a, dtype)).astype(np.float64) for a in (r, f))
    for t, higher in [(0.0, True), (0.5, True), (0.25, False)]:
        got = balance_stats(
            fw.tensor(r, dtype), fw.tensor(f, dtype), threshold=t, higher_is_real=higher
        )
        want = reference(r_d, f_d, t, higher)
        assert list(got) == list(want)
        for k, v in want.items():
            want_dtype = "float64" if dtype == "float64" else "float32"
            assert fw.backend.dtype(got[k]) == want_dtype
            assert_close(fw.numpy(got[k]), v, want_dtype, what=f"{k} t={t}")
    one_side = balance_stats(None, fw.tensor(f, dtype))
    assert set(one_side) == {"d_fake", "fake_acc"}


def test_ties_count_as_neither():
    s = balance_stats(np.zeros(4), np.zeros(4))
    assert float(s["real_acc"]) == 0.0 and float(s["fake_acc"]) == 0.0 and float(s["r_t"]) == 0.0


@pytest.mark.parametrize("a,b", PAIRS)
def test_frameworks_agree(a, b):
    rng = np.random.default_rng(1)
    r, f = rng.normal(size=(64, 1)), rng.normal(size=(64, 1))
    sa = balance_stats(a.tensor(r, "float32"), a.tensor(f, "float32"))
    sb = balance_stats(b.tensor(r, "float32"), b.tensor(f, "float32"))
    for k in sa:
        assert_close(a.numpy(sa[k]), b.numpy(sb[k]), "float32", what=k)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_stats_have_no_gradient_and_compile(fw):
    """The statistics carry no gradient (they are diagnostics), and trace under jax.jit /
    tf.function(jit_compile=True) (torch.compile is covered by the objective's test)."""
    r = np.array([1.0, -2.0, 0.5])
    _, (g,) = fw.value_and_grad(lambda x: balance_stats(x, x)["d_gap"] + 0.0 * x[0], [r], "float32")
    np.testing.assert_array_equal(g, 0.0)
    if fw.name != "torch":
        compiled = fw.compile(lambda x: balance_stats(x, -x))
        out = compiled(fw.tensor(r, "float32"))
        assert float(fw.numpy(out["real_acc"])) == pytest.approx(2 / 3)


def test_loss_thresholds():
    assert loss_threshold(advloss.get_loss("ns")) == (0.0, True)
    assert loss_threshold(advloss.get_loss("lsgan")) == (0.5, True)
    assert loss_threshold(advloss.get_loss("lsgan", a=-1.0, b=1.0, c=0.0)) == (0.0, True)
    assert loss_threshold(advloss.get_loss("lsgan", a=1.0, b=0.0)) == (0.5, False)
    assert loss_threshold(object()) == (0.0, True)


def test_stats_errors():
    with pytest.raises(advloss.AdvlossTypeError, match="received neither"):
        balance_stats()
    with pytest.raises(advloss.AdvlossTypeError, match="floating-point"):
        balance_stats(np.array([1, 2]))
    with pytest.raises(advloss.AdvlossTypeError, match="higher_is_real must be a bool"):
        balance_stats(np.zeros(2), higher_is_real=1)
    if len(FRAMEWORKS) >= 2:
        a, b = FRAMEWORKS[:2]
        with pytest.raises(advloss.AdvlossTypeError, match="mix frameworks"):
            balance_stats(a.tensor(np.zeros(2), "float32"), b.tensor(np.zeros(2), "float32"))


# ------------------------------------------------------------------------------ monitor

STREAMS = {
    # name: (real logit mean, std, fake logit mean, std)
    BALANCED: (0.2, 1.0, -0.2, 1.0),
    DISCRIMINATOR_DOMINATING: (3.0, 1.0, -5.0, 1.0),
    "d_dominating_95_10": (-1.3, 1.0, -1.6 - 1.0, 0.6),  # real acc ~10%, fake acc ~95%+
    GENERATOR_DOMINATING: (-0.5, 0.5, 2.0, 0.5),
}


def _stream(kind, steps=40, n=256, seed=0):
    rng = np.random.default_rng(seed)
    mr, sr, mf, sf = STREAMS[kind]
    for _ in range(steps):
        yield rng.normal(mr, sr, n), rng.normal(mf, sf, n)


@pytest.mark.parametrize(
    "kind, regime",
    [
        (BALANCED, BALANCED),
        (DISCRIMINATOR_DOMINATING, DISCRIMINATOR_DOMINATING),
        ("d_dominating_95_10", DISCRIMINATOR_DOMINATING),
        (GENERATOR_DOMINATING, GENERATOR_DOMINATING),
    ],
)
@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_monitor_classifies_synthetic_streams(fw, kind, regime):
    monitor = BalanceMonitor()
    state = monitor.init()
    loss = advloss.get_loss("ns")
    for r, f in _stream(kind):
        rt, ft = fw.tensor(r, "float32"), fw.tensor(f, "float32")
        state = monitor.update(
            state,
            balance_stats(rt, ft),
            d_loss=loss.discriminator(rt, ft),
            g_loss=loss.generator(ft),
        )
    verdict = monitor.verdict(state)
    assert verdict.regime == regime, str(verdict)
    assert bool(verdict.remedies) == (regime != BALANCED)
    if kind == "d_dominating_95_10":
        assert verdict.values["real_acc"] < 0.2 and verdict.values["fake_acc"] > 0.95
        assert "calls nearly everything fake" in verdict.message
        assert any("real_label=0.9" in r for r in verdict.remedies)


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_monitor_detects_divergence_and_warmup(fw):
    monitor = BalanceMonitor(warmup=5)
    state = monitor.init()
    r, f = fw.tensor(np.ones(8), "float32"), fw.tensor(-np.ones(8), "float32")
    state = monitor.update(state, balance_stats(r, f))
    assert monitor.verdict(state).regime == WARMING_UP
    nan = fw.tensor(np.full(8, np.nan), "float32")
    diverged = monitor.update(state, balance_stats(nan, f))
    verdict = monitor.verdict(diverged)
    assert verdict.regime == DIVERGING and "non-finite" in verdict.message
    huge = fw.tensor(np.full(8, 1e6), "float32")
    assert monitor.verdict(monitor.update(state, balance_stats(huge, f))).regime == DIVERGING
    loss_nan = monitor.update(state, balance_stats(r, f), g_loss=nan[0])
    assert monitor.verdict(loss_nan).regime == DIVERGING


def test_monitor_regime_changes_are_reported_once():
    monitor = BalanceMonitor(warmup=2, decay=0.5)
    state, last, changes = monitor.init(), None, []
    for kind in (BALANCED, DISCRIMINATOR_DOMINATING, GENERATOR_DOMINATING):
        for r, f in _stream(kind, steps=15):
            state = monitor.update(state, balance_stats(r, f))
            verdict = monitor.verdict(state)
            if BalanceMonitor.changed(last, verdict):
                changes.append(verdict.regime)
            last = verdict
    # (the averages may pass through "balanced" on the way from one extreme to the other)
    assert changes[:3] == [WARMING_UP, BALANCED, DISCRIMINATOR_DOMINATING]
    assert changes[-1] == GENERATOR_DOMINATING and len(changes) <= 5
    assert all(a != b for a, b in itertools.pairwise(changes))


@pytest.mark.skipif("jax" not in NAMES, reason="jax not installed")
def test_monitor_update_is_jittable_and_equals_eager():
    import jax
    import jax.numpy as jnp

    monitor = BalanceMonitor()

    @jax.jit
    def step(state, r, f):
        return monitor.update(state, balance_stats(r, f), d_loss=jnp.mean(r))

    state_j = state_e = monitor.init()
    for r, f in _stream(DISCRIMINATOR_DOMINATING, steps=12):
        rj, fj = jnp.asarray(r, jnp.float32), jnp.asarray(f, jnp.float32)
        state_j = step(state_j, rj, fj)
        state_e = monitor.update(state_e, balance_stats(rj, fj), d_loss=jnp.mean(rj))
    a, b = monitor.averages(state_j), monitor.averages(state_e)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6)
    assert monitor.verdict(state_j).regime == DISCRIMINATOR_DOMINATING


def test_monitor_bias_correction_and_config():
    monitor = BalanceMonitor(decay=0.9)
    state = monitor.update(monitor.init(), {"real_acc": np.float32(0.7)})
    assert monitor.averages(state)["real_acc"] == pytest.approx(0.7)  # not 0.07
    assert "fake_acc" not in monitor.averages(state)
    config = monitor.config()
    assert BalanceMonitor(**{k: v for k, v in config.items() if k != "name"}) == monitor
    for kwargs, match in [
        ({"decay": 1.0}, r"decay must lie in \[0, 1\)"),
        ({"fooled": 0.95}, "must be below dominating"),
        ({"warmup": -1}, "warmup must be an int"),
        ({"explode": 0}, "explode must be > 0"),
    ]:
        with pytest.raises(advloss.AdvlossValueError, match=match):
            BalanceMonitor(**kwargs)


# ---------------------------------------------------------------------------- ratios


def _ratio_after(ratio, acc, steps=40):
    state = ratio.init()
    for _ in range(steps):
        state = ratio.update(state, {"real_acc": np.float32(acc), "fake_acc": np.float32(acc)})
    return ratio.plan(state)


def test_adaptive_ratio_moves_in_the_right_direction_within_bounds():
    ratio = AdaptiveRatio(low=0.4, high=0.6, max_steps=5)
    assert ratio.plan(ratio.init()) == (1, 1)  # no information yet
    assert _ratio_after(ratio, 0.5) == (1, 1)
    plans = [_ratio_after(ratio, a) for a in (0.65, 0.8, 0.95, 1.0)]
    assert [p[0] for p in plans] == [1, 1, 1, 1]
    g = [p[1] for p in plans]
    assert g == sorted(g) and g[0] >= 1 and g[-1] == 5  # more G steps as D gets stronger
    plans = [_ratio_after(ratio, a) for a in (0.35, 0.2, 0.05, 0.0)]
    d = [p[0] for p in plans]
    assert [p[1] for p in plans] == [1, 1, 1, 1] and d == sorted(d) and d[-1] == 5


@pytest.mark.parametrize("fw", FRAMEWORK_PARAMS)
def test_adaptive_ratio_reads_framework_stats(fw):
    ratio = AdaptiveRatio()
    state = ratio.init()
    r, f = fw.tensor(np.full(16, 3.0), "float32"), fw.tensor(np.full(16, -3.0), "float32")
    for _ in range(20):
        state = ratio.update(state, balance_stats(r, f))
    assert ratio.plan(state) == (1, 5)


def test_ratio_config_and_errors():
    assert FixedRatio(d_steps=5).plan() == (5, 1)
    for ratio in (FixedRatio(d_steps=2, g_steps=1), AdaptiveRatio(low=0.3, high=0.7)):
        assert get_ratio(ratio.config()) == ratio
    assert get_ratio("1:3") == FixedRatio(d_steps=1, g_steps=3)
    assert get_ratio("adaptive") == AdaptiveRatio()
    with pytest.raises(advloss.AdvlossValueError, match="expected 'D:G'"):
        get_ratio("fast")
    with pytest.raises(advloss.AdvlossValueError, match="d_steps must be an int from 1 to"):
        FixedRatio(d_steps=0)
    with pytest.raises(advloss.AdvlossValueError, match="must not exceed high"):
        AdaptiveRatio(low=0.7, high=0.3)
    with pytest.raises(advloss.AdvlossValueError, match="missing"):
        AdaptiveRatio().update(AdaptiveRatio().init(), {"real_acc": 0.5})


def test_hysteresis_keeps_a_regime_near_its_threshold():
    monitor = BalanceMonitor(warmup=0, decay=0.0, hysteresis=0.05)

    def at(acc, previous=None):
        state = monitor.update(
            monitor.init(), {"fake_acc": np.float32(acc), "real_acc": np.float32(acc)}
        )
        return monitor.verdict(state, previous=previous)

    dominating = at(0.92)
    assert dominating.regime == DISCRIMINATOR_DOMINATING
    assert at(0.88).regime == BALANCED  # without history: below 0.9
    assert at(0.88, previous=dominating).regime == DISCRIMINATOR_DOMINATING  # within 0.05
    assert at(0.84, previous=dominating).regime == BALANCED
    fooled = at(0.05)
    assert at(0.12, previous=fooled).regime == GENERATOR_DOMINATING
    assert at(0.16, previous=fooled).regime == BALANCED


def test_verdict_remedies_leave_out_what_the_objective_already_does():
    monitor = advloss.BalanceMonitor(warmup=1)
    state = monitor.init()
    real, fake = np.full(8, -0.5), np.full(8, -4.0)  # D calls everything fake: dominating
    state = monitor.update(state, advloss.balance.balance_stats(real, fake))
    plain = monitor.verdict(state)
    assert plain.regime == "discriminator_dominating"
    assert any("non-saturating" in r for r in plain.remedies)
    minimax = monitor.verdict(state, objective=advloss.Objective("minimax"))
    assert any("non-saturating" in r for r in minimax.remedies)
    ns = monitor.verdict(
        state, objective=advloss.Objective.parse("ns(real_label=0.9) + noise(0.1)")
    )
    assert not any(
        "non-saturating" in r or "smoothing" in r or "instance noise" in r for r in ns.remedies
    )
    assert any("generator steps" in r for r in ns.remedies)
    smooth = monitor.verdict(state, objective=advloss.Objective("lsgan", labels=["smooth"]))
    assert not any("smoothing" in r for r in smooth.remedies)
