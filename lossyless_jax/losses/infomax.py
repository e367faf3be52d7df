"""Noise-injected Deep InfoMax: MI bounds over the full N×N critic matrix, noise, capacities, T*.

"Efficient Distribution Matching of Representations via Noise-Injected Deep InfoMax" (Butakov et
al.), §3: the clean view's normalised embedding f(X) gets independent noise Z (only that branch, fresh
each step) and the objective is I(f(X'); f(X) + Z), estimated with a critic T over every pair of the
global batch, ``T[i, j] = T(u_i, y_j)`` with ``u = f(X')`` (augmented view) and ``y = f(X) + Z``:

- InfoNCE (§4; the paper's estimator of (2)): ``mean_i [T_ii − log Σ_j e^{T_ij}] + log N`` nats, the
  positive inside the sum (CPC form), so the estimate never exceeds log N;
- DV, Eq. (2): ``mean_i T_ii − log mean_{i≠j} e^{T_ij}`` (off-diagonal pairs as P_X ⊗ P_Y samples);
- NWJ, Eq. (3): ``mean_i T_ii − mean_{i≠j} e^{T_ij − 1}``.

Capacities: Gaussian Z ~ N(0, σ²I) on a unit-variance f gives Eq. (5), C(σ) = d/2·log(1 + 1/σ²) (Thm
3.4); uniform Z ~ U[−ε, ε]^d on f ∈ [0, 1]^d gives Eq. (6), C(ε) = d·log(1 + 1/(2ε)) (Thm 3.5), and the
continuous uniform f reaches only d(ε − log 2ε) (Remark 3.6). Thm 4.1's closed-form critic is
``T*(x, y) = ‖y‖²/(2(1 + σ²)) − ‖y − x‖²/(2σ²)``, optimal iff f(X) ~ N(0, I) and f is weakly invariant.

Pure functions written for one device on the global batch: under `jax.jit` with the rows sharded
over a mesh, XLA gathers the N×N matrix of the whole batch (tested on 8 devices).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["BOUNDS", "NOISES", "capacity_gaussian", "sigma_for_capacity", "capacity_uniform", "epsilon_for_capacity",
           "uniform_continuous_mi", "noise_capacity", "inject_noise", "gaussian_critic", "mi_bound"]

BOUNDS = ("infonce", "dv", "nwj")
NOISES = ("gaussian", "uniform")
_HIGHEST = jax.lax.Precision.HIGHEST


def capacity_gaussian(sigma: float, dim: int) -> float:
  """Eq. (5): C(σ) = d/2·log(1 + 1/σ²) nats; infinite for σ = 0 (no noise)."""
  if sigma < 0:
    raise ValueError(f"sigma must be >= 0, got {sigma}")
  return math.inf if sigma == 0 else 0.5 * dim * math.log1p(1.0 / sigma ** 2)


def sigma_for_capacity(capacity: float, dim: int) -> float:
  """The σ of capacity C: (e^{2C/d} − 1)^{−1/2}."""
  if capacity <= 0:
    raise ValueError(f"capacity must be > 0 nats, got {capacity}")
  return 1.0 / math.sqrt(math.expm1(2.0 * capacity / dim))


def capacity_uniform(epsilon: float, dim: int) -> float:
  """Eq. (6): C(ε) = d·log(1 + 1/(2ε)) nats; infinite for ε = 0."""
  if epsilon < 0:
    raise ValueError(f"epsilon must be >= 0, got {epsilon}")
  return math.inf if epsilon == 0 else dim * math.log1p(1.0 / (2.0 * epsilon))


def epsilon_for_capacity(capacity: float, dim: int) -> float:
  """The ε of capacity C: 1 / (2(e^{C/d} − 1))."""
  if capacity <= 0:
    raise ValueError(f"capacity must be > 0 nats, got {capacity}")
  return 0.5 / math.expm1(capacity / dim)


def uniform_continuous_mi(epsilon: float, dim: int) -> float:
  """Remark 3.6: I(f(X'); f(X) + Z) = d(ε − log 2ε) for f(X) ~ U[0, 1]^d, weakly invariant f, ε < 1/2."""
  if not 0 < epsilon < 0.5:
    raise ValueError(f"Remark 3.6 needs 0 < epsilon < 1/2, got {epsilon}")
  return dim * (epsilon - math.log(2.0 * epsilon))


def noise_capacity(noise: str, scale: float, dim: int) -> float:
  """C of `noise` ('gaussian': σ, 'uniform': ε) at `scale` for a d-dimensional embedding."""
  if noise not in NOISES:
    raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
  return capacity_gaussian(scale, dim) if noise == "gaussian" else capacity_uniform(scale, dim)


def inject_noise(key: jax.Array, y: jax.Array, noise: str, scale: float) -> jax.Array:
  """``y + Z`` with Z ~ N(0, σ²I) ('gaussian', σ = scale) or U[−ε, ε]^d ('uniform', ε = scale); ``y`` if 0."""
  if noise not in NOISES:
    raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
  if scale == 0:
    return y
  if noise == "gaussian":
    return y + scale * jax.random.normal(key, y.shape, y.dtype)
  return y + jax.random.uniform(key, y.shape, y.dtype, -scale, scale)


def gaussian_critic(u: jax.Array, y: jax.Array, sigma: float) -> jax.Array:
  """Thm 4.1's T*(u_i, y_j) for every pair, (N, d) × (N, d) -> (N, N): one matmul,
  ``(⟨u_i, y_j⟩ − ‖u_i‖²/2 − ‖y_j‖²/(2(1 + σ²))) / σ²``."""
  if sigma <= 0:
    raise ValueError(f"the closed-form critic needs sigma > 0, got {sigma}")
  u, y = u.astype(jnp.float32), y.astype(jnp.float32)
  dot = jnp.matmul(u, y.T, precision=_HIGHEST)
  uu = jnp.sum(u * u, -1)[:, None]
  yy = jnp.sum(y * y, -1)[None, :]
  return (dot - 0.5 * uu - 0.5 * yy / (1.0 + sigma ** 2)) / sigma ** 2


def mi_bound(scores: jax.Array, bound: str = "infonce", mask: jax.Array | None = None) -> jax.Array:
  """The MI lower bound in nats of an (N, N) critic matrix whose diagonal holds the positive pairs.

  ``mask`` (N,) of 0/1 drops padded rows and columns (an evaluation batch): N is then its sum.
  The loss is the negative bound.
  """
  if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
    raise ValueError(f"scores must be a square (N, N) matrix, got {scores.shape}")
  if bound not in BOUNDS:
    raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
  n = scores.shape[0]
  m = jnp.ones((n,), jnp.float32) if mask is None else mask.astype(jnp.float32)
  count = jnp.sum(m)
  pair = m[:, None] * m[None, :]
  diag = jnp.diagonal(scores)
  joint = jnp.sum(m * diag) / count
  if bound == "infonce":
    # Per row log N − LSE_j(T_ij − T_ii) = −log mean_j e^{T_ij − T_ii}, then the mean over rows:
    # adding log N to the mean of diag − LSE instead would round at the magnitude of log N and
    # leave an error of one float32 ulp of log N (~5e-7 nats at N = 64) in a bound near 0.
    lse = jax.nn.logsumexp(jnp.where(pair > 0, scores - diag[:, None], -jnp.inf), axis=1)
    return jnp.sum(m * jnp.where(m > 0, jnp.log(count) - lse, 0.0)) / count
  off = pair * (1.0 - jnp.eye(n))
  pairs = jnp.sum(off)
  if bound == "dv":
    lse = jax.nn.logsumexp(jnp.where(off > 0, scores, -jnp.inf))
    return joint - (lse - jnp.log(pairs))
  return joint - jnp.sum(off * jnp.exp(jnp.where(off > 0, scores, 0.0) - 1.0)) / pairs
