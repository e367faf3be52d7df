"""Entropy coding of integer symbols with ``constriction``'s range coder, and file-level
``compress`` / ``decompress`` for factorized and hyperprior rate models.

**Tables and exactness.** Every table (``tables.py``) is a list of integer counts summing to
``2**24``; it is given to ``constriction.stream.model.Categorical(counts - 1, perfect=False)``.
That constructor assigns ``1 + floor(p_i · (2**24 - n) / Σp)`` to each symbol; with
``p = counts - 1`` the scale is exactly one and it reproduces ``counts`` bit for bit, so the
code length of a symbol is ``-log2(count / 2**24)`` up to the range coder's tiny overhead.

**Escape.** Each table codes ``L`` consecutive integers ``kmin..kmin+L-1`` and one escape
symbol (index ``L``). An integer ``k`` outside is coded as the escape, and, after all table
symbols of the stream, its distance to the table as ``u = 2·d + side`` (``d >= 0`` the
distance past the nearer end, ``side`` 0 below / 1 above) with an Elias-gamma code:
``n = floor(log2(u + 1))`` under a categorical ``P(n) ∝ 2^-(n+1)`` (n ≤ 41), then the ``n``
low bits of ``u + 1`` as uniform symbols (≤ 21 bits each). So any integer with
``|k| < 2**40`` round-trips exactly; nothing is clipped.

**Order.** Symbols are coded in runs that share a table, each run in one ``constriction``
call: channel by channel for a factorized prior (``(N, C)`` latents, channel-major), table by
table for a Gaussian conditional (symbols grouped by scale index with a stable sort). The
decoder knows the runs (channels, or scale indices recomputed from the side information), so
no ordering data is stored.

**Hyperprior.** ``h_a`` (encoder only) and ``h_s`` run with JAX on the CPU backend, and
scales map to table indices by comparisons against stored float64 boundaries, so encoder and
decoder compute the same indices; if another machine's arithmetic ever disagreed, the
symbol CRC in the file turns that into a ``CorruptedBitstreamError`` instead of a wrong
decode.

``model_state = {"params": variables["params"], "tables": build_tables(params)}`` (see
:func:`make_model_state`); ``decompress`` only needs ``model_state["tables"]``.
"""

from __future__ import annotations

import collections
import hashlib
import zlib
from typing import Any, Mapping

import constriction
import jax
import numpy as np

from lossyless_jax.entropy import container
from lossyless_jax.entropy.affine import affine_forward, affine_inverse
from lossyless_jax.entropy.container import CorruptedBitstreamError
from lossyless_jax.entropy.gaussian import scale_to_index
from lossyless_jax.entropy.hyperprior import mlp_apply
from lossyless_jax.entropy.tables import (
  KIND_FACTORIZED,
  PRECISION,
  build_tables,
  categorical_table,
  check_tables_match_params,
  describe_params,
  quantize_pmf,
  verify_fingerprint,
)

__all__ = [
  "encode_categorical",
  "decode_categorical",
  "make_model_state",
  "compress",
  "decompress",
  "quantize",
  "latent_symbols",
  "encode_factorized_symbols",
  "decode_factorized_symbols",
  "encode_gaussian_symbols",
  "decode_gaussian_symbols",
  "table_bits",
  "MAX_ABS_SYMBOL",
  "DEFAULT_MAX_ELEMENTS",
]

_MODEL = constriction.stream.model
_QUEUE = constriction.stream.queue
_TOTAL = 1 << PRECISION
_NBITS_MAX = 41  # escape distances u < 2**42 - 1
_CHUNK = 21  # uniform chunks of at most 21 bits (< 2**24)
MAX_ABS_SYMBOL = 1 << 40  # |symbol| limit of encode_categorical
_MAX_LATENT_SYMBOL = 1 << 30  # |round(z - offset)| limit of compress
DEFAULT_MAX_ELEMENTS = 1 << 28  # decompress refuses headers announcing more


# ----------------------------------------------------------------------------- tables
class _TableSet:
  """A ragged set of count tables with their (lazily built) constriction models."""

  def __init__(self, counts: np.ndarray, starts: np.ndarray, kmin: np.ndarray):
    self.counts = np.ascontiguousarray(counts, np.uint32)
    self.starts = np.asarray(starts, np.int64)
    self.kmin = np.asarray(kmin, np.int64)
    sizes = np.diff(self.starts)
    if (
      self.starts.ndim != 1
      or self.starts[0] != 0
      or self.starts[-1] != self.counts.size
      or np.any(sizes < 2)
      or self.kmin.shape != (sizes.size,)
    ):
      raise ValueError("malformed coding tables (starts/kmin/counts inconsistent)")
    sums = np.add.reduceat(self.counts.astype(np.int64), self.starts[:-1])
    if np.any(sums != _TOTAL) or self.counts.min() < 1:
      raise ValueError(f"malformed coding tables: counts must be >= 1 and sum to 2**{PRECISION}")
    self.length = sizes - 1  # regular symbols; the escape is index `length`
    self._models: list[Any] = [None] * sizes.size

  def __len__(self) -> int:
    return self.length.size

  def model(self, t: int):
    m = self._models[t]
    if m is None:
      p = self.counts[self.starts[t] : self.starts[t + 1]].astype(np.float64) - 1.0
      m = self._models[t] = _MODEL.Categorical(p, perfect=False)
    return m

  def log2_probs(self, t: int) -> np.ndarray:
    c = self.counts[self.starts[t] : self.starts[t + 1]].astype(np.float64)
    return np.log2(c) - PRECISION


_CACHE: "collections.OrderedDict[bytes, _TableSet]" = collections.OrderedDict()


def _tableset(section: Mapping[str, Any]) -> _TableSet:
  counts = np.ascontiguousarray(section["counts"], np.uint32)
  starts = np.ascontiguousarray(section["starts"], np.int64)
  kmin = np.ascontiguousarray(section["kmin"], np.int64)
  key = hashlib.sha1(counts.tobytes() + b"|" + starts.tobytes() + b"|" + kmin.tobytes()).digest()
  return _cached(_CACHE, 16, key, lambda: _TableSet(counts, starts, kmin))


def _cached(cache, size: int, key: bytes, make):
  """``cache[key]``, built with ``make()`` on a miss; least recently used entries beyond ``size`` go."""
  value = cache.get(key)
  if value is None:
    value = cache[key] = make()
    while len(cache) > size:
      cache.popitem(last=False)
  else:
    cache.move_to_end(key)
  return value


_NBITS: list[Any] = []


def _nbits_model():
  if not _NBITS:
    counts = quantize_pmf(2.0 ** -np.arange(1, _NBITS_MAX + 2, dtype=np.float64))
    _NBITS.append(_MODEL.Categorical(counts.astype(np.float64) - 1.0, perfect=False))
  return _NBITS[0]


# ----------------------------------------------------------------------------- escape
def _escape_codes(k: np.ndarray, kmin: int, length: int) -> np.ndarray:
  below = k < kmin
  d = np.where(below, kmin - 1 - k, k - kmin - length)
  return 2 * d + (~below)


def _escape_values(u: np.ndarray, kmin: int, length: int) -> np.ndarray:
  d = u >> 1
  return np.where((u & 1) == 0, kmin - 1 - d, kmin + length + d)


def _encode_escape_values(encoder, u: np.ndarray) -> None:
  if u.size == 0:
    return
  if u.min() < 0 or u.max() >= (1 << (_NBITS_MAX + 1)) - 1:
    raise ValueError(f"a symbol is too far outside its table to be coded (limit ~2**{_NBITS_MAX})")
  v = u + 1
  n = (np.frexp(v.astype(np.float64))[1] - 1).astype(np.int64)
  encoder.encode(n.astype(np.int32), _nbits_model())
  r = v - (np.int64(1) << n)
  lo = n >= 1
  if lo.any():
    w = np.minimum(n[lo], _CHUNK)
    encoder.encode(
      (r[lo] & ((np.int64(1) << w) - 1)).astype(np.int32), _MODEL.Uniform(), (np.int64(1) << w).astype(np.int32)
    )
  hi = n > _CHUNK
  if hi.any():
    encoder.encode(
      (r[hi] >> _CHUNK).astype(np.int32), _MODEL.Uniform(), (np.int64(1) << (n[hi] - _CHUNK)).astype(np.int32)
    )


def _decode_escape_values(decoder, count: int) -> np.ndarray:
  n = decoder.decode(_nbits_model(), count).astype(np.int64)
  r = np.zeros(count, np.int64)
  lo = n >= 1
  if lo.any():
    w = np.minimum(n[lo], _CHUNK)
    r[lo] = decoder.decode(_MODEL.Uniform(), (np.int64(1) << w).astype(np.int32))
  hi = n > _CHUNK
  if hi.any():
    top = decoder.decode(_MODEL.Uniform(), (np.int64(1) << (n[hi] - _CHUNK)).astype(np.int32))
    r[hi] += top.astype(np.int64) << _CHUNK
  return (np.int64(1) << n) + r - 1


# ----------------------------------------------------------------------------- runs
def _encode_runs(encoder, ts: _TableSet, runs) -> None:
  """Code each ``(table, symbols)`` run as table indices, then every escaped value."""
  escapes = []
  for t, k in runs:
    if k.size == 0:
      continue
    length = int(ts.length[t])
    kmin = int(ts.kmin[t])
    idx = k - k.dtype.type(kmin)
    unsigned = np.uint32 if idx.dtype == np.int32 else np.uint64
    esc = idx.view(unsigned) >= unsigned(length)
    if esc.any():
      escapes.append(_escape_codes(k[esc].astype(np.int64), kmin, length))
      idx = np.where(esc, idx.dtype.type(length), idx)
    encoder.encode(idx.astype(np.int32, copy=False), ts.model(t))
  if escapes:
    _encode_escape_values(encoder, np.concatenate(escapes))


def _decode_runs(decoder, ts: _TableSet, runs) -> list[np.ndarray]:
  """Inverse of ``_encode_runs`` for ``(table, count)`` runs; int64 symbols per run."""
  outs, pending = [], []
  for t, count in runs:
    if count == 0:
      outs.append(np.zeros(0, np.int64))
      continue
    idx = decoder.decode(ts.model(t), int(count))
    length = int(ts.length[t])
    k = idx.astype(np.int64) + ts.kmin[t]
    esc = idx == length
    if esc.any():
      pending.append((len(outs), np.flatnonzero(esc), t))
    outs.append(k)
  if pending:
    u = _decode_escape_values(decoder, sum(p.size for _, p, _ in pending))
    offset = 0
    for j, pos, t in pending:
      outs[j][pos] = _escape_values(u[offset : offset + pos.size], int(ts.kmin[t]), int(ts.length[t]))
      offset += pos.size
  return outs


def _to_bytes(encoder) -> bytes:
  return encoder.get_compressed().astype("<u4", copy=False).tobytes()


def _decoder(data: bytes):
  if len(data) % 4:
    raise CorruptedBitstreamError(f"payload of {len(data)} bytes is not a whole number of 32-bit words")
  return _QUEUE.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))


def _guarded_decode(fn, *args):
  try:
    return fn(*args)
  except container.BitstreamError:
    raise
  except Exception as e:  # constriction rejects some invalid data with AssertionError etc.
    raise CorruptedBitstreamError(f"entropy decoder failed on the payload: {e}") from e


# ----------------------------------------------------------------------------- categorical
_CAT_CACHE: "collections.OrderedDict[bytes, _TableSet]" = collections.OrderedDict()


def _categorical_tableset(pmf) -> _TableSet:
  p = np.ascontiguousarray(pmf, dtype=np.float64)
  if p.ndim != 1 or p.size < 1:
    raise ValueError(f"pmf must be a non-empty 1-D array, got shape {p.shape}")

  def make():
    counts, length = categorical_table(p)
    return _TableSet(counts, np.array([0, length + 1]), np.zeros(1, np.int64))

  return _cached(_CAT_CACHE, 8, hashlib.sha1(p.tobytes()).digest(), make)


def encode_categorical(symbols: np.ndarray, pmf: np.ndarray) -> bytes:
  """Range-code integer ``symbols`` (1-D) i.i.d. under ``pmf`` over ``{0, ..., K-1}``.

  Symbols ``>= K`` or ``< 0`` (``|s| < 2**40``) go through the escape and decode exactly.
  The table is ``tables.categorical_table(pmf)``: quantized deterministically, so the
  decoder must be given a bit-identical ``pmf``. The output is the bare range-coder words
  (4-byte multiples, no header or checksum; wrap it in a container for files).
  """
  s = np.asarray(symbols)
  if s.ndim != 1 or not (np.issubdtype(s.dtype, np.integer) or s.size == 0):
    raise ValueError(f"symbols must be a 1-D integer array, got {s.dtype} {s.shape}")
  s = s.astype(np.int64)
  ts = _categorical_tableset(pmf)
  if s.size == 0:
    return b""
  if s.min() <= -MAX_ABS_SYMBOL or s.max() >= MAX_ABS_SYMBOL:
    raise ValueError("symbols must satisfy |s| < 2**40")
  encoder = _QUEUE.RangeEncoder()
  _encode_runs(encoder, ts, [(0, s)])
  return _to_bytes(encoder)


def decode_categorical(data: bytes, pmf: np.ndarray, num_symbols: int) -> np.ndarray:
  """Inverse of :func:`encode_categorical`; returns ``num_symbols`` int64 symbols.

  Damaged ``data`` may decode to other symbols or raise ``CorruptedBitstreamError``
  (there is no checksum at this level).
  """
  num_symbols = int(num_symbols)
  if num_symbols < 0:
    raise ValueError(f"num_symbols must be >= 0, got {num_symbols}")
  ts = _categorical_tableset(pmf)
  if num_symbols == 0:
    return np.zeros(0, np.int64)
  decoder = _decoder(bytes(data))
  return _guarded_decode(lambda: _decode_runs(decoder, ts, [(0, num_symbols)])[0])


# ----------------------------------------------------------------------------- sections
def encode_factorized_symbols(symbols: np.ndarray, section: Mapping[str, Any]) -> bytes:
  """Code integer symbols ``(N, C)`` (offsets from the medians) with per-channel tables."""
  k = np.asarray(symbols)
  ts = _tableset(section)
  if k.ndim != 2 or k.shape[1] != len(ts):
    raise ValueError(f"expected symbols of shape (N, {len(ts)}), got {k.shape}")
  kt = np.ascontiguousarray(k.T)
  encoder = _QUEUE.RangeEncoder()
  _encode_runs(encoder, ts, ((c, kt[c]) for c in range(len(ts))))
  return _to_bytes(encoder)


def decode_factorized_symbols(data: bytes, section: Mapping[str, Any], num: int) -> np.ndarray:
  """Inverse of :func:`encode_factorized_symbols`: ``(num, C)`` int64."""
  ts = _tableset(section)
  if num == 0:
    return np.zeros((0, len(ts)), np.int64)
  decoder = _decoder(data)
  cols = _guarded_decode(lambda: _decode_runs(decoder, ts, [(c, num) for c in range(len(ts))]))
  return np.stack(cols, axis=1)


def _group(ids: np.ndarray, num_tables: int) -> tuple[np.ndarray, np.ndarray]:
  ids = np.asarray(ids)
  if ids.size and (ids.min() < 0 or ids.max() >= num_tables):
    raise ValueError(f"table indices must be in [0, {num_tables})")
  small = ids.astype(np.uint8 if num_tables <= 256 else np.uint16, copy=False)
  order = np.argsort(small, kind="stable")
  return order, np.bincount(small, minlength=num_tables)


def encode_gaussian_symbols(symbols: np.ndarray, scale_indices: np.ndarray, section: Mapping[str, Any]) -> bytes:
  """Code integer symbols (offsets from the means), each with the table of its scale index."""
  k = np.asarray(symbols).ravel()
  ids = np.asarray(scale_indices).ravel()
  if k.shape != ids.shape:
    raise ValueError(f"{k.size} symbols but {ids.size} scale indices")
  ts = _tableset(section)
  order, counts = _group(ids, len(ts))
  ks = k[order]
  bounds = np.concatenate([[0], np.cumsum(counts)])
  encoder = _QUEUE.RangeEncoder()
  _encode_runs(encoder, ts, ((t, ks[bounds[t] : bounds[t + 1]]) for t in range(len(ts))))
  return _to_bytes(encoder)


def decode_gaussian_symbols(data: bytes, scale_indices: np.ndarray, section: Mapping[str, Any]) -> np.ndarray:
  """Inverse of :func:`encode_gaussian_symbols`; int64, shaped like ``scale_indices``."""
  ids = np.asarray(scale_indices)
  ts = _tableset(section)
  order, counts = _group(ids.ravel(), len(ts))
  out = np.zeros(ids.size, np.int64)
  if ids.size:
    decoder = _decoder(data)
    runs = _guarded_decode(lambda: _decode_runs(decoder, ts, list(enumerate(counts))))
    out[order] = np.concatenate(runs)
  return out.reshape(ids.shape)


def table_bits(symbols: np.ndarray, table_ids: np.ndarray, section: Mapping[str, Any]) -> float:
  """Σ -log2 q(symbol) under the quantized tables (escaped symbols count their escape
  probability only; the Elias-gamma bits are extra)."""
  ts = _tableset(section)
  k = np.asarray(symbols, np.int64).ravel()
  ids = np.asarray(table_ids, np.int64).ravel()
  total = 0.0
  for t in np.unique(ids):
    kt = k[ids == t] - ts.kmin[t]
    kt = np.where((kt < 0) | (kt > ts.length[t]), ts.length[t], kt)
    total -= float(ts.log2_probs(int(t))[kt].sum())
  return total


# ----------------------------------------------------------------------------- CPU model parts
def _cpu_device():
  try:
    return jax.devices("cpu")[0]
  except RuntimeError as e:
    raise RuntimeError(
      "entropy coding runs h_a / h_s / the affine map on JAX's CPU backend; "
      "do not exclude 'cpu' from JAX_PLATFORMS (e.g. use 'cuda,cpu')"
    ) from e


_mlp_jit = jax.jit(mlp_apply)
_affine_forward_jit = jax.jit(affine_forward)
_affine_inverse_jit = jax.jit(affine_inverse)


@jax.jit
def _affine_round_jit(z, scaling, biasing, offset):
  # the same expression as AffinePrecision + eval-mode rounding, so XLA compiles it the same
  # way (e.g. the same FMA contraction of (z + b)·exp(s) - offset)
  return jax.numpy.round(affine_forward(z, scaling, biasing) - offset)


def _on_cpu(fn, *args) -> Any:
  cpu = _cpu_device()
  args = jax.device_put(args, cpu)
  with jax.default_device(cpu):
    out = fn(*args)
  return jax.tree_util.tree_map(np.asarray, out)


def make_model_state(params: Mapping[str, Any], **table_kwargs) -> dict[str, Any]:
  """``{"params": params, "tables": build_tables(params, **table_kwargs)}``."""
  return {"params": params, "tables": build_tables(params, **table_kwargs)}


def _latent_array(latents, dim: int) -> tuple[np.ndarray, tuple[int, ...]]:
  z = np.asarray(latents)
  if not np.issubdtype(z.dtype, np.floating):
    raise ValueError(f"latents must be floating point, got {z.dtype}")
  z = z.astype(np.float32, copy=False)
  if z.ndim < 1 or z.shape[-1] != dim:
    raise ValueError(f"latents must have shape (..., {dim}) for these tables, got {z.shape}")
  if z.ndim > container.MAX_NDIM:
    raise ValueError(f"latents may have at most {container.MAX_NDIM} axes, got {z.ndim}")
  if not np.all(np.isfinite(z)):
    raise ValueError("latents contain NaN or inf")
  return z.reshape(-1, dim), z.shape


def _round_symbols(
  x: np.ndarray, offset: np.ndarray, what: str, affine: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
  """``round(x - offset)`` as int32; with ``affine=(z, s, b)``, ``x`` is ``affine_forward(z)``
  and the rounding is computed by the same XLA expression as in the module."""
  diff = x - offset
  if diff.size and np.max(np.abs(diff)) >= _MAX_LATENT_SYMBOL:
    raise ValueError(f"{what} too far from its rounding offset to be coded (|{what} - offset| must be < 2**30)")
  if affine is not None:
    return _on_cpu(_affine_round_jit, *affine, offset).astype(np.int32)
  return np.rint(diff).astype(np.int32)


def _state_parts(model_state: Mapping[str, Any], need_params: bool):
  if not isinstance(model_state, Mapping) or "tables" not in model_state:
    raise ValueError("model_state must be a dict with 'tables' (and 'params' to encode); see make_model_state")
  tables = model_state["tables"]
  fp = verify_fingerprint(tables)
  params = model_state.get("params")
  if need_params:
    if params is None:
      raise ValueError("compress needs model_state['params'] (the encoder-side weights)")
    check_tables_match_params(tables, params)
  if int(tables["precision"]) != PRECISION:
    raise ValueError(f"tables have precision {int(tables['precision'])}, coder needs {PRECISION}")
  return tables, params, fp


def latent_symbols(model_state: Mapping[str, Any], latents) -> dict[str, np.ndarray]:
  """The integer symbols ``compress`` codes, plus the side results it needs.

  Returns ``{"z_in": (N, d) float32, "symbols": (N, d) int32, "offsets": (N, d) or (d,)
  float32}`` and for a hyperprior also ``"side_symbols"``, ``"side_offsets"``,
  ``"scale_indices"``, ``"scales"``.
  """
  tables, params, _ = _state_parts(model_state, need_params=True)
  return _latent_symbols(tables, params, latents)


def _latent_symbols(tables, params, latents) -> dict[str, np.ndarray]:
  kind, affine, inner = describe_params(params)
  z_raw, _ = _latent_array(latents, int(tables["dim"]))
  z, aff = z_raw, None
  if affine:
    s, b = tables["affine"]["scaling"], tables["affine"]["biasing"]
    z, aff = _on_cpu(_affine_forward_jit, z_raw, s, b), (z_raw, s, b)
  med = tables["factorized"]["medians"]
  if kind == KIND_FACTORIZED:
    return {"z_in": z, "symbols": _round_symbols(z, med, "latent", aff), "offsets": med}
  side = _on_cpu(_mlp_jit, inner["h_a"], z)
  ks = _round_symbols(side, med, "side information")
  side_hat = ks.astype(np.float32) + med
  scales, means = _hyper_synthesis(tables, side_hat)
  idx = scale_to_index(scales, tables["gaussian"]["boundaries"])
  return {
    "z_in": z,
    "symbols": _round_symbols(z, means, "latent", aff),
    "offsets": means,
    "side_symbols": ks,
    "side_offsets": med,
    "scale_indices": idx,
    "scales": scales,
  }


def _hyper_synthesis(tables, side_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  out = _on_cpu(_mlp_jit, tables["h_s"], side_hat)
  dim = int(tables["dim"])
  if out.shape[-1] != 2 * dim:
    raise ValueError(f"h_s outputs {out.shape[-1]} features, expected 2 * {dim}")
  scales = np.ascontiguousarray(out[:, :dim])
  means = np.ascontiguousarray(out[:, dim:])
  if not (np.all(np.isfinite(scales)) and np.all(np.isfinite(means))):
    raise ValueError("hyper-synthesis produced NaN or inf")
  return scales, means


def _symbols_crc(shape: tuple[int, ...], *arrays: np.ndarray) -> int:
  """The symbol CRC of the file format (``container.py``): seeded with the latent shape."""
  crc = container.symbols_crc_seed(shape)
  for a in arrays:
    crc = zlib.crc32(np.ascontiguousarray(a).astype("<i4").tobytes(), crc)
  return crc


def _dequantize(tables, symbols: np.ndarray, offsets: np.ndarray, shape) -> np.ndarray:
  z = symbols.astype(np.float32) + offsets
  if "affine" in tables:
    z = _on_cpu(_affine_inverse_jit, z, tables["affine"]["scaling"], tables["affine"]["biasing"])
  return np.asarray(z, np.float32).reshape(shape)


def quantize(model_state: Mapping[str, Any], latents) -> np.ndarray:
  """The eval-mode quantized latents that ``decompress(compress(latents))`` returns, without
  coding. Equals the module's eval output computed on the CPU backend."""
  tables, params, _ = _state_parts(model_state, need_params=True)
  parts = _latent_symbols(tables, params, latents)
  return _dequantize(tables, parts["symbols"], parts["offsets"], np.shape(latents))


def compress(model_state: Mapping[str, Any], latents) -> bytes:
  """Latents ``(..., d)`` (any batch shape) -> a self-checking file (``container.py``)."""
  tables, params, fp = _state_parts(model_state, need_params=True)
  parts = _latent_symbols(tables, params, latents)
  shape = tuple(int(s) for s in np.shape(latents))
  kind = int(tables["kind"])
  if kind == KIND_FACTORIZED:
    payloads = [encode_factorized_symbols(parts["symbols"], tables["factorized"])]
    crc = _symbols_crc(shape, parts["symbols"])
  else:
    payloads = [
      encode_factorized_symbols(parts["side_symbols"], tables["factorized"]),
      encode_gaussian_symbols(parts["symbols"], parts["scale_indices"], tables["gaussian"]),
    ]
    crc = _symbols_crc(shape, parts["side_symbols"], parts["symbols"])
  return container.pack(kind, fp, shape, payloads, crc)


def decompress(model_state: Mapping[str, Any], data: bytes, *, max_elements: int = DEFAULT_MAX_ELEMENTS) -> np.ndarray:
  """File -> the eval-mode quantized latents (float32, the shape given to ``compress``).

  Raises a ``container.BitstreamError`` subclass for truncated, corrupted, foreign-model or
  unsupported-version input (``CorruptedBitstreamError`` also for a header announcing more
  than ``max_elements`` latent elements); never returns wrong latents silently.
  """
  tables, _, fp = _state_parts(model_state, need_params=False)
  kind = int(tables["kind"])
  header, payloads = container.unpack(data, expected_fingerprint=fp, expected_kind=kind)
  dim = int(tables["dim"])
  shape = header.shape
  num = 1
  for s in shape:
    num *= s
  expected_payloads = 1 if kind == KIND_FACTORIZED else 2
  if shape[-1] != dim or len(payloads) != expected_payloads:
    raise CorruptedBitstreamError(
      f"header describes shape {shape} with {len(payloads)} "
      f"payloads; the tables expect (..., {dim}) and "
      f"{expected_payloads}"
    )
  if num > max_elements:
    raise CorruptedBitstreamError(f"header announces {num} latent elements, more than max_elements={max_elements}")
  try:
    return _decode_latents(tables, kind, header, payloads, num // dim)
  except container.BitstreamError:
    raise
  except (ValueError, OverflowError, FloatingPointError) as e:
    raise CorruptedBitstreamError(f"payload decodes to invalid values: {e}") from e


def _decode_latents(tables, kind, header, payloads, n) -> np.ndarray:
  med = tables["factorized"]["medians"]
  if kind == KIND_FACTORIZED:
    k = decode_factorized_symbols(payloads[0], tables["factorized"], n)
    if _symbols_crc(header.shape, k) != header.symbols_crc:
      raise CorruptedBitstreamError("decoded symbols fail the encoder's symbol CRC")
    return _dequantize(tables, k, med, header.shape)
  ks = decode_factorized_symbols(payloads[0], tables["factorized"], n)
  side_hat = ks.astype(np.float32) + med
  with np.errstate(all="ignore"):
    scales, means = _hyper_synthesis(tables, side_hat)
  idx = scale_to_index(scales, tables["gaussian"]["boundaries"])
  k = decode_gaussian_symbols(payloads[1], idx, tables["gaussian"])
  if _symbols_crc(header.shape, ks, k) != header.symbols_crc:
    raise CorruptedBitstreamError(
      "decoded symbols fail the encoder's symbol CRC (if the file is intact, the "
      "hyper-synthesis on this machine produced other scale indices than the encoder's)"
    )
  return _dequantize(tables, k, means, header.shape)
