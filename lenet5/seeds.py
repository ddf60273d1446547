"""Results over seeds: runs that differ only in their seed, summarised as mean, spread and range.

One run is one draw: its seed decides the initial weights, the order of the images and the
augmentation, and on MNIST that moves LeNet-5's test accuracy by about 0.1 point. So a setting is
judged by the mean over several seeds, and two settings by the difference of their means with a
95% confidence interval (Welch's, which does not assume both have the same spread).

Plain statistics on plain rows: where the rows come from (DVC's experiments) is the caller's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95
# The protocol (docs and README say it too): settings are chosen by the mean validation accuracy
# over CHOOSING_SEEDS; the test accuracy is reported over REPORTING_SEEDS, which chose nothing.
CHOOSING_SEEDS = tuple(range(1, 6))
REPORTING_SEEDS = tuple(range(101, 111))


@dataclass(frozen=True)
class Spread:
    """n, mean, sample standard deviation (0 for one value), min and max of one metric."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(len(values), statistics.fmean(values), std, min(values), max(values))


@dataclass(frozen=True)
class Difference:
    """Mean of one group minus mean of another, with its confidence interval (None below 2 each)."""

    delta: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Group:
    """Runs with the same settings (every param equal, `seed_key` aside)."""

    settings: Mapping[str, Any]  # the shared params
    names: tuple[str, ...]  # each run's name, in the order given
    seeds: tuple[Any, ...]
    metrics: Mapping[str, Spread]  # over the runs that report each metric


def group_by_settings(runs: Sequence[tuple[str, Mapping[str, Any], Mapping[str, float]]], seed_key: str) -> list[Group]:
    """Group `(name, params, metrics)` rows whose params are equal once `seed_key` is left out.

    Groups come in the order of their first run. Two runs of one seed in a group both count: they
    are two runs, and a deterministic pipeline gives both the same numbers.
    """
    grouped: dict[tuple[tuple[str, str], ...], list[tuple[str, Mapping[str, Any], Mapping[str, float]]]] = {}
    for run in runs:
        key = tuple(sorted((name, repr(value)) for name, value in run[1].items() if name != seed_key))
        grouped.setdefault(key, []).append(run)
    groups = []
    for members in grouped.values():
        metric_names = list(dict.fromkeys(name for _, _, metrics in members for name in metrics))
        spreads = {
            name: Spread.of([float(metrics[name]) for _, _, metrics in members if metrics.get(name) is not None])
            for name in metric_names
        }
        settings = {name: value for name, value in members[0][1].items() if name != seed_key}
        groups.append(
            Group(settings, tuple(m[0] for m in members), tuple(m[1].get(seed_key) for m in members), spreads)
        )
    return groups


def difference(a: Spread, b: Spread, confidence: float = CONFIDENCE) -> Difference:
    """`a.mean - b.mean` with Welch's confidence interval; no interval unless each has 2 runs."""
    delta = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return Difference(delta, None, None)
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    if va + vb == 0:
        return Difference(delta, delta, delta)
    dof = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))  # Welch-Satterthwaite
    half = student_t_quantile(0.5 + confidence / 2, dof) * math.sqrt(va + vb)
    return Difference(delta, delta - half, delta + half)


def student_t_quantile(p: float, dof: float) -> float:
    """The `p` quantile (0.5 < p < 1) of Student's t with `dof` degrees of freedom (any real > 0).

    Bisection on the distribution function, itself integrated from the density by Simpson's rule:
    accurate to about 1e-6, which is far below what a confidence interval's width means.
    """
    if not (0.5 < p < 1 and dof > 0):
        raise ValueError(f"need 0.5 < p < 1 and dof > 0, got {p}, {dof}")
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)

    def density(t: float) -> float:
        return math.exp(log_norm - (dof + 1) / 2 * math.log1p(t * t / dof))

    def above_half(x: float) -> float:  # P(0 < T < x)
        return _simpson(density, 0.0, x, 2000)

    low, high = 0.0, 1.0
    while 0.5 + above_half(high) < p:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if 0.5 + above_half(middle) < p else (low, middle)
    return (low + high) / 2


def _simpson(f: Callable[[float], float], a: float, b: float, intervals: int) -> float:
    h = (b - a) / intervals
    total = f(a) + f(b)
    total += 4 * sum(f(a + (2 * i - 1) * h) for i in range(1, intervals // 2 + 1))
    total += 2 * sum(f(a + 2 * i * h) for i in range(1, intervals // 2))
    return total * h / 3
