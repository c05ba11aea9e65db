"""Conversations per day by level as a small stacked bar chart, drawn on the server as
SVG (no script, no chart library; the page's CSP allows neither). The template writes
the shapes computed here; Jinja escapes every value."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.console.queue import LEVELS, Overview

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 36
# Bottom to top; colours chosen to stay apart for common colour blindness, and every
# bar has a text title and the page a table with the same numbers.
STACK = ("self_care", "none", "contact_team", "urgent", "emergency")
COLOURS = {"emergency": "#9b1c1c", "urgent": "#d9480f", "contact_team": "#e6a700",
           "none": "#868e96", "self_care": "#2b8a3e"}
LABELS = {info.slug: info.label for info in LEVELS}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[Tick]
    y_labels: list[Tick]
    gridlines: list[float]
    plot_left: int
    plot_right: int
    baseline: float
    legend: list[tuple[str, str]]


def _nice_max(value: int) -> int:
    for scale in (1, 10, 100, 1000, 10000, 100000):
        for step in (1, 2, 3, 5):
            if step * scale * 4 >= value:
                return step * scale * 4
    return value


def build(overview: Overview) -> Chart:
    days: list[date] = overview.days
    totals = [sum(overview.per_day[d].values()) for d in days]
    top = _nice_max(max(totals + [1]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1)
    baseline = TOP + plot_h
    bars: list[Bar] = []
    x_labels: list[Tick] = []
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y: float = baseline
        for slug in STACK:
            n = overview.per_day[day].get(slug, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            bars.append(Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), COLOURS[slug],
                            f"{day:%a %d %b}: {n} {LABELS[slug].lower()}"))
        if i % 5 == 0 or i == len(days) - 1:
            x_labels.append(Tick(round(LEFT + i * slot + slot / 2, 1), baseline + 16, f"{day:%d %b}"))
    y_labels, grid = [], []
    for k in range(5):
        value = top * k // 4
        y = round(baseline - plot_h * k / 4, 1)
        y_labels.append(Tick(LEFT - 6, y + 4, str(value)))
        grid.append(y)
    legend = [(LABELS[slug], COLOURS[slug]) for slug in reversed(STACK)]
    return Chart(WIDTH, HEIGHT, bars, x_labels, y_labels, grid, LEFT, WIDTH - RIGHT, baseline, legend)
