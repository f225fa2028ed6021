"""Small statistics shared by the benchmarks."""

from __future__ import annotations

import random

BOOTSTRAP = 2000


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 ≤ q ≤ 1) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bootstrap(differences: list[float], rng: random.Random, resamples: int = BOOTSTRAP) -> tuple[float, float, float]:
    """Mean and 95% percentile interval of the mean, resampling examples. For a paired
    comparison, pass each example's difference between the two systems."""
    n = len(differences)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(differences) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples)]
