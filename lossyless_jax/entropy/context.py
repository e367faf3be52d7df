"""Masked-context Gaussian entropy model, an exact integer parameter network, and a wavefront coder.

**Model** (de Andrade et al., "Lossy Common Information in a Learnable Gray-Wyner Network", §4 and
Fig. 7; Minnen, Ballé & Toderici 2018, "Joint Autoregressive and Hierarchical Priors", §2). For a
latent ``y`` of shape ``(H, W, C)``::

    ctx    = MaskedConvA5x5(C -> 2C)(ŷ)                       # type-A mask (van den Oord et al. 2016)
    hyp    = Conv5x5(C_cond -> 2C)(cond)                      # optional, unmasked
    params = Conv1x1(-> ⌊10C/3⌋) -> act -> Conv1x1(-> ⌊8C/3⌋) -> act -> Conv1x1(-> 2C)
             on concat(hyp, side, ctx)                        # side: optional per-position features
    scale, mean = split(params)                               # scale first; σ' = LowerBound(σ, 0.11)

and the likelihood of ``gaussian.GaussianConditional`` (floor 1e-9). The type-A mask keeps the 12
kernel taps above the centre row and left of the centre; training runs it in parallel over the
whole latent, the context input being ``y + U(-1/2, 1/2)`` (``"noise"``) or ``ste_round(y)``
(``"ste"``), ``round(y)`` at evaluation (CompressAI's teacher forcing).

Deviations from the Gray-Wyner model, all forced by exact integer evaluation:

- ``act`` is a bounded LeakyReLU with slope 2^-7 (``x`` if ``x >= 0`` else ``x / 128``, then
  clipped to ±2^15), used in training and coding alike, for the Gray-Wyner models' LeakyReLU(0.01)
  (unconditional) and ELU (conditional): 0.01 has no exact shift form and ELU is not exact in
  integers. The context and conditioning features are clipped to ±2^15 as well (a no-op for any
  trained model; Ballé, Johnston & Minnen 2019, §2, bound their nonlinearities for the same reason).
- The conditioning branch is one unmasked 5×5 conv, not the Gray-Wyner conditional model's
  2×ResBlock / Conv5x5 / 2×ResBlock stack: the coder evaluates it on each position's 5×5
  conditioning patch, and a float pre-network could not be evaluated exactly.

**Integer network** (Ballé, Johnston & Minnen 2019, "Integer Networks for Data Compression with
Latent-Variable Models", §2). :func:`export` quantizes the trained weights once:

- inputs ``ŷ``, ``cond`` and ``side`` are integers on the 2^-8 grid (``FRAC_IN``); hidden
  activations and the scale output carry 12 fractional bits (``FRAC_ACT``);
- each layer output channel ``j`` gets ``f_j`` weight bits (``|W_int| <= 2^15``, exact ``frexp``),
  ``W_int = rint(W·2^f_j)``, ``b_int = rint(b·2^(f_in + f_j))``, and the output is
  ``(x @ W_int + b_int + 2^(s_j-1)) >> s_j`` with ``s_j = f_in + f_j - f_out`` (round half up);
- the mean is snapped to the 2^-8 grid, so ``ŷ = symbol + mean`` is exact; the scale index is the
  number of integer boundaries ``ceil(b_k · 2^12)`` (``b_k`` the KL-optimal boundaries of
  ``gaussian.scale_boundaries``) that the integer scale reaches, via ``gaussian.scale_to_index``.

Every value stays integral, so the parameter function is a pure integer function of the stored
integers: independent of batch, order, thread count and CPU. The reference engine (``"int64"``)
multiplies in int64 NumPy (``einsum``); the default ``"exact-f64"`` engine uses float64 GEMM for the layers
where an export-time bound proves ``Σ_k |W_kj| · max|x| <= 2^53`` (all products and partial sums are
then integers below 2^53, which IEEE-754 binary64 adds and multiplies exactly in any order, with or
without FMA), int64 for the others. Both give the same integers (tested). A bound of 2^62 on every
accumulator is checked, so int64 never overflows.

**Schedules.** Position ``(h, w)`` depends on ``(h-2..h-1, w-2..w+2)`` and ``(h, w-2..w-1)``, all
with smaller ``t = 3h + w``, and 3 is the least slope with that property: the positions of one
wavefront ``t`` are independent, and ``3(H-1) + W`` wavefronts cover the latent (``W >= 3``). ``"wavefront"``
evaluates each wavefront in one batched call of the parameter function; ``"raster"`` makes one call
per position. Encoding uses the wavefront schedule.

**Stream.** One ``constriction`` range-coder (queue) stream in wavefront order. Within wavefront
``t`` the symbols ``round(y - mean)`` of its positions (``h`` ascending, channels inner) are grouped
by scale index (stable) and coded run by run with the 24-bit tables of
``tables.build_gaussian_tables``, escapes after the runs (``coding.py``'s escape code). The
decoder reads the stream incrementally: the scale indices of wavefront ``t`` need only earlier
wavefronts. Because a wavefront's symbols share runs, a schedule must have evaluated a whole
wavefront before it decodes it; ``"raster"`` therefore visits positions one per evaluation in the
coded order (wavefront by wavefront, ``h`` ascending). A raster-scan visiting order cannot read
this stream: the symbols of ``(h, w)`` come after all of wavefront ``3h + w - 1``, which holds
``(h + 1, w - 4)`` of a later row.

**File** (``container.py``, model kind ``KIND_CONTEXT = 3``): the fingerprint of the exported
state, the shape ``(H, W, C)``, two payloads:

1. 17 bytes: flags (bit 0 conditioning, bit 1 side features) and the first 16 bytes of SHA-256
   over the integer conditioning and side tensors (shape and values);
2. the range-coder words.

The symbol CRC is ``container.symbols_crc_seed(shape)`` continued over the symbols in coding
order. Decoding with other conditioning or side features raises
:class:`ConditioningMismatchError` before any symbol is decoded; a decode that fails the CRC
raises ``container.CorruptedBitstreamError``.
"""

from __future__ import annotations

import collections
import hashlib
import math
import struct
from typing import Any, Mapping, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.entropy import container
from lossyless_jax.entropy import range_coder as rc
from lossyless_jax.entropy.coding import DEFAULT_MAX_ELEMENTS, round_symbols, symbols_crc
from lossyless_jax.entropy.container import BitstreamError, CorruptedBitstreamError
from lossyless_jax.entropy.gaussian import SCALE_BOUND, GaussianConditional, scale_to_index
from lossyless_jax.entropy import quantization
from lossyless_jax.entropy.tables import PRECISION, build_gaussian_tables, fingerprint, verify_fingerprint

__all__ = [
  "KIND_CONTEXT",
  "FRAC_IN",
  "FRAC_ACT",
  "ACT_BOUND",
  "LEAKY_SHIFT",
  "ENGINES",
  "SCHEDULES",
  "ConditioningMismatchError",
  "ShapeMismatchError",
  "type_a_mask",
  "causal_offsets",
  "hidden_widths",
  "bounded_leaky_relu",
  "ContextModel",
  "export",
  "IntParams",
  "parameters",
  "wavefronts",
  "quantize",
  "symbols",
  "compress",
  "decompress",
]

KIND_CONTEXT = 3
FRAC_IN = 8  # ŷ, conditioning and side features live on the 2^-8 grid
FRAC_ACT = 12  # fractional bits of hidden activations and of the scale output
ACT_BOUND = 1 << 15  # |inputs| < ACT_BOUND; hidden features are clipped to ±ACT_BOUND
LEAKY_SHIFT = 7  # LeakyReLU slope 2^-7
WEIGHT_BITS = 15  # |W_int| <= 2^15 per output channel
MAX_WEIGHT_FRAC = 24
KERNEL = 5
ENGINES = ("exact-f64", "int64")
SCHEDULES = ("wavefront", "raster")
_F64_EXACT = 1 << 53
_I64_SAFE = 1 << 62
_MAX_SYMBOL = 1 << 17  # |round(y - mean)| <= 2^16 + 1 for valid input
_FORMAT = b"lossyless_jax.entropy.context/v1"
_META = struct.Struct("<B16s")
_FLAG_COND, _FLAG_SIDE = 1, 2


class ConditioningMismatchError(BitstreamError):
  """The conditioning or side features differ from those the file was encoded with."""

  reason = "wrong_conditioning"


class ShapeMismatchError(BitstreamError):
  """The file holds a latent of another shape than the caller expects."""

  reason = "wrong_shape"


# ----------------------------------------------------------------------------- architecture
def type_a_mask(cin: int, cout: int, kernel: int = KERNEL) -> np.ndarray:
  """PixelCNN type-A mask ``(k, k, cin, cout)``: 1 above the centre row and left of the centre."""
  m = np.zeros((kernel, kernel), np.float32)
  c = kernel // 2
  m[:c, :] = 1.0
  m[c, :c] = 1.0
  return np.broadcast_to(m[:, :, None, None], (kernel, kernel, cin, cout)).copy()


def causal_offsets(kernel: int = KERNEL) -> tuple[np.ndarray, np.ndarray]:
  """Kernel taps ``(kh, kw)`` kept by the type-A mask, row-major (12 for a 5×5 kernel)."""
  kh, kw = np.nonzero(type_a_mask(1, 1, kernel)[:, :, 0, 0])
  return kh.astype(np.int64), kw.astype(np.int64)


def hidden_widths(channels: int) -> tuple[int, int]:
  """``(⌊10C/3⌋, ⌊8C/3⌋)``, the entropy-parameters widths of the Gray-Wyner model."""
  return max(1, 10 * channels // 3), max(1, 8 * channels // 3)


def bounded_leaky_relu(x: jax.Array) -> jax.Array:
  """``clip(x if x >= 0 else x·2^-7, ±2^15)``: the activation of the float and integer paths."""
  return _bound(jnp.where(x >= 0, x, x * (1.0 / (1 << LEAKY_SHIFT))))


def _bound(x):
  return jnp.clip(x, -ACT_BOUND, ACT_BOUND)


class ContextModel(nn.Module):
  """Autoregressive mean-scale Gaussian model over ``(..., H, W, C)`` latents.

  ``__call__(y, cond=None, side=None, train=False)`` returns ``(y_tilde_or_hat, likelihoods)``
  (training needs ``rngs={"noise": key}``). ``cond`` is ``(..., H, W, cond_channels)`` (e.g. the
  common latent ŷ0 of the Gray-Wyner network), ``side`` ``(..., H, W, side_channels)``; both are
  required iff their channel count is non-zero. :meth:`entropy_parameters` gives ``(scales,
  means)`` for a given context input. Coding goes through :func:`export`.
  """

  channels: int
  cond_channels: int = 0
  side_channels: int = 0
  train_quantization: str = "noise"
  scale_bound: float = SCALE_BOUND
  likelihood_bound: float = 1e-9

  def setup(self):
    c = self.channels
    pad = ((KERNEL // 2, KERNEL // 2),) * 2
    self.ctx = nn.Conv(2 * c, (KERNEL, KERNEL), padding=pad, mask=jnp.asarray(type_a_mask(c, 2 * c)))
    if self.cond_channels:
      self.cond = nn.Conv(2 * c, (KERNEL, KERNEL), padding=pad)
    w0, w1 = hidden_widths(c)
    self.ep_0 = nn.Conv(w0, (1, 1))
    self.ep_1 = nn.Conv(w1, (1, 1))
    self.ep_2 = nn.Conv(2 * c, (1, 1))
    self.gaussian = GaussianConditional(self.scale_bound, self.likelihood_bound, self.train_quantization)

  def entropy_parameters(self, y_ctx: jax.Array, cond=None, side=None) -> tuple[jax.Array, jax.Array]:
    """``(scales, means)`` (raw scales, before the 0.11 bound) from the context input ``y_ctx``."""
    feats = []
    if self.cond_channels:
      if cond is None:
        raise ValueError(f"this ContextModel is conditioned ({self.cond_channels} channels): pass cond")
      feats.append(_bound(self.cond(jnp.asarray(cond, jnp.float32))))
    if self.side_channels:
      if side is None:
        raise ValueError(f"this ContextModel takes {self.side_channels} side channels: pass side")
      feats.append(jnp.asarray(side, jnp.float32))
    feats.append(_bound(self.ctx(y_ctx)))
    x = jnp.concatenate(feats, axis=-1)
    x = bounded_leaky_relu(self.ep_0(x))
    x = bounded_leaky_relu(self.ep_1(x))
    out = self.ep_2(x)
    return out[..., : self.channels], out[..., self.channels :]

  def __call__(self, y: jax.Array, cond=None, side=None, train: bool = False):
    y = jnp.asarray(y, jnp.promote_types(y.dtype, jnp.float32))
    if y.shape[-1] != self.channels:
      raise ValueError(f"ContextModel expects {self.channels} channels, got input shape {y.shape}")
    mode = self.train_quantization if train else "round"
    y_ctx = quantization.quantize(y, mode, 0.0, self.make_rng("noise") if mode == "noise" else None)
    scales, means = self.entropy_parameters(y_ctx, cond, side)
    return self.gaussian(y, scales, means, train=train)


# ----------------------------------------------------------------------------- export
def _quantize_layer(kernel: np.ndarray, bias: np.ndarray, frac_in: int, frac_out: int) -> dict[str, np.ndarray]:
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


def export(
  model: ContextModel, params: Mapping[str, Any], *, scale_table: np.ndarray | None = None, tail_mass: float = 1e-9
) -> dict[str, Any]:
  """The coding state of a trained :class:`ContextModel`: integer layers, integer scale
  boundaries, the Gaussian tables and a fingerprint (arrays only, Orbax-friendly).

  ``compress``, ``decompress`` and ``parameters`` need only this state.
  """
  c, cc, sc = int(model.channels), int(model.cond_channels), int(model.side_channels)
  if not np.isclose(model.scale_bound, SCALE_BOUND):
    raise ValueError(f"the coding tables assume scale_bound={SCALE_BOUND}")
  p = {k: {n: np.asarray(v) for n, v in layer.items()} for k, layer in params.items()}
  kh, kw = causal_offsets()
  ctx_k = p["ctx"]["kernel"][kh, kw]  # (12, C, 2C), the masked taps only
  layers = {"ctx": _quantize_layer(ctx_k.reshape(-1, 2 * c), p["ctx"]["bias"], FRAC_IN, FRAC_ACT)}
  if cc:
    layers["cond"] = _quantize_layer(p["cond"]["kernel"].reshape(-1, 2 * c), p["cond"]["bias"], FRAC_IN, FRAC_ACT)
  for name in ("ep_0", "ep_1", "ep_2"):
    k = p[name]["kernel"]
    layers[name] = _quantize_layer(k.reshape(k.shape[-2], k.shape[-1]), p[name]["bias"], FRAC_ACT, FRAC_ACT)
  gaussian = build_gaussian_tables(scale_table, tail_mass, PRECISION)
  thresholds = np.ceil(np.ldexp(gaussian["boundaries"], FRAC_ACT)).astype(np.int64)
  config = [c, cc, sc, FRAC_IN, FRAC_ACT, ACT_BOUND, LEAKY_SHIFT, KERNEL]
  state = {
    "kind": np.asarray(KIND_CONTEXT, np.int32),
    "config": np.asarray(config, np.int64),
    "layers": layers,
    "scale_thresholds": thresholds,
    "gaussian": gaussian,
  }
  _Runtime(state)  # validates the accumulator bounds now rather than at the first file
  state["fingerprint"] = fingerprint(state)
  return state


# ----------------------------------------------------------------------------- integer network
class _Layer:
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
    acc = col * x_max
    if acc + int(np.max(np.abs(self.b), initial=0)) >= _I64_SAFE:
      raise ValueError(f"integer layer {name!r} could overflow int64 (bound {acc:.3g}); weights too large")
    self.wf = self.w.astype(np.float64) if acc <= _F64_EXACT else None

  def __call__(self, x: np.ndarray, engine: str) -> np.ndarray:
    if engine == "exact-f64" and self.wf is not None:
      acc = (x.astype(np.float64) @ self.wf).astype(np.int64)
    else:
      acc = np.einsum("nk,kj->nj", x, self.w)  # integer sum of products (no BLAS for int64)
    acc += self.b
    return acc >> self.shift


def _clip(x: np.ndarray) -> np.ndarray:
  return np.clip(x, -(ACT_BOUND << FRAC_ACT), ACT_BOUND << FRAC_ACT, out=x)


def _leaky_int(x: np.ndarray) -> np.ndarray:
  half = 1 << (LEAKY_SHIFT - 1)
  return _clip(np.where(x >= 0, x, (x + half) >> LEAKY_SHIFT))


class _Runtime:
  """The decoder-side view of a state: integer layers, thresholds and tables."""

  def __init__(self, state: Mapping[str, Any]):
    cfg = [int(v) for v in np.asarray(state["config"]).tolist()]
    expected = [FRAC_IN, FRAC_ACT, ACT_BOUND, LEAKY_SHIFT, KERNEL]
    if int(state["kind"]) != KIND_CONTEXT or len(cfg) != 8 or cfg[3:] != expected:
      raise ValueError("not a ContextModel coding state of this version (see context.export)")
    self.c, self.cc, self.sc = cfg[:3]
    layers = state["layers"]
    x_in, x_act = ACT_BOUND << FRAC_IN, ACT_BOUND << FRAC_ACT
    self.ctx = _Layer(layers["ctx"], x_in, "ctx")
    self.cond = _Layer(layers["cond"], x_in, "cond") if self.cc else None
    self.ep = [_Layer(layers[f"ep_{i}"], x_act, f"ep_{i}") for i in range(3)]
    if (
      self.ctx.w.shape[0] != len(causal_offsets()[0]) * self.c
      or (self.cc and self.cond.w.shape[0] != KERNEL * KERNEL * self.cc)
      or self.ep[0].w.shape[0] != (4 if self.cc else 2) * self.c + self.sc
      or self.ep[2].w.shape[1] != 2 * self.c
    ):
      raise ValueError("integer layers do not match the state's channel configuration")
    self.thresholds = np.asarray(state["scale_thresholds"], np.int64).astype(np.float64)
    self.tables = rc.tableset(state["gaussian"])
    if self.thresholds.size + 1 != len(self.tables):
      raise ValueError("scale thresholds and Gaussian tables disagree")
    self.kh, self.kw = causal_offsets()
    ch, cw = np.meshgrid(np.arange(KERNEL), np.arange(KERNEL), indexing="ij")
    self.ch, self.cw = ch.ravel(), cw.ravel()


_RUNTIMES: "collections.OrderedDict[bytes, _Runtime]" = collections.OrderedDict()


def _runtime(state: Mapping[str, Any]) -> tuple[_Runtime, bytes]:
  fp = verify_fingerprint(state)
  return rc.cached(_RUNTIMES, 4, fp, lambda: _Runtime(state)), fp


class IntParams(NamedTuple):
  """Integer parameters of ``N`` positions: ``mean_q`` (means · 2^8), ``scale_q`` (scales · 2^12,
  before the 0.11 bound) and ``index`` (scale-table index, uint8), each ``(N, C)``."""

  mean_q: np.ndarray
  scale_q: np.ndarray
  index: np.ndarray


class _Inputs:
  """Padded integer ŷ / conditioning / side tensors of one latent."""

  def __init__(self, rt: _Runtime, h: int, w: int, cond_q, side_q):
    p = KERNEL // 2
    self.y = np.zeros((h + p, w + 2 * p, rt.c), np.int64)  # rows below are never read
    self.cond = None if cond_q is None else np.pad(cond_q, ((p, p), (p, p), (0, 0)))
    self.side = None if side_q is None else side_q << (FRAC_ACT - FRAC_IN)

  def put(self, hs, ws, y_q):
    p = KERNEL // 2
    self.y[hs + p, ws + p] = np.clip(y_q, -(ACT_BOUND << FRAC_IN), ACT_BOUND << FRAC_IN)


def _evaluate(rt: _Runtime, inp: _Inputs, hs: np.ndarray, ws: np.ndarray, engine: str) -> IntParams:
  """The batched integer parameter function at positions ``(hs, ws)``."""
  n = hs.size
  feats = []
  if rt.cc:
    patch = inp.cond[hs[:, None] + rt.ch, ws[:, None] + rt.cw].reshape(n, -1)
    feats.append(_clip(rt.cond(patch, engine)))
  if rt.sc:
    feats.append(inp.side[hs, ws])
  patch = inp.y[hs[:, None] + rt.kh, ws[:, None] + rt.kw].reshape(n, -1)
  feats.append(_clip(rt.ctx(patch, engine)))
  x = np.concatenate(feats, axis=1) if len(feats) > 1 else feats[0]
  x = _leaky_int(rt.ep[0](x, engine))
  x = _leaky_int(rt.ep[1](x, engine))
  out = rt.ep[2](x, engine)
  scale_q = out[:, : rt.c]
  down = FRAC_ACT - FRAC_IN
  mean_q = np.clip((out[:, rt.c :] + (1 << (down - 1))) >> down, -(ACT_BOUND << FRAC_IN), ACT_BOUND << FRAC_IN)
  index = scale_to_index(np.clip(scale_q, -1, 1 << 40), rt.thresholds)
  return IntParams(mean_q, scale_q, index)


def wavefronts(height: int, width: int):
  """Yield ``(hs, ws)`` of each non-empty wavefront ``t = 3h + w``, ``t`` ascending: ``3(H-1) + W``
  of them for ``W >= 3`` (narrower latents skip the empty ones)."""
  for t in range(3 * (height - 1) + width):
    hs = np.arange(max(0, -(-(t - width + 1) // 3)), min(height - 1, t // 3) + 1, dtype=np.int64)
    if hs.size:
      yield hs, t - 3 * hs


def _evaluate_schedule(rt, inp, hs, ws, engine: str, schedule: str) -> IntParams:
  if schedule == "wavefront":
    return _evaluate(rt, inp, hs, ws, engine)
  if schedule != "raster":
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
  parts = [_evaluate(rt, inp, hs[i : i + 1], ws[i : i + 1], engine) for i in range(hs.size)]
  return IntParams(*(np.concatenate(a) for a in zip(*parts)))


# ----------------------------------------------------------------------------- inputs
def _grid(x, what: str, shape: tuple[int, ...]) -> np.ndarray:
  """``rint(x · 2^8)`` as int64, for a finite float array of ``shape`` with ``|x| < 2^15``."""
  a = np.asarray(x)
  if not np.issubdtype(a.dtype, np.floating):
    raise ValueError(f"{what} must be floating point, got {a.dtype}")
  if a.shape != shape:
    raise ValueError(f"{what} must have shape {shape}, got {a.shape}")
  a = a.astype(np.float64)
  if not np.all(np.isfinite(a)) or (a.size and np.max(np.abs(a)) >= ACT_BOUND):
    raise ValueError(f"{what} must be finite with |{what}| < {ACT_BOUND}")
  return np.rint(np.ldexp(a, FRAC_IN)).astype(np.int64)


def _side_inputs(rt: _Runtime, h: int, w: int, cond, side):
  for name, x, ch in (("cond", cond, rt.cc), ("side", side, rt.sc)):
    if bool(ch) != (x is not None):
      need = f"needs {name} with {ch} channels" if ch else f"takes no {name}"
      raise ValueError(f"this context model {need}")
  cond_q = None if cond is None else _grid(cond, "cond", (h, w, rt.cc))
  side_q = None if side is None else _grid(side, "side", (h, w, rt.sc))
  return cond_q, side_q


def _conditioning_meta(cond_q, side_q) -> bytes:
  flags = (_FLAG_COND if cond_q is not None else 0) | (_FLAG_SIDE if side_q is not None else 0)
  h = hashlib.sha256(_FORMAT + bytes([flags]))
  for a in (cond_q, side_q):
    if a is not None:
      h.update(np.asarray(a.shape, "<i8").tobytes())
      h.update(a.astype("<i8").tobytes())
  return _META.pack(flags, h.digest()[:16])


def parameters(
  state: Mapping[str, Any], y_hat, positions, cond=None, side=None, *, engine: str = "exact-f64"
) -> IntParams:
  """The integer parameter function at ``positions`` (``(N, 2)`` rows ``(h, w)``), all at once.

  ``y_hat`` ``(H, W, C)`` is snapped to the 2^-8 grid; only its causal neighbourhood of each
  position is read. Equal for any batching or order of the positions, on any machine.
  """
  rt, _ = _runtime(state)
  y_q = _grid(y_hat, "y_hat", np.shape(y_hat))
  if y_q.ndim != 3 or y_q.shape[-1] != rt.c:
    raise ValueError(f"y_hat must have shape (H, W, {rt.c}), got {y_q.shape}")
  h, w, _ = y_q.shape
  pos = np.asarray(positions, np.int64).reshape(-1, 2)
  if pos.size and ((pos.min(axis=0) < 0).any() or (pos.max(axis=0) >= (h, w)).any()):
    raise ValueError(f"positions must lie in [0, {h}) x [0, {w})")
  inp = _Inputs(rt, h, w, *_side_inputs(rt, h, w, cond, side))
  all_h, all_w = np.divmod(np.arange(h * w), w)
  inp.put(all_h, all_w, y_q.reshape(-1, rt.c))
  return _evaluate(rt, inp, pos[:, 0], pos[:, 1], _check_engine(engine))


def _check_engine(engine: str) -> str:
  if engine not in ENGINES:
    raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
  return engine


# ----------------------------------------------------------------------------- coding
def _latent(rt: _Runtime, y) -> np.ndarray:
  a = np.asarray(y)
  if a.ndim != 3 or a.shape[-1] != rt.c or 0 in a.shape:
    raise ValueError(f"latent must have shape (H, W, {rt.c}) with H, W >= 1, got {a.shape}")
  if not np.issubdtype(a.dtype, np.floating):
    raise ValueError(f"latent must be floating point, got {a.dtype}")
  if not np.all(np.isfinite(a)) or np.max(np.abs(a)) >= ACT_BOUND - 1:
    raise ValueError(f"latent must be finite with |y| < {ACT_BOUND - 1}")
  return a.astype(np.float64)


def _encode_steps(rt: _Runtime, y: np.ndarray, cond_q, side_q, engine: str):
  """The encoder's wavefront pass: per wavefront ``(symbols (N, C), indices (N, C))`` and ŷ·2^8."""
  h, w, c = y.shape
  inp = _Inputs(rt, h, w, cond_q, side_q)
  y_q = np.zeros((h, w, c), np.int64)
  steps = []
  for hs, ws in wavefronts(h, w):
    prm = _evaluate(rt, inp, hs, ws, engine)
    k = round_symbols(y[hs, ws], np.ldexp(prm.mean_q, -FRAC_IN), "latent").astype(np.int64)
    q = (k << FRAC_IN) + prm.mean_q
    inp.put(hs, ws, q)
    y_q[hs, ws] = q
    steps.append((k, prm.index))
  return steps, y_q


def _prepare(state, y, cond, side, engine):
  rt, fp = _runtime(state)
  y = _latent(rt, y)
  cond_q, side_q = _side_inputs(rt, y.shape[0], y.shape[1], cond, side)
  steps, y_q = _encode_steps(rt, y, cond_q, side_q, _check_engine(engine))
  return rt, fp, cond_q, side_q, steps, y_q


def _dequantize(y_q: np.ndarray) -> np.ndarray:
  return np.ldexp(y_q.astype(np.float64), -FRAC_IN).astype(np.float32)  # exact: |ŷ·2^8| < 2^24


def quantize(state: Mapping[str, Any], y, cond=None, side=None, *, engine: str = "exact-f64") -> np.ndarray:
  """The ŷ (float32, ``(H, W, C)``) that ``decompress(compress(...))`` returns, without coding."""
  return _dequantize(_prepare(state, y, cond, side, engine)[-1])


def symbols(state: Mapping[str, Any], y, cond=None, side=None, *, engine: str = "exact-f64") -> dict[str, np.ndarray]:
  """``{"symbols", "indices"}`` ``(H, W, C)`` as coded, and ``"y_hat"`` (for rate reports)."""
  rt, _, _, _, steps, y_q = _prepare(state, y, cond, side, engine)
  h, w, c = y_q.shape
  k, idx = np.zeros((h, w, c), np.int64), np.zeros((h, w, c), np.uint8)
  for (hs, ws), (ks, ids) in zip(wavefronts(h, w), steps):
    k[hs, ws], idx[hs, ws] = ks, ids
  return {"symbols": k, "indices": idx, "y_hat": _dequantize(y_q)}


def _step_runs(index: np.ndarray, num_tables: int):
  order, counts = rc.group_by_table(index.ravel(), num_tables)
  return order, counts, np.concatenate([[0], np.cumsum(counts)])


def compress(state: Mapping[str, Any], y, cond=None, side=None, *, engine: str = "exact-f64") -> bytes:
  """Latent ``(H, W, C)`` -> a self-checking file; ``cond``/``side`` as the model requires."""
  rt, fp, cond_q, side_q, steps, y_q = _prepare(state, y, cond, side, engine)
  ts = rt.tables
  encoder = rc.QUEUE.RangeEncoder()
  coded = []
  for k, index in steps:
    order, counts, bounds = _step_runs(index, len(ts))
    ks = k.ravel()[order]
    rc.encode_runs(encoder, ts, ((t, ks[bounds[t] : bounds[t + 1]]) for t in np.flatnonzero(counts)))
    coded.append(ks)
  shape = tuple(int(s) for s in y_q.shape)
  payloads = [_conditioning_meta(cond_q, side_q), rc.to_bytes(encoder)]
  return container.pack(KIND_CONTEXT, fp, shape, payloads, symbols_crc(shape, *coded))


def decompress(
  state: Mapping[str, Any],
  data: bytes,
  shape: tuple[int, int, int] | None = None,
  cond=None,
  side=None,
  *,
  schedule: str = "wavefront",
  engine: str = "exact-f64",
  max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> np.ndarray:
  """File -> ŷ (float32 ``(H, W, C)``), bit-identical to the encoder's ``quantize``.

  Raises a ``container.BitstreamError`` subclass for damaged, truncated or foreign files,
  :class:`ShapeMismatchError` if ``shape`` differs from the file's, and
  :class:`ConditioningMismatchError` for other conditioning or side features than the encoder's.
  """
  rt, fp = _runtime(state)
  if schedule not in SCHEDULES:
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
  engine = _check_engine(engine)
  header, payloads = container.unpack(data, expected_fingerprint=fp, expected_kind=KIND_CONTEXT)
  dims = header.shape
  if len(dims) != 3 or dims[2] != rt.c or len(payloads) != 2 or 0 in dims:
    raise CorruptedBitstreamError(
      f"header describes shape {dims} with {len(payloads)} payloads; expected (H, W, {rt.c}) and 2"
    )
  if math.prod(dims) > max_elements:
    raise CorruptedBitstreamError(
      f"header announces {math.prod(dims)} latent elements, more than max_elements={max_elements}"
    )
  if shape is not None and tuple(int(s) for s in shape) != dims:
    raise ShapeMismatchError(f"the file holds a latent of shape {dims}, not {tuple(shape)}")
  h, w, c = dims
  if len(payloads[0]) != _META.size:
    raise CorruptedBitstreamError(f"conditioning record is {len(payloads[0])} bytes, expected {_META.size}")
  flags, _ = _META.unpack(payloads[0])
  wanted = (_FLAG_COND if rt.cc else 0) | (_FLAG_SIDE if rt.sc else 0)
  if flags != wanted:
    raise CorruptedBitstreamError(f"conditioning flags {flags} do not match the model's {wanted}")
  try:
    cond_q, side_q = _side_inputs(rt, h, w, cond, side)
  except ValueError as e:
    raise ConditioningMismatchError(f"conditioning does not fit the file: {e}") from e
  if _conditioning_meta(cond_q, side_q) != payloads[0]:
    raise ConditioningMismatchError(
      "the conditioning / side features differ from those the file was encoded with (hash mismatch)"
    )
  y_q = rc.guarded_decode(_decode_steps, rt, payloads[1], header, cond_q, side_q, engine, schedule)
  return _dequantize(y_q)


def _decode_steps(rt: _Runtime, payload: bytes, header, cond_q, side_q, engine: str, schedule: str) -> np.ndarray:
  h, w, c = header.shape
  ts = rt.tables
  inp = _Inputs(rt, h, w, cond_q, side_q)
  y_q = np.zeros((h, w, c), np.int64)
  decoder = rc.make_decoder(payload)
  coded = []
  for hs, ws in wavefronts(h, w):
    prm = _evaluate_schedule(rt, inp, hs, ws, engine, schedule)
    order, counts, _ = _step_runs(prm.index, len(ts))
    ks = np.concatenate(rc.decode_runs(decoder, ts, list(enumerate(counts))))
    if ks.size and np.max(np.abs(ks)) > _MAX_SYMBOL:
      raise CorruptedBitstreamError("payload decodes to symbols no encoder writes")
    k = np.empty_like(ks)
    k[order] = ks
    q = (k.reshape(-1, c) << FRAC_IN) + prm.mean_q
    inp.put(hs, ws, q)
    y_q[hs, ws] = q
    coded.append(ks)
  if symbols_crc(header.shape, *coded) != header.symbols_crc:
    raise CorruptedBitstreamError("decoded symbols fail the encoder's symbol CRC")
  return y_q
