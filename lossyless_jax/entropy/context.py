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

**Integer network** (``integer_net``; Ballé, Johnston & Minnen 2019, §2). :func:`export` quantizes
the trained layers once (inputs ``ŷ``, ``cond`` and ``side`` on the 2^-8 grid, hidden activations
and the scale output with 12 fractional bits); the mean is snapped to the 2^-8 grid, so
``ŷ = symbol + mean`` is exact; the scale index is the number of integer boundaries
``ceil(b_k · 2^12)`` (``b_k`` the KL-optimal boundaries of ``gaussian.scale_boundaries``) that the
integer scale reaches, via ``gaussian.scale_to_index``. The parameter function is therefore a pure
integer function of the stored integers: independent of batch, order, thread count and CPU.

**Schedules.** Position ``(h, w)`` depends on ``(h-2..h-1, w-2..w+2)`` and ``(h, w-2..w-1)``, all
with smaller ``t = 3h + w``, and 3 is the least slope with that property: the positions of one
wavefront ``t`` are independent, and ``3(H-1) + W`` wavefronts cover the latent (``W >= 3``). ``"wavefront"``
evaluates each wavefront in one batched call of the parameter function; ``"raster"`` makes one call
per position. Encoding uses the wavefront schedule.

**Stream.** One ``constriction`` range-coder (queue) stream in wavefront order. Within wavefront
``t`` the symbols ``round(y - mean)`` of its positions (``h`` ascending, channels inner) are grouped
by scale index (stable) and coded run by run with the 24-bit tables of
``tables.build_gaussian_tables``, escapes after the runs (``range_coder``'s escape code). The
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
import struct
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.entropy import codecs
from lossyless_jax.entropy import integer_net as inet
from lossyless_jax.entropy import quantization
from lossyless_jax.entropy import range_coder as rc
from lossyless_jax.entropy.codecs import Coded, round_symbols
from lossyless_jax.entropy.container import BitstreamError, CorruptedBitstreamError
from lossyless_jax.entropy.gaussian import SCALE_BOUND, GaussianConditional
from lossyless_jax.entropy.integer_net import ACT_BOUND, ENGINES, FRAC_ACT, FRAC_IN, LEAKY_SHIFT  # noqa: F401
from lossyless_jax.entropy.tables import KIND_CONTEXT, PRECISION, build_gaussian_tables, fingerprint, verify_fingerprint

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
  "ContextCodec",
  "parameters",
  "wavefronts",
  "quantize",
  "symbols",
  "compress",
  "decompress",
]

KERNEL = 5
SCHEDULES = ("wavefront", "raster")
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
  layers = {"ctx": inet.quantize_layer(ctx_k.reshape(-1, 2 * c), p["ctx"]["bias"], FRAC_IN, FRAC_ACT)}
  if cc:
    layers["cond"] = inet.quantize_layer(p["cond"]["kernel"].reshape(-1, 2 * c), p["cond"]["bias"], FRAC_IN, FRAC_ACT)
  for name in ("ep_0", "ep_1", "ep_2"):
    k = p[name]["kernel"]
    layers[name] = inet.quantize_layer(k.reshape(k.shape[-2], k.shape[-1]), p[name]["bias"], FRAC_ACT, FRAC_ACT)
  gaussian = build_gaussian_tables(scale_table, tail_mass, PRECISION)
  thresholds = inet.scale_thresholds(gaussian["boundaries"])
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
    self.ctx = inet.IntLayer(layers["ctx"], x_in, "ctx")
    self.cond = inet.IntLayer(layers["cond"], x_in, "cond") if self.cc else None
    self.ep = [inet.IntLayer(layers[f"ep_{i}"], x_act, f"ep_{i}") for i in range(3)]
    if (
      self.ctx.w.shape[0] != len(causal_offsets()[0]) * self.c
      or (self.cc and self.cond.w.shape[0] != KERNEL * KERNEL * self.cc)
      or self.ep[0].w.shape[0] != (4 if self.cc else 2) * self.c + self.sc
      or self.ep[2].w.shape[1] != 2 * self.c
    ):
      raise ValueError("integer layers do not match the state's channel configuration")
    self.thresholds = np.asarray(state["scale_thresholds"], np.int64)
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


IntParams = inet.GaussianParams  # integer parameters of N positions: mean_q, scale_q, index


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
    feats.append(inet.clip_act(rt.cond(patch, engine)))
  if rt.sc:
    feats.append(inp.side[hs, ws])
  patch = inp.y[hs[:, None] + rt.kh, ws[:, None] + rt.kw].reshape(n, -1)
  feats.append(inet.clip_act(rt.ctx(patch, engine)))
  x = np.concatenate(feats, axis=1) if len(feats) > 1 else feats[0]
  x = inet.leaky_relu(rt.ep[0](x, engine))
  x = inet.leaky_relu(rt.ep[1](x, engine))
  return inet.gaussian_parameters(rt.ep[2](x, engine), rt.c, rt.thresholds)


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
def _side_inputs(rt: _Runtime, h: int, w: int, cond, side):
  for name, x, ch in (("cond", cond, rt.cc), ("side", side, rt.sc)):
    if bool(ch) != (x is not None):
      need = f"needs {name} with {ch} channels" if ch else f"takes no {name}"
      raise ValueError(f"this context model {need}")
  cond_q = None if cond is None else inet.to_grid(cond, "cond", (h, w, rt.cc))
  side_q = None if side is None else inet.to_grid(side, "side", (h, w, rt.sc))
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
  y_q = inet.to_grid(y_hat, "y_hat", np.shape(y_hat))
  if y_q.ndim != 3 or y_q.shape[-1] != rt.c:
    raise ValueError(f"y_hat must have shape (H, W, {rt.c}), got {y_q.shape}")
  h, w, _ = y_q.shape
  pos = np.asarray(positions, np.int64).reshape(-1, 2)
  if pos.size and ((pos.min(axis=0) < 0).any() or (pos.max(axis=0) >= (h, w)).any()):
    raise ValueError(f"positions must lie in [0, {h}) x [0, {w})")
  inp = _Inputs(rt, h, w, *_side_inputs(rt, h, w, cond, side))
  all_h, all_w = np.divmod(np.arange(h * w), w)
  inp.put(all_h, all_w, y_q.reshape(-1, rt.c))
  return _evaluate(rt, inp, pos[:, 0], pos[:, 1], inet.check_engine(engine))


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


def _dequantize(y_q: np.ndarray) -> np.ndarray:
  return np.ldexp(y_q.astype(np.float64), -FRAC_IN).astype(np.float32)  # exact: |ŷ·2^8| < 2^24


def _step_runs(index: np.ndarray, num_tables: int):
  order, counts = rc.group_by_table(index.ravel(), num_tables)
  return order, counts, np.concatenate([[0], np.cumsum(counts)])


class ContextCodec:
  """The codec (``codecs``) of an exported state: streams ``("conditioning", "latent")``, latents
  ``(H, W, C)``. ``encode(y, cond=None, side=None, engine=...)``; ``decode(payloads, shape,
  cond=None, side=None, schedule="wavefront", engine=..., expected_shape=None)``."""

  kind = KIND_CONTEXT
  streams = ("conditioning", "latent")

  def __init__(self, state: Mapping[str, Any]):
    self.rt, self.fingerprint = _runtime(state)

  def check_shape(self, shape: tuple[int, ...]) -> None:
    if len(shape) != 3 or shape[2] != self.rt.c or 0 in shape:
      raise ValueError(f"latent must have shape (H, W, {self.rt.c}) with H, W >= 1, got {tuple(shape)}")

  def check_options(self, cond=None, side=None, schedule: str = "wavefront", engine: str = "exact-f64",
                    expected_shape=None) -> None:
    if schedule not in SCHEDULES:
      raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    inet.check_engine(engine)

  def steps(self, y, cond=None, side=None, engine: str = "exact-f64"):
    """The encoder's wavefront pass: per wavefront ``(symbols (N, C), indices (N, C))``, ŷ·2^8, and
    the integer conditioning and side inputs."""
    rt = self.rt
    y = _latent(rt, y)
    h, w, c = y.shape
    cond_q, side_q = _side_inputs(rt, h, w, cond, side)
    engine = inet.check_engine(engine)
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
    return steps, y_q, cond_q, side_q

  def encode(self, y, cond=None, side=None, engine: str = "exact-f64") -> Coded:
    steps, y_q, cond_q, side_q = self.steps(y, cond, side, engine)
    ts = self.rt.tables
    encoder = rc.QUEUE.RangeEncoder()
    coded = []
    for k, index in steps:
      order, counts, bounds = _step_runs(index, len(ts))
      ks = k.ravel()[order]
      rc.encode_runs(encoder, ts, ((t, ks[bounds[t] : bounds[t + 1]]) for t in np.flatnonzero(counts)))
      coded.append(ks)
    return Coded([_conditioning_meta(cond_q, side_q), rc.to_bytes(encoder)], coded, _dequantize(y_q))

  def decode(self, payloads, shape, cond=None, side=None, schedule: str = "wavefront", engine: str = "exact-f64",
             expected_shape=None) -> Coded:
    rt = self.rt
    if expected_shape is not None and tuple(int(s) for s in expected_shape) != tuple(shape):
      raise ShapeMismatchError(f"the file holds a latent of shape {tuple(shape)}, not {tuple(expected_shape)}")
    h, w, c = shape
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
    ts = rt.tables
    inp = _Inputs(rt, h, w, cond_q, side_q)
    y_q = np.zeros((h, w, c), np.int64)
    decoder = rc.make_decoder(payloads[1])
    coded = []
    for hs, ws in wavefronts(h, w):
      prm = _evaluate_schedule(rt, inp, hs, ws, engine, schedule)
      order, counts, _ = _step_runs(prm.index, len(ts))
      ks = rc.decode_runs_flat(decoder, ts, list(enumerate(counts)))
      if ks.size and np.max(np.abs(ks)) > _MAX_SYMBOL:
        raise CorruptedBitstreamError("payload decodes to symbols no encoder writes")
      k = np.empty_like(ks)
      k[order] = ks
      q = (k.reshape(-1, c) << FRAC_IN) + prm.mean_q
      inp.put(hs, ws, q)
      y_q[hs, ws] = q
      coded.append(ks)
    return Coded(list(payloads), coded, _dequantize(y_q))


def quantize(state: Mapping[str, Any], y, cond=None, side=None, *, engine: str = "exact-f64") -> np.ndarray:
  """The ŷ (float32, ``(H, W, C)``) that ``decompress(compress(...))`` returns, without coding."""
  return _dequantize(ContextCodec(state).steps(y, cond, side, engine)[1])


def symbols(state: Mapping[str, Any], y, cond=None, side=None, *, engine: str = "exact-f64") -> dict[str, np.ndarray]:
  """``{"symbols", "indices"}`` ``(H, W, C)`` as coded, and ``"y_hat"`` (for rate reports)."""
  steps, y_q, _, _ = ContextCodec(state).steps(y, cond, side, engine)
  h, w, c = y_q.shape
  k, idx = np.zeros((h, w, c), np.int64), np.zeros((h, w, c), np.uint8)
  for (hs, ws), (ks, ids) in zip(wavefronts(h, w), steps):
    k[hs, ws], idx[hs, ws] = ks, ids
  return {"symbols": k, "indices": idx, "y_hat": _dequantize(y_q)}


def compress(state: Mapping[str, Any], y, cond=None, side=None, *, engine: str = "exact-f64") -> bytes:
  """Latent ``(H, W, C)`` -> a self-checking file; ``cond``/``side`` as the model requires."""
  return codecs.write(ContextCodec(state), y, cond=cond, side=side, engine=engine)


def decompress(
  state: Mapping[str, Any],
  data: bytes,
  shape: tuple[int, int, int] | None = None,
  cond=None,
  side=None,
  *,
  schedule: str = "wavefront",
  engine: str = "exact-f64",
  max_elements: int = codecs.DEFAULT_MAX_ELEMENTS,
) -> np.ndarray:
  """File -> ŷ (float32 ``(H, W, C)``), bit-identical to the encoder's ``quantize``.

  Raises a ``container.BitstreamError`` subclass for damaged, truncated or foreign files,
  :class:`ShapeMismatchError` if ``shape`` differs from the file's, and
  :class:`ConditioningMismatchError` for other conditioning or side features than the encoder's.
  """
  return codecs.read(ContextCodec(state), data, max_elements=max_elements, cond=cond, side=side,
                     schedule=schedule, engine=engine, expected_shape=shape)
