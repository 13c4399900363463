"""Write the results pages' fragments from a run's ``results.json``, and its plots.

Every number on the reproduction page comes from the run it describes, not
from a hand-copied table:

    skfeatsparse run --out-dir skfeatsparse-results     # or: make demo
    python docs/write_results.py skfeatsparse-results/results.json

For each study of the run (``synthetic``, ``embeddings``, ``layers``, ...)
the text between ``.. BEGIN <study>`` and ``.. END <study>`` in
``docs/_results.rst`` is replaced by the study's tables (as list-tables), its
verdicts and a line saying when, where and in how long it was measured;
fragments of studies the run did not have are kept. The study's plot is
copied into ``docs/_static/``.
"""

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
FRAGMENTS = DOCS / "_results.rst"
STATIC = DOCS / "_static"


def markdown_rows(markdown):
    """The cells of a Markdown table, the header first (the rule line dropped)."""
    rows = []
    for line in markdown.strip().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
            continue
        rows.append(cells)
    return rows


def _cell(text):
    """A table cell, RST-safe; a lone "-" would start a bullet list in a cell."""
    return "--" if str(text) in ("-", "") else plain(text)


def plain(text):
    """RST-safe text: no markup from a token such as ``*``, ``|`` or ``word_``."""
    text = str(text)
    text = text.replace("\\", "\\\\").replace("`", "\\`").replace("*", "\\*")
    return re.sub(r"_(?=\W|$)", r"\\_", text).replace("|", "\\|")


def rows_table(title, rows):
    """An RST ``list-table`` of rows of cells, the header first."""
    lines = [
        f".. list-table:: {plain(title)}",
        "   :header-rows: 1",
        "   :class: results-table",
        "",
    ]
    for row in rows:
        first, *rest = row
        lines.append(f"   * - {_cell(first)}")
        lines.extend(f"     - {_cell(cell)}" for cell in rest)
    return "\n".join(lines)


def list_table(title, markdown):
    """An RST ``list-table`` of a Markdown table (header row, scrolls when wide)."""
    return rows_table(title, markdown_rows(markdown))


def _rows(study):
    rows = study.get("rows", [])
    return sum(rows.values(), []) if isinstance(rows, dict) else rows


def measured_line(results, name):
    """When, where and in how long the study was measured."""
    machine = results.get("machine", {})
    where = f"{machine['cpus']} CPU cores" if "cpus" in machine else "this machine"
    when = f" on {machine['date']}" if "date" in machine else ""
    command = results.get("command", "run")
    job = "``make demo``" if command == "run" else f"``skfeatsparse {command}``"
    total = results.get("times", {}).get("total")
    whole = f" (whole run {total:.0f} s)" if total and command == "run" else ""
    return f"Measured by {job}{when}, {where}, in {results[name]['time']:.0f} s{whole}."


def fragment(results, name):
    """The RST text of one study of a run."""
    study = results[name]
    parts = [list_table(t["title"], t["markdown"]) for t in study.get("tables", [])]
    if study.get("verdict"):
        parts.append(plain(study["verdict"]))
    parts.extend(
        f"- {plain(row['verdict'])}" for row in _rows(study) if "verdict" in row
    )
    parts.append(measured_line(results, name))
    return "\n\n".join(parts)


def replace_fragment(text, name, body):
    """``text`` with the fragment ``name`` replaced (appended when it is new)."""
    begin, end = f".. BEGIN {name}\n", f".. END {name}\n"
    block = f"{begin}\n{body}\n\n{end}"
    if begin in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + block + tail
    return text.rstrip("\n") + "\n\n" + block


def studies(results):
    """The studies of a run: the entries that carry tables."""
    return [k for k, v in results.items() if isinstance(v, dict) and "tables" in v]


def write(results_path, fragments=FRAGMENTS, static=STATIC, prefix=""):
    results_path = Path(results_path)
    results = json.loads(results_path.read_text())
    if not results.get("complete", True):
        raise SystemExit(f"{results_path} is an unfinished run: finish it first")
    text = fragments.read_text()
    names = studies(results)
    for name in names:
        text = replace_fragment(text, prefix + name, fragment(results, name))
        plot = results[name].get("plot")
        if plot:
            shutil.copyfile(results_path.parent / plot, static / (prefix + plot))
    fragments.write_text(text)
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a run's results.json")
    parser.add_argument(
        "--prefix",
        default="",
        help="put the fragments (and plots) under PREFIX + the study's name, "
        "e.g. 'sites-' for a second layers run beside the main job's",
    )
    args = parser.parse_args(argv)
    names = write(args.results, prefix=args.prefix)
    print(f"wrote {', '.join(names)} into {FRAGMENTS} and their plots into {STATIC}")


if __name__ == "__main__":
    sys.exit(main())
