"""An anchor's minutes as SVG charts, drawn on the server with pygal.

The page shows them as images: an SVG loaded by `<img>` runs no script, so pygal's own inline
script (its tooltips) stays inert and no chart text can reach the page's document. The charts
carry only numbers, times and fixed series names, never an id.
"""

from __future__ import annotations

import sys
from typing import Any

import pygal
from pygal.style import Style

# Importing pygal appends an import hook for its optional map plugins (`pygal.maps.*`, unused
# here) that predates `find_spec`: every import that misses anywhere in the process then warns
# (ImportWarning) on Python 3.11+. The board has no use for it.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#111111",
    foreground_subtle="#bbbbbb",
    colors=("#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#59a14f"),
    font_family="sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    guide_stroke_color="#e6e6e6",
    major_guide_stroke_color="#cccccc",
)


def _base(chart_type: type[Any], minutes: dict[str, Any], title: str, **extra: Any) -> Any:
    steps = minutes.get("steps", [])
    labels = [str(s["start"])[11:16] for s in steps]  # HH:MM of the ISO time
    chart = chart_type(
        js=[], disable_xml_declaration=True, style=STYLE, width=900, height=260,
        title=title, show_dots=False, legend_at_bottom=True, legend_at_bottom_columns=4,
        x_labels_major_every=10, show_minor_x_labels=False, truncate_legend=-1,
        truncate_label=-1,
        stroke_style={"width": 2}, margin=10, margin_bottom=28, **extra,
    )  # fmt: skip
    chart.x_labels = labels
    return chart


def counts_svg(minutes: dict[str, Any]) -> bytes:
    """Per step: orders, refunds by when their orders were placed and by when they were asked
    for, complaints."""
    steps = minutes.get("steps", [])
    chart = _base(pygal.Line, minutes, f"per {minutes.get('step_s', 60)} s, long window")
    chart.add("orders", [s["orders"] for s in steps])
    chart.add("refunds (by order time)", [s["refunds_by_order_time"] for s in steps])
    chart.add("refunds (by request time)", [s["refunds_by_request_time"] for s in steps])
    chart.add("complaints", [s["complaints"] for s in steps])
    return str(chart.render(is_unicode=True)).encode()


def rates_svg(minutes: dict[str, Any]) -> bytes:
    """The long window's refund rate and its lower bound as they stood at each step, against
    the refund rule's threshold now."""
    steps = minutes.get("steps", [])
    chart = _base(pygal.Line, minutes, "refund rate over the long window", range=(0, 1),
                  value_formatter=lambda v: f"{v:.0%}")  # fmt: skip
    chart.add("refund rate", [s["long_refund_rate"] for s in steps])
    chart.add("lower bound", [s["long_refund_rate_lower_bound"] for s in steps])
    threshold = minutes.get("refund_threshold")
    if threshold is not None and steps:
        chart.add(
            "threshold", [threshold] * len(steps), stroke_style={"width": 2, "dasharray": "6,4"}
        )
    return str(chart.render(is_unicode=True)).encode()
