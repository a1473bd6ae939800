"""Every public item of advloss has a docstring with a runnable example (the examples run as
doctests in the same pytest invocation: --doctest-modules)."""

from __future__ import annotations

import inspect

import advloss

CONSTANTS = {
    "COMBINE_EPSILON",
    "DRAGAN_VARIANTS",
    "GP_EPSILON",
    "SN_EPSILON",
}  # documented by attribute docstrings (no example)


def test_every_public_item_has_a_docstring_with_an_example():
    missing = []
    for name in advloss.__all__:
        if name.startswith("__") or name in CONSTANTS:
            continue
        doc = inspect.getdoc(getattr(advloss, name)) or ""
        if ">>>" not in doc:
            missing.append(name)
    assert not missing, f"public items without a doctest: {missing}"


def test_constants_are_documented():
    import ast
    from pathlib import Path

    root = Path(advloss.__file__).parent
    for name, module in (
        ("COMBINE_EPSILON", "combine.py"),
        ("DRAGAN_VARIANTS", "penalties.py"),
        ("GP_EPSILON", "penalties.py"),
        ("SN_EPSILON", "spectral.py"),
    ):
        body = ast.parse((root / module).read_text()).body
        i = next(
            i for i, node in enumerate(body)
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)
        )  # fmt: skip
        nxt = body[i + 1]
        assert isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant), name
