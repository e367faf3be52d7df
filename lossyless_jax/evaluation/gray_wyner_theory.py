"""Theoretical and empirical rate curves of the Gray-Wyner synthetic source (Gray-Wyner paper §4.1, App. D.3).

Theoretical curves (App. D.3). Blahut–Arimoto (``theory.blahut_arimoto``) runs on the 9×9 pair PMF,
reproduction alphabet = the 81 pairs, distortion ``d((a, b), (â, b̂)) = ((a − â)² + (b − b̂)²)/4²``
(squared error of the normalised values ``(v − 4)/4``), Lagrange multipliers α ∈ {0.1, 2, 5, 7, 100}
(``β̃ = −α`` nats per unit distortion) and 1000 iterations. The PMF of the reconstruction gives,
per pair, the joint rate ``I((A, B); (Â, B̂))`` and the per-coordinate rates ``I(A; Â)``, ``I(B; B̂)``
of its marginals, with their distortions. These are aggregated through the dependency map
(``GrayWynerSynthetic.aggregate``), in bits per 64×64 location:

* **Joint** ``H(Ẑ1, Ẑ2)``: every pair at its joint rate, every single at ``I(A; Â)``;
* **Independent** ``H(Ẑ1) + H(Ẑ2)``: a cross-channel pair as its two coordinates separately;
* **MI** ``I(Ẑ1; Ẑ2)`` = Independent − Joint.

A single is charged the row-coordinate marginal of the pair channel (rate ``I(A; Â)``, distortion
``E d(A, Â)``). The distortion of a point is ``√(aggregated MSE)``, the MSE summed over the 8192
elements and divided by 64·64 (one value for both tasks, on the paper's "RMSE sum" axis).

Empirical MI (App. D.3). The Joint codec's rate estimates ``H̃(Ẑ1, Ẑ2)`` and the Independent
codec's rate estimates ``H̃(Ẑ1) + H̃(Ẑ2)``; each curve is linearly interpolated (and extrapolated
along its end segments) at the union of both curves' distortions, and ``Î = H̃(Ẑ1) + H̃(Ẑ2) −
H̃(Ẑ1, Ẑ2)``, floored at 0.001 so that log-rate BD fits stay defined. Common-channel curves are
compared to it with the Bjøntegaard delta rate (``rd_curves.bd_rate``, cubic fit of ln R against
quality = −distortion; paper Fig. 3 caption).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from scipy.special import logsumexp

from lossyless_jax.data import gray_wyner_synthetic as gws
from lossyless_jax.evaluation import rd_curves, theory

__all__ = [
    "MULTIPLIERS",
    "NUM_ITERATIONS",
    "MI_FLOOR",
    "uniform_hamming_rd",
    "pair_distortion_matrix",
    "coordinate_distortion_matrix",
    "mutual_information_bits",
    "pair_channel",
    "theoretical_curves",
    "interpolate_rd",
    "empirical_mutual_information",
    "common_channel_bd_rate",
]

MULTIPLIERS = (0.1, 2.0, 5.0, 7.0, 100.0)  # α of App. D.3
NUM_ITERATIONS = 1000
MI_FLOOR = 0.001
LN2 = float(np.log(2.0))


def uniform_hamming_rd(distortion, num_symbols: int):
  """R(D) = log2 m − h(D) − D log2(m − 1) bits of a uniform m-ary source under Hamming
  distortion, for 0 ≤ D ≤ 1 − 1/m; 0 beyond (Cover & Thomas, Problem 10.5)."""
  m = int(num_symbols)
  if m < 2:
    raise ValueError(f"num_symbols must be >= 2, got {num_symbols}")
  d = np.asarray(distortion, np.float64)
  if np.any(d < 0) or np.any(d > 1):
    raise ValueError(f"Hamming distortion must lie in [0, 1], got {distortion}")
  d_max = 1.0 - 1.0 / m
  dc = np.minimum(d, d_max)
  r = np.where(d < d_max, np.log2(m) - theory.binary_entropy(dc) - dc * np.log2(m - 1), 0.0)
  return float(r) if r.ndim == 0 else r


def coordinate_distortion_matrix(num_symbols: int = gws.NUM_SYMBOLS) -> np.ndarray:
  """(m, m) ``(a − â)²/c²`` with ``c = (m − 1)/2``: squared error of the normalised values."""
  v = np.arange(num_symbols, dtype=np.float64) / ((num_symbols - 1) / 2)
  return (v[:, None] - v[None, :]) ** 2


def pair_distortion_matrix(num_symbols: int = gws.NUM_SYMBOLS) -> np.ndarray:
  """(m², m²) ``((a − â)² + (b − b̂)²)/c²`` over flattened pairs (index ``a·m + b``)."""
  d = coordinate_distortion_matrix(num_symbols)
  m = num_symbols
  return (d[:, None, :, None] + d[None, :, None, :]).reshape(m * m, m * m)


def mutual_information_bits(log_joint: np.ndarray) -> float:
  """I(X; Y) in bits of a 2-D joint PMF given as log probabilities (−inf allowed)."""
  lj = np.asarray(log_joint, np.float64)
  with np.errstate(divide="ignore", invalid="ignore"):
    lx = logsumexp(lj, axis=1, keepdims=True)
    ly = logsumexp(lj, axis=0, keepdims=True)
    p = np.exp(lj)
    terms = np.where(p > 0, p * (lj - lx - ly), 0.0)
  return float(max(terms.sum(), 0.0) / LN2)


def pair_channel(pmf: np.ndarray, multiplier: float, *, max_iter: int = NUM_ITERATIONS,
                 tol: float = 1e-10) -> dict:
  """Blahut–Arimoto at multiplier α on an (m, m) pair PMF, read out per pair and per coordinate.

  The channel is ``q(ŷ|x) ∝ r(ŷ) e^{−α d(x, ŷ)}`` with the final reproduction marginal ``r`` of
  ``theory.blahut_arimoto``. Returns float rates in bits (``rate_pair``, ``rate_first`` for the
  row coordinate, ``rate_second`` for the column one), the matching distortions
  (``distortion_pair``, ``distortion_first``, ``distortion_second``), ``log_joint`` (m², m²) and
  the BA diagnostics ``iterations`` / ``converged``.
  """
  p = np.asarray(pmf, np.float64)
  m = p.shape[0]
  if p.shape != (m, m):
    raise ValueError(f"pmf must be a square (m, m) array, got {p.shape}")
  if multiplier <= 0:
    raise ValueError(f"multiplier α must be > 0, got {multiplier}")
  p = p / p.sum()
  d = pair_distortion_matrix(m)
  res = theory.blahut_arimoto(p.ravel(), d, -float(multiplier), tol=tol, max_iter=max_iter)
  logits = res["log_r"][None, :] - multiplier * d
  with np.errstate(divide="ignore"):
    log_joint = np.log(p.ravel())[:, None] + logits - logsumexp(logits, axis=1, keepdims=True)
    lj4 = log_joint.reshape(m, m, m, m)  # (a, b, â, b̂)
    first = logsumexp(lj4, axis=(1, 3))   # (a, â)
    second = logsumexp(lj4, axis=(0, 2))  # (b, b̂)
  dc = coordinate_distortion_matrix(m)
  return {
      "rate_pair": mutual_information_bits(log_joint),
      "rate_first": mutual_information_bits(first),
      "rate_second": mutual_information_bits(second),
      "distortion_pair": float(np.sum(np.exp(log_joint) * d)),
      "distortion_first": float(np.sum(np.exp(first) * dc)),
      "distortion_second": float(np.sum(np.exp(second) * dc)),
      "log_joint": log_joint,
      "iterations": res["iterations"],
      "converged": res["converged"],
  }


def theoretical_curves(source: Optional[gws.GrayWynerSynthetic] = None,
                       multipliers: Sequence[float] = MULTIPLIERS, *,
                       max_iter: int = NUM_ITERATIONS, tol: float = 1e-10) -> dict:
  """Joint / Independent / MI theoretical points of the synthetic source (App. D.3).

  Returns a dict of (len(multipliers),) float64 arrays: ``multiplier``, ``distortion``
  (√ aggregated MSE), ``mse``, ``joint``, ``independent``, ``mutual_information`` (bits per
  location; MI = independent − joint), and ``iterations``. Default source: the paper's.
  """
  src = gws.default_source() if source is None else source
  keys = ("distortion", "mse", "joint", "independent", "mutual_information", "iterations")
  out = {k: [] for k in keys}
  for alpha in multipliers:
    ch = pair_channel(src.pair_pmf, float(alpha), max_iter=max_iter, tol=tol)
    joint, independent = src.aggregate(ch["rate_first"], ch["rate_first"], ch["rate_second"], ch["rate_pair"])
    mse, _ = src.aggregate(ch["distortion_first"], ch["distortion_first"], ch["distortion_second"],
                           ch["distortion_pair"])
    for k, v in zip(keys, (np.sqrt(mse), mse, joint, independent, independent - joint, ch["iterations"])):
      out[k].append(v)
  result = {k: np.asarray(v, np.float64) for k, v in out.items()}
  result["multiplier"] = np.asarray(multipliers, np.float64)
  return result


def _curve(distortion, rate):
  d = np.asarray(distortion, np.float64).ravel()
  r = np.asarray(rate, np.float64).ravel()
  if d.shape != r.shape:
    raise ValueError(f"distortion and rate must have the same length, got {d.shape} and {r.shape}")
  if not (np.all(np.isfinite(d)) and np.all(np.isfinite(r))):
    raise ValueError("RD points must be finite")
  ud, inv = np.unique(d, return_inverse=True)  # sorted; duplicated distortions are averaged
  if ud.size < 2:
    raise ValueError("an RD curve needs at least 2 distinct distortions to interpolate")
  return ud, np.bincount(inv, weights=r) / np.bincount(inv)


def interpolate_rd(distortion, rate, at) -> np.ndarray:
  """Piecewise-linear rate of a curve at distortions ``at``, extrapolated along its end segments."""
  d, r = _curve(distortion, rate)
  x = np.asarray(at, np.float64)
  i = np.clip(np.searchsorted(d, x), 1, d.size - 1)
  x0, x1, y0, y1 = d[i - 1], d[i], r[i - 1], r[i]
  return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


def empirical_mutual_information(joint_distortion, joint_rate, independent_distortion, independent_rate,
                                 *, floor: float = MI_FLOOR) -> dict:
  """Empirical ``Î(Ẑ1; Ẑ2)`` from the Joint and Independent codecs' RD points (App. D.3).

  Both curves are evaluated at the sorted union of their distortions (:func:`interpolate_rd`);
  returns ``distortion``, ``joint``, ``independent`` and ``mutual_information`` =
  ``max(independent − joint, floor)`` as float64 arrays.
  """
  dj, _ = _curve(joint_distortion, joint_rate)
  di, _ = _curve(independent_distortion, independent_rate)
  grid = np.union1d(dj, di)
  joint = interpolate_rd(joint_distortion, joint_rate, grid)
  independent = interpolate_rd(independent_distortion, independent_rate, grid)
  return {"distortion": grid, "joint": joint, "independent": independent,
          "mutual_information": np.maximum(independent - joint, floor)}


def common_channel_bd_rate(mutual_information: dict, common_rate, distortion, *, method: str = "cubic") -> float:
  """BD-rate (%) of a codec's common-channel rate ``R0`` against the empirical-MI anchor
  (:func:`empirical_mutual_information`), quality = −distortion (paper Fig. 3, App. D.3)."""
  return rd_curves.bd_rate(mutual_information["mutual_information"], -np.asarray(mutual_information["distortion"]),
                           np.asarray(common_rate, np.float64), -np.asarray(distortion, np.float64), method=method)
