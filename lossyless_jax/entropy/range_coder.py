"""Range coding of integer symbols under 24-bit tables with ``constriction``: the coder layer
under every entropy model's codec (``coding`` for factorized and hyperprior files, ``context``).

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
"""

from __future__ import annotations

import collections
import hashlib
from typing import Any, Mapping

import constriction
import numpy as np

from lossyless_jax.entropy import container
from lossyless_jax.entropy.container import CorruptedBitstreamError
from lossyless_jax.entropy.tables import PRECISION, categorical_table, quantize_pmf

_MODEL = constriction.stream.model
QUEUE = constriction.stream.queue
_TOTAL = 1 << PRECISION
_NBITS_MAX = 41  # escape distances u < 2**42 - 1
_CHUNK = 21  # uniform chunks of at most 21 bits (< 2**24)
MAX_ABS_SYMBOL = 1 << 40  # |symbol| limit of encode_categorical


# ----------------------------------------------------------------------------- tables
class TableSet:
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


_CACHE: "collections.OrderedDict[bytes, TableSet]" = collections.OrderedDict()


def tableset(section: Mapping[str, Any]) -> TableSet:
  counts = np.ascontiguousarray(section["counts"], np.uint32)
  starts = np.ascontiguousarray(section["starts"], np.int64)
  kmin = np.ascontiguousarray(section["kmin"], np.int64)
  key = hashlib.sha1(counts.tobytes() + b"|" + starts.tobytes() + b"|" + kmin.tobytes()).digest()
  return cached(_CACHE, 16, key, lambda: TableSet(counts, starts, kmin))


def cached(cache, size: int, key: bytes, make):
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
def _escape_codes(k: np.ndarray, kmin, length) -> np.ndarray:
  below = k < kmin
  d = np.where(below, kmin - 1 - k, k - kmin - length)
  return 2 * d + (~below)


def _escape_values(u: np.ndarray, kmin, length) -> np.ndarray:
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
def _run_arrays(ts: TableSet, runs) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
  """Non-empty ``(table, count)`` runs, and each symbol's ``kmin`` and table length."""
  runs = [(int(t), int(c)) for t, c in runs if c]
  tid = np.fromiter((t for t, _ in runs), np.int64, len(runs))
  counts = np.fromiter((c for _, c in runs), np.int64, len(runs))
  return runs, np.repeat(ts.kmin[tid], counts), np.repeat(ts.length[tid], counts)


def encode_runs(encoder, ts: TableSet, runs) -> None:
  """Code each ``(table, symbols)`` run as table indices, then every escaped value."""
  runs = [(t, k) for t, k in runs if k.size]
  if not runs:
    return
  spans, kmin, length = _run_arrays(ts, ((t, k.size) for t, k in runs))
  k = np.concatenate([r[1] for r in runs]).astype(np.int64, copy=False)
  idx = k - kmin
  esc = (idx < 0) | (idx >= length)
  any_escape = bool(esc.any())
  if any_escape:
    idx = np.where(esc, length, idx)
  idx = idx.astype(np.int32)
  start = 0
  for t, count in spans:
    encoder.encode(idx[start : start + count], ts.model(t))
    start += count
  if any_escape:
    _encode_escape_values(encoder, _escape_codes(k[esc], kmin[esc], length[esc]))


def decode_runs_flat(decoder, ts: TableSet, runs) -> np.ndarray:
  """Inverse of ``encode_runs`` for ``(table, count)`` runs: the int64 symbols of all runs, in
  order."""
  spans = [(int(t), int(c)) for t, c in runs if c]
  if not spans:
    return np.zeros(0, np.int64)
  # the coder first, then the per-symbol arrays: two damaged files of the fuzz test announced
  # ~2^28 symbols; building these arrays took 16-22 s, the coder refused the payload in 1 ms
  idx = np.concatenate([decoder.decode(ts.model(t), count) for t, count in spans]).astype(np.int64)
  _, kmin, length = _run_arrays(ts, spans)
  k = idx + kmin
  esc = idx == length
  if esc.any():
    u = _decode_escape_values(decoder, int(np.count_nonzero(esc)))
    k[esc] = _escape_values(u, kmin[esc], length[esc])
  return k


def decode_runs(decoder, ts: TableSet, runs) -> list[np.ndarray]:
  """:func:`decode_runs_flat`, split into one int64 array per run."""
  runs = [(int(t), int(c)) for t, c in runs]
  k = decode_runs_flat(decoder, ts, runs)
  return np.split(k, np.cumsum([c for _, c in runs])[:-1]) if runs else []


def to_bytes(encoder) -> bytes:
  return encoder.get_compressed().astype("<u4", copy=False).tobytes()


def make_decoder(data: bytes):
  if len(data) % 4:
    raise CorruptedBitstreamError(f"payload of {len(data)} bytes is not a whole number of 32-bit words")
  return QUEUE.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))


def guarded_decode(fn, *args):
  try:
    return fn(*args)
  except container.BitstreamError:
    raise
  except Exception as e:  # constriction rejects some invalid data with AssertionError etc.
    raise CorruptedBitstreamError(f"entropy decoder failed on the payload: {e}") from e


# ----------------------------------------------------------------------------- categorical
_CAT_CACHE: "collections.OrderedDict[bytes, TableSet]" = collections.OrderedDict()


def categorical_tableset(pmf) -> TableSet:
  p = np.ascontiguousarray(pmf, dtype=np.float64)
  if p.ndim != 1 or p.size < 1:
    raise ValueError(f"pmf must be a non-empty 1-D array, got shape {p.shape}")

  def make():
    counts, length = categorical_table(p)
    return TableSet(counts, np.array([0, length + 1]), np.zeros(1, np.int64))

  return cached(_CAT_CACHE, 8, hashlib.sha1(p.tobytes()).digest(), make)


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
  ts = categorical_tableset(pmf)
  if s.size == 0:
    return b""
  if s.min() <= -MAX_ABS_SYMBOL or s.max() >= MAX_ABS_SYMBOL:
    raise ValueError("symbols must satisfy |s| < 2**40")
  encoder = QUEUE.RangeEncoder()
  encode_runs(encoder, ts, [(0, s)])
  return to_bytes(encoder)


def decode_categorical(data: bytes, pmf: np.ndarray, num_symbols: int) -> np.ndarray:
  """Inverse of :func:`encode_categorical`; returns ``num_symbols`` int64 symbols.

  Damaged ``data`` may decode to other symbols or raise ``CorruptedBitstreamError``
  (there is no checksum at this level).
  """
  num_symbols = int(num_symbols)
  if num_symbols < 0:
    raise ValueError(f"num_symbols must be >= 0, got {num_symbols}")
  ts = categorical_tableset(pmf)
  if num_symbols == 0:
    return np.zeros(0, np.int64)
  decoder = make_decoder(bytes(data))
  return guarded_decode(lambda: decode_runs(decoder, ts, [(0, num_symbols)])[0])


# ----------------------------------------------------------------------------- sections
def encode_factorized_symbols(symbols: np.ndarray, section: Mapping[str, Any]) -> bytes:
  """Code integer symbols ``(N, C)`` (offsets from the medians) with per-channel tables."""
  k = np.asarray(symbols)
  ts = tableset(section)
  if k.ndim != 2 or k.shape[1] != len(ts):
    raise ValueError(f"expected symbols of shape (N, {len(ts)}), got {k.shape}")
  kt = np.ascontiguousarray(k.T)
  encoder = QUEUE.RangeEncoder()
  encode_runs(encoder, ts, ((c, kt[c]) for c in range(len(ts))))
  return to_bytes(encoder)


def decode_factorized_symbols(data: bytes, section: Mapping[str, Any], num: int) -> np.ndarray:
  """Inverse of :func:`encode_factorized_symbols`: ``(num, C)`` int64."""
  ts = tableset(section)
  if num == 0:
    return np.zeros((0, len(ts)), np.int64)
  decoder = make_decoder(data)
  cols = guarded_decode(lambda: decode_runs(decoder, ts, [(c, num) for c in range(len(ts))]))
  return np.stack(cols, axis=1)


def group_by_table(ids: np.ndarray, num_tables: int) -> tuple[np.ndarray, np.ndarray]:
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
  ts = tableset(section)
  order, counts = group_by_table(ids, len(ts))
  ks = k[order]
  bounds = np.concatenate([[0], np.cumsum(counts)])
  encoder = QUEUE.RangeEncoder()
  encode_runs(encoder, ts, ((t, ks[bounds[t] : bounds[t + 1]]) for t in range(len(ts))))
  return to_bytes(encoder)


def decode_gaussian_symbols(data: bytes, scale_indices: np.ndarray, section: Mapping[str, Any]) -> np.ndarray:
  """Inverse of :func:`encode_gaussian_symbols`; int64, shaped like ``scale_indices``."""
  ids = np.asarray(scale_indices)
  ts = tableset(section)
  order, counts = group_by_table(ids.ravel(), len(ts))
  out = np.zeros(ids.size, np.int64)
  if ids.size:
    decoder = make_decoder(data)
    out[order] = guarded_decode(lambda: decode_runs_flat(decoder, ts, list(enumerate(counts))))
  return out.reshape(ids.shape)


def table_bits(symbols: np.ndarray, table_ids: np.ndarray, section: Mapping[str, Any]) -> float:
  """Σ -log2 q(symbol) under the quantized tables (escaped symbols count their escape
  probability only; the Elias-gamma bits are extra)."""
  ts = tableset(section)
  k = np.asarray(symbols, np.int64).ravel()
  ids = np.asarray(table_ids, np.int64).ravel()
  total = 0.0
  for t in np.unique(ids):
    kt = k[ids == t] - ts.kmin[t]
    kt = np.where((kt < 0) | (kt > ts.length[t]), ts.length[t], kt)
    total -= float(ts.log2_probs(int(t))[kt].sum())
  return total
