"""``config.precision``: float32 (default), or bfloat16 compute with float32 parameters.

With ``"bfloat16"`` the training step casts the floating parameters and the batch's floating
inputs to bfloat16 before the method's loss, so the networks' matrix products and convolutions
run in bfloat16 (the fast path of GPU tensor cores and TPU MXUs), while

* the parameters, the optimizer state and the gradients stay float32 (the cast's gradient is a
  cast back: mixed precision with float32 master weights);
* the entropy models stay float32: every parameter under one of the method's
  ``Method.float32_params`` names (the lossyless ``rate`` model, Gray-Wyner's ``h0``/``h1``/``h2``)
  is left as it is, so rates, likelihoods and the coding tables are computed in float32 (a
  bfloat16 input promotes to float32 against float32 parameters);
* the loss and the metrics are returned in float32, and the model state (batch statistics)
  keeps its dtype.

Evaluation and reports run in float32. On CPU bfloat16 is emulated and slower: it is for GPU/TPU.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

POLICIES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(config):
  """The compute dtype of ``config.precision`` (a bad name raises ConfigError)."""
  from lossyless_jax.config import ConfigError  # pylint: disable=import-outside-toplevel
  name = config.get("precision", "float32")
  if name not in POLICIES:
    raise ConfigError(f"config.precision: {name!r}; expected one of {', '.join(POLICIES)}")
  return POLICIES[name]


def cast(tree, dtype, keep: tuple = ()):
  """``tree`` with every floating leaf cast to ``dtype``, except the subtrees under a dict key in
  ``keep`` (at any depth)."""
  def walk(node):
    if isinstance(node, dict):
      return {k: (v if k in keep else walk(v)) for k, v in node.items()}
    return jax.tree_util.tree_map(
        lambda a: a.astype(dtype) if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a, node)
  return walk(tree)


def to_float32(tree):
  """Floating leaves of ``tree`` (loss, metrics) as float32."""
  return cast(tree, jnp.float32)


def wrap_loss(loss: Callable, config, keep: tuple = ()) -> Callable:
  """``loss(params, model_state, batch, rng, ctx)`` computed at ``config.precision`` (see the
  module docstring); the identity for float32."""
  dtype = compute_dtype(config)
  if dtype == jnp.float32:
    return loss

  def mixed(params, model_state, batch, rng, ctx):
    value, (metrics, new_state) = loss(cast(params, dtype, keep), model_state, cast(batch, dtype), rng, ctx)
    new_state = jax.tree_util.tree_map(lambda n, o: n.astype(o.dtype), new_state, model_state)
    return value.astype(jnp.float32), (to_float32(metrics), new_state)

  return mixed
