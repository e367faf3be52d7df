"""Per-dimension affine precision wrapper for frozen encoders (lossyless paper §2.6, App. E.6).

A frozen encoder cannot rescale its output to choose the rounding precision, so two
parameters per dimension are learned around any rate model::

    z_in  = (z + b) · exp(s)                 # s = "scaling" (init 1, so ×e), b = "biasing" (init 0)
    z_hat = rate_model(z_in) / exp(s) - b     # dequantised back to the encoder's space

The likelihoods are those of ``z_in``'s quantisation (the rate does not change under the
invertible affine map of the bins). ``affine_forward`` / ``affine_inverse`` are shared with the
coder, which evaluates the same expressions with XLA on the CPU backend: XLA contracts
``(z + b)·exp(s) - offset`` into one FMA, so the coder must round that same expression (not a
separately rounded ``z_in``) to reproduce the module's eval-mode output bit for bit.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["AffinePrecision", "affine_forward", "affine_inverse"]


def affine_forward(z: jax.Array, scaling: jax.Array, biasing: jax.Array) -> jax.Array:
  """``(z + b) · exp(s)``."""
  return (z + biasing) * jnp.exp(scaling)


def affine_inverse(z_in: jax.Array, scaling: jax.Array, biasing: jax.Array) -> jax.Array:
  """``z_in / exp(s) - b``."""
  return z_in / jnp.exp(scaling) - biasing


class AffinePrecision(nn.Module):
  """Wraps ``rate_model`` (``EntropyBottleneck`` or ``VectorHyperprior``) with ``(z + b)·exp(s)``.

  ``__call__(z, train)`` returns ``(z_hat, likelihoods)`` with ``z_hat`` in the encoder's space.
  Params: ``scaling (d,)``, ``biasing (d,)`` and the wrapped model's under ``rate_model``.
  """

  rate_model: nn.Module

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> tuple[jax.Array, Any]:
    d = z.shape[-1]
    scaling = self.param("scaling", nn.initializers.ones, (d,), jnp.float32)
    biasing = self.param("biasing", nn.initializers.zeros, (d,), jnp.float32)
    z_hat_in, likelihoods = self.rate_model(affine_forward(z, scaling, biasing), train=train)
    return affine_inverse(z_hat_in, scaling, biasing), likelihoods

  def aux_loss(self) -> jax.Array:
    return self.rate_model.aux_loss()
