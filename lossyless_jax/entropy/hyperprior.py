"""Vector scale-mean hyperprior of the lossyless paper (§3.2; Ballé et al. 2018, Minnen et al. 2018).

For a latent vector ``z`` of dimension ``d``:

1. side information ``s = h_a(z)`` with ``side_dim = max(10, d // 5)``;
2. ``s_tilde, p_s = factorized(s)`` (``EntropyBottleneck`` over the side channels);
3. ``scales, means = split(h_s(s_tilde))`` (scales first);
4. ``z_tilde, p_z = GaussianConditional(z, scales, means)``;
5. rate ``= -Σ log p_s - Σ log p_z`` (nats).

``h_a`` and ``h_s`` are MLPs with 2 hidden layers of width ``max(d, 256)``, ReLU, no norm.
The MLP is a pure function of its parameters (:func:`mlp_apply`), which the coder reuses
on the CPU backend, so decoding needs only these weights (copied into the coding tables).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.entropy.factorized import EntropyBottleneck
from lossyless_jax.entropy.gaussian import SCALE_BOUND, GaussianConditional

__all__ = ["MLP", "mlp_apply", "VectorHyperprior", "default_side_dim", "default_hidden"]


def default_side_dim(dim: int) -> int:
  """``max(10, d // 5)`` (lossyless repo, ``factor_dim=5``)."""
  return max(10, dim // 5)


def default_hidden(dim: int) -> int:
  """``max(d, 256)``."""
  return max(dim, 256)


def mlp_apply(params: Mapping[str, Any], x: jax.Array) -> jax.Array:
  """``dense_0 -> relu -> ... -> dense_n`` on the last axis; params ``dense_i/{kernel,bias}``."""
  n = 0
  while f"dense_{n}" in params:
    n += 1
  if n == 0:
    raise ValueError(f"not MLP params: no 'dense_0' key (keys: {sorted(params)})")
  for i in range(n):
    layer = params[f"dense_{i}"]
    x = jnp.matmul(x, layer["kernel"]) + layer["bias"]
    if i < n - 1:
      x = jax.nn.relu(x)
  return x


class _DenseParams(nn.Module):
  """Declares ``kernel (fan_in, features)`` and ``bias (features,)``; returns them."""

  features: int

  @nn.compact
  def __call__(self, fan_in: int) -> dict[str, jax.Array]:
    return {
      "kernel": self.param("kernel", nn.initializers.lecun_normal(), (fan_in, self.features), jnp.float32),
      "bias": self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32),
    }


class MLP(nn.Module):
  """Dense layers of widths ``features`` with ReLU between them (none after the last).

  Params ``dense_i/{kernel, bias}``; the forward pass is :func:`mlp_apply`.
  """

  features: Sequence[int]

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    params = {}
    fan_in = x.shape[-1]
    for i, width in enumerate(self.features):
      params[f"dense_{i}"] = _DenseParams(width, name=f"dense_{i}")(fan_in)
      fan_in = width
    return mlp_apply(params, x)


class VectorHyperprior(nn.Module):
  """Scale-mean hyperprior over vectors ``(..., dim)``.

  ``__call__(z, train)`` returns ``(z_tilde_or_hat, {"z": p_z, "side": p_s})`` (per-element
  likelihoods). Training needs ``rngs={"noise": key}`` (noise on ``z`` and on the side).
  """

  dim: int
  side_dim: int | None = None
  hidden: int | None = None
  scale_bound: float = SCALE_BOUND
  likelihood_bound: float = 1e-9
  tail_mass: float = 1e-9
  train_quantization: str = "noise"

  def setup(self):
    side_dim = self.side_dim or default_side_dim(self.dim)
    hidden = self.hidden or default_hidden(self.dim)
    self.h_a = MLP((hidden, hidden, side_dim))
    self.h_s = MLP((hidden, hidden, 2 * self.dim))
    self.side_density = EntropyBottleneck(
      side_dim,
      tail_mass=self.tail_mass,
      likelihood_bound=self.likelihood_bound,
      train_quantization=self.train_quantization,
    )
    self.conditional = GaussianConditional(self.scale_bound, self.likelihood_bound, self.train_quantization)

  def hyper_analysis(self, z: jax.Array) -> jax.Array:
    return self.h_a(z)

  def hyper_synthesis(self, side_hat: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(scales, means)``: the two halves of ``h_s(side_hat)``, scales first."""
    out = self.h_s(side_hat)
    return out[..., : self.dim], out[..., self.dim :]

  def __call__(self, z: jax.Array, train: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
    if z.shape[-1] != self.dim:
      raise ValueError(f"VectorHyperprior expects dim={self.dim} on the last axis, got input shape {z.shape}")
    side = self.hyper_analysis(z)
    side_hat, p_side = self.side_density(side, train=train)
    scales, means = self.hyper_synthesis(side_hat)
    z_hat, p_z = self.conditional(z, scales, means, train=train)
    return z_hat, {"z": p_z, "side": p_side}

  def aux_loss(self) -> jax.Array:
    return self.side_density.aux_loss()
