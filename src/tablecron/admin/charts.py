"""The dashboard's charts as geometry for SVG drawn by templates: no script, no CDN."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 960
HEIGHT = 140
TOP = 16  # above the bars, for the scale's peak
LABEL_SPACE = 18  # under the bars, for the time labels


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    tone: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    labels: list[Label]
    peak: str  # what the top of the scale stands for, in words
    width: int = WIDTH
    height: int = HEIGHT + LABEL_SPACE
    baseline: int = HEIGHT
    top: int = TOP


Segment = tuple[float, str]  # a value and its tone (the CSS class of its colour)


def stacked_bars(
    columns: Sequence[Sequence[Segment]],
    titles: Sequence[str],
    labels: Sequence[str],
    peak: Callable[[float], str],
    width: int = WIDTH,
) -> Chart:
    """One column per entry, its segments stacked from the bottom, scaled to the tallest.

    ``labels`` holds one text per column ("" for none); ``peak`` words the tallest
    column's total, written at the top of the scale.
    """
    step = width / max(len(columns), 1)
    tallest = max((sum(value for value, _tone in column) for column in columns), default=0)
    scale = (HEIGHT - TOP) / tallest if tallest else 0
    bars = []
    for index, (column, title) in enumerate(zip(columns, titles, strict=True)):
        top = float(HEIGHT)
        for value, tone in column:
            if value <= 0:
                continue
            height = max(value * scale, 1.0)  # a single run stays visible
            top -= height
            bars.append(Bar(index * step + 1, top, step - 2, height, tone, title))
    marks = [Label(index * step, text) for index, text in enumerate(labels) if text]
    return Chart(bars, marks, peak(tallest), width)


def sparkline(values: Sequence[float], width: int = 120, height: int = 24) -> str:
    """The ``points`` of an SVG polyline through ``values``, the largest at the top."""
    if len(values) < 2:
        return ""
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{index * step:.1f},{height - 2 - value / top * (height - 4):.1f}"
        for index, value in enumerate(values)
    )
