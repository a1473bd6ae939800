"""Numbers quoted in README.md and docs/ from benchmarks/results/ still match their files.

A quoted number carries a marker right after it, an HTML comment (invisible on GitHub and in
the mkdocs site)::

    real photos 0.962<!-- result: quality.json#runs[trainer=pix2pix].seg_pixel_acc_baseline -->

``FILE`` is relative to ``benchmarks/results/``.  The key after ``#`` depends on the file:

* ``.json`` — a path of ``.``-separated names; ``[3]`` indexes a list and ``[k=v,k2=v2]``
  picks a list's first element whose fields print as ``v``, ``v2``
  (``runs[trainer=dcgan,loss=ns,reg=none,seed=0].fd``).
* ``.md`` — ``[SECTION::]ROW::COLUMN[i]``: the table under the heading ``SECTION`` (any table
  in the file when omitted), the row whose first cells are ``ROW``'s ``;``-separated parts, the
  column whose header is ``COLUMN`` (or, if none is, starts with it), and the ``i``-th number in that cell (default 0:
  ``11.53`` in ``11.53 ± 1.44``, ``2.82`` is ``[1]`` in ``44.43 (×2.82)``).  The row and column
  must be unique.

The quoted number must equal the file's value rounded as it is printed: the same count of
decimals (``0.962``), or of mantissa decimals in scientific notation (``5.5e-3``); thousands
separators and a Unicode minus are allowed.  Nothing here imports a framework.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = sorted(
    [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *(ROOT / "docs").rglob("*.md")]
)

NUMBER = r"[−-]?\d[\d,]*(?:\.\d+)?(?:e[−+-]?\d+)?"
MARKER = re.compile(rf"(?P<quoted>{NUMBER})?<!--\s*result:\s*(?P<file>[^#\s]+)#(?P<key>.+?)\s*-->")
CELL_NUMBER = re.compile(NUMBER)


def markers() -> list[tuple[str, int, str | None, str, str]]:
    """(page, line, quoted number or None, file, key) for every marker."""
    found = []
    for page in PAGES:
        for lineno, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for m in MARKER.finditer(line):
                found.append(
                    (str(page.relative_to(ROOT)), lineno, m["quoted"], m["file"], m["key"])
                )
    return found


ALL = markers()


def parse_number(text: str) -> float:
    return float(text.replace(",", "").replace("−", "-"))


def same_as_printed(quoted: str, value: float) -> bool:
    """Whether ``value`` rounds to ``quoted`` at the precision ``quoted`` is written with (a
    tie such as 494.5 may be quoted either way)."""
    q = quoted.replace(",", "").replace("−", "-")
    mantissa, _, exponent = q.partition("e")
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    unit = 10.0 ** (int(exponent or 0) - digits)
    return abs(value - float(q)) <= 0.5 * unit * (1 + 1e-9)


# ---- lookups ---------------------------------------------------------------------------------

SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)?(?P<selectors>(?:\[[^\]]*\])*)")


def json_lookup(data: object, key: str) -> float:
    obj = data
    for part in re.findall(r"[^.\[\]]+(?:\[[^\]]*\])*|(?:\[[^\]]*\])+", key):
        m = SEGMENT.fullmatch(part)
        assert m, f"bad key part {part!r}"
        if m["name"]:
            assert isinstance(obj, dict) and m["name"] in obj, f"no field {m['name']!r}"
            obj = obj[m["name"]]
        for selector in re.findall(r"\[([^\]]*)\]", m["selectors"]):
            assert isinstance(obj, list), f"[{selector}] on a {type(obj).__name__}"
            if selector.lstrip("-").isdigit():
                obj = obj[int(selector)]
                continue
            wanted = dict(item.split("=", 1) for item in selector.split(","))
            matches = [
                x for x in obj if all(str(x.get(k)) == v for k, v in wanted.items())
            ]  # fmt: skip
            assert matches, f"no element with {wanted}"
            obj = matches[0]
    assert isinstance(obj, (int, float)) and not isinstance(obj, bool), f"{key} is {obj!r}"
    return float(obj)


def md_tables(text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading above, header cells, body rows) of every pipe table."""
    tables, heading, lines, i = [], "", text.splitlines(), 0
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if (
            line.lstrip().startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", lines[i + 1])
        ):
            header, rows, i = cells(line), [], i + 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            tables.append((heading, header, rows))
            continue
        i += 1
    return tables


def md_lookup(text: str, key: str) -> float:
    parts = key.split("::")
    assert len(parts) in (2, 3), f"markdown key {key!r}: [SECTION::]ROW::COLUMN[i]"
    section = parts[0] if len(parts) == 3 else None
    row_key, column = parts[-2], parts[-1]
    m = re.fullmatch(r"(.*?)(?:\[(\d+)\])?", column)
    column, index = m[1].strip(), int(m[2] or 0)
    want = [c.strip() for c in row_key.split(";")]
    hits = []
    for heading, header, rows in md_tables(text):
        if section is not None and heading != section:
            continue
        cols = [j for j, h in enumerate(header) if h == column] or [
            j for j, h in enumerate(header) if h.startswith(column)
        ]
        for row in rows:
            if row[: len(want)] == want and cols:
                hits += [row[j] for j in cols]
    assert len(hits) == 1, f"{key!r} matches {len(hits)} cells"
    numbers = CELL_NUMBER.findall(hits[0])
    assert len(numbers) > index, f"{key!r}: cell {hits[0]!r} has no number [{index}]"
    return parse_number(numbers[index])


@cache
def load(file: str) -> object:
    path = RESULTS / file
    assert path.is_file(), f"no result file benchmarks/results/{file}"
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else text


def lookup(file: str, key: str) -> float:
    data = load(file)
    return md_lookup(data, key) if isinstance(data, str) else json_lookup(data, key)


# ---- tests -----------------------------------------------------------------------------------


def test_markers_are_found():
    """The check is not vacuous: the README's findings and the fixed claims are marked."""
    assert len(ALL) >= 60, len(ALL)
    pages = {page for page, *_ in ALL}
    assert {"README.md", "docs/benchmarks.md", "docs/xframework.md", "docs/pix2pix.md"} <= pages
    measured = (ROOT / "README.md").read_text(encoding="utf-8").split("## What we measured")[1]
    assert len(MARKER.findall(measured.split("\n## ")[0])) >= 8


@pytest.mark.parametrize(
    ("page", "line", "quoted", "file", "key"),
    ALL,
    ids=[f"{page}:{line}:{file}#{key}" for page, line, _, file, key in ALL],
)
def test_quoted_number_matches_result_file(page, line, quoted, file, key):
    assert quoted is not None, f"{page}:{line}: a marker must follow a number directly"
    if file == "timings.json" and os.environ.get("ADVLOSS_TIMING_RUN"):
        pytest.skip("python -m benchmarks.timings is timing this run: it writes this file next")
    value = lookup(file, key)
    assert same_as_printed(quoted, value), (
        f"{page}:{line} quotes {quoted}, benchmarks/results/{file}#{key} is {value!r}"
    )


def test_same_as_printed():
    assert same_as_printed("0.962", 0.96169189453125)
    assert not same_as_printed("0.960", 0.96169189453125)
    assert same_as_printed("5.5e-3", 5.5e-03)
    assert same_as_printed("1,000", 1000.0)
    assert same_as_printed("−0.05", -0.049)
    assert same_as_printed("495", 494.5) and same_as_printed("494", 494.5)
    assert not same_as_printed("7.2e-2", 7.3e-2)


def test_lookups():
    table = "## a\n\n| x | y | z ↓ |\n|---|---|---:|\n| ns | none | 11.53 ± 1.44 |\n| ns | r1 | 24.10 (×2.46) |\n"
    assert md_lookup(table, "a::ns;none::z") == 11.53
    assert md_lookup(table, "ns;r1::z[1]") == 2.46
    with pytest.raises(AssertionError):
        md_lookup(table, "ns::z")  # two rows
    data = {"runs": [{"k": "a", "v": 1.5}, {"k": "b", "v": 2.5, "w": [3, 4]}]}
    assert json_lookup(data, "runs[k=b].v") == 2.5
    assert json_lookup(data, "runs[1].w[0]") == 3.0


# ---- housekeeping ----------------------------------------------------------------------------


def test_changelog_page_includes_the_changelog():
    """docs/changelog.md shows CHANGELOG.md itself (a snippet include), not a copy."""
    page = (ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")
    assert '--8<-- "CHANGELOG.md"' in page
    assert "pymdownx.snippets" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_changelog_sections():
    """Each release has only Keep a Changelog's section names, each at most once."""
    allowed = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    releases = re.split(r"^## ", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), flags=re.M)
    assert len(releases) > 1
    for release in releases[1:]:
        sections = re.findall(r"^### (.+)$", release, flags=re.M)
        title = release.splitlines()[0]
        assert set(sections) <= allowed, (title, sections)
        assert len(sections) == len(set(sections)), (title, sections)


def test_nav_titles_are_unique():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n")[1]
    titles = re.findall(r"^\s+- ([^:\n]+):", nav, flags=re.M)
    duplicates = sorted({t for t in titles if titles.count(t) > 1})
    assert not duplicates, duplicates


SITE = [*PAGES, ROOT / "CHANGELOG.md"]  # the changelog is included in the site


@pytest.mark.parametrize("page", SITE, ids=[str(p.relative_to(ROOT)) for p in SITE])
def test_no_references_readers_cannot_follow(page):
    """No internal documents or tracker numbers a reader of the docs cannot open."""
    text = page.read_text(encoding="utf-8")
    for pattern in (r"shared/design\.md", r"\bissue \d+\b", r"\bseed[ -]000\b"):
        assert not re.search(pattern, text, flags=re.I), (page.name, pattern)
