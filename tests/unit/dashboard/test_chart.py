"""The dashboard's throughput chart (docs/dashboard.md): an inline SVG of a `Throughput`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ash_oban_django.dashboard import Throughput
from ash_oban_django.dashboard.chart import throughput_chart
from ash_oban_django.dashboard.data import MINUTES

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def series(**per_minute: tuple[int, int]) -> Throughput:
    """A `Throughput` with `m<i>=(completed, failed)` at minute i, zero elsewhere."""
    found = Throughput(START)
    for key, (done, failed) in per_minute.items():
        found.completed[int(key[1:])] = done
        found.failed[int(key[1:])] = failed
    return found


def rects(svg: str) -> list[dict[str, str]]:
    return [
        dict(re.findall(r'(\w+)="([^"]*)"', attributes))
        for attributes in re.findall(r"<rect ([^>]*)>", svg)
    ]


def test_throughput_chart__one_bar_per_count_failed_stacked_on_completed() -> None:
    svg = throughput_chart(series(m0=(3, 1), m59=(0, 2)), width=720, height=160)
    bars = rects(svg)
    assert [b["class"] for b in bars] == ["completed", "failed", "failed"]
    completed, failed, last = bars
    # The tallest minute (4 jobs) fills the plot: 160 - 2 * 24 pixels.
    assert float(completed["height"]) + float(failed["height"]) == 112.0
    assert float(failed["y"]) + float(failed["height"]) == float(completed["y"])
    assert float(completed["y"]) + float(completed["height"]) == 160 - 24
    assert float(last["x"]) > float(completed["x"])
    assert "<title>09:00: 3 completed</title>" in svg
    assert "<title>09:59: 2 failed</title>" in svg


def test_throughput_chart__labels_the_totals_and_the_axes() -> None:
    svg = throughput_chart(series(m0=(3, 1), m1=(2, 0)), width=720, height=160)
    assert 'aria-label="5 completed, 1 failed in the last hour"' in svg
    assert '<text x="24" y="154">09:00</text>' in svg
    assert ">now</text>" in svg
    assert '<text class="scale" x="2" y="16">4 per minute</text>' in svg  # the scale's top
    assert 'viewBox="0 0 720 160"' in svg


def test_throughput_chart__without_axes_draws_only_the_bars() -> None:
    svg = throughput_chart(series(m0=(1, 0)), width=240, height=48, axes=False)
    assert "<text" not in svg and "<line" not in svg
    assert len(rects(svg)) == 1


def test_throughput_chart__an_empty_hour_draws_no_bar() -> None:
    svg = throughput_chart(Throughput(START), width=720, height=160)
    assert rects(svg) == []
    assert 'aria-label="0 completed, 0 failed in the last hour"' in svg


def test_throughput_chart__a_bar_stays_visible_at_any_width() -> None:
    """Narrower than one pixel per minute, a bar is still one pixel wide."""
    svg = throughput_chart(series(m30=(1, 0)), width=MINUTES // 2, height=48, axes=False)
    assert rects(svg)[0]["width"] == "1.0"
