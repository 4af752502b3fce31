"""Self-contained HTML pages of tables, for the report (it shows HTML results as they are)."""

from __future__ import annotations

import html
from typing import Sequence

import polars as pl

from ..io import atomic_path

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 12px; color: #222; }
h1 { font-size: 17px; } h2 { font-size: 14px; margin-top: 22px; }
p.note { color: #555; max-width: 70em; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f1f3f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
details { margin: 4px 0; min-width: 20em; } summary { cursor: pointer; color: #2457a6; }
pre { white-space: pre-wrap; max-width: 90em; margin: 4px 0; font-size: 12px; }
"""


def cell(value) -> str:
    """One table cell: numbers right-aligned, long text folded under its first words."""
    if value is None:
        return "<td></td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    text = str(value)
    if len(text) > 120 or "\n" in text:
        head = html.escape(" ".join(text.split())[:80])
        return f"<td><details><summary>{head}…</summary><pre>{html.escape(text)}</pre></details></td>"
    return f"<td>{html.escape(text)}</td>"


def table_html(df: pl.DataFrame, columns: Sequence[str] | None = None) -> str:
    """An HTML table of `df` (the given columns, in order)."""
    columns = list(columns or df.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in df.select(columns).iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_page(path: str, title: str, sections: Sequence[tuple[str, str]], note: str = "") -> None:
    """Write an HTML page: a title, a note, then (heading, html) sections."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if note:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    for heading, body in sections:
        if heading:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(body)
    parts.append("</body></html>\n")
    with atomic_path(path) as tmp:
        tmp.write_text("".join(parts), encoding="utf-8")
