"""The benchmark results on the documentation site: every committed full result is included by
a docs page (the file itself, through pymdownx.snippets, so there is no copy to drift), every
figure a page shows exists and is the committed one, and the figures are redrawn from the
committed JSON without training (``python -m benchmarks.<name> --replot``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
# A snippet line: --8<-- "path" or --8<-- "path:start:end"
SNIPPET = re.compile(r'^--8<-- "([^":]+)(?::(\d*)(?::(-?\d*))?)?"\s*$', re.M)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+\.png)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)")
# The figures the benchmark scripts redraw from their committed JSON.
REPLOT = ["quality", "modes", "balance", "speed", "cgan"]


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _full_results() -> list[Path]:
    """The committed results tables, less the smoke runs (``*-quick.md``) and the trainers' own
    run folders."""
    return sorted(
        p
        for p in RESULTS.rglob("*.md")
        if not p.stem.endswith("-quick") and "runs" not in p.relative_to(RESULTS).parts
    )


def _snippets() -> dict[str, list[tuple[Path, int]]]:
    """Included file → [(page, first line included)]."""
    out: dict[str, list[tuple[Path, int]]] = {}
    for page in _pages():
        for m in SNIPPET.finditer(page.read_text(encoding="utf-8")):
            out.setdefault(m.group(1), []).append((page, int(m.group(2) or 1)))
    return out


def test_there_are_results_to_check():
    names = {p.relative_to(RESULTS).as_posix() for p in _full_results()}
    assert {"quality.md", "modes.md", "balance.md", "toy2d.md", "speed.md"} <= names
    assert "xframework/xframework.md" in names


@pytest.mark.parametrize("result", _full_results(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_full_result_is_on_the_site(result: Path):
    rel = result.relative_to(ROOT).as_posix()
    includes = _snippets().get(rel)
    assert includes, f'no docs page includes {rel} (--8<-- "{rel}")'
    lines = result.read_text(encoding="utf-8").splitlines()
    for page, start in includes:
        # Only the title line may be left out (the page has its own title): the tables stay.
        assert start <= 2, (page, start)
        if start == 2:
            assert lines[0].startswith("# "), (rel, "line 1 is not the title a page may drop")


def test_results_pages_are_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n")[1]
    for page in sorted((DOCS / "results").glob("*.md")):
        assert f"results/{page.name}" in nav, page.name


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_figure_a_page_shows_exists(page: Path):
    for target in IMAGE.findall(page.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (page.parent / target).is_file(), (page.name, target)


def test_included_files_links_resolve_where_they_are_included():
    """An included file's relative links resolve against the page that includes it (mkdocs
    --strict checks them there): ``quality.png`` next to ``docs/results/quality.md``."""
    for rel, includes in _snippets().items():
        text = (ROOT / rel).read_text(encoding="utf-8")
        for page, _ in includes:
            for target in LINK.findall(text):
                if "://" in target:
                    continue
                assert (page.parent / target).exists(), (rel, page.name, target)


@pytest.mark.parametrize("png", sorted((DOCS / "results").glob("*.png")), ids=lambda p: p.name)
def test_docs_figures_are_the_committed_ones(png: Path):
    """docs/results/<name>.png is a copy of benchmarks/results/<name>.png (report.publish)."""
    committed = RESULTS / png.name
    assert committed.is_file(), png.name
    assert png.read_bytes() == committed.read_bytes(), f"{png.name}: run --replot again"


@pytest.mark.parametrize("name", ["quality", "modes", "balance", "toy2d", "speed"])
def test_results_page_shows_its_figure_with_a_caption(name: str):
    text = (DOCS / "results" / f"{name}.md").read_text(encoding="utf-8")
    m = re.search(rf"!\[[^\]]+\]\({name}\.png\)\n\n\*[^*]+\*", text)
    assert m, f"results/{name}.md: the figure and an italic caption after it"
    assert f'--8<-- "benchmarks/results/{name}.md' in text


def test_sample_grids_are_large_enough_to_see():
    pil = pytest.importorskip("PIL.Image")
    for name in ("dcgan-samples", "pix2pix-samples"):
        width, _ = pil.open(DOCS / "img" / f"{name}.png").size
        assert width >= 500, (name, width)


@pytest.mark.parametrize("name", REPLOT)
def test_replot_redraws_the_figure_from_the_committed_json(name, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    pil = pytest.importorskip("PIL.Image")
    import importlib

    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    module = importlib.import_module(f"benchmarks.{name}")
    shutil.copy(RESULTS / f"{name}.json", tmp_path / f"{name}.json")
    committed = (RESULTS / f"{name}.png").read_bytes()
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), close(fig)))
    assert module.main(["--replot", "--out", str(tmp_path)]) == 0
    png = tmp_path / f"{name}.png"
    written = {p.name for p in tmp_path.iterdir()}  # cgan also rewrites its tables
    assert (
        {f"{name}.json", f"{name}.png"} <= written <= {f"{name}.json", f"{name}.png", f"{name}.md"}
    )
    assert (RESULTS / f"{name}.png").read_bytes() == committed  # --out: nothing published
    width, height = pil.open(png).size
    assert width >= 1200 and height >= 450, (width, height)
    (fig,) = figures
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the figure is closed: draw it again to measure its texts
    canvas.draw()
    renderer = canvas.get_renderer()
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    # axis labels (a grid of panels labels its outer row and column)
    assert all(any(get(ax) for ax in shown) for get in (Axes.get_xlabel, Axes.get_ylabel)), name
    for ax in shown:
        # No overlapping labels: the texts drawn in an axes (annotations) do not overlap.
        boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (name, ax.get_title())
    assert any(ax.get_legend() for ax in fig.axes) or fig.legends, name


def test_quality_pix2pix_points_carry_no_text_labels(tmp_path, monkeypatch):
    """The pix2pix scatter names its configurations in a legend, not next to each point (the
    points overlap where configurations end equal)."""
    pytest.importorskip("matplotlib")
    import json

    import matplotlib.pyplot as plt

    from benchmarks import quality

    runs = json.loads((RESULTS / "quality.json").read_text())["runs"]
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), close(fig)))
    quality.plot(runs, ["dcgan", "pix2pix"], tmp_path / "q.png")
    pix2pix = figures[0].axes[1]
    assert len(pix2pix.texts) <= 1
    assert pix2pix.get_legend() is not None
    # every point has error bars (sd over seeds): one errorbar container per configuration
    configs = {(r["loss"], r["reg"]) for r in runs if r["trainer"] == "pix2pix"}
    assert len(pix2pix.containers) == len(configs)
