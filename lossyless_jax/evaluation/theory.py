"""Closed-form rate–distortion functions, their slope maps, and Blahut–Arimoto (NumPy, float64).

Conventions (shared with ``losses/nerd.py``):

* ``beta`` is the NERD slope β̃ < 0 = dR/dD in **nats per unit distortion** (the BA/Lemma 1 β of the
  paper is −β̃). Every ``*_from_beta`` / ``*_beta_from_d`` pair inverts each other on the region
  where the curve is strictly decreasing.
* Rates are returned in **bits** by functions whose name or key says ``bits``; ``*_nats`` variants
  exist where useful. Distortions are per sample (summed over coordinates).

Sources and formulas (paper §IV-A eqs. (22)–(23), §V-C; Cover & Thomas §10.3; Berger 1971):

* Independent Gaussians N(0, diag σ²), squared error — reverse water-filling (eqs. (22)–(23)):
  ``D = Σ_k min(λ, σ_k²)``, ``R = Σ_{σ_k² > λ} ½ log(σ_k²/λ)``, ``β̃ = −1/(2λ)``.
  A rotated Gaussian N(0, U diag σ² Uᵀ) has the same R(D) (use the covariance eigenvalues).
* Bernoulli(p), Hamming: ``R = h(p) − h(D)`` for D < min(p, 1−p), ``D(β̃) = sigmoid(β̃)``.
* Laplace with density (α/2) e^{−α|x|}, absolute error: ``R = log(1/(αD))`` for D < 1/α,
  ``D(β̃) = −1/β̃``.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy.special import expit, logsumexp

__all__ = [
    "covariance_eigenvalues",
    "gaussian_d_max",
    "water_level",
    "gaussian_rd_nats",
    "gaussian_rd",
    "rotated_gaussian_rd",
    "gaussian_point_from_beta",
    "gaussian_d_from_beta",
    "gaussian_beta_from_d",
    "gaussian_test_channel",
    "binary_entropy",
    "bernoulli_hamming_rd",
    "bernoulli_d_from_beta",
    "bernoulli_beta_from_d",
    "bernoulli_optimal_qy",
    "laplace_l1_rd",
    "laplace_d_from_beta",
    "laplace_beta_from_d",
    "laplace_optimal_qy_zero_mass",
    "blahut_arimoto",
    "blahut_arimoto_curve",
    "blahut_arimoto_data",
    "pairwise_squared_error_np",
    "discretize_density",
]

LN2 = math.log(2.0)


def _variances(variances):
  s = np.asarray(variances, dtype=np.float64).reshape(-1)
  if s.size == 0 or np.any(s <= 0) or not np.all(np.isfinite(s)):
    raise ValueError(f"variances must be a non-empty array of positive finite numbers, got {variances}")
  return s


def _check_beta(beta, name="beta"):
  b = np.asarray(beta, dtype=np.float64)
  if np.any(b >= 0):
    raise ValueError(f"{name} (β̃) must be < 0 (slope dR/dD in nats per unit distortion), got {beta}")
  return b


def covariance_eigenvalues(cov):
  """Eigenvalues of a symmetric positive-definite covariance (the σ_k² of its principal axes)."""
  c = np.asarray(cov, dtype=np.float64)
  if c.ndim != 2 or c.shape[0] != c.shape[1]:
    raise ValueError(f"cov must be a square matrix, got shape {c.shape}")
  ev = np.linalg.eigvalsh(0.5 * (c + c.T))
  if np.any(ev <= 0):
    raise ValueError(f"cov must be positive definite; smallest eigenvalue {ev.min()}")
  return ev


# ------------------------------------------------------------------------------------------------
# Gaussian sources, squared error: reverse water-filling.
# ------------------------------------------------------------------------------------------------

def gaussian_d_max(variances):
  """Zero-rate distortion Σ_k σ_k² (= E‖X − μ‖²)."""
  return float(_variances(variances).sum())


def water_level(distortion, variances):
  """λ solving Σ_k min(λ, σ_k²) = D (exact, piecewise linear); λ = max σ² for D ≥ Σσ²."""
  s = np.sort(_variances(variances))
  d_arr = np.asarray(distortion, dtype=np.float64)
  if np.any(d_arr <= 0):
    raise ValueError(f"distortion D must be > 0 for a Gaussian source, got {distortion}")
  m = s.size
  csum = np.concatenate([[0.0], np.cumsum(s)])  # csum[k] = sum of the k smallest

  def one(d):
    if d >= csum[-1]:
      return float(s[-1])
    for k in range(m):  # k components below the water level
      lam = (d - csum[k]) / (m - k)
      lower = s[k - 1] if k > 0 else 0.0
      if lower <= lam <= s[k]:
        return float(lam)
    raise RuntimeError("water_level: no solution found (should not happen)")

  out = np.vectorize(one, otypes=[np.float64])(d_arr)
  return float(out) if out.ndim == 0 else out


def gaussian_rd_nats(distortion, variances):
  """R(D) in nats of N(0, diag σ²) under squared error (sum over coordinates), reverse water-filling."""
  s = _variances(variances)
  lam = np.asarray(water_level(distortion, s))
  r = np.sum(0.5 * np.log(np.maximum(s[None, :] / lam.reshape(-1, 1), 1.0)), axis=1)
  r = r.reshape(lam.shape)
  return float(r) if r.ndim == 0 else r


def gaussian_rd(distortion, variances):
  """R(D) in bits of N(0, diag σ²) under squared error; also valid for rotated Gaussians (use eigenvalues)."""
  r = np.asarray(gaussian_rd_nats(distortion, variances)) / LN2
  return float(r) if r.ndim == 0 else r


def rotated_gaussian_rd(distortion, cov):
  """R(D) in bits of N(0, cov) under squared error (water-filling on the eigenvalues of cov)."""
  return gaussian_rd(distortion, covariance_eigenvalues(cov))


def gaussian_point_from_beta(beta, variances):
  """(D, R_bits) on the Gaussian curve at slope β̃ < 0: λ = −1/(2β̃), D = Σ min(λ, σ²)."""
  s = _variances(variances)
  b = _check_beta(beta)
  lam = -1.0 / (2.0 * b)
  lam_c = np.reshape(lam, (-1, 1))
  d = np.minimum(lam_c, s[None, :]).sum(axis=1).reshape(lam.shape)
  r = (0.5 * np.log(np.maximum(s[None, :] / lam_c, 1.0))).sum(axis=1).reshape(lam.shape) / LN2
  if d.ndim == 0:
    return float(d), float(r)
  return d, r


def gaussian_d_from_beta(beta, variances):
  """D(β̃) of the Gaussian curve (see :func:`gaussian_point_from_beta`)."""
  return gaussian_point_from_beta(beta, variances)[0]


def gaussian_beta_from_d(distortion, variances):
  """β̃(D) = −1/(2λ(D)), the slope of R(D) in nats; at D ≥ Σσ² returns the zero-rate slope −1/(2 max σ²)."""
  lam = np.asarray(water_level(distortion, variances))
  b = -1.0 / (2.0 * lam)
  return float(b) if b.ndim == 0 else b


def gaussian_test_channel(variances, *, distortion: Optional[float] = None, beta: Optional[float] = None):
  """The R(D)-achieving pair for N(0, diag σ²) (backward channel X = Y + Z; Cover & Thomas §10.3.3).

  Give exactly one of ``distortion`` (D) or ``beta`` (β̃ < 0). With water level λ and
  A = {k : σ_k² > λ}:
  Q*_{Y_k} = N(0, σ_k² − λ) and Q*_{Y_k | X_k = x} = N((1 − λ/σ_k²) x, λ (1 − λ/σ_k²)) for k ∈ A,
  Y_k ≡ 0 otherwise. (The paper's printed channel N(x, λ), Q_Y = N(0, σ² + λ) is the forward channel
  and is not R(D)-optimal.)

  Returns a dict of float64 arrays/scalars: ``lam``, ``beta`` (= −1/(2λ)), ``distortion``,
  ``rate_bits``, ``active`` (bool mask), ``qy_var`` (max(σ² − λ, 0)), ``gain`` (1 − λ/σ² on A, 0
  off A), ``cond_var`` (λ(1 − λ/σ²) on A, 0 off A).
  """
  s = _variances(variances)
  if (distortion is None) == (beta is None):
    raise ValueError("gaussian_test_channel: give exactly one of distortion or beta")
  if beta is not None:
    lam = -1.0 / (2.0 * float(_check_beta(beta)))
  else:
    lam = float(water_level(distortion, s))
  active = s > lam
  gain = np.where(active, 1.0 - lam / s, 0.0)
  return {
      "lam": lam,
      "beta": -1.0 / (2.0 * lam),
      "distortion": float(np.minimum(lam, s).sum()),
      "rate_bits": float(np.sum(0.5 * np.log2(np.maximum(s / lam, 1.0)))),
      "active": active,
      "qy_var": np.maximum(s - lam, 0.0),
      "gain": gain,
      "cond_var": np.where(active, lam * gain, 0.0),
  }


# ------------------------------------------------------------------------------------------------
# Bernoulli(p), Hamming distortion.
# ------------------------------------------------------------------------------------------------

def binary_entropy(p):
  """h(p) in bits, with h(0) = h(1) = 0."""
  p = np.asarray(p, dtype=np.float64)
  with np.errstate(divide="ignore", invalid="ignore"):
    h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0))
  return float(h) if h.ndim == 0 else h


def _check_p(p):
  if not 0.0 < p < 1.0:
    raise ValueError(f"Bernoulli parameter p must be in (0, 1), got {p}")


def bernoulli_hamming_rd(distortion, p):
  """R(D) = h(p) − h(D) bits for D < min(p, 1 − p), 0 beyond (per binary symbol)."""
  _check_p(p)
  d = np.asarray(distortion, dtype=np.float64)
  if np.any(d < 0):
    raise ValueError(f"Hamming distortion must be >= 0, got {distortion}")
  pm = min(p, 1.0 - p)
  r = np.where(d < pm, binary_entropy(p) - binary_entropy(np.minimum(d, pm)), 0.0)
  return float(r) if r.ndim == 0 else r


def bernoulli_d_from_beta(beta, p):
  """D(β̃) = sigmoid(β̃) = 1/(1 + e^{−β̃}), capped at min(p, 1 − p) (zero rate for β̃ ≥ logit(min(p,1−p)))."""
  _check_p(p)
  b = _check_beta(beta)
  d = np.minimum(expit(b), min(p, 1.0 - p))
  return float(d) if d.ndim == 0 else d


def bernoulli_beta_from_d(distortion, p):
  """β̃(D) = ln(D / (1 − D)) for 0 < D < min(p, 1 − p)."""
  _check_p(p)
  d = np.asarray(distortion, dtype=np.float64)
  if np.any(d <= 0) or np.any(d >= min(p, 1.0 - p)):
    raise ValueError(f"bernoulli_beta_from_d: D must lie in (0, min(p,1-p)) = (0, {min(p, 1 - p)}), got {distortion}")
  b = np.log(d / (1.0 - d))
  return float(b) if b.ndim == 0 else b


def bernoulli_optimal_qy(distortion, p):
  """Q*_Y(1) = (p − D)/(1 − 2D), the R(D)-achieving reproduction marginal."""
  _check_p(p)
  d = np.asarray(distortion, dtype=np.float64)
  q = (p - d) / (1.0 - 2.0 * d)
  return float(q) if q.ndim == 0 else q


# ------------------------------------------------------------------------------------------------
# Laplace(α) (density α/2 e^{−α|x|}, scale 1/α), absolute error.
# ------------------------------------------------------------------------------------------------

def laplace_l1_rd(distortion, alpha: float = 1.0):
  """R(D) = log2(1/(αD)) bits for D < 1/α, 0 beyond (Berger)."""
  if alpha <= 0:
    raise ValueError(f"Laplace alpha must be > 0, got {alpha}")
  d = np.asarray(distortion, dtype=np.float64)
  if np.any(d <= 0):
    raise ValueError(f"distortion D must be > 0, got {distortion}")
  r = np.maximum(np.log2(1.0 / (alpha * d)), 0.0)
  return float(r) if r.ndim == 0 else r


def laplace_d_from_beta(beta, alpha: float = 1.0):
  """D(β̃) = −1/β̃, capped at 1/α (zero rate for β̃ ≥ −α)."""
  b = _check_beta(beta)
  d = np.minimum(-1.0 / b, 1.0 / alpha)
  return float(d) if d.ndim == 0 else d


def laplace_beta_from_d(distortion, alpha: float = 1.0):
  """β̃(D) = −1/D for 0 < D < 1/α."""
  d = np.asarray(distortion, dtype=np.float64)
  if np.any(d <= 0) or np.any(d >= 1.0 / alpha):
    raise ValueError(f"laplace_beta_from_d: D must lie in (0, 1/alpha) = (0, {1 / alpha}), got {distortion}")
  b = -1.0 / d
  return float(b) if b.ndim == 0 else b


def laplace_optimal_qy_zero_mass(distortion, alpha: float = 1.0):
  """Weight (αD)² of the atom at 0 in Q*_Y = (αD)² δ_0 + (1 − (αD)²) Laplace(α)."""
  return float(np.clip(alpha * distortion, 0.0, 1.0) ** 2)


# ------------------------------------------------------------------------------------------------
# Blahut–Arimoto in the log domain.
# ------------------------------------------------------------------------------------------------

def blahut_arimoto(p_x, dmat, beta, *, tol: float = 1e-10, max_iter: int = 5000,
                   log_r_init=None):
  """Log-domain Blahut–Arimoto for a discrete source at slope β̃ < 0 (paper eqs. (3)–(4), β = −β̃).

  Alternates ``log p(y|x) = log r(y) + β̃ d(x,y) − LSE_ỹ[log r(ỹ) + β̃ d(x,ỹ)]`` and
  ``log r(y) = LSE_x[log p(x) + log p(y|x)]`` until |ΔD| < tol and |ΔR| < tol (nats) or
  ``max_iter`` (the authors stop on |ΔD| < 1e−10 or 500 iterations). Each row is exponentiated
  only after subtracting its own maximum, so β̃·d of any magnitude is safe; the column
  log-sum-exp is taken through the row-normalised weights and falls back to an explicit
  column-wise LSE where that underflows.

  Args:
    p_x: (n,) source probabilities (normalised here; zero entries allowed).
    dmat: (n, K) distortions d(x, y) on the reproduction alphabet.
    beta: β̃ < 0, nats per unit distortion.
    log_r_init: optional (K,) initial log r (warm start); default uniform.

  Returns:
    dict: ``rate_bits``, ``rate_nats`` (I(X;Y) of the final channel), ``distortion`` (E d),
    ``log_r`` (K,), ``iterations``, ``converged``, ``beta``.
  """
  b = float(_check_beta(beta))
  p = np.asarray(p_x, dtype=np.float64).reshape(-1)
  d = np.asarray(dmat, dtype=np.float64)
  if d.ndim != 2 or d.shape[0] != p.size:
    raise ValueError(f"dmat must have shape (len(p_x), K) = ({p.size}, K), got {d.shape}")
  if np.any(p < 0) or p.sum() <= 0:
    raise ValueError("p_x must be non-negative with positive sum")
  p = p / p.sum()
  keep = p > 0
  p, d = p[keep], d[keep]
  log_p = np.log(p)
  k = d.shape[1]
  if log_r_init is None:
    log_r = np.full(k, -math.log(k))
  else:
    log_r = np.asarray(log_r_init, np.float64).copy()
    if log_r.shape != (k,):
      raise ValueError(f"log_r_init must have shape ({k},), got {log_r.shape}")
  a = b * d
  prev_d, prev_r = np.inf, np.inf
  converged = False
  it = 0
  dist = rate = float("nan")
  for it in range(1, max_iter + 1):
    logits = a + log_r[None, :]
    row_max = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - row_max)                       # (n, K), max 1 per row
    row_sum = e.sum(axis=1, keepdims=True)
    log_norm = row_max + np.log(row_sum)               # LSE_y per row
    coef = p[:, None] / row_sum                        # p(x) / Σ_y e
    dist = float(np.sum(coef * e * d))
    # Σ_x p(x) KL(p(·|x) ‖ r_old) = β̃ D − Σ_x p(x) LSE_y (the NERD read-out identity) ...
    dual = b * dist - float(np.sum(p * log_norm[:, 0]))
    with np.errstate(divide="ignore"):
      new_log_r = np.log(e.T @ coef[:, 0])
    bad = ~np.isfinite(new_log_r)
    if np.any(bad):  # column underflow: explicit column LSE of log p(x) + log p(y|x)
      cols = (a[:, bad] + log_r[None, bad]) - log_norm + log_p[:, None]
      new_log_r[bad] = logsumexp(cols, axis=0)
    # ... minus KL(r_new ‖ r_old) gives I(X;Y) of the current channel exactly.
    r_new = np.exp(new_log_r)
    with np.errstate(invalid="ignore"):
      kl = float(np.sum(np.where(r_new > 0, r_new * (new_log_r - log_r), 0.0)))
    rate = dual - kl
    log_r = new_log_r
    if abs(dist - prev_d) < tol and abs(rate - prev_r) < tol:
      converged = True
      break
    prev_d, prev_r = dist, rate
  return {
      "rate_nats": max(rate, 0.0),
      "rate_bits": max(rate, 0.0) / LN2,
      "distortion": dist,
      "log_r": log_r,
      "iterations": it,
      "converged": converged,
      "beta": b,
  }


def blahut_arimoto_curve(p_x, dmat, betas, **kwargs):
  """BA at every slope in ``betas`` (warm-started in the given order). Returns dict of (len(betas),) arrays."""
  betas = np.asarray(betas, dtype=np.float64).reshape(-1)
  rates, dists, iters, conv = [], [], [], []
  log_r = None
  for b in betas:
    res = blahut_arimoto(p_x, dmat, b, log_r_init=log_r, **kwargs)
    log_r = res["log_r"]
    rates.append(res["rate_bits"])
    dists.append(res["distortion"])
    iters.append(res["iterations"])
    conv.append(res["converged"])
  return {"beta": betas, "rate_bits": np.array(rates), "distortion": np.array(dists),
          "iterations": np.array(iters), "converged": np.array(conv)}


def pairwise_squared_error_np(x, y, chunk: int = 4096):
  """(n, K) float64 matrix ‖x_i − y_j‖² (sum over coordinates), NumPy, in row chunks."""
  x = np.asarray(x, np.float64).reshape(len(x), -1)
  y = np.asarray(y, np.float64).reshape(len(y), -1)
  yy = np.sum(y * y, axis=1)
  out = np.empty((x.shape[0], y.shape[0]))
  for s in range(0, x.shape[0], chunk):
    xs = x[s:s + chunk]
    out[s:s + chunk] = np.maximum(np.sum(xs * xs, 1)[:, None] + yy[None, :] - 2.0 * xs @ y.T, 0.0)
  return out


def blahut_arimoto_data(x, betas, *, dmat=None, **kwargs):
  """BA with the empirical distribution of ``x`` (uniform over n points) and the data as reproduction
  alphabet, Y = {x_1..x_n} (the paper's image baseline, §I-A / §IV-C), squared error by default.

  Its curve is the R(D) of the *empirical* source: it saturates at log2 n bits at D = 0, and its
  zero-rate distortion min_j mean_i ‖x_i − x_j‖² exceeds E‖X − μ‖². Returns the
  :func:`blahut_arimoto_curve` dict plus ``log2_n`` and ``d_zero_rate``. Memory n × n float64.
  """
  x = np.asarray(x)
  n = x.shape[0]
  d = pairwise_squared_error_np(x, x) if dmat is None else np.asarray(dmat, np.float64)
  out = blahut_arimoto_curve(np.full(n, 1.0 / n), d, betas, **kwargs)
  out["log2_n"] = math.log2(n)
  out["d_zero_rate"] = float(d.mean(axis=0).min())
  return out


def discretize_density(logpdf, grid):
  """Probabilities of a density on ``grid`` points (∝ exp(logpdf(grid)), normalised)."""
  lp = np.asarray(logpdf(np.asarray(grid, np.float64)), np.float64)
  return np.exp(lp - logsumexp(lp))
