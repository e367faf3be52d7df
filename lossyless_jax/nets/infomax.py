"""Networks of noise-injected Deep InfoMax (Butakov et al., App. C, Table 2), Flax linen, NHWC.

- ``MnistConvNet``: Table 2's ConvNet for 24×24 images, three ``[Conv(3×3, valid) → MaxPool(2) →
  BatchNorm → LeakyReLU(0.01)]`` blocks (32, 64, 128 channels; 24 → 22 → 11 → 9 → 4 → 2 → 1), then
  ``Dense(128) → LeakyReLU(0.01) → Dense(dim)``.
- ``OutputNorm``: the normalisation of §3 before the noise: ``gauss`` is batch norm without affine
  parameters (E f = 0, Var f_i = 1, Thm 3.4), ``uniform`` a sigmoid (supp f ⊆ [0, 1]^d, Thm 3.5),
  ``uniform_pit`` Φ(BN(h)) (the probability integral transform of a standardised output, §3.3),
  ``none`` nothing.
- ``Embedding``: a trunk (any module ``(x, train) -> (N, k)``; the digits use `nets.mlp.MLP`), an
  optional projector head (SimCLR / VICReg), then ``OutputNorm``.
- ``PairCritic``: Table 2's critic ``Dense(2d, 256) → LeakyReLU → Dense(256, 256) → LeakyReLU →
  Dense(256, 1)`` on the concatenation [u; y], evaluated on all N×N pairs with the first layer split,
  ``W[u; y] + b = W_u u + W_y y + b``: the (N, N, 2d) concatenation is never formed.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from lossyless_jax.nets.mlp import kaiming_normal_fan_out, kaiming_uniform

__all__ = ["TARGETS", "MnistConvNet", "OutputNorm", "Embedding", "PairCritic"]

TARGETS = ("gauss", "uniform", "uniform_pit", "none")


def _dense(features, name, use_bias=True):
  return nn.Dense(features, kernel_init=kaiming_uniform, bias_init=nn.initializers.zeros, use_bias=use_bias,
                  name=name)


class MnistConvNet(nn.Module):
  """Table 2's ConvNet (24×24 grey images) up to ``Dense(128, dim)``; BatchNorm2d keeps its affine."""

  dim: int
  channels: Sequence[int] = (32, 64, 128)
  hidden: int = 128

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"expected NHWC images, got shape {tuple(x.shape)}")
    for i, c in enumerate(self.channels):
      x = nn.Conv(c, (3, 3), padding="VALID", kernel_init=kaiming_normal_fan_out, name=f"conv_{i}")(x)
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=f"bn_{i}")(x)
      x = nn.leaky_relu(x, 0.01)
    x = x.reshape(x.shape[0], -1)
    x = nn.leaky_relu(_dense(self.hidden, "dense_0")(x), 0.01)
    return _dense(self.dim, "out")(x)


class OutputNorm(nn.Module):
  """The target's normalisation (module docstring); batch statistics in training, running ones after."""

  target: str = "gauss"

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = False) -> jax.Array:
    if self.target not in TARGETS:
      raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
    if self.target == "none":
      return h
    if self.target == "uniform":
      return nn.sigmoid(h)
    z = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False, momentum=0.9, epsilon=1e-5,
                     name="bn")(h)
    return z if self.target == "gauss" else ndtr(z)


class Embedding(nn.Module):
  """``OutputNorm(head(trunk(x)))``: the normalised embedding f(x); ``head`` (a projector, optional) is
  the identity when None. ``features=True`` also returns the trunk's output (linear probes)."""

  trunk: nn.Module
  target: str = "gauss"
  head: nn.Module | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, features: bool = False):
    h = self.trunk(x, train=train)
    g = h if self.head is None else self.head(h, train=train)
    f = OutputNorm(self.target, name="norm")(g, train)
    return (h, f) if features else f


class PairCritic(nn.Module):
  """T(u_i, y_j) for every pair: (N, d) × (M, d) -> (N, M), LeakyReLU(0.01) MLP with a split first layer."""

  hidden: Sequence[int] = (256, 256)

  @nn.compact
  def __call__(self, u: jax.Array, y: jax.Array) -> jax.Array:
    if not self.hidden:
      raise ValueError("PairCritic needs at least one hidden layer")
    a = _dense(self.hidden[0], "first_u", use_bias=False)(u)  # W_u u
    b = _dense(self.hidden[0], "first_y")(y)  # W_y y + b
    h = nn.leaky_relu(a[:, None, :] + b[None, :, :], 0.01)
    for i, width in enumerate(self.hidden[1:]):
      h = nn.leaky_relu(_dense(width, f"dense_{i + 1}")(h), 0.01)
    return _dense(1, "out")(h)[..., 0]

  def concatenated(self, params, u: jax.Array, y: jax.Array) -> jax.Array:
    """T on row-aligned pairs (N, d) × (N, d) -> (N,) through the unsplit Dense(2d, ·) on [u; y]: the
    reference form of Table 2 (tests)."""
    w = jnp.concatenate([params["first_u"]["kernel"], params["first_y"]["kernel"]], axis=0)
    h = nn.leaky_relu(jnp.concatenate([u, y], -1) @ w + params["first_y"]["bias"], 0.01)
    for i in range(1, len(self.hidden)):
      p = params[f"dense_{i}"]
      h = nn.leaky_relu(h @ p["kernel"] + p["bias"], 0.01)
    return (h @ params["out"]["kernel"] + params["out"]["bias"])[..., 0]
