"""One-shot reverse-channel coding with a learned or exact Q_Y (NERD-RCC; Lei et al. §V, Algs. 2–3).

Encoder and decoder share a seed (common randomness). From it, each *codebook* (shared by a group of
``sources_per_codebook`` inputs, as in the authors' code) is a key ``fold_in(key(seed), g)``; inside it

* candidates ``Y_1..Y_N ~ Q_Y`` are generated in chunks: chunk c is
  ``sample_fn(fold_in(fold_in(codebook_key, 1), c), chunk_size)`` (the last chunk is generated at
  full size and truncated, so every call has the same shape and regenerating it is bit-exact);
* exponentials ``E_1..E_N ~ Exp(1)`` likewise from ``fold_in(codebook_key, 0)``, and the weights of
  eq. (28): PFR ``W_i = Σ_{j≤i} E_j`` (the arrival times of a rate-1 Poisson process), ORC
  ``W_i = Σ_{j≤i} N/(N−j+1) E_j`` (N times the order statistics of N i.i.d. Exp(1)).

The encoder sends the Proposition 1 index (§V-B, eqs. (30)–(37)), computed in chunks with a running
argmin:

    K = argmin_i { ln W_i − β̃ d(x, Y_i) },   β̃ < 0 (nats per unit distortion)

which equals argmin_i W_i dQ_Y/dQ*_{Y|X=x}(Y_i) for the tilted channel at slope β̃. K (0-based) is
entropy-coded under the Zipf model q(k) ∝ k^{−(1 + 1/(C + log2(e)/e + 1))}, k = K + 1 = 1..N, with
C = R̂ in bits (§V-A, Alg. 2), through ``lossyless_jax.entropy.coding.encode_categorical`` into a
real byte string. The decoder decodes K and regenerates only the chunk holding Y_K.

Rates (:func:`rcc_compress`), three different quantities:

* ``rate_bits_file``: 8 × the file's bytes / n. The file is ONE range-coded stream of the n indices
  (plus a 60-byte header and a 4-byte CRC), so the coder's termination cost is shared by the n sources;
  it is not a one-shot code per source.
* ``rate_bits_huffman``: the mean length of the Zipf–Huffman codeword of each K, one codeword per
  source — the paper's one-shot rate (the authors' ``one_shot_PFRlagr.py`` reports this).
* ``index_entropy_bits``: the plug-in entropy H(K) of the n indices (the authors' ``est_rate_ent``;
  biased low for few sources).

Also ``mean_log2_index`` (E log2 K, k = K + 1), ``mean_log2_weight`` (E log2 W_K of the selected
candidate), the ideal −log2 q(K), the mean distortion and the guarantee R̂ + log2(R̂ + 1) + 5 bits
(eq. (25)). Index law of PFR (Li & El Gamal): the pairs (W_i / r(Y_i), Y_i), r = dQ*_{Y|X=x}/dQ_Y,
form a rate-1 Poisson process with i.i.d. Q*_{Y|X=x} marks, so Y_K ~ Q*_{Y|X=x} exactly and
W_K = S · r(Y_K) with S ~ Exp(1) independent of Y_K: E ln W_K = KL(Q*_{Y|X=x} ‖ Q_Y) − γ (γ Euler's
constant), i.e. E log2 W_K = R − γ/ln 2 when averaged over x with the R(D)-optimal pair; K − 1 given
(S, Y_K) is Poisson with mean at most W_K, so E log2 K ≤ E log2(1 + W_K) ≤ R + 1. These hold for
N → ∞; with N candidates they need N ≫ 2^R.

**File format 3** (magic ``b"RCC3"``, all integers little-endian; ``HEADER`` / ``HEADER_FIELDS``)::

    offset  size  field
    0       4     magic b"RCC3"
    4       1     method (u8): 0 pfr, 1 orc
    5       1     flags (u8, reserved, 0)
    6       2     reserved (u16, 0)
    8       4     N (u32), MIN_CANDIDATES (2) ≤ N ≤ MAX_CANDIDATES (2^24)
    12      4     chunk size (u32), 1 ≤ chunk ≤ N
    16      4     number of sources n (u32), 1 ≤ n ≤ what the payload can hold (below)
    20      4     sources per codebook (u32), 1 ≤ · ≤ n
    24      4     payload length P in bytes (u32), a positive multiple of 4
    28      8     Zipf rate parameter C in bits (f64), finite, 0 ≤ C ≤ MAX_RATE_PARAM_BITS (2^20)
    36      8     Q_Y fingerprint: hash of the sampler's ``fingerprint`` (:func:`sampler_fingerprint`)
    44      4     sampling-environment fingerprint: hash of :func:`sampling_environment`
    48      4     seed fingerprint: hash of the PRNG implementation and key data of the seed
    52      4     index CRC: CRC-32 of bytes [0, 52), then the n indices as u32
    56      4     header CRC: CRC-32 of bytes [0, 56)
    60      P     payload: the n indices range-coded under the Zipf table (``encode_categorical``)
    60+P    4     payload CRC: CRC-32 of the payload

Every index costs at least −log2 p_max bits, p_max the largest mass of the quantized Zipf table,
and the range coder never writes fewer bits than that information content, so a genuine file has
n ≤ (8P + 64) / (−log2 p_max); the reader checks this bound (first with p_max ≤ 0.944, which holds
for every N ≤ 2^24 and C, then with the file's own table) before decoding. The decoder's memory is
thus O(N + P) and its time O(N + n · chunk).

Reading checks, in order: magic, header CRC, header fields, total length, payload CRC (all in
:func:`read_header`), then the environment, Q_Y and seed fingerprints against the decoder's, the
bound on n under the file's table, and after decoding the index range (< N) and the index CRC.
Every failure raises a ``lossyless_jax.entropy.container.BitstreamError`` subclass (a ``ValueError``)
whose message names the field or part that differs:

=============================  ==================================================================
exception                      when
=============================  ==================================================================
``NotABitstreamError``         input does not start with ``b"RCC3"`` (nor ``b"RCC"`` + a digit)
``UnsupportedVersionError``    magic ``b"RCC<digit>"`` of another format (e.g. ``RCC2``, which has
                               no model fingerprint or index CRC: re-encode)
``TruncatedBitstreamError``    input ends before the header, payload or payload CRC do
``CorruptedBitstreamError``    a CRC fails, a header field is out of bounds (incl. more sources
                               than the payload can hold), trailing bytes, the range decoder
                               fails, a decoded index is ≥ N, or the indices fail the index CRC
``ForeignModelError``          written with another Q_Y sampler, another seed, or another
                               sampling environment (JAX/jaxlib version, PRNG, backend)
=============================  ==================================================================

A wrong decode is never silent: a file whose header fields were rewritten and CRCs re-sealed
decodes other indices or regenerates from another codebook layout, and fails the index CRC (which
covers the header's fields). Passing a sampler without a fingerprint is a ``TypeError``.
"""
from __future__ import annotations

import functools
import hashlib
import heapq
import math
import re
import struct
import zlib
from typing import Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

from lossyless_jax.entropy import range_coder
from lossyless_jax.losses import distortions as distortions_lib

__all__ = [
    "METHODS",
    "guarantee_bits",
    "zipf_exponent",
    "zipf_pmf",
    "huffman_code_lengths",
    "rcc_log_weights",
    "rcc_select",
    "rcc_regenerate",
    "rcc_compress",
    "rcc_decompress",
    "read_header",
    "gaussian_qy_sampler",
    "sampler_fingerprint",
    "sampling_environment",
    "MAGIC",
    "FORMAT_VERSION",
    "HEADER",
    "HEADER_FIELDS",
    "MIN_CANDIDATES",
    "MAX_CANDIDATES",
    "MAX_RATE_PARAM_BITS",
]

LOG2E_OVER_E = math.log2(math.e) / math.e  # e^{-1} log2 e ≈ 0.5307
METHODS = ("pfr", "orc")
MAGIC = b"RCC3"
FORMAT_VERSION = 3
HEADER_FIELDS = ("magic", "method", "flags", "reserved", "num_candidates", "chunk_size", "num_sources",
                 "sources_per_codebook", "payload_bytes", "rate_param_bits", "sampler_fingerprint",
                 "environment_fingerprint", "seed_fingerprint", "index_crc", "header_crc")
HEADER = struct.Struct("<4sBBH5Id8s4s4sII")  # 60 bytes, layout in the module docstring
_CRC = struct.Struct("<I")  # CRC-32 of the payload, last 4 bytes of the file
_INDEX_CRC_AT, _HEADER_CRC_AT = 52, 56
MIN_CANDIDATES = 2
MAX_CANDIDATES = 1 << 24  # the decoder builds an O(N) pmf: ~1 GiB and ~2 s at this N
MAX_RATE_PARAM_BITS = float(1 << 20)
_U32_MAX = (1 << 32) - 1
_SLACK_BITS = 64
# No entry of any file's Zipf table (N ≤ MAX_CANDIDATES) has mass above this: q(1) ≥ 1/H_N ≥
# 1/(1 + ln N), so the escape's mass is ≤ 1 − q(1), and q(1) ≤ 1/(1 + 2^−s) < 0.76; plus rounding.
_MAX_ENTRY_PROB = 1.0 - 1.0 / (1.0 + math.log(MAX_CANDIDATES)) + 2.0 ** -20


def guarantee_bits(rate_bits):
  """One-shot rate guarantee R + log2(R + 1) + 5 bits (eq. (25))."""
  r = np.asarray(rate_bits, np.float64)
  g = r + np.log2(r + 1.0) + 5.0
  return float(g) if g.ndim == 0 else g


def zipf_exponent(rate_param_bits: float) -> float:
  """s = 1 + 1/(C + e^{-1} log2 e + 1) of the Zipf model q(k) ∝ k^{-s}."""
  if rate_param_bits < 0:
    raise ValueError(f"Zipf rate parameter C (bits) must be >= 0, got {rate_param_bits}")
  return 1.0 + 1.0 / (rate_param_bits + LOG2E_OVER_E + 1.0)


def zipf_pmf(num_candidates: int, rate_param_bits: float):
  """float64 pmf over symbols 0..N−1 (symbol K ↔ k = K + 1), q(k) ∝ k^{−s}, normalised on 1..N."""
  if num_candidates < 1:
    raise ValueError(f"num_candidates N must be >= 1, got {num_candidates}")
  k = np.arange(1, num_candidates + 1, dtype=np.float64)
  logq = -zipf_exponent(rate_param_bits) * np.log(k)
  q = np.exp(logq - logq.max())
  return q / q.sum()


def huffman_code_lengths(pmf):
  """Huffman codeword lengths (bits, int64) of a pmf (zero entries get length 0). O(N log N)."""
  p = np.asarray(pmf, np.float64).reshape(-1)
  n = p.size
  lengths = np.zeros(n, np.int64)
  nz = np.flatnonzero(p > 0)
  if nz.size == 1:
    lengths[nz] = 1
    return lengths
  # Nodes: leaves 0..n-1, internal nodes n.. ; parent pointers give depths.
  heap = [(float(p[i]), int(i)) for i in nz]
  heapq.heapify(heap)
  parent = {}
  next_id = n
  while len(heap) > 1:
    pa, a = heapq.heappop(heap)
    pb, b = heapq.heappop(heap)
    parent[a] = next_id
    parent[b] = next_id
    heapq.heappush(heap, (pa + pb, next_id))
    next_id += 1
  root = heap[0][1]
  depth = {root: 0}
  for node in range(next_id - 1, -1, -1):  # parents have larger ids than children
    if node == root or node not in parent:
      continue
    depth[node] = depth[parent[node]] + 1
  for i in nz:
    lengths[i] = depth[int(i)]
  return lengths


def _codebook_key(seed_or_key, codebook_index: int):
  if isinstance(seed_or_key, (int, np.integer)):
    base = jax.random.key(int(seed_or_key))
  else:
    base = seed_or_key
  return jax.random.fold_in(base, codebook_index)


def _exp_key(codebook_key):
  return jax.random.fold_in(codebook_key, 0)


def _sample_key(codebook_key):
  return jax.random.fold_in(codebook_key, 1)


def _num_chunks(num_candidates, chunk_size):
  return -(-num_candidates // chunk_size)


def rcc_log_weights(codebook_key, num_candidates: int, *, chunk_size: int = 4096, method: str = "pfr"):
  """ln W_1..ln W_N of eq. (28) for one codebook, generated chunk by chunk exactly as the encoder does."""
  if method not in METHODS:
    raise ValueError(f"RCC method must be one of {METHODS}, got {method!r}")
  chunk_size = int(min(chunk_size, num_candidates))
  out, offset = [], jnp.float32(0.0)
  for c in range(_num_chunks(num_candidates, chunk_size)):
    e = _chunk_increments(codebook_key, c, chunk_size, num_candidates, method)
    w = offset + jnp.cumsum(e)
    offset = w[-1]
    out.append(w)
  return jnp.log(jnp.concatenate(out)[:num_candidates])


def _chunk_increments(codebook_key, c, chunk_size, num_candidates, method):
  e = jax.random.exponential(jax.random.fold_in(_exp_key(codebook_key), c), (chunk_size,), jnp.float32)
  if method == "orc":
    j = c * chunk_size + jnp.arange(chunk_size)  # 0-based: weight N/(N - j) = N/(N - (j+1) + 1)
    e = e * (num_candidates / jnp.maximum(num_candidates - j, 1)).astype(jnp.float32)
  return e


@functools.lru_cache(maxsize=32)
def _make_select_step(distortion_fn, method, num_candidates, chunk_size):

  def step(carry, x, y, codebook_key, c, beta):
    best_score, best_idx, best_y, offset = carry
    e = _chunk_increments(codebook_key, c, chunk_size, num_candidates, method)
    j = c * chunk_size + jnp.arange(chunk_size)
    valid = j < num_candidates
    e = jnp.where(valid, e, 0.0)
    w = offset + jnp.cumsum(e)
    d = distortion_fn(x, y)  # (B, chunk)
    score = jnp.log(w)[None, :] - beta * d
    score = jnp.where(valid[None, :], score, jnp.inf)
    local = jnp.argmin(score, axis=1)
    local_score = jnp.take_along_axis(score, local[:, None], axis=1)[:, 0]
    better = local_score < best_score
    best_score = jnp.where(better, local_score, best_score)
    best_idx = jnp.where(better, c * chunk_size + local, best_idx)
    y_sel = y[local]
    mask = better.reshape((-1,) + (1,) * (y.ndim - 1))
    best_y = jnp.where(mask, y_sel, best_y)
    return best_score, best_idx, best_y, w[-1]

  return jax.jit(step)


def _sampler(sample_fn, jit_sampler):
  return jax.jit(sample_fn, static_argnums=1) if jit_sampler else sample_fn


def rcc_select(x, sample_fn: Callable, codebook_key, beta, num_candidates: int, *,
               chunk_size: int = 4096, method: str = "pfr", distortion="squared_error",
               jit_sampler: bool = True, return_log_weight: bool = False, _sampler_cache=None):
  """Proposition 1 index for every row of ``x`` against ONE shared codebook, in chunks over N.

  Returns ``(indices (B,) int64 in 0..N−1, chosen samples Y_K (B, ...))``, and with
  ``return_log_weight`` also ln W_K (B,) float64 of the chosen candidates; memory O(B · chunk).
  ``beta`` is β̃ < 0 (nats per unit distortion) of the channel Q*_{Y|X} ∝ Q_Y e^{β̃ d}.
  """
  if method not in METHODS:
    raise ValueError(f"RCC method must be one of {METHODS}, got {method!r}")
  if float(beta) >= 0:
    raise ValueError(f"RCC slope beta (β̃) must be < 0, got {beta}")
  x = jnp.asarray(x)
  chunk_size = int(min(chunk_size, num_candidates))
  distortion_fn = distortions_lib.get_distortion(distortion)
  sampler = _sampler_cache or _sampler(sample_fn, jit_sampler)
  step = _make_select_step(distortion_fn, method, num_candidates, chunk_size)
  skey = _sample_key(codebook_key)
  carry = None
  for c in range(_num_chunks(num_candidates, chunk_size)):
    y = jnp.asarray(sampler(jax.random.fold_in(skey, c), chunk_size))
    if y.shape[0] != chunk_size:
      raise ValueError(f"sample_fn returned {y.shape[0]} samples, expected {chunk_size}")
    if carry is None:
      b = x.shape[0]
      carry = (jnp.full((b,), jnp.inf, jnp.float32), jnp.zeros((b,), jnp.int32),
               jnp.zeros((b,) + y.shape[1:], y.dtype), jnp.float32(0.0))
    carry = step(carry, x, y, codebook_key, c, jnp.float32(beta))
  best_score, idx, y_best, _ = carry
  if not return_log_weight:
    return np.asarray(idx, np.int64), y_best
  # score = ln W_K − β̃ d(x, Y_K)  =>  ln W_K = score + β̃ d(x, Y_K)
  d = jax.vmap(lambda a, b: distortion_fn(a[None], b[None])[0, 0])(x.astype(y_best.dtype), y_best)
  log_w = np.asarray(best_score, np.float64) + float(beta) * np.asarray(d, np.float64)
  return np.asarray(idx, np.int64), y_best, log_w


def rcc_regenerate(indices, sample_fn: Callable, codebook_key, num_candidates: int, *,
                   chunk_size: int = 4096, jit_sampler: bool = True, _sampler_cache=None):
  """Decoder: Y_K for each index, regenerating only the chunks that hold them (same keys, same shapes)."""
  idx = np.asarray(indices, np.int64).reshape(-1)
  if idx.size and (idx.min() < 0 or idx.max() >= num_candidates):
    raise ValueError(f"RCC indices must lie in [0, {num_candidates}), got range [{idx.min()}, {idx.max()}]")
  chunk_size = int(min(chunk_size, num_candidates))
  sampler = _sampler_cache or _sampler(sample_fn, jit_sampler)
  skey = _sample_key(codebook_key)
  out = [None] * idx.size
  for c in np.unique(idx // chunk_size):
    y = np.asarray(sampler(jax.random.fold_in(skey, int(c)), chunk_size))
    for pos in np.flatnonzero(idx // chunk_size == c):
      out[pos] = y[idx[pos] - c * chunk_size]
  if not out:
    return np.zeros((0,))
  return np.stack(out)


def _coding():
  try:
    from lossyless_jax.entropy import coding  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("one-shot coding needs lossyless_jax.entropy.coding.encode_categorical / "
                      "decode_categorical, which is not available") from e
  return coding


def _container():
  from lossyless_jax.entropy import container  # pylint: disable=import-outside-toplevel
  return container


# ----------------------------------------------------------------------------- fingerprints
def _digest(data: bytes, size: int, person: bytes) -> bytes:
  return hashlib.blake2b(data, digest_size=size, person=person).digest()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _canonical(obj, out: list) -> None:
  """Deterministic bytes of a parameter pytree (arrays by dtype, shape and little-endian bytes)."""
  if isinstance(obj, functools.partial):
    out.append(b"partial(")
    for part in (obj.func, obj.args, dict(obj.keywords)):
      _canonical(part, out)
    out.append(b")")
  elif obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
    out.append(f"{type(obj).__name__}:{obj!r};".encode())
  elif hasattr(obj, "shape") and hasattr(obj, "dtype"):  # NumPy / JAX arrays and scalars
    if jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
      obj = jax.random.key_data(obj)
    a = np.asarray(obj)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    out.append(f"array:{a.dtype.str}:{a.shape};".encode())
    out.append(np.ascontiguousarray(a).tobytes())
  elif isinstance(obj, Mapping):
    out.append(b"{")
    for k in sorted(obj, key=repr):
      _canonical(k, out)
      _canonical(obj[k], out)
    out.append(b"}")
  elif isinstance(obj, (list, tuple)):
    out.append(f"{type(obj).__name__}[{len(obj)}](".encode())
    for v in obj:
      _canonical(v, out)
    out.append(b")")
  elif callable(obj) and hasattr(obj, "__qualname__"):  # functions, jitted functions, methods
    out.append(f"fn:{getattr(obj, '__module__', '?')}.{obj.__qualname__};".encode())
  else:  # e.g. a Flax module: its repr lists its fields
    r = repr(obj)
    if _ADDRESS.search(r):
      raise TypeError(f"cannot fingerprint an object of type {type(obj).__name__}: its repr holds a memory address; "
                      "pass its parameters (arrays) instead")
    out.append(f"repr:{type(obj).__qualname__}:{r};".encode())


def sampler_fingerprint(*parts, **extra) -> bytes:
  """16-byte fingerprint of a Q_Y sampler from what determines its samples: parameter pytrees or
  arrays (e.g. a trained generator's variables), a ``functools.partial`` over them (function name,
  arguments), Flax modules (their fields), numbers and strings given as ``extra`` keywords.

  Pass it as ``fingerprint=`` to :func:`rcc_compress` / :func:`rcc_decompress` (or set it as the
  sampler's ``fingerprint`` attribute, as :func:`gaussian_qy_sampler` does)."""
  out: list = []
  _canonical(tuple(parts), out)
  _canonical(dict(extra), out)
  return _digest(b"".join(out), 16, b"lossyless-rcc-qy")


def _typed_key(seed_or_key):
  if isinstance(seed_or_key, (bool, np.bool_)):
    raise TypeError("RCC seed must be an int or a JAX key, got a bool")
  if isinstance(seed_or_key, (int, np.integer)):
    return jax.random.key(int(seed_or_key))
  if jax.dtypes.issubdtype(seed_or_key.dtype, jax.dtypes.prng_key):
    return seed_or_key
  return jax.random.wrap_key_data(jnp.asarray(seed_or_key, jnp.uint32))  # raw (legacy) uint32 key


def sampling_environment(seed=None) -> str:
  """What, besides the sampler's parameters, determines the candidates: the JAX and jaxlib versions,
  the PRNG implementation (of ``seed``'s key, else ``jax_default_prng_impl``) and the backend."""
  impl = (str(jax.random.key_impl(_typed_key(seed))) if seed is not None
          else str(jax.config.jax_default_prng_impl))
  return (f"jax {jax.__version__}; jaxlib {getattr(jaxlib, '__version__', '?')}; prng {impl}; "
          f"backend {jax.default_backend()}")


def _seed_fingerprint(seed) -> bytes:
  key = _typed_key(seed)
  data = np.asarray(jax.random.key_data(key)).astype("<u4").tobytes()
  return _digest(str(jax.random.key_impl(key)).encode() + b"|" + data, 4, b"lossyless-rcc-sd")


def _environment_fingerprint(seed) -> bytes:
  return _digest(sampling_environment(seed).encode(), 4, b"lossyless-rcc-en")


def _stored_sampler_fingerprint(sample_fn, fingerprint) -> bytes:
  fp = fingerprint if fingerprint is not None else getattr(sample_fn, "fingerprint", None)
  if fp is None:
    raise TypeError("sample_fn has no `fingerprint` attribute: pass fingerprint=sampler_fingerprint(<its "
                    "parameters>) so that a file of another Q_Y is refused instead of decoding to other samples")
  if not isinstance(fp, (bytes, bytearray)) or not fp:
    raise TypeError(f"RCC sampler fingerprint must be non-empty bytes, got {type(fp).__name__}")
  return _digest(bytes(fp), 8, b"lossyless-rcc-fp")


# ----------------------------------------------------------------------------- file format
def _index_crc(head: bytes, indices) -> int:
  return zlib.crc32(np.asarray(indices, np.int64).astype("<u4").tobytes(), zlib.crc32(head[:_INDEX_CRC_AT]))


def _capacity(payload_bytes: int, max_entry_prob: float) -> int:
  """Most indices a ``payload_bytes`` range-coded payload can hold when no index costs less than
  −log2(max_entry_prob) bits (the coder never writes fewer bits than the information content;
  ``_SLACK_BITS`` covers its final state)."""
  return int((8 * payload_bytes + _SLACK_BITS) / -math.log2(max_entry_prob))


def _parse(data, max_candidates: int) -> dict:
  """Magic, header CRC, bounds of every field, total length and payload CRC; O(1) memory."""
  container = _container()
  if not isinstance(data, (bytes, bytearray, memoryview)):
    raise TypeError(f"RCC bitstream must be bytes, got {type(data).__name__}")
  data = bytes(data)
  n = len(data)
  if n < len(MAGIC):
    if n and MAGIC.startswith(data):
      raise container.TruncatedBitstreamError(f"input is {n} bytes: too short to hold an RCC header")
    raise container.NotABitstreamError(f"input of {n} bytes is not an RCC bitstream")
  magic = data[:4]
  if magic != MAGIC:
    if magic[:3] == MAGIC[:3] and magic[3:4].isdigit():
      newer = int(magic[3:4]) > FORMAT_VERSION
      raise container.UnsupportedVersionError(
          f"RCC bitstream format {magic!r} is not read by this reader (reads {MAGIC!r}); "
          + ("it was written by a newer lossyless_jax" if newer else
             "it has no model fingerprint or index CRC: re-encode it"))
    raise container.NotABitstreamError(f"bad magic bytes {magic!r} (expected {MAGIC!r}): not an RCC bitstream")
  if n < HEADER.size + _CRC.size:
    raise container.TruncatedBitstreamError(
        f"RCC bitstream is {n} bytes: too short for its {HEADER.size}-byte header and payload CRC")
  h = dict(zip(HEADER_FIELDS, HEADER.unpack_from(data)))
  if zlib.crc32(data[:_HEADER_CRC_AT]) != h["header_crc"]:
    raise container.CorruptedBitstreamError("RCC header CRC-32 mismatch: the header is damaged")
  _check_fields(h, max_candidates)
  total = HEADER.size + h["payload_bytes"] + _CRC.size
  if n < total:
    raise container.TruncatedBitstreamError(f"RCC bitstream is {n} bytes, its header announces {total}")
  if n > total:
    raise container.CorruptedBitstreamError(f"{n - total} unexpected trailing bytes after the RCC payload CRC")
  (crc,) = _CRC.unpack_from(data, total - _CRC.size)
  if zlib.crc32(data[HEADER.size:total - _CRC.size]) != crc:
    raise container.CorruptedBitstreamError("RCC payload CRC-32 mismatch: the payload is damaged")
  h["header"] = data[:HEADER.size]
  h["payload"] = data[HEADER.size:total - _CRC.size]
  return h


def _check_fields(h: dict, max_candidates: int) -> None:
  corrupted = _container().CorruptedBitstreamError
  n_max = min(int(max_candidates), MAX_CANDIDATES)
  n_cand, chunk, num, per, size, c = (h["num_candidates"], h["chunk_size"], h["num_sources"],
                                      h["sources_per_codebook"], h["payload_bytes"], h["rate_param_bits"])
  if h["flags"] or h["reserved"]:
    raise corrupted(f"RCC reserved header bytes are {h['flags']}, {h['reserved']}, expected 0")
  if h["method"] >= len(METHODS):
    raise corrupted(f"RCC method code {h['method']} is invalid (0 pfr, 1 orc)")
  if not MIN_CANDIDATES <= n_cand <= n_max:
    raise corrupted(f"RCC number of candidates N = {n_cand} is outside [{MIN_CANDIDATES}, {n_max}]")
  if not 1 <= chunk <= n_cand:
    raise corrupted(f"RCC chunk size {chunk} is outside [1, N = {n_cand}]")
  if size < 4 or size % 4:
    raise corrupted(f"RCC payload length {size} bytes is not a positive multiple of 4")
  if num < 1:
    raise corrupted("RCC number of sources is 0")
  limit = _capacity(size, _MAX_ENTRY_PROB)
  if num > limit:
    raise corrupted(f"RCC number of sources {num} is more than a {size}-byte payload can hold (at most {limit})")
  if not 1 <= per <= num:
    raise corrupted(f"RCC sources per codebook {per} is outside [1, number of sources = {num}]")
  if not (math.isfinite(c) and 0.0 <= c <= MAX_RATE_PARAM_BITS):
    raise corrupted(f"RCC Zipf rate parameter C = {c} bits is not in [0, {MAX_RATE_PARAM_BITS:g}]")


def _check_capacity(h: dict, pmf) -> None:
  """The exact bound on the number of sources under this file's Zipf table (before decoding)."""
  # The cached table decode_categorical uses; its largest count is the cheapest index.
  counts = range_coder.categorical_tableset(pmf).counts
  limit = _capacity(h["payload_bytes"], float(counts.max()) / (1 << 24))
  if h["num_sources"] > limit:
    raise _container().CorruptedBitstreamError(
        f"RCC number of sources {h['num_sources']} is more than a {h['payload_bytes']}-byte payload can hold "
        f"under its Zipf model (at most {limit})")


def _check_model(h: dict, sampler_fp: bytes, seed) -> None:
  parts = []
  if h["environment_fingerprint"] != _environment_fingerprint(seed):
    parts.append(f"another sampling environment (JAX/jaxlib version, PRNG implementation or backend; this "
                 f"reader has {sampling_environment(seed)})")
  if h["sampler_fingerprint"] != sampler_fp:
    parts.append(f"another Q_Y sampler (fingerprint {h['sampler_fingerprint'].hex()} in the file, "
                 f"{sampler_fp.hex()} here)")
  if h["seed_fingerprint"] != _seed_fingerprint(seed):
    parts.append("another seed (the common randomness)")
  if parts:
    raise _container().ForeignModelError("RCC bitstream was written with " + " and ".join(parts))


def rcc_compress(x, sample_fn: Callable, seed, beta, num_candidates: int, rate_param_bits: float, *,
                 method: str = "pfr", chunk_size: int = 4096, sources_per_codebook: int = 100,
                 distortion="squared_error", path: Optional[str] = None, jit_sampler: bool = True,
                 fingerprint: Optional[bytes] = None):
  """NERD-RCC encoder (Alg. 2) for a batch of sources; writes a real bitstream.

  Args:
    x: (n, ...) sources. Source i uses codebook g = i // sources_per_codebook.
    sample_fn: ``sample_fn(key, num) -> (num, ...)`` samples of Q_Y (a trained generator, or the
      exact Q*_Y, e.g. :func:`gaussian_qy_sampler`).
    seed: shared seed (int) or jax key — common randomness; the file holds only a hash of it.
    beta: β̃ < 0 (nats per unit distortion) of the target channel.
    num_candidates: N, in [MIN_CANDIDATES, MAX_CANDIDATES].
    rate_param_bits: C of the Zipf model, normally NERD's R̂ in bits; in [0, MAX_RATE_PARAM_BITS].
    method: ``"pfr"`` or ``"orc"`` (eq. (28)).
    path: if given, the bitstream is also written to this file.
    fingerprint: bytes identifying Q_Y (:func:`sampler_fingerprint` of its parameters); defaults to
      ``sample_fn.fingerprint``. Without either this is a TypeError: a decoder must be able to tell
      another model's file.

  Returns:
    ``(data: bytes, info: dict)`` with ``indices`` (n,), ``samples`` (encoder's Y_K, (n, ...)),
    ``distortion`` (mean d(x, Y_K)), ``rate_bits_file`` (8·len(data)/n: one range-coded stream of
    the n indices, header and CRC included), ``rate_bits_payload`` (the range-coded indices only),
    ``rate_bits_huffman`` (mean per-source Zipf–Huffman codeword length, the paper's one-shot
    rate), ``rate_bits_ideal`` (mean −log2 q(K)), ``index_entropy_bits`` (plug-in H(K),
    underestimates for few sources), ``mean_log2_index`` (mean log2(K + 1)), ``mean_log2_weight``
    (mean log2 W_K), ``guarantee_bits`` (C + log2(C+1) + 5), ``log2_N``, ``num_sources``, ``method``.
  """
  sampler_fp = _stored_sampler_fingerprint(sample_fn, fingerprint)
  x = np.asarray(x)
  n = x.shape[0] if x.ndim else 0
  if n == 0:
    raise ValueError("rcc_compress: no sources")
  if n > _U32_MAX:
    raise ValueError(f"rcc_compress: at most {_U32_MAX} sources per file, got {n}")
  if method not in METHODS:
    raise ValueError(f"RCC method must be one of {METHODS}, got {method!r}")
  num_candidates = int(num_candidates)
  if not MIN_CANDIDATES <= num_candidates <= MAX_CANDIDATES:
    raise ValueError(f"RCC number of candidates N must be in [{MIN_CANDIDATES}, {MAX_CANDIDATES}], "
                     f"got {num_candidates}")
  if int(chunk_size) < 1 or int(sources_per_codebook) < 1:
    raise ValueError(f"RCC chunk_size and sources_per_codebook must be >= 1, got {chunk_size}, "
                     f"{sources_per_codebook}")
  rate_param_bits = float(rate_param_bits)
  if not (math.isfinite(rate_param_bits) and 0.0 <= rate_param_bits <= MAX_RATE_PARAM_BITS):
    raise ValueError(f"Zipf rate parameter C must be finite, in [0, {MAX_RATE_PARAM_BITS:g}] bits, "
                     f"got {rate_param_bits}")
  chunk_size = int(min(chunk_size, num_candidates))
  sources_per_codebook = int(min(sources_per_codebook, n))  # the same codebooks
  sampler = _sampler(sample_fn, jit_sampler)
  indices, samples, log_weights = [], [], []
  for g, start in enumerate(range(0, n, sources_per_codebook)):
    key = _codebook_key(seed, g)
    idx, yk, lw = rcc_select(x[start:start + sources_per_codebook], sample_fn, key, beta, num_candidates,
                             chunk_size=chunk_size, method=method, distortion=distortion,
                             return_log_weight=True, _sampler_cache=sampler)
    indices.append(idx)
    samples.append(np.asarray(yk))
    log_weights.append(lw)
  indices = np.concatenate(indices)
  samples = np.concatenate(samples)
  log_weights = np.concatenate(log_weights)
  pmf = zipf_pmf(num_candidates, rate_param_bits)
  payload = _coding().encode_categorical(indices.astype(np.int64), pmf)
  head = bytearray(HEADER.pack(MAGIC, METHODS.index(method), 0, 0, num_candidates, chunk_size, n,
                               sources_per_codebook, len(payload), rate_param_bits, sampler_fp,
                               _environment_fingerprint(seed), _seed_fingerprint(seed), 0, 0))
  struct.pack_into("<I", head, _INDEX_CRC_AT, _index_crc(bytes(head), indices))
  struct.pack_into("<I", head, _HEADER_CRC_AT, zlib.crc32(bytes(head[:_HEADER_CRC_AT])))
  data = bytes(head) + payload + _CRC.pack(zlib.crc32(payload))
  _check_capacity(_parse(data, MAX_CANDIDATES), pmf)  # what the decoder will check, never failing here
  if path is not None:
    with open(path, "wb") as f:
      f.write(data)
  distortion_fn = distortions_lib.get_distortion(distortion)
  per_source = jax.vmap(lambda a, b: distortion_fn(a[None], b[None])[0, 0])(
      jnp.asarray(x, jnp.float32), jnp.asarray(samples, jnp.float32))
  lengths = huffman_code_lengths(pmf)
  counts = np.bincount(indices, minlength=1).astype(np.float64)
  freq = counts[counts > 0] / n
  info = {
      "indices": indices,
      "samples": samples,
      "distortion": float(np.mean(np.asarray(per_source, np.float64))),
      "rate_bits_file": 8.0 * len(data) / n,
      "rate_bits_payload": 8.0 * len(payload) / n,
      "rate_bits_huffman": float(lengths[indices].mean()),
      "rate_bits_ideal": float(-np.log2(pmf[indices]).mean()),
      "index_entropy_bits": float(-(freq * np.log2(freq)).sum()),
      "mean_log2_index": float(np.log2(indices + 1.0).mean()),
      "mean_log2_weight": float(log_weights.mean() / math.log(2.0)),
      "guarantee_bits": guarantee_bits(rate_param_bits),
      "rate_param_bits": float(rate_param_bits),
      "log2_N": math.log2(num_candidates),
      "num_sources": n,
      "method": method,
  }
  return data, info


def read_header(data: bytes, *, max_candidates: int = MAX_CANDIDATES) -> dict:
  """Parses and checks an RCC bitstream without decoding it: magic, header CRC, every header field's
  bounds (N ≤ ``max_candidates``, the number of sources against the payload length under the file's
  Zipf model), total length, payload CRC. Raises the `container.BitstreamError` subclasses of the
  module docstring. The model fingerprints and the index CRC are checked by :func:`rcc_decompress`."""
  h = _parse(data, max_candidates)
  _check_capacity(h, zipf_pmf(h["num_candidates"], h["rate_param_bits"]))
  return {"version": FORMAT_VERSION, "method": METHODS[h["method"]], "num_candidates": h["num_candidates"],
          "chunk_size": h["chunk_size"], "num_sources": h["num_sources"],
          "sources_per_codebook": h["sources_per_codebook"], "rate_param_bits": h["rate_param_bits"],
          "payload_bytes": h["payload_bytes"], "sampler_fingerprint": h["sampler_fingerprint"].hex(),
          "environment_fingerprint": h["environment_fingerprint"].hex(),
          "seed_fingerprint": h["seed_fingerprint"].hex(), "index_crc": h["index_crc"]}


def rcc_decompress(data: bytes, sample_fn: Callable, seed, *, jit_sampler: bool = True,
                   fingerprint: Optional[bytes] = None, max_candidates: int = MAX_CANDIDATES):
  """NERD-RCC decoder (Alg. 3): decodes the indices and regenerates Y_K from the shared seed.

  Returns ``(samples (n, ...) NumPy, indices (n,) int64)``, bit-exact with the encoder's Y_K when
  ``sample_fn`` is the same deterministic function (same chunk shape, same keys). ``fingerprint``
  (default ``sample_fn.fingerprint``) and ``seed`` must be the encoder's: a file of another Q_Y,
  seed or sampling environment raises ``ForeignModelError``; damaged, truncated or forged files
  raise the other ``container.BitstreamError`` subclasses (module docstring), before any
  allocation larger than N (≤ ``max_candidates``) or than the payload justifies.
  """
  sampler_fp = _stored_sampler_fingerprint(sample_fn, fingerprint)
  container = _container()
  h = _parse(data, max_candidates)
  _check_model(h, sampler_fp, seed)
  pmf = zipf_pmf(h["num_candidates"], h["rate_param_bits"])
  _check_capacity(h, pmf)
  indices = np.asarray(_coding().decode_categorical(h["payload"], pmf, h["num_sources"]), np.int64)
  bad = np.flatnonzero((indices < 0) | (indices >= h["num_candidates"]))
  if bad.size:
    raise container.CorruptedBitstreamError(
        f"RCC decoded index {indices[bad[0]]} (source {bad[0]}) is outside [0, N = {h['num_candidates']})")
  if _index_crc(h["header"], indices) != h["index_crc"]:
    raise container.CorruptedBitstreamError("RCC decoded indices fail the index CRC: the payload or the header "
                                            "is damaged (CRCs re-sealed), or written by another coder")
  sampler = _sampler(sample_fn, jit_sampler)
  out = []
  per = h["sources_per_codebook"]
  for g, start in enumerate(range(0, h["num_sources"], per)):
    out.append(rcc_regenerate(indices[start:start + per], sample_fn, _codebook_key(seed, g),
                              h["num_candidates"], chunk_size=h["chunk_size"], _sampler_cache=sampler))
  return np.concatenate(out), indices


def gaussian_qy_sampler(qy_var):
  """``sample_fn(key, num)`` of the exact Gaussian Q*_Y = N(0, diag(qy_var)) (theory.gaussian_test_channel);
  coordinates with qy_var = 0 are identically 0. Its ``fingerprint`` attribute hashes the float32
  standard deviations (:func:`sampler_fingerprint`)."""
  std = jnp.sqrt(jnp.asarray(np.maximum(np.asarray(qy_var, np.float64), 0.0), jnp.float32)).reshape(-1)

  def sample_fn(key, num):
    return jax.random.normal(key, (num, std.size), jnp.float32) * std

  sample_fn.fingerprint = sampler_fingerprint(np.asarray(std), sampler="gaussian_qy_sampler")
  return sample_fn
