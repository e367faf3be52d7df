"""Test helpers for the rate layer: parameters without an XLA compile.

``jax.jit(model.init)`` of a hyperprior compiles one threefry kernel per parameter (seconds on
a small CPU); tests that only need *some* valid parameters use :func:`numpy_params`, which
traces ``init`` abstractly (``jax.eval_shape``) and fills every leaf with NumPy:

- factorized densities: CompressAI's init (``matrix_k`` constant, ``bias_k ~ U(-1/2, 1/2)``,
  ``factor_k = 0``), plus optional perturbation, and ``quantiles`` solved exactly
  (:func:`~lossyless_jax.entropy.factorized.exact_quantiles`), i.e. where the aux loss converges;
- dense ``kernel ~ N(0, 1/fan_in)``, ``bias ~ N(0, 0.1²)``; ``scaling = 1``, ``biasing = 0``.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.entropy import factorized as fz

__all__ = ["numpy_params"]


def _fill(tree: Any, rng: np.random.Generator, perturb: float, tail_mass: float) -> Any:
  if isinstance(tree, dict) and "matrix_0" in tree and fz.QUANTILES in tree:
    n_layers = fz.num_layers(tree)
    scale = 10.0 ** (1.0 / n_layers)
    out = {}
    for name, leaf in tree.items():
      shape = leaf.shape
      if name.startswith("matrix_"):
        val = np.full(shape, math.log(math.expm1(1.0 / scale / shape[1])))
      elif name.startswith("bias_"):
        val = rng.uniform(-0.5, 0.5, shape)
      elif name.startswith("factor_"):
        val = np.zeros(shape)
      else:
        continue
      if perturb:
        val = val + perturb * rng.standard_normal(shape)
      out[name] = val.astype(np.float32)
    out[fz.QUANTILES] = np.zeros(tree[fz.QUANTILES].shape, np.float32)
    out[fz.QUANTILES] = fz.exact_quantiles(out, tail_mass).astype(np.float32)
    return out
  if isinstance(tree, dict):
    return {k: _fill(v, rng, perturb, tail_mass) for k, v in tree.items()}
  raise TypeError(f"unexpected leaf {tree}")


def _fill_leaves(tree: Any, rng: np.random.Generator, perturb: float, tail_mass: float, name: str = "") -> Any:
  if isinstance(tree, dict) and not ("matrix_0" in tree and fz.QUANTILES in tree):
    return {k: _fill_leaves(v, rng, perturb, tail_mass, k) for k, v in tree.items()}
  if isinstance(tree, dict):
    return _fill(tree, rng, perturb, tail_mass)
  shape = tree.shape
  if name == "kernel":
    return (rng.standard_normal(shape) / math.sqrt(shape[0])).astype(np.float32)
  if name == "bias":
    return (0.1 * rng.standard_normal(shape)).astype(np.float32)
  if name == "scaling":
    return np.ones(shape, np.float32)
  if name == "biasing":
    return np.zeros(shape, np.float32)
  raise ValueError(f"numpy_params does not know how to initialise param {name!r}")


def numpy_params(
  model: nn.Module, dim: int, seed: int = 0, perturb: float = 0.0, tail_mass: float = 1e-9
) -> dict[str, Any]:
  """Parameters of ``model`` (input ``(1, dim)``) filled with NumPy; no compilation."""
  shapes = jax.eval_shape(model.init, {"params": jax.random.key(0)}, jnp.zeros((1, dim), jnp.float32))["params"]
  shapes = jax.tree_util.tree_map(lambda s: s, nn.unbox(shapes))
  return _fill_leaves(dict(shapes), np.random.default_rng(seed), perturb, tail_mass)
