"""Rate–distortion curve summaries: AURD, Pareto fronts and the Bjøntegaard delta rate.

AURD as used by "Lossy Compression for Lossless Prediction" (Sec. 5.1, App. E.1/E.3):

- one curve per seed from the λ sweep; area under the rate–distortion curve by the **trapezoidal
  rule**; the per-seed areas are then reported as mean ± standard error over seeds [P].
- the authors' code: the points are sorted by
  distortion and integrated with ``sklearn.metrics.auc(distortion, rate)`` — x = distortion,
  y = rate in bits, piecewise-linear interpolation between observed points, no extrapolation and no
  clipping (the area covers only the observed distortion range). Distortions that are MSEs are
  first turned into the Gaussian entropy bound ``0.5 · log2(2πe · MSE)`` bits "so that the
  distortion and rate are both in the same unit" — which is also why the paper's RD plots use a
  log-scale x axis. Rates are theoretical bits (−log2 q(ẑ)).

``aurd(..., distortion_is_mse=True)`` reproduces this. ``distortion_range=(lo, hi)`` optionally
restricts (clips) the integral to a common interval so that curves with different spans are
comparable — not in the paper; off by default.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = [
    "mse_to_bits",
    "aurd",
    "aurd_over_seeds",
    "pareto_front",
    "bd_rate",
]


def mse_to_bits(mse: Any) -> np.ndarray:
  """Entropy (bits) of a Gaussian with variance ``mse``: ``0.5 · log2(2πe · mse)`` (the authors' code)."""
  mse = np.asarray(mse, np.float64)
  if np.any(mse <= 0):
    raise ValueError("mse_to_bits needs strictly positive MSE values")
  return 0.5 * np.log2(2 * math.pi * math.e * mse)


def _clean(distortion, rate):
  d = np.asarray(distortion, np.float64).ravel()
  r = np.asarray(rate, np.float64).ravel()
  if d.shape != r.shape:
    raise ValueError(f"distortion and rate must have the same length, got {d.shape} and {r.shape}")
  if d.size < 2:
    raise ValueError("an RD curve needs at least 2 points")
  if not (np.all(np.isfinite(d)) and np.all(np.isfinite(r))):
    raise ValueError("RD points must be finite")
  order = np.argsort(d, kind="stable")
  return d[order], r[order]


def aurd(
    distortion: Sequence[float],
    rate: Sequence[float],
    *,
    distortion_is_mse: bool = False,
    distortion_range: tuple[float, float] | None = None,
) -> float:
  """Area under one rate–distortion curve (x = distortion, y = rate), trapezoidal rule.

  Args:
    distortion: per-point distortions (any order; sorted here).
    rate: per-point rates (bits).
    distortion_is_mse: convert MSE distortions with ``mse_to_bits`` first (the authors' code).
    distortion_range: integrate only over ``[lo, hi]`` (in the converted unit), interpolating the
      curve linearly at the limits; the interval must lie within the observed span.
  """
  d = mse_to_bits(distortion) if distortion_is_mse else np.asarray(distortion, np.float64)
  d, r = _clean(d, rate)
  if distortion_range is not None:
    lo, hi = float(distortion_range[0]), float(distortion_range[1])
    if not (d[0] - 1e-12 <= lo < hi <= d[-1] + 1e-12):
      raise ValueError(
          f"distortion_range {distortion_range} must lie within the observed span [{d[0]}, {d[-1]}]"
      )
    # Average duplicated distortions so that interpolation is well defined.
    ud, inv = np.unique(d, return_inverse=True)
    ur = np.bincount(inv, weights=r) / np.bincount(inv)
    inner = (ud > lo) & (ud < hi)
    d = np.concatenate([[lo], ud[inner], [hi]])
    r = np.concatenate([[np.interp(lo, ud, ur)], ur[inner], [np.interp(hi, ud, ur)]])
  return float(np.trapezoid(r, d))


def aurd_over_seeds(curves: Sequence[tuple[Sequence[float], Sequence[float]]], **kwargs) -> dict:
  """AURD of each ``(distortion, rate)`` curve (one per seed), then mean and standard error
  (``std(ddof=1)/sqrt(n)``, 0 for a single seed) as in the paper's "35.8 ± 4.2"."""
  areas = np.array([aurd(d, r, **kwargs) for d, r in curves], np.float64)
  sem = float(areas.std(ddof=1) / math.sqrt(len(areas))) if len(areas) > 1 else 0.0
  return {"aurd_mean": float(areas.mean()), "aurd_sem": sem, "aurd_per_seed": areas}


def pareto_front(rate: Sequence[float], distortion: Sequence[float]) -> np.ndarray:
  """Indices of the points not dominated by another point with lower-or-equal rate **and**
  lower-or-equal distortion (one strictly lower), sorted by increasing rate. Use error (not
  accuracy) as the distortion."""
  r = np.asarray(rate, np.float64).ravel()
  d = np.asarray(distortion, np.float64).ravel()
  if r.shape != d.shape:
    raise ValueError("rate and distortion must have the same length")
  order = np.lexsort((d, r))  # by rate, then distortion
  keep, best = [], np.inf
  for i in order:
    if d[i] < best:
      keep.append(i)
      best = d[i]
  return np.asarray(keep, np.int64)


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    *,
    method: str = "pchip",
) -> float:
  """Bjøntegaard delta rate in percent: average relative rate difference of ``test`` vs ``anchor``
  at equal quality, over the overlapping quality range (negative = test needs fewer bits).

  ``log(rate)`` is modelled as a function of ``quality`` (PSNR, accuracy, or minus a distortion)
  with a monotone piecewise-cubic Hermite interpolant (``method="pchip"``, robust with few
  points) or the original cubic polynomial fit (``method="cubic"``, needs ≥ 4 points per curve),
  integrated over the overlap; result ``(exp(mean Δ log R) − 1) · 100``.
  """
  ra, qa = np.asarray(rate_anchor, np.float64), np.asarray(quality_anchor, np.float64)
  rt, qt = np.asarray(rate_test, np.float64), np.asarray(quality_test, np.float64)
  for name, r in (("rate_anchor", ra), ("rate_test", rt)):
    if np.any(r <= 0):
      raise ValueError(f"{name} must be strictly positive for a log-rate fit")
  lo = max(qa.min(), qt.min())
  hi = min(qa.max(), qt.max())
  if not lo < hi:
    raise ValueError(f"quality ranges do not overlap: anchor [{qa.min()}, {qa.max()}], test [{qt.min()}, {qt.max()}]")

  def integral(q, r):
    o = np.argsort(q)
    q, lr = q[o], np.log(r[o])
    if np.any(np.diff(q) <= 0):
      raise ValueError("quality values of a curve must be distinct")
    if method == "cubic":
      if q.size < 4:
        raise ValueError("method='cubic' needs at least 4 points per curve")
      poly = np.polyint(np.polyfit(q, lr, 3))
      return np.polyval(poly, hi) - np.polyval(poly, lo)
    if method == "pchip":
      from scipy.interpolate import PchipInterpolator

      return float(PchipInterpolator(q, lr).integrate(lo, hi))
    raise ValueError(f"method must be 'pchip' or 'cubic', got {method!r}")

  avg_diff = (integral(qt, rt) - integral(qa, ra)) / (hi - lo)
  return float((math.exp(avg_diff) - 1.0) * 100.0)
