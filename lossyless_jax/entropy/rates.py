"""Rates from likelihoods: nats inside losses, bits in reports.

``rate_nats(likelihoods)`` is ``-Σ log p`` per example (all axes but the leading batch axis
summed); ``likelihoods`` may be one array or any pytree of arrays (e.g. the hyperprior's
``{"z": p_z, "side": p_s}``), whose rates add up.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["rate_nats", "nats_to_bits", "bits_to_nats", "rate_bits"]

LOG2 = math.log(2.0)


def rate_nats(likelihoods: Any, batch_axes: int = 1) -> jax.Array:
  """Per-example rate ``-Σ log p`` in nats; sums every axis after the first ``batch_axes``."""

  def one(p):
    logp = jnp.log(p)
    return -jnp.sum(logp, axis=tuple(range(batch_axes, logp.ndim)))

  leaves = jax.tree_util.tree_leaves(likelihoods)
  if not leaves:
    raise ValueError("rate_nats got no likelihood arrays")
  return sum(one(p) for p in leaves)


def nats_to_bits(x):
  """nats -> bits (÷ ln 2)."""
  return x / LOG2


def bits_to_nats(x):
  """bits -> nats (× ln 2)."""
  return x * LOG2


def rate_bits(likelihoods: Any, batch_axes: int = 1) -> jax.Array:
  """Per-example rate in bits (for reports)."""
  return nats_to_bits(rate_nats(likelihoods, batch_axes))
