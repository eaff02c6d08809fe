"""Printing: one line per figure as soon as it is measured, then the ratio summary."""

import math
import sys
from dataclasses import dataclass
from typing import Literal

from bench.stats import Figure


def fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def count(n: int) -> str:
    """1,000 → 1k; 100 → 100."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def say(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    """Progress and context, on stderr so that stdout holds only the figures."""
    print(f"  · {text}", file=sys.stderr, flush=True)


def figure_line(figure: Figure) -> str:
    spread = f"min {fmt(figure.low)} – max {fmt(figure.high)}, {len(figure.runs)} {figure.repeats}"
    extra = f"  {figure.note}" if figure.note else ""
    return f"  {figure.label:<46} {fmt(figure.median):>9} {figure.unit:<12} ({spread}){extra}"


def show(figure: Figure) -> Figure:
    say(figure_line(figure))
    return figure


@dataclass(frozen=True)
class Ratio:
    label: str
    numerator: Figure
    denominator: Figure
    op: Literal[">=", "<="]
    target: float

    @property
    def value(self) -> float:
        if not self.numerator.runs or not self.denominator.runs or self.denominator.median == 0:
            return float("nan")
        return self.numerator.median / self.denominator.median

    @property
    def verdict(self) -> str:
        value = self.value
        if math.isnan(value):
            return "n/a"
        ok = value >= self.target if self.op == ">=" else value <= self.target
        return "PASS" if ok else "MISS"


def summary(ratios: list[Ratio]) -> None:
    say()
    say("Summary (ratio of medians; target; verdict)")
    for ratio in ratios:
        target = f"{'≥' if ratio.op == '>=' else '≤'} {ratio.target:g}"
        say(f"  {ratio.label:<46} {fmt(ratio.value):>9}   target {target:<7} {ratio.verdict}")
    passed = sum(r.verdict == "PASS" for r in ratios)
    say(f"  {passed} of {len(ratios)} targets met")
