"""Quantization ops for learned compression: noise, rounding, straight-through, LowerBound.

Training with additive uniform noise stands in for rounding (Ballé et al. 2017, Sec. 2):
``y_tilde = y + u``, ``u ~ U(-1/2, 1/2)``. At evaluation the latent is rounded around an
offset (the median of a factorized density, or the predicted mean of a Gaussian
conditional): ``y_hat = round(y - offset) + offset`` (CompressAI's "dequantize" mode).
Straight-through rounding (Theis et al. 2017) uses the rounded value forward and the
identity backward. The Gray-Wyner codecs round half toward zero (``0.5 -> 0``,
``1.5 -> 1``, ``-1.5 -> -1``), not half to even as ``jnp.round`` does.

``lower_bound`` is CompressAI's ``LowerBound``: forward ``max(x, b)``; backward the
gradient passes where ``x >= b`` or where the incoming gradient ``g < 0`` (i.e. where a
gradient-descent step would push ``x`` up, back above the bound).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
  "MODES",
  "quantize",
  "add_uniform_noise",
  "round_around",
  "ste_round",
  "ste_round_around",
  "round_half_toward_zero",
  "ste_round_half_toward_zero",
  "lower_bound",
]


def add_uniform_noise(x: jax.Array, key: jax.Array) -> jax.Array:
  """``x + u`` with ``u ~ U(-1/2, 1/2)`` i.i.d. (training proxy for rounding)."""
  u = jax.random.uniform(key, jnp.shape(x), dtype=jnp.result_type(x, jnp.float32), minval=-0.5, maxval=0.5)
  return x + u


def round_around(x: jax.Array, offset: jax.Array | float = 0.0) -> jax.Array:
  """``round(x - offset) + offset`` (round half to even); no gradient (eval mode)."""
  return jnp.round(x - offset) + offset


def ste_round(x: jax.Array) -> jax.Array:
  """Straight-through rounding: forward ``round(x)``, backward identity."""
  return x + jax.lax.stop_gradient(jnp.round(x) - x)


def ste_round_around(x: jax.Array, offset: jax.Array | float = 0.0) -> jax.Array:
  """Straight-through ``round(x - offset) + offset`` (identity gradient w.r.t. ``x``)."""
  return x + jax.lax.stop_gradient(round_around(x, offset) - x)


def round_half_toward_zero(x: jax.Array) -> jax.Array:
  """``sign(x) * ceil(|x| - 1/2)``: ties go toward zero (0.5 -> 0, -1.5 -> -1)."""
  return jnp.sign(x) * jnp.ceil(jnp.abs(x) - 0.5)


def ste_round_half_toward_zero(x: jax.Array) -> jax.Array:
  """Straight-through round-half-toward-zero (Gray-Wyner codecs, train and eval).

  The forward value is an exact integer: ``rnd(x) - x`` is exact (Sterbenz) so the sum is.
  """
  return x + jax.lax.stop_gradient(round_half_toward_zero(x) - x)


MODES = ("noise", "ste", "round", "ste_half_toward_zero")


def quantize(x: jax.Array, mode: str, offset: jax.Array | float = 0.0, key: jax.Array | None = None) -> jax.Array:
  """The one quantizer of every entropy model: ``mode`` is

  * ``"noise"``: ``x + U(-1/2, 1/2)`` (training; needs ``key``);
  * ``"ste"``: straight-through ``round(x - offset) + offset`` (training);
  * ``"round"``: ``round(x - offset) + offset`` (evaluation and coding);
  * ``"ste_half_toward_zero"``: straight-through round half toward zero around ``offset``
    (the Gray-Wyner codecs, training and evaluation).
  """
  if mode == "noise":
    if key is None:
      raise ValueError("quantize(mode='noise') needs a PRNG key")
    return add_uniform_noise(x, key)
  if mode == "ste":
    return ste_round_around(x, offset)
  if mode == "round":
    return round_around(x, offset)
  if mode == "ste_half_toward_zero":
    return ste_round_half_toward_zero(x - offset) + offset
  raise ValueError(f"quantization mode must be one of {', '.join(MODES)}, got {mode!r}")


@jax.custom_vjp
def _lower_bound(x, bound):
  return jnp.maximum(x, bound)


def _lower_bound_fwd(x, bound):
  return jnp.maximum(x, bound), (x, bound)


def _lower_bound_bwd(res, g):
  x, bound = res
  pass_through = (x >= bound) | (g < 0)
  return jnp.where(pass_through, g, jnp.zeros_like(g)), jnp.zeros_like(bound)


_lower_bound.defvjp(_lower_bound_fwd, _lower_bound_bwd)


def lower_bound(x: jax.Array, bound: float) -> jax.Array:
  """CompressAI ``LowerBound``: ``max(x, bound)`` with the straight-through gradient rule.

  Gradient w.r.t. ``x`` is ``g`` where ``x >= bound`` or ``g < 0``, else 0.
  """
  x = jnp.asarray(x)
  return _lower_bound(x, jnp.asarray(bound, dtype=x.dtype))
