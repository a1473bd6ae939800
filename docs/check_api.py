"""Check the built documentation site: every public name of ``advloss`` (``advloss.__all__``)
has an entry in the API reference.  Run after ``mkdocs build --strict -d SITE``::

    python docs/check_api.py SITE
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import advloss


def main(site: str) -> int:
    pages = list((Path(site) / "api").rglob("*.html"))
    if not pages:
        print(f"check_api: no API pages under {site}/api (build the site first)", file=sys.stderr)
        return 1
    html = "".join(p.read_text() for p in pages)
    documented = {
        anchor.rsplit(".", 1)[-1] for anchor in re.findall(r'id="(advloss\.[\w.]+)"', html)
    }
    public = [n for n in advloss.__all__ if not n.startswith("__")]
    missing = sorted(set(public) - documented)
    if missing:
        print(f"check_api: not in the API reference: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(
        f"check_api: all {len(public)} public names are in the API reference ({len(pages)} pages)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "site"))
