"""The dashboard's throughput chart: an inline SVG drawn from a `Throughput`, with no
JavaScript and no chart library, so the page works from the admin's own static files."""

from __future__ import annotations

from datetime import timedelta

from django.utils.html import format_html
from django.utils.safestring import SafeString

from .data import Throughput


def throughput_chart(
    series: Throughput, *, width: int, height: int, axes: bool = True
) -> SafeString:
    """An inline SVG bar chart of a `Throughput`: completed (green) under failed (red) jobs
    per minute, oldest minute on the left."""
    pad = 24 if axes else 2
    top = max([c + f for c, f in zip(series.completed, series.failed, strict=True)] + [1])
    slot = (width - 2 * pad) / len(series.completed)
    scale = (height - 2 * pad) / top
    bars = []
    for i, (done, failed) in enumerate(zip(series.completed, series.failed, strict=True)):
        x = pad + i * slot
        base = float(height - pad)
        for count, css in ((done, "completed"), (failed, "failed")):
            if count:
                h = count * scale
                base -= h
                bars.append(
                    format_html(
                        '<rect class="{}" x="{}" y="{}" width="{}" height="{}">'
                        "<title>{}: {} {}</title></rect>",
                        css,
                        f"{x:.1f}",
                        f"{base:.1f}",
                        f"{max(slot - 1, 1):.1f}",
                        f"{h:.1f}",
                        (series.start + timedelta(minutes=i)).strftime("%H:%M"),
                        count,
                        css,
                    )
                )
    labels = SafeString("")
    if axes:
        labels = format_html(
            '<text x="{}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">now</text>'
            '<text class="scale" x="2" y="{}">{} per minute</text>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"></line>',
            pad,
            height - 6,
            series.start.strftime("%H:%M"),
            width - pad,
            height - 6,
            pad - 8,
            top,
            pad,
            height - pad,
            width - pad,
            height - pad,
        )
    return format_html(
        '<svg class="ash-oban-chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{label}">{labels}{bars}</svg>',
        w=width,
        h=height,
        label=f"{series.total_completed} completed, {series.total_failed} failed in the last hour",
        labels=labels,
        bars=SafeString("".join(bars)),
    )
