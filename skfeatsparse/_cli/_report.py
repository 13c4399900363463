"""report.html: one self-contained page of a run, readable offline.

The figures are embedded as base64 PNG, the Markdown tables of each study
become HTML tables, and beside them go the verdicts, the settings, the
versions and the time of each part. Nothing is loaded from elsewhere (no
scripts, fonts or style sheets), so the file can be mailed or archived.
The page is built from the record alone (see ``_store.Run``): a study adds
``tables``, ``summary`` and ``plot`` to its result and appears here.
"""

import base64
import html
import json

_TITLES = {
    "synthetic": "Figure 1: the metrics on synthetic data",
    "embeddings": "Figure 2: token embeddings",
    "layers": "Figure 3: sparsity by layer",
    "features": "Appendix G: a token's features",
}
_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
img { max-width: 100%; }
.status { font-weight: bold; }
ul.verdicts li { margin-bottom: 0.3em; }
"""


def markdown_table(text):
    """The HTML of a Markdown pipe table (header, separator, rows)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    if len(rows) < 2:
        return f"<pre>{html.escape(text)}</pre>"
    head, body = rows[0], rows[2:]

    def cells(row, tag):
        return "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)

    out = ["<table>", f"<thead><tr>{cells(head, 'th')}</tr></thead>", "<tbody>"]
    out += [f"<tr>{cells(row, 'td')}</tr>" for row in body]
    out.append("</tbody></table>")
    return "\n".join(out)


def _verdicts_in(value):
    """Every ``verdict`` of the rows held in ``value`` (lists and dicts of rows)."""
    if isinstance(value, dict):
        if "verdict" in value and isinstance(value["verdict"], str):
            return [value["verdict"]]
        return [v for item in value.values() for v in _verdicts_in(item)]
    if isinstance(value, list):
        return [v for item in value for v in _verdicts_in(item)]
    return []


def _list(lines, css="verdicts"):
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<ul class="{css}">{items}</ul>'


def _image(path):
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(path.name)
    return f'<p><img alt="{alt}" src="data:image/png;base64,{data}"></p>'


def _key_values(mapping):
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th>"
        f"<td>{html.escape(json.dumps(v, default=str))}</td></tr>"
        for k, v in mapping.items()
    )
    return f"<table>{rows}</table>"


def _study(name, record, out):
    title = html.escape(_TITLES.get(name, name))
    result = record.get(name)
    if result is None:
        partial = record.get("partial", {}).get(name)
        if partial is None:
            return f"<h2>{title}</h2><p>Not started.</p>"
        verdicts = _verdicts_in(partial.get("rows", []))
        return (
            f"<h2>{title}</h2><p class='status'>In progress: {len(verdicts)} "
            f"row(s) finished ({partial.get('time', 0):.0f} s).</p>" + _list(verdicts)
        )
    parts = [f"<h2>{title}</h2>"]
    if result.get("summary"):
        parts.append(_list(result["summary"]))
    for table in result.get("tables", []):
        parts.append(f"<h3>{html.escape(table['title'])}</h3>")
        parts.append(markdown_table(table["markdown"]))
    plot = result.get("plot")
    if plot and (out / plot).is_file():
        parts.append(_image(out / plot))
    parts.append(f"<p>Time: {result['time']:.0f} s.</p>")
    return "\n".join(parts)


def render_report(record, out):
    """The page of ``record`` (a run's results.json), with the plots in ``out``."""
    studies = list(record.get("settings", {}))
    status = (
        "complete"
        if record.get("complete")
        else "in progress or interrupted (continue with --resume)"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>skfeatsparse {html.escape(record.get('command', ''))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>skfeatsparse {html.escape(record.get('command', ''))}</h1>",
        f"<p class='status'>Run {html.escape(status)}.</p>",
    ]
    parts += [_study(name, record, out) for name in studies]
    parts.append("<h2>Settings</h2>")
    parts.append("<h3>Arguments</h3>" + _key_values(record.get("arguments", {})))
    for name in studies:
        parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(_key_values(record["settings"][name]))
    if record.get("times"):
        parts.append("<h2>Times (s)</h2>")
        parts.append(_key_values({k: round(v, 1) for k, v in record["times"].items()}))
    if record.get("versions"):
        parts.append("<h2>Versions</h2>" + _key_values(record["versions"]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
