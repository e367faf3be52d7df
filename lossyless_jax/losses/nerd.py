"""NERD: neural estimation of the rate–distortion function (Lei, Hassani, Saeedi Bidokhti, JSAIT 2023).

Pure functions on a ``(B, M)`` distortion matrix ``d[i, j] = d(x_i, G(z_j))`` whose M generator
samples are **shared by every x in the batch**. Everything is in the log domain (log-sum-exp, never
``log(mean(exp))``) and in nats; bits appear only in read-outs whose names say ``bits``.

Sign convention: ``beta`` is the paper's β̃ ≤ 0 of the dual (6)–(11), the slope dR/dD of the R–D
curve in **nats per unit distortion**; it is always negative (β̃ = −β of Lemma 1 / BA). Distortion is
whatever the distortion matrix holds; the library's distortions (``losses/distortions.py``) are sums
over coordinates, so D̂ is per sample (per image), not per coordinate.

Monte-Carlo estimator of Definition 1 (paper §III, eqs. (10)–(11), with M samples of P_Z for the
inner expectation): with ``a_ij = β̃ d_ij`` and ``w_i = softmax_j(a_i·)``

* ``log E_Q e^{β̃ d(x_i, Y)} ≈ LSE_j(a_ij) − log M``
* ``D̂(β̃) = (1/B) Σ_ij w_ij d_ij``                           (full-matrix form of eq. (8))
* ``R̂ = β̃ D̂ − (1/B) Σ_i [LSE_j(a_ij) − log M] = (1/B) Σ_i KL(w_i ‖ U_M) ∈ [0, log M]``

so ``R̂`` can never exceed ``log2 M`` bits (the log M barrier of §III-A); every read-out carries
``log2_M`` and a ``near_ceiling`` flag (``R̂ > log2 M − 1`` bit), and such points should not be
trusted. A generator trained with M_train samples per step is also untrusted within
:data:`TRAIN_CEILING_MARGIN_BITS` (2) bits of ``log2 M_train``, however large the evaluation M:
its training objective saturates there. :func:`ceiling_flags` gives both flags.

Two training modes:

* Lagrangian (released code ``NERDlagr.py``): fixed β̃ < 0, minimise
  ``L(θ) = −(1/B) Σ_i [LSE_j(β̃ d_ij) − log M]``  — :func:`nerd_lagrangian_loss`.
* Constrained (paper Algorithm 1, eq. (11) with the full matrix): per step β̃* with
  ``D̂(β̃*) = D`` is found by a safeguarded Newton search on log|β̃| (Newton steps kept inside a
  shrinking bracket, bisection of the bracket otherwise; the paper prints plain bisection), see
  :func:`bisect_beta`; β̃* is held constant in the gradient (envelope theorem) —
  :func:`nerd_constrained_loss`.

For evaluation with a large M (e.g. 40,000) use :func:`nerd_readouts_chunked`, which streams over
chunks of generator samples with a running log-sum-exp and never holds a (n, M) matrix.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.losses import distortions as distortions_lib

__all__ = [
    "LN2",
    "CEILING_MARGIN_BITS",
    "TRAIN_CEILING_MARGIN_BITS",
    "ceiling_flag",
    "ceiling_flags",
    "d_hat",
    "nerd_readouts",
    "nerd_lagrangian_loss",
    "bisect_beta",
    "nerd_constrained_loss",
    "nerd_loss",
    "chunk_key",
    "nerd_readouts_chunked",
    "solve_beta_chunked",
]

LN2 = math.log(2.0)
CEILING_MARGIN_BITS = 1.0  # points with R̂ > log2 M − this are flagged ``near_ceiling``
# A generator trained on M_train samples per step: R̂ within this of log2 M_train is untrusted.
TRAIN_CEILING_MARGIN_BITS = 2.0


def _check_dmat(dmat, stacked: bool = False):
  dmat = jnp.asarray(dmat)
  if dmat.ndim != 2 and not (stacked and dmat.ndim == 3):
    raise ValueError(f"NERD expects a (B, M) distortion matrix{' or a (B, K, M) stack' if stacked else ''}, "
                     f"got shape {dmat.shape}")
  return dmat


def _check_beta_static(beta):
  """Raises if a concrete β̃ is positive (traced values are not checked)."""
  try:
    value = np.max(np.asarray(beta, np.float64))
  except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
    return
  if value > 0:
    raise ValueError(f"NERD slope beta (β̃) must be <= 0 (nats per unit distortion); got beta={beta}")


def ceiling_flag(rate_bits, num_samples):
  """True where ``rate_bits`` is within :data:`CEILING_MARGIN_BITS` of the ``log2 M`` cap."""
  return rate_bits > (math.log2(num_samples) - CEILING_MARGIN_BITS)


def ceiling_flags(rate_bits, num_samples, train_num_samples=None) -> dict:
  """Untrusted-point flags of read-outs ``rate_bits`` (NumPy, any shape) evaluated with M =
  ``num_samples`` atoms of a generator trained with M_train = ``train_num_samples`` per step.

  ``near_eval_ceiling``: R̂ > log2 M − :data:`CEILING_MARGIN_BITS` (the estimate's hard cap,
  §III-A). ``near_train_ceiling``: R̂ > log2 M_train − :data:`TRAIN_CEILING_MARGIN_BITS` (the training
  objective was capped at log2 M_train, so the generator stops improving well below it; False when
  M_train is not given). ``near_ceiling``: either.
  """
  r = np.asarray(rate_bits, np.float64)
  near_eval = r > math.log2(num_samples) - CEILING_MARGIN_BITS
  if train_num_samples:
    near_train = r > math.log2(train_num_samples) - TRAIN_CEILING_MARGIN_BITS
  else:
    near_train = np.zeros_like(near_eval)
  return {"near_eval_ceiling": near_eval, "near_train_ceiling": near_train,
          "near_ceiling": near_eval | near_train}


def d_hat(dmat, beta):
  """D̂(β̃) = (1/B) Σ_ij softmax_j(β̃ d_ij) d_ij (full-matrix eq. (8)); increasing in β̃."""
  dmat = _check_dmat(dmat)
  w = jax.nn.softmax(beta * dmat, axis=1)
  return jnp.mean(jnp.sum(w * dmat, axis=1))


@jax.custom_vjp
def _row_stats(dmat, beta):
  """Per row of ``dmat`` (last axis: the M samples) at slope β̃ ≤ 0 (shape ``dmat.shape[:-1]`` or
  broadcastable to it): ``(LSE_j(β̃ d_ij), Σ_j w_ij d_ij, min_j d_ij, mean_j d_ij)`` with
  ``w_i = softmax_j(β̃ d_ij)``, in one pass of ``exp``. Since β̃ ≤ 0 the largest ``β̃ d_ij`` is
  ``β̃ min_j d_ij``, the log-sum-exp's shift. Only the LSE carries a gradient, ``β̃ w_ij`` (the
  other three are read-outs, taken under ``stop_gradient``)."""
  return _row_stats_fwd(dmat, beta)[0]


def _row_stats_fwd(dmat, beta):
  beta = jnp.asarray(beta, dmat.dtype)[..., None]
  d_min = jnp.min(dmat, axis=-1, keepdims=True)
  e = jnp.exp(beta * (dmat - d_min))
  s = jnp.sum(e, axis=-1, keepdims=True)
  w = e / s
  lse = beta * d_min + jnp.log(s)
  stats = (lse[..., 0], jnp.sum(w * dmat, axis=-1), d_min[..., 0], jnp.mean(dmat, axis=-1))
  return stats, (beta * w, beta[..., 0])


def _row_stats_bwd(residuals, cotangents):
  beta_w, beta = residuals
  return cotangents[0][..., None] * beta_w, jnp.zeros_like(beta)


_row_stats.defvjp(_row_stats_fwd, _row_stats_bwd)


def _readouts(dmat, beta, stats):
  """The read-outs of :func:`nerd_readouts` from :func:`_row_stats` (scalars for a (B, M)
  matrix, shape (K,) for a (B, K, M) stack)."""
  lse, m1, d_min, d_mean = stats
  num_samples = dmat.shape[-1]
  neg_log_mgf = -jnp.mean(lse - math.log(num_samples), axis=0)
  dh = jnp.mean(m1, axis=0)
  beta = jnp.broadcast_to(jnp.asarray(beta, dmat.dtype), dh.shape)
  rate_nats = beta * dh + neg_log_mgf
  rate_bits = rate_nats / LN2
  return {
      "beta": beta,
      "d_hat": dh,
      "rate_nats": rate_nats,
      "rate_bits": rate_bits,
      "neg_log_mgf": neg_log_mgf,
      "log2_M": jnp.full(dh.shape, math.log2(num_samples), dmat.dtype),
      "near_ceiling": ceiling_flag(rate_bits, num_samples),
      "d_min_mean": jnp.mean(d_min, axis=0),
      "d_mean": jnp.mean(d_mean, axis=0),
  }


def nerd_readouts(dmat, beta):
  """Read-outs of eq. (11) on a (B, M) matrix at slope β̃ ≤ 0 (nats/unit distortion).

  Returns a dict of scalars: ``beta``, ``d_hat`` (D̂), ``rate_nats`` / ``rate_bits``
  (R̂ = mean_i KL(w_i ‖ U_M), computed as β̃ D̂ − mean_i[LSE_i − log M]), ``neg_log_mgf``
  (−mean_i[LSE_i − log M], the Lagrangian loss, nats), ``log2_M``, ``near_ceiling``
  (R̂ > log2 M − 1 bit), ``d_min_mean`` (mean_i min_j d_ij, D̂ as β̃ → −∞) and ``d_mean``
  (mean_ij d_ij, D̂ as β̃ → 0⁻).
  """
  dmat = jax.lax.stop_gradient(_check_dmat(dmat))
  _check_beta_static(beta)
  return _readouts(dmat, beta, _row_stats(dmat, beta))


def _dual_term(dmat, beta):
  """``(−(1/B) Σ_i [LSE_j(β̃ d_ij) − log M]`` (differentiable in ``dmat``), the read-outs at β̃)``
  from one pass of ``exp``; ``dmat`` (B, M) with a scalar β̃ or (B, K, M) with K slopes."""
  beta = jnp.asarray(beta, dmat.dtype)
  stats = _row_stats(dmat, beta)
  neg_log_mgf = -jnp.mean(stats[0] - math.log(dmat.shape[-1]), axis=0)
  sg = jax.lax.stop_gradient
  return neg_log_mgf, _readouts(sg(dmat), sg(beta), sg(stats))


def nerd_lagrangian_loss(dmat, beta):
  """Lagrangian NERD loss at fixed slope β̃ < 0 (released ``NERDlagr.py``; paper eq. (7)/(11)).

  ``L(θ) = −(1/B) Σ_i [LSE_j(β̃ d_ij) − log M]`` (nats), to be minimised over the generator
  parameters θ through ``dmat``. At the optimum, ``L = R + |β̃| D`` (the Lagrangian of Lemma 1).
  Its gradient is ``|β̃| (1/B) Σ_ij w_ij ∇d_ij`` (soft k-means with inverse temperature |β̃|).

  Returns ``(loss, metrics)`` with the read-outs of :func:`nerd_readouts` (computed under
  ``stop_gradient``) plus ``loss``. A (B, K, M) stack (K generators' samples against one batch)
  with slopes ``beta`` of shape (K,) gives K losses and read-outs of shape (K,) at once.
  """
  dmat = _check_dmat(dmat, stacked=True)
  _check_beta_static(beta)
  loss, metrics = _dual_term(dmat, beta)
  metrics["loss"] = jax.lax.stop_gradient(loss)
  return loss, metrics


def _d_hat_and_variance(dmat, beta):
  """D̂(β̃) and dD̂/dβ̃ = mean_i Var_{w_i}(d_i·) from one softmax."""
  w = jax.nn.softmax(beta * dmat, axis=1)
  m1 = jnp.sum(w * dmat, axis=1)
  var = jnp.sum(w * jnp.square(dmat - m1[:, None]), axis=1)
  return jnp.mean(m1), jnp.mean(var)


def bisect_beta(dmat, target_distortion, *, beta_min: float = -20.0, beta_max: float = -1e-6,
                iters: int = 30):
  """Solves the full-matrix stationarity condition D̂(β̃) = D (eq. (8)) for β̃ ∈ [beta_min, beta_max].

  D̂ is increasing in β̃ (dD̂/dβ̃ = mean_i Var_{w_i}(d_i·) ≥ 0), so a bracketing search is well posed.
  Despite the name this is not the plain bisection the paper prints after eq. (8): it is a
  safeguarded Newton iteration on u = log|β̃|. It starts at the midpoint of the log-interval;
  every evaluation of D̂ at u moves one end of the bracket to u (the sign of D̂ − D says which), then
  the next u is the Newton step u − (D̂ − D)/(dD̂/du) (slope −|β̃| mean_i Var_{w_i}(d_i·) from the same
  softmax) when it lies strictly inside the bracket, else the bracket's midpoint. At most ``iters``
  evaluations in a ``lax.while_loop`` (jit-friendly) that exits once |D̂ − D| ≤ 1e−6·D (float32
  noise); if Newton is always rejected this is bisection of the log-range, typically it converges in
  ~4–6 evaluations. If D < D̂(beta_min) the result
  is ``beta_min`` (D unreachable with these atoms); if D > D̂(beta_max) (≈ mean d, zero rate) it is
  ``beta_max``. No gradient flows through it.

  The default interval [−20, −1e−6] is the authors' (``scipy.optimize.bisect`` on [−20, −1e−9]).
  Keep ``beta_min`` moderate: early in training D is often unreachable, β̃* sits at ``beta_min``,
  and the gradient scales with |β̃*|; a huge |beta_min| (e.g. −1e4) inflates Adam's second-moment
  estimate and stalls training. Rescale it with the distortion's scale (β̃ is per unit distortion).
  """
  dmat = jax.lax.stop_gradient(_check_dmat(dmat))
  if not (beta_min < beta_max < 0):
    raise ValueError(f"bisect_beta needs beta_min < beta_max < 0, got {beta_min}, {beta_max}")
  target = jnp.asarray(target_distortion, dmat.dtype)
  u_small = jnp.log(jnp.asarray(-beta_max, dmat.dtype))  # |β̃| small -> D̂ large
  u_large = jnp.log(jnp.asarray(-beta_min, dmat.dtype))  # |β̃| large -> D̂ small

  tol = 1e-6 * jnp.abs(target)  # float32 noise level of D̂: stop once |D̂ − D| <= tol

  def body(state):
    lo, hi, u, _, it = state  # invariant: D̂(-e^lo) >= D >= D̂(-e^hi)
    dh, var = _d_hat_and_variance(dmat, -jnp.exp(u))
    f = dh - target
    too_large = f > 0  # D̂ above target: need larger |β̃|
    lo = jnp.where(too_large, u, lo)
    hi = jnp.where(too_large, hi, u)
    slope = -jnp.exp(u) * var  # d f / d u <= 0
    u_newton = u - f / jnp.where(slope < 0, slope, -1.0)
    ok = (slope < 0) & jnp.isfinite(u_newton) & (u_newton > lo) & (u_newton < hi)
    u_next = jnp.where(ok, u_newton, 0.5 * (lo + hi))
    converged = jnp.abs(f) <= tol
    return lo, hi, jnp.where(converged, u, u_next), converged, it + 1

  def cond(state):
    return jnp.logical_and(state[4] < iters, jnp.logical_not(state[3]))

  init = (u_small, u_large, 0.5 * (u_small + u_large), jnp.array(False), jnp.array(0))
  _, _, u, _, _ = jax.lax.while_loop(cond, body, init)
  return -jnp.exp(u)


def nerd_constrained_loss(dmat, target_distortion, *, beta_min: float = -20.0,
                          beta_max: float = -1e-6, iters: int = 30):
  """Constrained NERD loss at a fixed target distortion D (paper Algorithm 1, eqs. (10)–(11)).

  Per step, β̃* solves the full-matrix condition D̂(β̃*) = D by :func:`bisect_beta` (the paper's
  printed Algorithm 1 uses only the diagonal pairs (i, i); the full B × M matrix is used here, as in
  the authors' released code). β̃* is held constant in the gradient (envelope theorem):

  ``L(θ) = β̃* D − (1/B) Σ_i [LSE_j(β̃* d_ij) − log M]``  (nats; ≈ R̂ at the step's Q_Y).

  Returns ``(loss, metrics)``: the read-outs of :func:`nerd_readouts` at β̃*, ``target_d``, ``loss``,
  ``dual_bits`` (= loss / ln 2, the dual value eq. (6)), ``constraint_gap`` (D̂(β̃*) − D) and
  ``beta_at_bound`` (|gap| > 1e−3·D: β̃* was clipped at an end of the search interval, i.e. D is
  unreachable with these M atoms — typical early in training — or above the zero-rate value).
  """
  dmat = _check_dmat(dmat)
  target = jnp.asarray(target_distortion, dmat.dtype)
  beta_star = jax.lax.stop_gradient(
      bisect_beta(dmat, target, beta_min=beta_min, beta_max=beta_max, iters=iters))
  neg_log_mgf, metrics = _dual_term(dmat, beta_star)
  loss = beta_star * target + neg_log_mgf
  metrics["target_d"] = target
  metrics["loss"] = jax.lax.stop_gradient(loss)
  metrics["dual_bits"] = jax.lax.stop_gradient(loss) / LN2
  # D not met (β̃* clipped at an end of [beta_min, beta_max]): D unreachable with these atoms, or
  # above the zero-rate value.
  metrics["constraint_gap"] = metrics["d_hat"] - target
  metrics["beta_at_bound"] = jnp.abs(metrics["constraint_gap"]) > 1e-3 * jnp.abs(target)
  return loss, metrics


def nerd_loss(dmat, *, beta=None, target_distortion=None, **bisect_kwargs):
  """Dispatches to the Lagrangian (``beta`` given) or constrained (``target_distortion`` given) loss."""
  if (beta is None) == (target_distortion is None):
    raise ValueError("nerd_loss: give exactly one of beta (Lagrangian mode, β̃ < 0) or "
                     "target_distortion (constrained mode, D > 0)")
  if beta is not None:
    return nerd_lagrangian_loss(dmat, beta)
  return nerd_constrained_loss(dmat, target_distortion, **bisect_kwargs)


# ---------------------------------------------------------------------------------------------
# Chunked evaluation with a large M (streaming log-sum-exp; memory O(x_batch · chunk)).
# ---------------------------------------------------------------------------------------------

SampleFn = Callable[[jax.Array, int], jnp.ndarray]


def chunk_key(key, chunk_index: int):
  """Key of generator chunk ``chunk_index`` in :func:`nerd_readouts_chunked` (``fold_in(key, c)``)."""
  return jax.random.fold_in(key, chunk_index)


@functools.lru_cache(maxsize=32)
def _make_chunk_update(distortion_fn, num_x_batches):

  def update(stats, xs, valid_x, y, valid_y, betas):
    """xs: (nb, xb, ...); valid_x: (nb, xb) bool; y: (chunk, ...); valid_y: (chunk,) bool."""

    def one_batch(carry, inputs):
      del carry
      (s, t, u, dmin, dsum), xb, vx = inputs
      d = distortion_fn(xb, y)  # (xb, chunk)
      d = jnp.where(valid_y[None, :], d, 0.0)
      dmin_new = jnp.minimum(dmin, jnp.min(jnp.where(valid_y[None, :], d, jnp.inf), axis=-1))
      # β̃ ≤ 0, so max_j a_ij = β̃ min_j d_ij and every shifted exponent is β̃ (d − d_min) ≤ 0,
      # exactly 0 at the nearest atom. (Written as β̃ d − max_j β̃ d, XLA fuses the product into
      # an FMA with an unrounded β̃ d, and the nearest atom's exponent drifts off 0.)
      beta = betas[:, None]  # (K, 1)
      moved = jnp.where(s > 0, beta * (dmin - dmin_new)[None], 0.0)  # m − m_new; s = 0 at the start
      scale = jnp.where(s > 0, jnp.exp(moved), 0.0)
      gap = beta[..., None] * (d - dmin_new[:, None])[None]  # (K, xb, chunk), a − m_new ≤ 0
      gap = jnp.where(valid_y[None, None, :], gap, 0.0)
      e = jnp.where(valid_y[None, None, :], jnp.exp(gap), 0.0)
      s_new = s * scale + jnp.sum(e, axis=-1)
      t_new = t * scale + jnp.sum(e * d[None], axis=-1)
      # e^{a−m_new}(a−m_new) = e^{m−m_new} e^{a−m} ((a−m) + (m−m_new)).
      u_new = (u + s * moved) * scale + jnp.sum(e * gap, axis=-1)
      dsum_new = dsum + jnp.sum(d, axis=-1)
      del vx
      return None, (s_new, t_new, u_new, dmin_new, dsum_new)

    s, t, u, dmin, dsum = stats
    # Move the x-batch axis first for scan: stats (K, nb, xb) -> (nb, K, xb).
    first = lambda v: jnp.moveaxis(v, 1, 0)
    per_batch = (first(s), first(t), first(u), dmin, dsum)
    _, out = jax.lax.scan(one_batch, None, (per_batch, xs, valid_x), length=num_x_batches)
    s, t, u, dmin, dsum = out
    back = lambda v: jnp.moveaxis(v, 0, 1)
    return back(s), back(t), back(u), dmin, dsum

  return jax.jit(update)


def nerd_readouts_chunked(x, sample_fn: SampleFn, key, beta, num_samples: int, *,
                          chunk_size: int = 4000, distortion="squared_error",
                          x_batch_size: Optional[int] = None, jit_sampler: bool = True):
  """NERD read-outs (D̂, R̂) with a large number M of generator samples, in chunks over M.

  Streaming log-sum-exp: for each data point and each slope it keeps, with the running max
  ``m_i = max_j a_ij = β̃ min_j d_ij``, ``s_i = Σ_j e^{a_ij − m_i}``, ``t_i = Σ_j e^{a_ij − m_i} d_ij`` and
  ``u_i = Σ_j e^{a_ij − m_i} (a_ij − m_i)``, so ``LSE_i = m_i + log s_i``, ``D̂_i = t_i / s_i`` and the
  entropy of the weights ``w_i = softmax_j(a_ij)`` is ``H_i = log s_i − u_i / s_i``; memory is
  O(x_batch_size · chunk_size · K) besides ``x`` itself, never (n, M). All n data points are
  evaluated against the **same** M atoms (one generator pass per chunk).

  The rate is ``R̂ = mean_i KL(w_i ‖ U_M) = log M − mean_i H_i`` (eq. (11)), equal to
  ``β̃ D̂ − mean_i[LSE_i − log M]`` but without the cancellation of the two large terms at a steep
  slope: both ``log s_i`` and ``−u_i / s_i`` are sums of non-negative terms, so R̂ never exceeds
  the ``log M`` ceiling by round-off (and is clipped at 0 from below).

  Args:
    x: data, shape (n, ...). Every point is used (the read-outs average over all n).
    sample_fn: ``sample_fn(key, num) -> (num, ...)`` reproductions (e.g. a generator applied to
      fresh latents drawn with ``key``). Chunk c is ``sample_fn(fold_in(key, c), chunk_size)``; the
      last chunk is generated at full size and masked, so every call has the same shape.
      Note: a generator with batch-statistics BatchNorm then normalises per chunk.
    key: jax PRNG key of the Q_Y samples.
    beta: scalar β̃ ≤ 0 or a 1-D array of slopes (all evaluated in the same pass).
    num_samples: M.
    chunk_size: generator samples per chunk.
    distortion: name in ``losses.distortions`` or a pairwise callable (x (b,...), y (c,...)) -> (b, c).
    x_batch_size: data points per distance block (default: min(n, 1024)).
    jit_sampler: wrap ``sample_fn`` in ``jax.jit`` (num static).

  Returns:
    dict of NumPy values (arrays of shape (K,) if ``beta`` was an array, floats otherwise):
    ``beta``, ``d_hat``, ``rate_nats``, ``rate_bits``, ``neg_log_mgf``, ``near_ceiling``, and scalars
    ``log2_M``, ``num_samples``, ``num_points``, ``d_min_mean`` (mean_i min_j d_ij), ``d_mean``.
  """
  x = jnp.asarray(x)
  n = int(x.shape[0])
  if n == 0:
    raise ValueError("nerd_readouts_chunked: x is empty")
  if num_samples < 1 or chunk_size < 1:
    raise ValueError(f"num_samples and chunk_size must be >= 1, got {num_samples}, {chunk_size}")
  scalar_beta = np.ndim(beta) == 0
  betas_np = np.atleast_1d(np.asarray(beta, dtype=np.float64))
  if betas_np.ndim != 1:
    raise ValueError(f"beta must be a scalar or 1-D array, got shape {betas_np.shape}")
  if np.any(betas_np > 0):
    raise ValueError(f"NERD slopes beta (β̃) must be <= 0; got {betas_np}")
  chunk_size = int(min(chunk_size, num_samples))
  distortion_fn = distortions_lib.get_distortion(distortion)
  xb = int(min(n, x_batch_size or 1024))
  nb = -(-n // xb)
  pad = nb * xb - n
  x_pad = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)], 0) if pad else x
  xs = x_pad.reshape((nb, xb) + x.shape[1:])
  valid_x = (jnp.arange(nb * xb) < n).reshape(nb, xb)
  dtype = jnp.result_type(x.dtype, jnp.float32)
  betas = jnp.asarray(betas_np, dtype)
  k = betas.shape[0]
  stats = (jnp.zeros((k, nb, xb), dtype), jnp.zeros((k, nb, xb), dtype),
           jnp.zeros((k, nb, xb), dtype), jnp.full((nb, xb), jnp.inf, dtype),
           jnp.zeros((nb, xb), dtype))
  update = _make_chunk_update(distortion_fn, nb)
  sampler = jax.jit(sample_fn, static_argnums=1) if jit_sampler else sample_fn
  num_chunks = -(-num_samples // chunk_size)
  for c in range(num_chunks):
    y = jnp.asarray(sampler(chunk_key(key, c), chunk_size))
    if y.shape[0] != chunk_size:
      raise ValueError(f"sample_fn returned {y.shape[0]} samples, expected {chunk_size}")
    valid_y = jnp.arange(chunk_size) < (num_samples - c * chunk_size)
    stats = update(stats, xs, valid_x, y.astype(dtype), valid_y, betas)
  s, t, u, dmin, dsum = (np.asarray(v, np.float64) for v in stats)
  vx = np.asarray(valid_x)
  lse = (betas_np[:, None, None] * dmin[None] + np.log(s))[:, vx]  # (K, n); m_i = β̃ min_j d_ij
  d_i = (t / s)[:, vx]
  entropy_i = (np.log(s) - u / s)[:, vx]  # H(w_i) >= 0, both terms >= 0
  log_m = math.log(num_samples)
  d_hat_k = d_i.mean(axis=1)
  neg_log_mgf = -(lse - log_m).mean(axis=1)
  # R̂ = mean_i KL(w_i || U_M) = log M − mean_i H(w_i) <= log M; >= 0 up to round-off (H <= log M).
  rate_nats = np.maximum(log_m - entropy_i.mean(axis=1), 0.0)
  rate_bits = rate_nats / LN2
  out = {
      "beta": betas_np,
      "d_hat": d_hat_k,
      "rate_nats": rate_nats,
      "rate_bits": rate_bits,
      "neg_log_mgf": neg_log_mgf,
      "near_ceiling": rate_bits > math.log2(num_samples) - CEILING_MARGIN_BITS,
  }
  if scalar_beta:
    out = {name: (bool(v[0]) if v.dtype == bool else float(v[0])) for name, v in out.items()}
  out.update({
      "log2_M": math.log2(num_samples),
      "num_samples": int(num_samples),
      "num_points": n,
      "d_min_mean": float(dmin[vx].mean()),
      "d_mean": float(dsum[vx].mean() / num_samples),
  })
  return out


def solve_beta_chunked(x, sample_fn: SampleFn, key, target_distortion: float, num_samples: int, *,
                       beta_init: Optional[float] = None, beta_min: float = -1e4,
                       beta_max: float = -1e-6, grid_size: int = 5, log_tol: float = 0.03,
                       max_passes: int = 10, **chunk_kwargs):
  """Finds β̃* with D̂(β̃*) = D for a large M in chunks (constrained-mode evaluation).

  Each pass evaluates D̂ on a log-spaced grid of ``grid_size`` slopes in one chunked sweep
  (:func:`nerd_readouts_chunked`; all slopes share the generator and distance computation) and
  keeps the bracketing interval, until its width in log|β̃| is below ``log_tol`` (or
  ``max_passes``); the final β̃ is the log-linear interpolation inside that bracket, at which the
  read-outs are computed once more with the same atoms. ``beta_init`` (e.g. the last training β̃*)
  starts with the bracket [2β̃, β̃/2] (3 passes with the defaults instead of 5); if D is not inside
  it, the search falls back to [beta_min, beta_max].

  Returns the read-out dict of the final sweep plus ``target_d``, ``constraint_gap`` (D̂ − D) and
  ``beta_at_bound`` (True if D was outside [D̂(beta_min), D̂(beta_max)]).
  """
  if not (beta_min < beta_max < 0):
    raise ValueError(f"solve_beta_chunked needs beta_min < beta_max < 0, got {beta_min}, {beta_max}")
  if beta_init is not None and not beta_init < 0:
    raise ValueError(f"solve_beta_chunked: beta_init must be < 0, got {beta_init}")
  if chunk_kwargs.pop("jit_sampler", True):
    sample_fn = jax.jit(sample_fn, static_argnums=1)  # compile the generator once for all sweeps
  chunk_kwargs["jit_sampler"] = False
  u_min, u_max = math.log(-beta_max), math.log(-beta_min)  # log|β̃|; D̂ decreases in log|β̃|
  if beta_init is not None:
    u0 = math.log(-beta_init)
    lo, hi, local = max(u_min, u0 - LN2), min(u_max, u0 + LN2), True
  else:
    lo, hi, local = u_min, u_max, False
  at_bound = False
  beta_final = None
  done = 0
  while done < max_passes and hi - lo > log_tol:
    u = np.linspace(lo, hi, grid_size)
    res = nerd_readouts_chunked(x, sample_fn, key, -np.exp(u), num_samples, **chunk_kwargs)
    dh = np.asarray(res["d_hat"])
    above = dh > target_distortion
    if above.all() or not above.any():
      if local:  # D not bracketed by the local guess: search the full interval
        lo, hi, local = u_min, u_max, False
        continue
      lo = hi = (u[-1] if above.all() else u[0])
      at_bound = True
      break
    local = False
    done += 1
    j = int(np.argmin(above))  # first index with D̂ <= D; j >= 1
    lo, hi = u[j - 1], u[j]
    d_lo, d_hi = dh[j - 1], dh[j]
    frac = 0.0 if d_lo == d_hi else (d_lo - target_distortion) / (d_lo - d_hi)
    beta_final = -math.exp(lo + frac * (hi - lo))
  if at_bound or beta_final is None:
    beta_final = -math.exp(lo)
  res = nerd_readouts_chunked(x, sample_fn, key, beta_final, num_samples, **chunk_kwargs)
  res["target_d"] = float(target_distortion)
  res["constraint_gap"] = res["d_hat"] - float(target_distortion)
  res["beta_at_bound"] = bool(at_bound)
  return res
