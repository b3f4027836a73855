"""``report.html``: one self-contained page (no network, no CDN) with tables, figures and the browser.

Safety: every piece of text from records, run metadata or file names is escaped on the way in
(``html.escape`` for the static part, :func:`~robustcot.analysis.browser.script_json` plus
``textContent`` for the browser). As a second line of defence the page sets a Content Security
Policy that runs only the page's own script (by hash), loads nothing from the network and allows
images only from ``data:`` URIs, so even a string that slipped through could not run or phone home.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from importlib import resources

from robustcot.analysis.sections import Section

_TEMPLATES = resources.files("robustcot.analysis") / "templates"


def _template(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def _table_html(section: Section) -> list[str]:
    parts = []
    for table in section.tables:
        parts.append(f'<h3 id="table-{html.escape(table.name)}">{html.escape(table.title)}</h3>')
        if table.caption:
            parts.append(f'<p class="caption">{html.escape(table.caption)}</p>')
        if table.display.empty:
            parts.append('<p class="muted">(empty)</p>')
            continue
        body = table.display.to_html(index=False, escape=True, border=0, classes="tbl", na_rep="–")
        parts.append(f'<div class="table-wrap">{body}</div>')
        parts.append(f'<p class="muted">tables/{html.escape(table.name)}.csv · tables/{html.escape(table.name)}.tex</p>')
    return parts


def _figure_html(section: Section, pngs: dict[str, bytes]) -> list[str]:
    parts = []
    for figure in section.figures:
        data = pngs.get(figure.name)
        if data is None:
            continue
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(f'<figure><img src="{uri}" alt="{html.escape(figure.title)}">'
                     f"<figcaption><strong>{html.escape(figure.title)}.</strong> "
                     f"{html.escape(figure.caption)}</figcaption></figure>")
    return parts


def report_html(title: str, facts: dict[str, str], headline: Sequence[str], deviations: Sequence[str],
                sections: Sequence[Section], pngs: dict[str, bytes], browser_json: str | None) -> str:
    """The page. ``browser_json`` is the escaped payload (None leaves the browser out)."""
    script = _template("browser.js") if browser_json is not None else ""
    toc = [f'<a href="#{html.escape(s.id)}">{html.escape(s.title)}</a>' for s in sections]
    if browser_json is not None:
        toc.append('<a href="#browser">Sample browser</a>')
    body = [f"<h1>{html.escape(title)}</h1>", '<dl class="facts">']
    body += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items()]
    body.append("</dl>")
    if headline:
        body.append("<h2 id=\"headline\">Headline</h2><ul>")
        body += [f"<li>{html.escape(h)}</li>" for h in headline]
        body.append("</ul>")
    body.append('<h2 id="deviations">Protocol deviations</h2><ul class="deviations">')
    body += [f"<li>{html.escape(d)}</li>" for d in deviations] or ["<li>none detected</li>"]
    body.append("</ul>")
    for section in sections:
        body.append(f'<section id="{html.escape(section.id)}"><h2>{html.escape(section.title)}</h2>')
        if section.intro:
            body.append(f"<p>{html.escape(section.intro)}</p>")
        body += _table_html(section)
        body += _figure_html(section, pngs)
        if section.notes:
            body.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in section.notes) + "</ul>")
        body.append("</section>")
    if browser_json is not None:
        body.append('<section id="browser"><h2>Sample browser</h2>'
                    "<p>Each card is one sample of one model: its variants side by side. Text inserted by a "
                    "perturbation is highlighted in the prompt, the assistant prefill in the response.</p>"
                    '<div id="browser-app"></div></section>')
        body.append(f'<script type="application/json" id="browser-data">{browser_json}</script>')
        body.append(f"<script>{script}</script>")
    return "\n".join([
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_csp(script)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_template('report.css')}</style></head><body>",
        '<nav class="toc">' + "".join(toc) + "</nav>",
        "<main>", *body, "</main></body></html>",
    ])
