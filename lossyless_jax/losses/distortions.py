"""Pairwise distortion matrices d(x_i, y_j) for rate–distortion estimation (NERD, BA, RCC).

Every function here maps a batch of source samples ``x`` with shape ``(B, ...)`` and a batch of
reproductions ``y`` with shape ``(M, ...)`` (same trailing shape) to the ``(B, M)`` matrix
``d[i, j] = d(x_i, y_j)``. Trailing dimensions are flattened, and the distortion is **summed** over
coordinates (per-sample sum, never a per-coordinate mean), which is the normalisation of the NERD
paper (Lei et al., §IV: ``||x - y||_2^2`` summed over all pixels; MNIST D_max ≈ 55).

All functions are differentiable in both arguments (subgradient 0 at kinks) and pure.

Available distortions (``get_distortion(name)``):

* ``"squared_error"`` / ``"mse"`` — ``||x - y||_2^2`` via ``|x|^2 + |y|^2 - 2 x·y`` clamped at 0
  (O(B·M) memory besides inputs; one matmul).
* ``"squared_error_direct"`` — same value through explicit differences, (B, M, m) memory; more
  accurate in float32 when ``|x|^2`` is large compared with the distance.
* ``"l1"`` / ``"absolute_error"`` — ``||x - y||_1``.
* ``"lp_squared"`` — ``||x - y||_p^2`` (paper §IV-F, eq. (24)), needs ``p``.
* ``"hamming_relaxed"`` — ``sum_k x_k (1 - y_k) + (1 - x_k) y_k`` for ``x ∈ {0,1}^m``,
  ``y ∈ [0,1]^m``. For binary ``y`` this is the Hamming distance; it is linear in ``y``, so
  randomised rounding of ``y`` keeps the expected distortion and the rate–distortion function
  equals the Hamming one (NERD paper §IV). Computed with one matmul.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax.numpy as jnp

__all__ = [
    "squared_error",
    "squared_error_direct",
    "l1",
    "lp_squared",
    "hamming_relaxed",
    "get_distortion",
]

DistortionFn = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]


def _flatten_pair(x, y):
  x = jnp.asarray(x)
  y = jnp.asarray(y)
  if x.ndim < 1 or y.ndim < 1:
    raise ValueError(
        f"distortion expects batched inputs x (B, ...) and y (M, ...); got shapes {x.shape} and {y.shape}")
  if x.ndim == 1:
    x = x[:, None]
  if y.ndim == 1:
    y = y[:, None]
  if x.shape[1:] != y.shape[1:]:
    raise ValueError(
        f"distortion: trailing shapes of x {x.shape} and y {y.shape} differ; expected x (B, *S), y (M, *S)")
  return x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)


def squared_error(x, y):
  """Pairwise ``||x_i - y_j||_2^2`` summed over coordinates, (B, M); expansion form, clamped at 0."""
  x, y = _flatten_pair(x, y)
  dtype = jnp.result_type(x.dtype, y.dtype)
  x = x.astype(dtype)
  y = y.astype(dtype)
  xx = jnp.sum(x * x, axis=1)[:, None]
  yy = jnp.sum(y * y, axis=1)[None, :]
  # (−2x)·yᵀ is exactly −2(x·yᵀ), without a (B, M) matrix of 2s that XLA's CPU backend fills
  minus_two_xy = jnp.matmul(-2.0 * x, y.T, precision="highest")
  return jnp.maximum(xx + yy + minus_two_xy, 0.0)


def squared_error_direct(x, y):
  """Pairwise ``||x_i - y_j||_2^2`` through explicit differences, (B, M); (B, M, m) memory."""
  x, y = _flatten_pair(x, y)
  diff = x[:, None, :] - y[None, :, :]
  return jnp.sum(diff * diff, axis=-1)


def l1(x, y):
  """Pairwise ``||x_i - y_j||_1`` summed over coordinates, (B, M)."""
  x, y = _flatten_pair(x, y)
  return jnp.sum(jnp.abs(x[:, None, :] - y[None, :, :]), axis=-1)


def lp_squared(x, y, p: float = 2.0):
  """Pairwise ``||x_i - y_j||_p^2 = (sum_k |x_ik - y_jk|^p)^(2/p)``, (B, M) (paper eq. (24)).

  Safe gradient at ``x_i = y_j`` (value 0, gradient 0) for every ``p >= 1``.
  """
  if not p >= 1.0:
    raise ValueError(f"lp_squared: p must be >= 1, got p={p}")
  if p == 2.0:
    return squared_error(x, y)
  x, y = _flatten_pair(x, y)
  s = jnp.sum(jnp.abs(x[:, None, :] - y[None, :, :]) ** p, axis=-1)
  positive = s > 0
  safe = jnp.where(positive, s, 1.0)
  return jnp.where(positive, safe ** (2.0 / p), 0.0)


def hamming_relaxed(x, y):
  """Pairwise relaxed Hamming ``sum_k x_k(1-y_k) + (1-x_k) y_k``, (B, M); = Hamming for binary y."""
  x, y = _flatten_pair(x, y)
  dtype = jnp.result_type(x.dtype, y.dtype)
  x = x.astype(dtype)
  y = y.astype(dtype)
  sx = jnp.sum(x, axis=1)[:, None]
  sy = jnp.sum(y, axis=1)[None, :]
  return sx + sy - 2.0 * jnp.matmul(x, y.T, precision="highest")


_REGISTRY = {
    "squared_error": squared_error,
    "mse": squared_error,
    "l2_squared": squared_error,
    "squared_error_direct": squared_error_direct,
    "l1": l1,
    "absolute_error": l1,
    "lp_squared": lp_squared,
    "hamming_relaxed": hamming_relaxed,
    "hamming": hamming_relaxed,
}


def get_distortion(name, **kwargs) -> DistortionFn:
  """Returns the pairwise distortion ``(x (B,...), y (M,...)) -> (B, M)`` registered as ``name``.

  ``name`` may also be a callable, which is returned unchanged. ``kwargs`` are bound (e.g. ``p=3``
  for ``"lp_squared"``).
  """
  if callable(name):
    if kwargs:
      return functools.partial(name, **kwargs)
    return name
  if name not in _REGISTRY:
    raise ValueError(f"unknown distortion {name!r}; expected one of {sorted(_REGISTRY)} or a callable")
  fn = _REGISTRY[name]
  if name == "lp_squared" and "p" not in kwargs:
    raise ValueError("distortion 'lp_squared' needs the exponent p, e.g. get_distortion('lp_squared', p=3)")
  return functools.partial(fn, **kwargs) if kwargs else fn
