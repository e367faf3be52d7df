"""Gaussian conditional (mean-scale) entropy model and its scale table.

Likelihood of a latent ``y`` given a predicted mean ``μ`` and scale ``σ`` (Ballé et al. 2018,
Minnen et al. 2018; CompressAI ``GaussianConditional``), with ``v = |y - μ|`` and
``σ' = LowerBound(σ, 0.11)``::

    p(y) = LowerBound( Φ((1/2 - v) / σ') - Φ((-1/2 - v) / σ'), 1e-9 ),   Φ(x) = erfc(-x/√2) / 2

Using ``|y - μ|`` keeps both CDF arguments in the accurate lower tail.

For coding, scales are mapped to a fixed *scale table* (CompressAI's default is
``exp(linspace(log 0.11, log 256, 64))``, the lossyless paper §3.2). Each scale goes to the
table entry that minimises KL(N(0, σ²) ‖ N(0, σ_i²)): the boundary between neighbours
``σ_i < σ_j`` is ``σ* = σ_i σ_j sqrt(2 log(σ_j/σ_i) / (σ_j² - σ_i²))``. The mapping uses only
comparisons against stored float64 boundaries, so it is identical on every machine for
identical scales.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import scipy.special as sps

from lossyless_jax.entropy.quantization import lower_bound, quantize

__all__ = [
  "SCALE_BOUND",
  "standard_normal_cdf",
  "gaussian_bin_probabilities",
  "gaussian_likelihood",
  "make_scale_table",
  "scale_boundaries",
  "scale_to_index",
  "GaussianConditional",
]

SCALE_BOUND = 0.11


def standard_normal_cdf(x, xp=jnp):
  """Φ(x) = erfc(-x / √2) / 2 (accurate in the lower tail)."""
  erfc = jsp.erfc if xp is jnp else sps.erfc
  return 0.5 * erfc(-x * (1.0 / math.sqrt(2.0)))


def gaussian_bin_probabilities(y, scales, means=None, *, scale_bound: float = SCALE_BOUND, xp=jnp):
  """Unfloored unit-bin mass ``Φ((1/2 - v)/σ') - Φ((-1/2 - v)/σ')``, ``v = |y - μ|``.

  With ``xp=jnp`` the scale floor uses LowerBound's gradient rule; with ``xp=np`` it is a
  plain ``maximum`` (float64 table building).
  """
  v = xp.abs(y - means) if means is not None else xp.abs(y)
  if xp is jnp:
    s = lower_bound(jnp.asarray(scales, v.dtype), scale_bound)
  else:
    s = np.maximum(scales, scale_bound)
  return standard_normal_cdf((0.5 - v) / s, xp) - standard_normal_cdf((-0.5 - v) / s, xp)


def gaussian_likelihood(
  y: jax.Array,
  scales: jax.Array,
  means: jax.Array | None = None,
  *,
  scale_bound: float = SCALE_BOUND,
  likelihood_bound: float = 1e-9,
) -> jax.Array:
  """``p(y | μ, σ)`` per element, floored at ``likelihood_bound`` (LowerBound rule)."""
  p = gaussian_bin_probabilities(y, scales, means, scale_bound=scale_bound)
  return lower_bound(p, likelihood_bound) if likelihood_bound > 0 else p


def make_scale_table(scale_min: float = SCALE_BOUND, scale_max: float = 256.0, num_scales: int = 64) -> np.ndarray:
  """``exp(linspace(log scale_min, log scale_max, num_scales))`` in float64."""
  if not (0 < scale_min < scale_max) or num_scales < 2:
    raise ValueError(f"need 0 < scale_min < scale_max and num_scales >= 2, got {scale_min}, {scale_max}, {num_scales}")
  if num_scales > 255:
    raise ValueError(f"num_scales must be <= 255 (indices are coded as uint8), got {num_scales}")
  return np.exp(np.linspace(math.log(scale_min), math.log(scale_max), num_scales))


def scale_boundaries(table: np.ndarray) -> np.ndarray:
  """KL-optimal decision boundaries between consecutive table scales (float64, len-1)."""
  t = np.asarray(table, np.float64)
  if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
    raise ValueError("scale table must be a strictly increasing 1-D array of >= 2 scales")
  a, b = t[:-1], t[1:]
  return a * b * np.sqrt(2.0 * np.log(b / a) / (b * b - a * a))


_LUT_CACHE: dict[bytes, tuple[np.ndarray, np.ndarray] | None] = {}


def _float32_lut(b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
  """Lookup tables on the top 16 bits of a float32 scale (sign, exponent, 7 mantissa bits).

  ``index = base[h] + (bits >= threshold[h])`` with ``h = bits >> 16``; ``threshold`` is the
  bit pattern of the smallest float32 ``>= boundary`` for the (at most one) boundary inside
  bucket ``h``. Integer-only, hence exact. ``None`` if a bucket holds two boundaries.
  """
  key = b.tobytes()
  if key in _LUT_CACHE:
    return _LUT_CACHE[key]
  up = b.astype(np.float32)
  up = np.where(up.astype(np.float64) < b, np.nextafter(up, np.float32(np.inf)), up)
  tbits = up.astype(np.float32).view(np.uint32).astype(np.int64)
  lut = None
  if np.all(b > 0) and np.all(np.isfinite(up)):
    starts = np.arange(1 << 15, dtype=np.int64) << 16
    base = np.zeros(1 << 16, np.uint8)
    base[: 1 << 15] = np.searchsorted(tbits, starts, side="right")
    threshold = np.full(1 << 16, 0xFFFFFFFF, np.uint32)
    inner = tbits[(tbits & 0xFFFF) != 0]
    buckets = inner >> 16
    if np.unique(buckets).size == buckets.size:
      threshold[buckets] = inner.astype(np.uint32)
      lut = (base, threshold)
  _LUT_CACHE[key] = lut
  return lut


def scale_to_index(scales, boundaries: np.ndarray) -> np.ndarray:
  """Table index of each scale: the number of boundaries ``<= scale`` (uint8).

  Equals ``np.searchsorted(boundaries, scales, side="right")`` (comparisons only, so it is
  the same on every machine); float32 scales take an exact integer lookup-table path.
  Non-finite scales raise ``ValueError``; scales below the table go to entry 0, above it to
  the last.
  """
  s = np.asarray(scales)
  b = np.ascontiguousarray(boundaries, np.float64)
  if b.ndim != 1 or b.size > 254:
    raise ValueError(f"boundaries must be 1-D with at most 254 entries, got {b.shape}")
  if not np.all(np.isfinite(s)):
    raise ValueError("scales must be finite (got NaN or inf from the hyper-synthesis)")
  lut = _float32_lut(b) if (s.dtype == np.float32 and b.size) else None
  if lut is None:
    return np.searchsorted(b, s, side="right").astype(np.uint8)
  base, threshold = lut
  bits = np.ascontiguousarray(s).view(np.uint32)
  h = bits >> 16
  return base[h] + (bits >= threshold[h])


class GaussianConditional(nn.Module):
  """Mean-scale Gaussian conditional; no parameters of its own.

  ``__call__(z, scales, means=None, train=False)`` returns ``(z_tilde_or_hat, likelihoods)``:
  ``z + U(-1/2, 1/2)`` in training (``rngs={"noise": key}``; or straight-through rounding
  around the means with ``train_quantization="ste"``), ``round(z - μ) + μ`` at evaluation.
  """

  scale_bound: float = SCALE_BOUND
  likelihood_bound: float = 1e-9
  train_quantization: str = "noise"

  @nn.compact
  def __call__(
    self, z: jax.Array, scales: jax.Array, means: jax.Array | None = None, train: bool = False
  ) -> tuple[jax.Array, jax.Array]:
    z = jnp.asarray(z, jnp.promote_types(z.dtype, jnp.float32))  # entropy models in >= fp32
    scales = jnp.asarray(scales, z.dtype)
    means = None if means is None else jnp.asarray(means, z.dtype)
    offset = jnp.zeros_like(z) if means is None else jax.lax.stop_gradient(means)
    mode = self.train_quantization if train else "round"
    y = quantize(z, mode, offset, self.make_rng("noise") if mode == "noise" else None)
    lik = gaussian_likelihood(y, scales, means, scale_bound=self.scale_bound, likelihood_bound=self.likelihood_bound)
    return y, lik
