"""Integer networks: trained float layers exported to exact integer arithmetic (Ballé, Johnston &
Minnen 2019, "Integer Networks for Data Compression with Latent-Variable Models", §2).

A decoder that runs a network (the hyperprior's ``h_s``, the context model's parameter network)
must compute the same entropy parameters as the encoder, bit for bit, on any machine. Float
networks do not: summation order, FMA contraction and ``exp`` differ between CPUs and library
versions. Exported layers compute a pure integer function of integer inputs instead:

- inputs live on the 2^-8 grid (``FRAC_IN``: ``x_int = rint(x · 2^8)``, :func:`to_grid`); hidden
  activations and outputs carry 12 fractional bits (``FRAC_ACT``);
- each output channel ``j`` of a layer gets ``f_j`` weight bits (``|W_int| <= 2^15``, from an exact
  ``frexp``): ``W_int = rint(W · 2^f_j)``, ``b_int = rint(b · 2^(f_in + f_j))``, and the output is
  ``(x @ W_int + b_int + 2^(s_j-1)) >> s_j`` with ``s_j = f_in + f_j - f_out`` (round half up);
- activations are bounded to ±2^15 (``ACT_BOUND``; a no-op for any trained model): ReLU, and the
  LeakyReLU of slope 2^-7 (``x >> 7`` for negative ``x``, rounded half up).

Export uses only exact float64 operations (``frexp``, ``ldexp``, ``rint``), so it gives the same
integers on every machine. The ``"int64"`` engine multiplies in int64 NumPy (``einsum``); the
default ``"exact-f64"`` engine uses float64 GEMM for the layers where an export-time bound proves
``Σ_k |W_kj| · max|x| + max|b| <= 2^53``: every product and partial sum is then an integer below
2^53, which IEEE-754 binary64 adds and multiplies exactly in any order, with or without FMA, on any
BLAS. Both engines give the same integers (tested). A bound of 2^62 on every accumulator is
checked, so int64 never overflows.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np


__all__ = [
  "FRAC_IN",
  "FRAC_ACT",
  "ACT_BOUND",
  "LEAKY_SHIFT",
  "ENGINES",
  "check_engine",
  "quantize_layer",
  "IntLayer",
  "clip_act",
  "leaky_relu",
  "relu",
  "shift_right",
  "to_grid",
  "export_mlp",
  "IntMLP",
  "GaussianParams",
  "scale_thresholds",
  "gaussian_parameters",
]

FRAC_IN = 8  # inputs on the 2^-8 grid
FRAC_ACT = 12  # fractional bits of hidden activations and outputs
ACT_BOUND = 1 << 15  # |inputs| < ACT_BOUND; hidden features are clipped to ±ACT_BOUND
LEAKY_SHIFT = 7  # LeakyReLU slope 2^-7
WEIGHT_BITS = 15  # |W_int| <= 2^15 per output channel
MAX_WEIGHT_FRAC = 24
ENGINES = ("exact-f64", "int64")
_F64_EXACT = 1 << 53
_I64_SAFE = 1 << 62
_ACT_LIMIT = ACT_BOUND << FRAC_ACT


def check_engine(engine: str) -> str:
  if engine not in ENGINES:
    raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
  return engine


def quantize_layer(kernel: np.ndarray, bias: np.ndarray, frac_in: int, frac_out: int) -> dict[str, np.ndarray]:
  """``{"weight", "bias", "shift"}`` (int64) of a float layer ``x @ kernel + bias`` (``kernel``
  ``(K, N)``), for inputs with ``frac_in`` and outputs with ``frac_out`` fractional bits."""
  w = np.asarray(kernel, np.float64)
  b = np.asarray(bias, np.float64)
  if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
    raise ValueError("cannot export non-finite weights")
  _, ex = np.frexp(np.max(np.abs(w), axis=0))  # max|w_j| < 2^ex exactly
  frac = np.where(np.any(w != 0, axis=0), WEIGHT_BITS - ex, MAX_WEIGHT_FRAC)
  frac = np.clip(frac, frac_out - frac_in, MAX_WEIGHT_FRAC).astype(np.int64)
  shift = frac_in + frac - frac_out
  w_int = np.rint(np.ldexp(w, frac[None, :])).astype(np.int64)
  b_scaled = np.ldexp(b, frac_in + frac)
  if np.max(np.abs(b_scaled), initial=0.0) >= _I64_SAFE:
    raise ValueError("a bias is too large for the integer network")
  b_int = np.rint(b_scaled).astype(np.int64) + ((np.int64(1) << shift) >> 1)  # + half: round half up
  return {"weight": w_int, "bias": b_int, "shift": shift}


def shift_right(x: np.ndarray, s) -> np.ndarray:
  """``x >> s`` (floor division by 2^s) for int64 or integral float64 ``x``; exact in both."""
  if x.dtype == np.float64:
    return np.floor(x * (2.0 ** -int(s)) if np.ndim(s) == 0 else np.ldexp(x, -np.asarray(s, np.int64)))
  return x >> s


class IntLayer:
  """One exported layer, checked against its accumulator bounds for inputs ``|x| <= x_max``."""

  def __init__(self, layer: Mapping[str, np.ndarray], x_max: int, name: str):
    self.w = np.ascontiguousarray(layer["weight"], np.int64)
    self.b = np.asarray(layer["bias"], np.int64)
    self.shift = np.asarray(layer["shift"], np.int64)
    if self.w.ndim != 2 or self.b.shape != (self.w.shape[1],) or self.shift.shape != self.b.shape:
      raise ValueError(f"integer layer {name!r} is malformed")
    if np.any(self.shift < 0) or np.any(self.shift > 62):
      raise ValueError(f"integer layer {name!r} has shifts outside [0, 62]")
    w_big = np.abs(self.w.clip(-(1 << 31), 1 << 31)) >= 1 << 31  # clip first: abs(INT64_MIN) < 0
    b_big = np.abs(self.b.clip(-_I64_SAFE, _I64_SAFE)) >= _I64_SAFE
    if w_big.any() or b_big.any():
      raise ValueError(f"integer layer {name!r} has out-of-range weights or biases")
    col = int(np.max(np.abs(self.w).sum(axis=0), initial=0))  # < 2^31 · fan-in: no int64 overflow
    acc = col * x_max + int(np.max(np.abs(self.b), initial=0))
    if acc >= _I64_SAFE:
      raise ValueError(f"integer layer {name!r} could overflow int64 (bound {acc:.3g}); weights too large")
    exact = acc <= _F64_EXACT
    # the output shift folded into the float weights: every partial sum of column j is an integer
    # multiple of 2^-s_j below 2^53 · 2^-s_j in magnitude, so it is still exact in any order
    self.wf = np.ldexp(self.w.astype(np.float64), -self.shift) if exact else None
    self.bf = np.ldexp(self.b.astype(np.float64), -self.shift) if exact else None

  @property
  def fan_in(self) -> int:
    return self.w.shape[0]

  @property
  def fan_out(self) -> int:
    return self.w.shape[1]

  def __call__(self, x: np.ndarray, engine: str) -> np.ndarray:
    """Integer outputs: float64 (integral) from the ``"exact-f64"`` engine where proven exact,
    int64 otherwise."""
    if engine == "exact-f64" and self.wf is not None:
      acc = x.astype(np.float64, copy=False) @ self.wf
      acc += self.bf
      return np.floor(acc, out=acc)
    acc = np.einsum("nk,kj->nj", x.astype(np.int64, copy=False), self.w)  # no BLAS for int64
    acc += self.b
    return acc >> self.shift


def clip_act(x: np.ndarray) -> np.ndarray:
  """Clip activations (12 fractional bits) to ±ACT_BOUND, in place."""
  return np.clip(x, -_ACT_LIMIT, _ACT_LIMIT, out=x)


def leaky_relu(x: np.ndarray) -> np.ndarray:
  """The bounded LeakyReLU of slope 2^-7 on integer activations: ``x`` for ``x >= 0``, else
  ``(x + 2^6) >> 7`` (rounded half up). For integers that is ``max(x, (x + 2^6) >> 7)``: below 0
  the shifted value is the larger, from 0 up ``x`` is."""
  return clip_act(np.maximum(x, shift_right(x + (1 << (LEAKY_SHIFT - 1)), LEAKY_SHIFT)))


def relu(x: np.ndarray) -> np.ndarray:
  """The bounded ReLU on integer activations."""
  return np.clip(x, 0, _ACT_LIMIT)


def to_grid(x, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
  """``rint(x · 2^8)`` as int64, for a finite float array (of ``shape``) with ``|x| < 2^15``."""
  a = np.asarray(x)
  if not np.issubdtype(a.dtype, np.floating):
    raise ValueError(f"{what} must be floating point, got {a.dtype}")
  if shape is not None and a.shape != shape:
    raise ValueError(f"{what} must have shape {shape}, got {a.shape}")
  a = a.astype(np.float64)
  if not np.all(np.isfinite(a)) or (a.size and np.max(np.abs(a)) >= ACT_BOUND):
    raise ValueError(f"{what} must be finite with |{what}| < {ACT_BOUND}")
  return np.rint(np.ldexp(a, FRAC_IN)).astype(np.int64)


def export_mlp(params: Mapping[str, Any]) -> dict[str, dict[str, np.ndarray]]:
  """Integer layers of a dense ReLU MLP (params ``dense_i/{kernel, bias}``): inputs on the 2^-8
  grid, hidden activations and outputs with 12 fractional bits."""
  names = sorted((k for k in params if k.startswith("dense_")), key=lambda k: int(k.split("_")[1]))
  if not names or names != [f"dense_{i}" for i in range(len(names))]:
    raise ValueError(f"expected MLP params dense_0..dense_n, got {sorted(params)}")
  out = {}
  for i, name in enumerate(names):
    p = params[name]
    out[name] = quantize_layer(p["kernel"], p["bias"], FRAC_IN if i == 0 else FRAC_ACT, FRAC_ACT)
  return out


class IntMLP:
  """Runtime of :func:`export_mlp`'s layers: ``dense_0 -> relu -> ... -> dense_n``."""

  def __init__(self, layers: Mapping[str, Mapping[str, np.ndarray]]):
    n = len(layers)
    if n == 0 or sorted(layers) != sorted(f"dense_{i}" for i in range(n)):
      raise ValueError("integer MLP layers must be dense_0..dense_n")
    self.layers = []
    for i in range(n):
      x_max = (ACT_BOUND << FRAC_IN) if i == 0 else _ACT_LIMIT
      layer = IntLayer(layers[f"dense_{i}"], x_max, f"dense_{i}")
      if self.layers and self.layers[-1].fan_out != layer.fan_in:
        raise ValueError(f"integer MLP layer dense_{i} does not fit the previous layer")
      self.layers.append(layer)

  @property
  def fan_in(self) -> int:
    return self.layers[0].fan_in

  @property
  def fan_out(self) -> int:
    return self.layers[-1].fan_out

  def __call__(self, x_q: np.ndarray, engine: str = "exact-f64") -> np.ndarray:
    """Integer outputs (int64, 12 fractional bits) for inputs ``x_q`` (int64, 2^-8 grid)."""
    x = np.clip(x_q, -(ACT_BOUND << FRAC_IN), ACT_BOUND << FRAC_IN)
    for i, layer in enumerate(self.layers):
      x = layer(x, engine)
      if i + 1 < len(self.layers):
        x = relu(x)
    return x.astype(np.int64)


class GaussianParams(NamedTuple):
  """Integer Gaussian parameters of ``N`` positions: ``mean_q`` (means · 2^8), ``scale_q`` (scales ·
  2^12, before the 0.11 bound) and ``index`` (scale-table index, uint8), each ``(N, C)``."""

  mean_q: np.ndarray
  scale_q: np.ndarray
  index: np.ndarray


def scale_thresholds(boundaries: np.ndarray) -> np.ndarray:
  """The integer scale-table boundaries ``ceil(b_k · 2^12)`` (int64) of float64 boundaries."""
  return np.ceil(np.ldexp(np.asarray(boundaries, np.float64), FRAC_ACT)).astype(np.int64)


def gaussian_parameters(out: np.ndarray, channels: int, thresholds: np.ndarray) -> GaussianParams:
  """Split a network's integer output ``(N, 2C)`` (scales first, 12 fractional bits) into
  :class:`GaussianParams`: the mean snapped to the 2^-8 grid (rounded half up), the scale index the
  number of ``thresholds`` the integer scale reaches."""
  scale_q = out[:, :channels].astype(np.int64)
  down = FRAC_ACT - FRAC_IN
  mean_q = shift_right(out[:, channels:] + (1 << (down - 1)), down).astype(np.int64)
  mean_q = np.clip(mean_q, -(ACT_BOUND << FRAC_IN), ACT_BOUND << FRAC_IN)
  # the number of thresholds <= the integer scale (gaussian.scale_to_index, in integers)
  index = np.searchsorted(np.asarray(thresholds, np.int64), scale_q, side="right").astype(np.uint8)
  return GaussianParams(mean_q, scale_q, index)
