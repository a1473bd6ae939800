r"""The cross-framework equivalence suite: ``python -m advloss.equivalence`` (or
``advloss-equivalence``).

It evaluates every registered loss (both sides), penalty, the spectral-norm spec and front ends,
the transforms (instance noise, labels, schedules) and two composite objectives — plugins
included — in every installed framework, in float32 and float64, eagerly and compiled
(``torch.compile(fullgraph=True)``, ``jax.jit``, ``tf.function(jit_compile=True)``), on inputs
built once in NumPy (random, extreme logits up to 1e4, PatchGAN maps, a batch of one; explicit
random draws), and compares every pair of frameworks on values and on gradients with respect to
the logits, the inputs and small discriminators' parameters.

Agreement rule, per quantity (arrays compared elementwise):

$$
|a - b| \le \text{atol}\cdot s + \text{rtol}\cdot\max(|a|, |b|), \qquad
s = \max(1, \max|a|, \max|b|, \max|\text{inputs}|)
$$

with (rtol, atol) from ``advloss.testing.TOLERANCES`` for the dtype.  The atol term is scaled
by the largest magnitude of the quantity and of the case's inputs: a gradient entry near 0 next
to entries near 100 is judged at the resolution of the tensor, and a mean of logits of ±1e4 that
cancels to nearly 0 at the resolution of its summands (float32 rounds each of them by ~1e-3).
Non-finite entries must coincide.

Use ``run`` from Python; ``main`` is the command line (see ``--help``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from advloss.equivalence._items import Case, Item, collect_items
from advloss.equivalence._reference import FD_TOLERANCE, numpy_reference
from advloss.equivalence._runner import evaluate, prepare
from advloss.testing import TOLERANCES, Tolerance

__all__ = ["FRAMEWORKS", "Case", "Item", "Record", "Report", "collect_items", "compare", "run"]

FRAMEWORKS = ("torch", "tensorflow", "jax")
_ALIASES = {"tf": "tensorflow", "pytorch": "torch"}
_EXTRAS = {"torch": "torch", "tensorflow": "tf", "jax": "jax"}


@dataclasses.dataclass
class Record:
    """One comparison: an item's quantity on one case, between two frameworks, in one dtype and
    mode.  ``error`` holds an exception message when a framework failed."""

    item: str
    frameworks: tuple[str, str]
    dtype: str
    mode: str
    case: str
    quantity: str
    max_abs_err: float
    #: relative to max(|a|, |b|), over the entries not near zero (>= 1e-3 of the scale s)
    max_rel_err: float
    #: max over elements of |a − b| / (atol·s + rtol·max(|a|, |b|)): ≤ 1 means within tolerance.
    tolerance_used: float
    tolerance: dict[str, float]
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["frameworks"] = list(self.frameworks)
        for k in ("max_abs_err", "max_rel_err", "tolerance_used"):
            if not math.isfinite(d[k]):
                d[k] = str(d[k])  # JSON has no inf/nan
        return d


@dataclasses.dataclass
class Report:
    records: list[Record]
    frameworks: list[str]
    skipped: dict[str, str]
    items: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.records)

    def failing_items(self) -> list[str]:
        return sorted({r.item for r in self.records if not r.ok})


def compare(
    a: np.ndarray,
    b: np.ndarray,
    dtype: str,
    scale: float = 1.0,
    tolerance: Tolerance | None = None,
) -> tuple[float, float, float, bool]:
    """``(max_abs_err, max_rel_err, tolerance_used, ok)`` for two arrays (module docstring;
    ``scale`` is the largest magnitude of the inputs; ``tolerance`` replaces the dtype's)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return math.inf, math.inf, math.inf, False
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb]):
        return math.inf, math.inf, math.inf, False
    if not fa.any():
        return 0.0, 0.0, 0.0, True
    a, b = a[fa], b[fb]
    tol = TOLERANCES[dtype] if tolerance is None else tolerance
    diff = np.abs(a - b)
    mag = np.maximum(np.abs(a), np.abs(b))
    scale = max(1.0, float(mag.max()), scale)
    used = float(np.max(diff / (tol.atol * scale + tol.rtol * mag)))
    # Relative error over the entries not near zero (>= 1e-3 of the scale): a 1e-8 rounding
    # difference on an exact 0 would otherwise read as a relative error of 1.
    big = mag >= 1e-3 * scale
    rel = float(np.max(diff[big] / mag[big])) if big.any() else 0.0
    return float(diff.max()), rel, used, used <= 1.0


def installed(frameworks: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """The frameworks that import, and a reason for each that does not."""
    ok, skipped = [], {}
    for name in frameworks:
        name = _ALIASES.get(name, name)
        if name not in FRAMEWORKS:
            raise ValueError(f"unknown framework {name!r}; expected some of {list(FRAMEWORKS)}")
        try:
            importlib.import_module(name)
        except ImportError as err:
            skipped[name] = f"not installed ({err}); `pip install advloss[{_EXTRAS[name]}]`"
            continue
        ok.append(name)
    return ok, skipped


def select(items: list[Item], patterns: Sequence[str] | None) -> list[Item]:
    """Items whose name matches one of the glob ``patterns`` (all when None)."""
    if not patterns:
        return items
    chosen = [i for i in items if any(fnmatch.fnmatchcase(i.name, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"no item matches {list(patterns)}; items: {[i.name for i in items]}")
    return chosen


def _input_scales(item: Item, quick: bool) -> dict[str, float]:
    if item.runner is not None:
        return {}
    return {
        c.name: max([1.0] + [float(np.max(np.abs(v))) for v in c.inputs.values() if np.size(v)])
        for c in item.cases(quick)
    }


def _function(item: Item, framework: str, cases: list[Case], prefix: str) -> Callable[..., Any]:
    """One function evaluating every case of ``item`` (inputs/outputs named prefix+case/name)."""
    assert item.build is not None
    f = item.build(framework)

    def fn(t: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for c in cases:
            local = {k: t[f"{prefix}{c.name}/{k}"] for k in c.inputs}
            for quantity, value in f(c, local).items():
                out[f"{prefix}{c.name}/{quantity}"] = value
        return out

    return fn


def _split(raw: dict[str, np.ndarray], prefix: str) -> dict[tuple[str, str], np.ndarray]:
    result = {}
    for key, value in raw.items():
        grad = key.startswith("d/d ")
        name = key[4:] if grad else key
        if not name.startswith(prefix):
            continue
        case, quantity = name[len(prefix) :].split("/", 1)
        result[(case, f"d/d {quantity}" if grad else quantity)] = value
    return result


def _evaluate_items(
    items: list[Item], framework: str, dtype: str, mode: str, quick: bool
) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Evaluate several generic items in one function (one compilation per framework, dtype
    and mode: compiling ~20 small graphs separately costs most of a run).  The items share no
    inputs, so each item's values and gradients are exactly what it gives alone."""
    inputs: dict[str, np.ndarray] = {}
    diff: list[str] = []
    fns = []
    for item in items:
        prefix = f"{item.name}|"
        cases = item.cases(quick)
        inputs.update({f"{prefix}{c.name}/{k}": v for c in cases for k, v in c.inputs.items()})
        diff += [f"{prefix}{c.name}/{k}" for c in cases for k in c.diff]
        fns.append(_function(item, framework, cases, prefix))

    def fn(t: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fns:
            out.update(f(t))
        return out

    raw = evaluate(framework, fn, inputs, diff, dtype, mode == "compiled")
    return {item.name: _split(raw, f"{item.name}|") for item in items}


def _evaluate_item(
    item: Item, framework: str, dtype: str, mode: str, quick: bool
) -> dict[tuple[str, str], np.ndarray]:
    if item.runner is not None:
        return item.runner(framework, dtype, mode, quick)
    return _evaluate_items([item], framework, dtype, mode, quick)[item.name]


def _error(err: Exception) -> str:
    return f"{type(err).__name__}: {err}".splitlines()[0][:300]


def run(
    frameworks: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    *,
    quick: bool = False,
    dtypes: Sequence[str] = ("float32", "float64"),
    modes: Sequence[str] = ("eager", "compiled"),
    progress: Callable[[str], None] | None = None,
    reference: bool | None = None,
) -> Report:
    """Run the suite and return a ``Report`` (see the module docstring).

    ``frameworks`` (default: all three; missing ones are skipped and listed in
    ``report.skipped``), ``items`` glob patterns over item names (``"loss:*"``,
    ``"penalty:r1"``), ``quick`` (one input case per item, compiled mode in float32 only).
    Enables float64 in JAX (``jax_enable_x64``) for the process.

    ``reference`` (default: when exactly one framework is installed) also compares each
    framework with a reference: the NumPy float64 formula with finite-difference gradients where
    the item runs on NumPy, else the framework's own float64 eager result (records name the pair
    ``(framework, "numpy")`` or ``(framework, "<framework> float64 eager")``).
    """
    start = time.perf_counter()
    say = progress or (lambda _: None)
    available, skipped = installed(frameworks or FRAMEWORKS)
    for name, why in skipped.items():
        say(f"skipping {name}: {why}")
    for name in available:
        prepare(name)
    chosen = select(collect_items(), items)
    if reference is None:
        reference = len(available) == 1
    refs: dict[tuple[str, str], tuple[str, Any]] = {}
    if reference:
        for fw in available:
            for item in chosen:
                if fw in item.frameworks:
                    refs[(fw, item.name)] = _reference(item, fw, quick)
            say(f"reference for {fw}: {sum(1 for k in refs if k[0] == fw)} items")
    records: list[Record] = []
    combos = [(d, m) for d, m in itertools.product(dtypes, modes)]
    for dtype, mode in combos:
        if quick and mode == "compiled" and dtype != "float32" and "float32" in dtypes:
            continue
        todo = [i for i in chosen if dtype in i.dtypes and mode in i.modes]
        if not todo:
            continue
        results: dict[str, dict[str, Any]] = {i.name: {} for i in todo}
        for fw in available:
            t0 = time.perf_counter()
            mine = [i for i in todo if fw in i.frameworks]
            generic = [i for i in mine if i.runner is None]
            try:  # all generic items in one (compiled) function ...
                results_fw: dict[str, Any] = _evaluate_items(generic, fw, dtype, mode, quick)
            except Exception:  # ... and one by one when that fails, to name the culprit
                results_fw = {}
                for item in generic:
                    try:
                        results_fw[item.name] = _evaluate_item(item, fw, dtype, mode, quick)
                    except Exception as err:  # reported as a failing record, never a crash
                        results_fw[item.name] = _error(err)
            for item in mine:
                if item.runner is not None:
                    try:
                        results_fw[item.name] = _evaluate_item(item, fw, dtype, mode, quick)
                    except Exception as err:
                        results_fw[item.name] = _error(err)
            for name, value in results_fw.items():
                results[name][fw] = value
            say(f"{dtype} {mode:8} {fw:10} {len(mine):3} items {time.perf_counter() - t0:6.1f} s")
        for item in todo:
            fws = [f for f in available if f in item.frameworks]
            scales = _input_scales(item, quick)
            records += _pair_records(item, fws, dtype, mode, results[item.name], scales)
            for fw in fws if reference else ():
                label, ref = refs[(fw, item.name)]
                if label == fw and dtype == "float64" and mode == "eager":
                    continue  # the reference itself
                pair = {fw: results[item.name].get(fw, "not evaluated"), label: ref}
                records += _pair_records(item, [fw, label], dtype, mode, pair, scales)
    for item in chosen:
        mine_records = [r for r in records if r.item == item.name]
        if not reference and len([f for f in available if f in item.frameworks]) < 2:
            say(f"{item.name}: skipped (needs two installed frameworks)")
        elif not all(r.ok for r in mine_records):
            say(f"{item.name}: MISMATCH")
    return Report(
        records, available, skipped, [i.name for i in chosen], time.perf_counter() - start
    )


def _reference(item: Item, framework: str, quick: bool) -> tuple[str, Any]:
    """``(label, results or an error text)``: the NumPy reference, or the framework's own
    float64 eager run for items NumPy cannot evaluate (autodiff, stateful layers)."""
    if item.runner is None:
        try:
            return "numpy", numpy_reference(item, quick)
        except Exception:  # needs autodiff: fall back to the framework's own float64 eager
            pass
    label = f"{framework} float64 eager"
    try:
        return label, _evaluate_item(item, framework, "float64", "eager", quick)
    except Exception as err:
        return label, _error(err)


def _pair_records(
    it: Item,
    fws: list[str],
    dtype: str,
    mode: str,
    results: dict[str, Any],
    scales: dict[str, float],
) -> list[Record]:
    item = it.name
    records = []
    tol = TOLERANCES[dtype]
    tol_d = {"rtol": tol.rtol, "atol": tol.atol}
    for a, b in itertools.combinations(fws, 2):
        ra, rb = results[a], results[b]
        if isinstance(ra, str) or isinstance(rb, str):
            error = "; ".join(f"{fw}: {r}" for fw, r in ((a, ra), (b, rb)) if isinstance(r, str))
            records.append(
                Record(
                    item,
                    (a, b),
                    dtype,
                    mode,
                    "-",
                    "error",
                    math.inf,
                    math.inf,
                    math.inf,
                    tol_d,
                    False,
                    error,
                )
            )
            continue
        keys = set(ra) & set(rb) if it.partial else set(ra) | set(rb)
        for key in sorted(keys):
            case, quantity = key
            if key not in ra or key not in rb:
                missing = a if key not in ra else b
                records.append(
                    Record(
                        item,
                        (a, b),
                        dtype,
                        mode,
                        case,
                        quantity,
                        math.inf,
                        math.inf,
                        math.inf,
                        tol_d,
                        False,
                        f"{missing} did not produce it",
                    )
                )
                continue
            x, y, override, tol_q = ra[key], rb[key], None, tol_d
            if b == "numpy" and quantity.startswith("d/d "):
                # finite-difference gradients: their own tolerance, kinks left out (NaN)
                x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
                keep = ~np.isnan(y) if x.shape == y.shape else slice(None)
                x, y = x[keep], y[keep]
                override = Tolerance(
                    max(tol.rtol, FD_TOLERANCE.rtol), max(tol.atol, FD_TOLERANCE.atol)
                )
                tol_q = {"rtol": override.rtol, "atol": override.atol}
            abs_err, rel_err, used, ok = compare(x, y, dtype, scales.get(case, 1.0), override)
            records.append(
                Record(item, (a, b), dtype, mode, case, quantity, abs_err, rel_err, used, tol_q, ok)
            )
    return records
