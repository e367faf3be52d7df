"""Deep factorized density ("entropy bottleneck"), Ballé et al. 2018, App. 6.1.

Each channel ``c`` has its own cumulative model: a monotone MLP ``1 -> 3 -> 3 -> 3 -> 3 -> 1``
whose output ``logits_cumulative`` ℓ_c is such that ``sigmoid(ℓ_c(x))`` is a CDF::

    h = x
    for k in 0..K:  h = softplus(H_k) h + b_k ;  if k < K:  h = h + tanh(a_k) * tanh(h)

The likelihood of a (noisy or quantized) value ``y`` is the mass of the unit bin around it,
``p(y) = sigmoid(ℓ(y + 1/2)) - sigmoid(ℓ(y - 1/2))``, computed with the sign trick
(both logits negated when their sum is positive, so the subtraction happens in the accurate
lower tail) and floored at 1e-9 with :func:`~lossyless_jax.entropy.quantization.lower_bound`.

Parameters of one density (a flat dict, identical in the pure functions and in the Flax
module ``EntropyBottleneck``): ``matrix_k (C, f_{k+1}, f_k)``, ``bias_k (C, f_{k+1})``,
``factor_k (C, f_{k+1})`` and ``quantiles (C, 3)``. Initialisation (CompressAI):
``matrix_k = log(expm1(1 / s / f_{k+1}))`` with ``s = init_scale ** (1 / (K + 1))``,
``bias_k ~ U(-1/2, 1/2)``, ``factor_k = 0``, ``quantiles = [-init_scale, 0, init_scale]``.

**Quantiles and their optimizer group.** ``quantiles[:, 0/1/2]`` estimate the
``tail_mass / 2`` quantile, the median and the ``1 - tail_mass / 2`` quantile of each channel.
They are trained only by the auxiliary loss (``aux_loss``), which targets
``ℓ(quantiles) = [-t, 0, t]`` with ``t = log(2 / tail_mass - 1)`` and stops gradients into
the density parameters. They must get their own optimizer: the label function
:func:`optimizer_labels` maps every parameter whose path contains the key ``"quantiles"`` to
the group ``"aux"`` and every other parameter to ``"default"`` (the loop's optimizer groups,
``lossyless_jax.optim``), for ``optax.multi_transform``::

    tx = optax.multi_transform({"default": main_tx, "aux": aux_tx}, optimizer_labels)

The medians (``quantiles[:, 1]``) are the rounding offsets at evaluation and the quantiles
bound the support of the coding tables (``lossyless_jax.entropy.tables``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.entropy.quantization import lower_bound, quantize

__all__ = [
  "EntropyBottleneck",
  "FactorizedDensity",
  "factorized_initializers",
  "init_factorized_params",
  "num_layers",
  "logits_cumulative",
  "bin_probabilities",
  "factorized_likelihood",
  "medians",
  "aux_loss",
  "total_aux_loss",
  "exact_quantiles",
  "optimizer_labels",
  "tail_logit",
]

QUANTILES = "quantiles"


def tail_logit(tail_mass: float) -> float:
  """``t = log(2 / tail_mass - 1)``: ``sigmoid(-t) = tail_mass / 2``."""
  return math.log(2.0 / tail_mass - 1.0)


def factorized_initializers(
  channels: int, filters: Sequence[int] = (3, 3, 3, 3), init_scale: float = 10.0
) -> dict[str, Callable[[jax.Array], jax.Array]]:
  """Name -> ``init(key)`` for every parameter of a factorized density (CompressAI init)."""
  if channels < 1:
    raise ValueError(f"channels must be >= 1, got {channels}")
  if init_scale <= 0:
    raise ValueError(f"init_scale must be > 0, got {init_scale}")
  dims = (1, *tuple(int(f) for f in filters), 1)
  scale = init_scale ** (1.0 / (len(dims) - 1))
  inits: dict[str, Callable[[jax.Array], jax.Array]] = {}
  for k in range(len(dims) - 1):
    f_in, f_out = dims[k], dims[k + 1]
    value = math.log(math.expm1(1.0 / scale / f_out))
    inits[f"matrix_{k}"] = lambda key, f_in=f_in, f_out=f_out, value=value: jnp.full(
      (channels, f_out, f_in), value, jnp.float32
    )
    inits[f"bias_{k}"] = lambda key, f_out=f_out: jax.random.uniform(key, (channels, f_out), jnp.float32, -0.5, 0.5)
    if k < len(dims) - 2:
      inits[f"factor_{k}"] = lambda key, f_out=f_out: jnp.zeros((channels, f_out), jnp.float32)
  inits[QUANTILES] = lambda key: jnp.tile(jnp.array([-init_scale, 0.0, init_scale], jnp.float32), (channels, 1))
  return inits


def init_factorized_params(
  key: jax.Array, channels: int, filters: Sequence[int] = (3, 3, 3, 3), init_scale: float = 10.0
) -> dict[str, jax.Array]:
  """Fresh parameters of a factorized density (same layout as ``EntropyBottleneck``)."""
  inits = factorized_initializers(channels, filters, init_scale)
  keys = jax.random.split(key, len(inits))
  return {name: fn(k) for (name, fn), k in zip(inits.items(), keys)}


def num_layers(params: Mapping[str, Any]) -> int:
  """Number of affine layers ``K + 1`` of the cumulative MLP."""
  n = 0
  while f"matrix_{n}" in params:
    n += 1
  if n == 0:
    raise ValueError(f"not factorized-density params: no 'matrix_0' key (keys: {sorted(params)})")
  return n


def _softplus(x, xp):
  return jax.nn.softplus(x) if xp is jnp else np.logaddexp(0.0, x)


def _sigmoid(x, xp):
  if xp is jnp:
    return jax.nn.sigmoid(x)
  # exact in float64 for both signs: exp of a non-positive argument never overflows
  e = np.exp(-np.abs(x))
  return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logits_cumulative(params: Mapping[str, Any], x, *, stop_gradient: bool = False, xp=jnp):
  """ℓ(x) per channel, channels on the last axis: ``x (..., C) -> (..., C)``.

  ``xp=np`` evaluates the same function in NumPy in float64, which is how coding tables
  are built. ``stop_gradient`` blocks gradients into the density
  parameters (used by the auxiliary loss).
  """
  n = num_layers(params)
  if xp is not jnp:
    x = np.asarray(x, np.float64)
  hs = [x]  # the f_k hidden units of every channel, each shaped like x: (..., C)
  for k in range(n):
    matrix, bias = params[f"matrix_{k}"], params[f"bias_{k}"]
    factor = params.get(f"factor_{k}") if k < n - 1 else None
    if xp is not jnp:
      matrix, bias = np.asarray(matrix, x.dtype), np.asarray(bias, x.dtype)
      factor = None if factor is None else np.asarray(factor, x.dtype)
    elif stop_gradient:
      matrix, bias = jax.lax.stop_gradient(matrix), jax.lax.stop_gradient(bias)
      factor = None if factor is None else jax.lax.stop_gradient(factor)
    weight = _softplus(matrix, xp)  # (C, f_out, f_in)
    gate = None if factor is None else xp.tanh(factor)
    new = []
    for i in range(weight.shape[1]):
      h = bias[:, i]
      for j, h_j in enumerate(hs):
        h = h + weight[:, i, j] * h_j
      if gate is not None:
        h = h + gate[:, i] * xp.tanh(h)
      new.append(h)
    hs = new
  return hs[0]


def bin_probabilities(params: Mapping[str, Any], y, *, xp=jnp):
  """Unfloored mass of the unit bin ``[y - 1/2, y + 1/2]`` (sign trick)."""
  both = logits_cumulative(params, xp.stack([y - 0.5, y + 0.5]), xp=xp)
  lower, upper = both[0], both[1]
  sign = xp.where(lower + upper > 0, -1.0, 1.0).astype(lower.dtype)
  if xp is jnp:
    sign = jax.lax.stop_gradient(sign)
  return xp.abs(_sigmoid(sign * upper, xp) - _sigmoid(sign * lower, xp))


def factorized_likelihood(params: Mapping[str, Any], y: jax.Array, likelihood_bound: float = 1e-9) -> jax.Array:
  """``p(y)`` per element, floored at ``likelihood_bound`` with LowerBound's gradient rule."""
  p = bin_probabilities(params, y)
  return lower_bound(p, likelihood_bound) if likelihood_bound > 0 else p


def medians(params: Mapping[str, Any]) -> jax.Array:
  """Per-channel medians ``quantiles[:, 1]`` (the rounding offsets at evaluation)."""
  return params[QUANTILES][:, 1]


def aux_loss(params: Mapping[str, Any], tail_mass: float = 1e-9) -> jax.Array:
  """``Σ_c Σ_j |ℓ_c(q_cj) - [-t, 0, t]_j|``; gradients reach only the quantiles."""
  q = params[QUANTILES]  # (C, 3)
  logits = logits_cumulative(params, q.T, stop_gradient=True)  # (3, C)
  t = tail_logit(tail_mass)
  target = jnp.array([-t, 0.0, t], logits.dtype)[:, None]
  return jnp.sum(jnp.abs(logits - target))


def exact_quantiles(params: Mapping[str, Any], tail_mass: float = 1e-9, bracket: float = 1e6) -> np.ndarray:
  """Solve ``ℓ_c(q) = [-t, 0, t]`` by bisection in float64 NumPy: the values the auxiliary
  loss converges to, shape ``(C, 3)``. A reference for tests and diagnostics (the
  ``quantiles`` parameters themselves are learned with ``aux_loss``)."""
  p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
  channels = p64[QUANTILES].shape[0]
  t = tail_logit(tail_mass)
  target = np.array([-t, 0.0, t])[:, None] * np.ones((1, channels))
  lo = np.full((3, channels), -bracket)
  hi = np.full((3, channels), bracket)
  for _ in range(80):
    mid = 0.5 * (lo + hi)
    above = logits_cumulative(p64, mid, xp=np) > target
    hi = np.where(above, mid, hi)
    lo = np.where(above, lo, mid)
  return (0.5 * (lo + hi)).T


def _is_density(tree: Any) -> bool:
  return isinstance(tree, Mapping) and QUANTILES in tree and "matrix_0" in tree


def total_aux_loss(params: Mapping[str, Any], tail_mass: float = 1e-9) -> jax.Array:
  """Sum of ``aux_loss`` over every factorized density found anywhere in ``params``."""
  total = jnp.zeros((), jnp.float32)
  stack = [params]
  while stack:
    node = stack.pop()
    if _is_density(node):
      total = total + aux_loss(node, tail_mass)
    elif isinstance(node, Mapping):
      stack.extend(node.values())
  return total


def optimizer_labels(params: Any) -> Any:
  """Pytree of labels: ``"aux"`` for any param whose path contains ``"quantiles"``, else ``"default"``."""

  def label(path, _):
    names = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
    return "aux" if QUANTILES in names else "default"

  return jax.tree_util.tree_map_with_path(label, params)


class EntropyBottleneck(nn.Module):
  """Factorized prior over ``channels`` (last axis) with CompressAI semantics.

  ``__call__(z, train)`` returns ``(z_tilde_or_hat, likelihoods)``: in training
  ``z + U(-1/2, 1/2)`` (needs ``rngs={"noise": key}``; or straight-through rounding around
  the medians when ``train_quantization="ste"``), at evaluation
  ``round(z - median) + median``. The likelihoods are per element, floored at
  ``likelihood_bound``. Inputs below float32 (bf16/fp16) are computed in float32.
  See the module docstring for the quantiles' optimizer group.
  """

  channels: int
  filters: Sequence[int] = (3, 3, 3, 3)
  init_scale: float = 10.0
  tail_mass: float = 1e-9
  likelihood_bound: float = 1e-9
  train_quantization: str = "noise"

  def setup(self):
    inits = factorized_initializers(self.channels, self.filters, self.init_scale)
    self.density = {name: self.param(name, fn) for name, fn in inits.items()}

  def __call__(self, z: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    if z.shape[-1] != self.channels:
      raise ValueError(
        f"EntropyBottleneck expects {self.channels} channels on the last axis, got input shape {z.shape}"
      )
    z = jnp.asarray(z, jnp.promote_types(z.dtype, jnp.float32))  # entropy models in >= fp32
    med = jax.lax.stop_gradient(medians(self.density)).astype(z.dtype)
    mode = self.train_quantization if train else "round"
    y = quantize(z, mode, med, self.make_rng("noise") if mode == "noise" else None)
    return y, factorized_likelihood(self.density, y, self.likelihood_bound)

  def aux_loss(self) -> jax.Array:
    """Quantile loss of this density (gradients reach only ``quantiles``)."""
    return aux_loss(self.density, self.tail_mass)

  def medians(self) -> jax.Array:
    return medians(self.density)

  def quantiles(self) -> jax.Array:
    return self.density[QUANTILES]


FactorizedDensity = EntropyBottleneck
