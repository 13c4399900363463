"""Fail if the built HTML loads a script from another site (``make html`` runs it).

The pages must render offline, math included: every ``<script src=...>``
must point into the build (MathJax comes from ``_static/mathjax``, see
``sphinx-mathjax-offline`` in conf.py) and the local file must exist.

    python docs/check_offline.py docs/_build/html
"""

import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

_SCRIPT = re.compile(r"<script\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I)


def problems(root):
    """(page, src, why) for every remote or missing script of the pages in root."""
    root = Path(root)
    # _static holds the theme's Jinja templates (webpack-macros.html), not pages
    pages = sorted(
        p for p in root.rglob("*.html") if "_static" not in p.relative_to(root).parts
    )
    if not pages:
        yield root, "", "no HTML pages: build the docs first"
    for page in pages:
        for src in _SCRIPT.findall(page.read_text(encoding="utf-8", errors="replace")):
            parts = urlsplit(src)
            if parts.scheme or src.startswith("//"):
                yield page, src, "remote script"
            elif not (page.parent / parts.path).is_file():
                yield page, src, "missing local script"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = argv[0] if argv else Path(__file__).parent / "_build" / "html"
    found = list(problems(root))
    for page, src, why in found:
        print(f"{page}: {why}: {src}", file=sys.stderr)
    if found:
        print(
            f"check_offline: {len(found)} script(s) do not load offline",
            file=sys.stderr,
        )
        return 1
    print(f"check_offline: every script of {root} is local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
