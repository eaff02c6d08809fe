"""Figures: repeated samples reduced to a median and a spread."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Figure:
    """One printed line: a quantity measured once per run, several runs."""

    key: str  # stable name the ratio summary refers to
    label: str
    unit: str
    runs: list[float] = field(default_factory=list)
    note: str = ""
    repeats: str = "runs"  # what the spread is over: runs, or samples of one state (memory)

    def add(self, value: float) -> None:
        self.runs.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def low(self) -> float:
        return min(self.runs) if self.runs else float("nan")

    @property
    def high(self) -> float:
        return max(self.runs) if self.runs else float("nan")
