"""The documentation site renders its math: ``mkdocs build --strict`` succeeds, every formula is
MathML in the built HTML (docs/hooks/mathml.py renders it at build time, offline), and no page
shows TeX or reStructuredText math literally (issue 16, item 4)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("latex2mathml")

ROOT = Path(__file__).resolve().parents[1]
# Raw TeX delimiters (what arithmatex emits for a browser-side renderer), reStructuredText math
# and cross-reference roles (mkdocstrings prints them literally), and a dollar-delimited formula
# that arithmatex did not pick up.
RAW = re.compile(
    r"\\\(|\\\[|\.\. math::|:math:|:(?:func|class|meth|mod|data|attr|exc|obj):(?![a-z])"
    r"|\$\$|\$\\[A-Za-z]"
)
# Pages known to hold formulas, in the Markdown pages and in the docstrings.
WITH_MATH = ["losses/ns/index.html", "api/losses/index.html", "api/spectral/index.html"]


def _load_hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_mathml", ROOT / "docs/hooks/mathml.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"mkdocs build failed:\n{result.stdout}\n{result.stderr}"
    return out


def _visible(html: str) -> str:
    """The page without <code>/<pre> contents (code may legitimately hold ``$`` or ``\\(``)."""
    return re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.DOTALL)


def test_no_page_shows_raw_math(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 30
    bad = []
    for page in pages:
        for m in RAW.finditer(_visible(page.read_text())):
            context = _visible(page.read_text())[max(m.start() - 60, 0) : m.end() + 60]
            bad.append(f"{page.relative_to(site)}: ...{context}...")
    assert not bad, "raw math in the built site:\n" + "\n".join(bad[:20])


def test_each_formula_is_rendered_once(site: Path) -> None:
    # The hook runs on the page's content and again on the whole page: rendering MathML again
    # as if it were TeX would show the markup ("<math xmlns=...") as a formula.
    for page in sorted(site.rglob("*.html")):
        for mathml in re.findall(r"<math\b.*?</math>", page.read_text(), flags=re.DOTALL):
            text = re.sub(r"<[^>]+>", "", mathml)
            assert "xmlns" not in text, (page, mathml[:300])


def test_search_index_holds_no_tex(site: Path) -> None:
    index = (site / "search" / "search_index.json").read_text()
    assert "\\\\(" not in index and "arithmatex" not in index


def test_pages_with_formulas_hold_mathml(site: Path) -> None:
    for name in WITH_MATH:
        html = (site / name).read_text()
        assert html.count("<math") >= 5, name
        assert 'display="block"' in html, name


def test_api_check_passes(site: Path) -> None:
    result = subprocess.run(
        [sys.executable, "docs/check_api.py", str(site)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_hook_is_idempotent() -> None:
    hook = _load_hook()
    page = '<p><span class="arithmatex">\\(a &lt; b\\)</span></p><div class="arithmatex">\\[x^2\\]</div>'
    once = hook.render(page)
    assert once.count("<math") == 2 and hook.render(once) == once


def test_hook_converts_the_macros_the_docs_use() -> None:
    hook = _load_hook()
    aligned = hook.tex_to_mathml(
        r"\begin{aligned} L_D &= a \\ L_G &= \tfrac12 b \end{aligned}", True
    )
    assert aligned.count("<mtr>") == 2 and "<mfrac>" in aligned
    assert 'style="text-align: right' in aligned
    assert "<mi>mean</mi>" in hook.tex_to_mathml(r"\operatorname{mean}\big[x\big]", False)
    assert "&#x02016;" in hook.tex_to_mathml(r"\lVert g \rVert", False)
    assert "<mtext>step_size</mtext>" in hook.tex_to_mathml(r"\text{step\_size}", False)
    assert 'displaystyle="false"' in hook.tex_to_mathml(r"\textstyle\sum_k P_k", False)


@pytest.mark.parametrize(
    "tex",
    [
        r"\unknowncommand x",  # latex2mathml writes unknown commands out as text
        r"a & b",  # an alignment character outside an environment
        r"a \\ b",  # a line break MathML Core does not render
        r"\frac{a}{b",  # unbalanced braces (latex2mathml closes them silently)
        r"\begin{gathered} a \\ b \end{gathered}",  # an environment latex2mathml drops
    ],
)
def test_hook_fails_on_what_it_cannot_convert(tex: str) -> None:
    hook = _load_hook()
    with pytest.raises(ValueError):
        hook.tex_to_mathml(tex, False)
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="formula"):
        hook.render(f'<span class="arithmatex">\\({tex}\\)</span>', "page.md")
