"""VICReg (Bardes, Ponce, LeCun, ICLR 2022): invariance, variance and covariance terms of two views.

``λ·s(z, z') + μ·(v(z) + v(z'))/2 + ν·(c(z) + c(z'))`` with s the mean squared error, v the hinge
``mean_j max(0, γ − sqrt(Var z_j + ε))`` (γ = 1, ε = 1e-4) and c the sum of squared off-diagonal
covariances over d; the standard coefficients (λ, μ, ν) = (25, 25, 1). The noise-injected DIM paper
(§4, Table 1) adds noise to one branch before this loss. A pure function on the global batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["vicreg"]


def _variance(z, eps):
  return jnp.mean(jax.nn.relu(1.0 - jnp.sqrt(jnp.var(z, axis=0, ddof=1) + eps)))


def _covariance(z):
  n, d = z.shape
  zc = z - jnp.mean(z, axis=0)
  cov = jnp.matmul(zc.T, zc, precision=jax.lax.Precision.HIGHEST) / (n - 1)
  return (jnp.sum(cov ** 2) - jnp.sum(jnp.diagonal(cov) ** 2)) / d


def vicreg(z1: jax.Array, z2: jax.Array, sim_coef: float = 25.0, var_coef: float = 25.0, cov_coef: float = 1.0,
           eps: float = 1e-4) -> tuple[jax.Array, dict]:
  """(loss, metrics) of (N, d) embeddings of two views; metrics: ``invariance``, ``variance``, ``covariance``."""
  if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
    raise ValueError(f"z1 and z2 must both be (N >= 2, d) with equal shapes, got {z1.shape} and {z2.shape}")
  z1, z2 = z1.astype(jnp.float32), z2.astype(jnp.float32)
  inv = jnp.mean(jnp.square(z1 - z2))
  var = 0.5 * (_variance(z1, eps) + _variance(z2, eps))
  cov = _covariance(z1) + _covariance(z2)
  loss = sim_coef * inv + var_coef * var + cov_coef * cov
  return loss, {"invariance": inv, "variance": var, "covariance": cov}
