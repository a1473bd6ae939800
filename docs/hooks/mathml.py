"""MkDocs hook: render the site's math to MathML at build time (no JavaScript, no CDN).

``pymdownx.arithmatex`` (``generic: true``) turns ``$...$`` and ``$$...$$`` — in the Markdown
pages and in the docstrings that mkdocstrings renders — into
``<span class="arithmatex">\\(...\\)</span>`` and ``<div class="arithmatex">\\[...\\]</div>``.
This hook replaces each of them with the MathML of ``latex2mathml``, which browsers render
natively (MathML Core): in each page's content (so the search index holds no TeX either) and in
the finished page.  A formula that cannot be converted fails the build
(``mkdocs build`` reports the page and the formula) instead of leaving TeX on the page.

TeX accepted beyond what ``latex2mathml`` reads directly:

* ``\\begin{aligned}...\\end{aligned}`` (what ``$$`` blocks use for several lines; a line
  without an ``&`` column starts with ``&`` to be left-aligned) is converted as ``split``,
  the same right/left column pairs;
* ``\\_`` inside ``\\text{...}`` is an underscore.

MathML Core ignores ``columnalign``, so the alignment of table cells is also set as CSS.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

_ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">(?P<tex>.*?)</(?P=tag)>', re.DOTALL
)
_DELIMITERS = {"span": (r"\(", r"\)"), "div": (r"\[", r"\]")}
_TEXT = re.compile(r"\\text\{[^{}]*\}")
# What latex2mathml emits for input it does not understand: a command or an alignment
# character as text (it does not raise), or a line break MathML Core does not render.
_UNCONVERTED = re.compile(r"\\|>&<|linebreak=")


# Environments latex2mathml converts (it drops the \begin/\end of any other one silently).
_ENVIRONMENTS = {"aligned", "split", "align*", "cases", "matrix", "pmatrix", "bmatrix", "array"}


def _check_source(tex: str) -> None:
    """What latex2mathml accepts without an error but converts wrongly."""
    depth = 0
    for brace in re.findall(r"\\.|[{}]", tex):
        depth += {"{": 1, "}": -1}.get(brace, 0)
        if depth < 0:
            raise ValueError("unbalanced braces: a } without its {")
    if depth:
        raise ValueError("unbalanced braces: a { without its }")
    for name in re.findall(r"\\(?:begin|end)\{([^{}]*)\}", tex):
        if name not in _ENVIRONMENTS:
            raise ValueError(f"environment {name!r} is not one of {sorted(_ENVIRONMENTS)}")


def tex_to_mathml(tex: str, display: bool) -> str:
    """The MathML of one formula (without delimiters); ValueError if it cannot be converted."""
    _check_source(tex)
    source = tex.replace(r"\begin{aligned}", r"\begin{split}")
    source = source.replace(r"\end{aligned}", r"\end{split}")
    source = _TEXT.sub(lambda m: m.group(0).replace(r"\_", "_"), source)
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises its own exception types and others
        raise ValueError(f"latex2mathml cannot convert it: {error!r}") from error
    bad = _UNCONVERTED.search(mathml)
    if bad:
        start = max(bad.start() - 60, 0)
        raise ValueError(f"not converted to MathML: ...{mathml[start : bad.end() + 60]}...")
    return _typeset(mathml)


# Spacing as TeX sets it, where latex2mathml's output leaves it to the browser's operator
# dictionary: \operatorname{mean} is an identifier followed by a thin space (latex2mathml makes
# it an operator, spaced like a relation), a minus after an opening bracket, a relation or a
# comma is unary, and "/" and "\partial" are ordinary symbols.
_WORD_OPERATOR = re.compile(r"<mo>([A-Za-z]{2,})</mo>")
_WORD = r"<mi>[A-Za-z]{2,}</mi>"
_SUBSCRIPT = r"(?:<mi>[^<]*</mi>|<mn>[^<]*</mn>|<mrow><mtext>[^<]*</mtext></mrow>)"
_FUNCTION = re.compile(rf"((?<!<msub>){_WORD}|<msub>{_WORD}{_SUBSCRIPT}</msub>)(?=<m[inrs]|<mover)")
_UNARY_MINUS = re.compile(
    r"(<mo[^>]*>(?:&#x00028;|\[|&#x0005B;|&#x0007B;|&#x0003D;|&#x0002C;|,|&#x02190;|&#x021A6;)</mo>)"
    r"<mo>&#x02212;</mo>"
)


def _typeset(mathml: str) -> str:
    mathml = _WORD_OPERATOR.sub(r"<mi>\1</mi>", mathml)
    mathml = _FUNCTION.sub(r'\1<mspace width="0.167em" />', mathml)
    mathml = _UNARY_MINUS.sub(r'\1<mo lspace="0" rspace="0">&#x02212;</mo>', mathml)
    mathml = mathml.replace("<mo>&#x0002F;</mo>", '<mo lspace="0" rspace="0">&#x0002F;</mo>')
    mathml = mathml.replace("<mo>&#x02202;</mo>", "<mi>&#x02202;</mi>")
    # MathML Core ignores columnalign and columnspacing: align the cells of aligned/split with
    # CSS, and drop the default cell padding between a right and a left column (the "&" point).
    mathml = mathml.replace(
        '<mtd columnalign="right"',
        '<mtd columnalign="right" style="text-align: right; padding-right: 0"',
    )
    return mathml.replace(
        '<mtd columnalign="left"',
        '<mtd columnalign="left" style="text-align: left; padding-left: 0"',
    )


def render(page_html: str, where: str = "page") -> str:
    """``page_html`` with every arithmatex element replaced by MathML."""

    def replace(match: re.Match[str]) -> str:
        if match.group("tex").lstrip().startswith("<math"):
            return match.group(0)  # rendered already (the content pass, then the page pass)
        tag = match.group("tag")
        tex = html.unescape(match.group("tex")).strip()
        opening, closing = _DELIMITERS[tag]
        if tex.startswith(opening) and tex.endswith(closing):
            tex = tex[len(opening) : -len(closing)].strip()
        try:
            mathml = tex_to_mathml(tex, display=tag == "div")
        except ValueError as error:
            raise PluginError(f"math hook: {where}: formula {tex!r}: {error}") from error
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return _ARITHMATEX.sub(replace, page_html)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    # The page's content, before the search plugin indexes it (on_page_context).
    return render(html, where=page.file.src_uri)


def on_post_page(output: str, page: Any, config: Any) -> str:
    # The rest of the page (a formula in a heading reaches the table of contents as HTML).
    return render(output, where=page.file.src_uri)
