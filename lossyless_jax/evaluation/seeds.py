"""Statistics over seeds, as the sweep tables and plots print them: the mean and the half-width of
a confidence interval, with the interval left out when there is only one seed (no spread to show)."""
from __future__ import annotations

import math

import numpy as np


def mean_ci(values, confidence: float = 0.95) -> dict:
  """Mean and the half-width of the Student-t confidence interval over seeds (0 for one seed)."""
  v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
  if not len(v):
    return {"mean": None, "ci": None, "n": 0}
  half = 0.0
  if len(v) > 1:
    from scipy import stats
    half = float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
  return {"mean": float(v.mean()), "ci": half, "n": int(len(v))}


def show(mean, half, n: int, fmt: str = ".4g", half_fmt: str = ".2g", sep: str = " ± ") -> str:
  """``mean ± half``; only ``mean`` for a single seed; ``-`` when there is no value."""
  if mean is None:
    return "-"
  return f"{mean:{fmt}}" if n <= 1 or half is None else f"{mean:{fmt}}{sep}{half:{half_fmt}}"
