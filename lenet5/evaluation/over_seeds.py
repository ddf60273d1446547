"""Results over seeds: runs that differ only in their seed, summarised as mean, spread and range.

One run is one draw: its seed decides the initial weights, the order of the images and the
augmentation, and on MNIST that moves LeNet-5's test accuracy by about 0.1 point. So a setting is
judged by the mean over several seeds, and two settings by the difference of their means with a
95% confidence interval (Welch's, which does not assume both have the same spread; scipy.stats
computes it).

Plain statistics on plain rows: where the rows come from (DVC's experiments) is the caller's.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
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
    values: tuple[float, ...]  # the runs themselves, for the interval

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(len(values), statistics.fmean(values), std, min(values), max(values), tuple(values))


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
    if a.std == b.std == 0:  # two constant groups: scipy's interval would be NaN, the difference is exact
        return Difference(delta, delta, delta)
    from scipy import stats  # imported here: the stages never need it, and it costs 0.3 s

    interval = stats.ttest_ind(a.values, b.values, equal_var=False).confidence_interval(confidence)
    return Difference(delta, float(interval.low), float(interval.high))
