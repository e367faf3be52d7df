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
  (plus a 29-byte header and a 4-byte CRC), so the coder's termination cost is shared by the n sources;
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
"""
from __future__ import annotations

import functools
import heapq
import math
import struct
import zlib
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

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
]

LOG2E_OVER_E = math.log2(math.e) / math.e  # e^{-1} log2 e ≈ 0.5307
METHODS = ("pfr", "orc")
_MAGIC = b"RCC2"
_HEADER = struct.Struct("<4sBIIIId")  # magic, method, N, chunk_size, num_symbols, per_codebook, C
_CRC = struct.Struct("<I")  # CRC-32 of header + payload, last 4 bytes of the file


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


def rcc_compress(x, sample_fn: Callable, seed, beta, num_candidates: int, rate_param_bits: float, *,
                 method: str = "pfr", chunk_size: int = 4096, sources_per_codebook: int = 100,
                 distortion="squared_error", path: Optional[str] = None, jit_sampler: bool = True):
  """NERD-RCC encoder (Alg. 2) for a batch of sources; writes a real bitstream.

  Args:
    x: (n, ...) sources. Source i uses codebook g = i // sources_per_codebook.
    sample_fn: ``sample_fn(key, num) -> (num, ...)`` samples of Q_Y (a trained generator, or the
      exact Q*_Y, e.g. :func:`gaussian_qy_sampler`).
    seed: shared seed (int) or jax key — common randomness, not stored in the file.
    beta: β̃ < 0 (nats per unit distortion) of the target channel.
    num_candidates: N.
    rate_param_bits: C of the Zipf model, normally NERD's R̂ in bits.
    method: ``"pfr"`` or ``"orc"`` (eq. (28)).
    path: if given, the bitstream is also written to this file.

  Returns:
    ``(data: bytes, info: dict)`` with ``indices`` (n,), ``samples`` (encoder's Y_K, (n, ...)),
    ``distortion`` (mean d(x, Y_K)), ``rate_bits_file`` (8·len(data)/n: one range-coded stream of
    the n indices, header and CRC included), ``rate_bits_payload`` (the range-coded indices only),
    ``rate_bits_huffman`` (mean per-source Zipf–Huffman codeword length, the paper's one-shot
    rate), ``rate_bits_ideal`` (mean −log2 q(K)), ``index_entropy_bits`` (plug-in H(K),
    underestimates for few sources), ``mean_log2_index`` (mean log2(K + 1)), ``mean_log2_weight``
    (mean log2 W_K), ``guarantee_bits`` (C + log2(C+1) + 5), ``log2_N``, ``num_sources``, ``method``.
  """
  x = np.asarray(x)
  n = x.shape[0]
  if n == 0:
    raise ValueError("rcc_compress: no sources")
  if method not in METHODS:
    raise ValueError(f"RCC method must be one of {METHODS}, got {method!r}")
  chunk_size = int(min(chunk_size, num_candidates))
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
  header = _HEADER.pack(_MAGIC, METHODS.index(method), num_candidates, chunk_size, n,
                        sources_per_codebook, float(rate_param_bits))
  data = header + payload
  data += _CRC.pack(zlib.crc32(data))
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


def read_header(data: bytes) -> dict:
  """Parses and checks an RCC bitstream: header, then payload, then CRC-32 of both. Raises the
  rate layer's `container.BitstreamError` subclasses (ValueErrors) naming what is wrong."""
  from lossyless_jax.entropy import container
  if len(data) < _HEADER.size + _CRC.size:
    raise container.TruncatedBitstreamError(
        f"RCC bitstream too short ({len(data)} bytes) for its {_HEADER.size}-byte header and checksum")
  magic, method, n_cand, chunk, num, per_cb, c_bits = _HEADER.unpack_from(data)
  if magic != _MAGIC:
    raise container.NotABitstreamError(f"not an RCC bitstream: magic {magic!r}, expected {_MAGIC!r}")
  (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
  if zlib.crc32(data[:-_CRC.size]) != crc:
    raise container.CorruptedBitstreamError("RCC bitstream checksum mismatch: the file is truncated or corrupted")
  if method >= len(METHODS) or not (0 < chunk <= n_cand) or per_cb < 1:
    raise container.CorruptedBitstreamError(f"RCC header fields out of range (method {method}, N {n_cand}, "
                                            f"chunk {chunk}, sources per codebook {per_cb})")
  return {"method": METHODS[method], "num_candidates": n_cand, "chunk_size": chunk,
          "num_sources": num, "sources_per_codebook": per_cb, "rate_param_bits": c_bits}


def rcc_decompress(data: bytes, sample_fn: Callable, seed, *, jit_sampler: bool = True):
  """NERD-RCC decoder (Alg. 3): decodes the indices and regenerates Y_K from the shared seed.

  Returns ``(samples (n, ...) NumPy, indices (n,) int64)``. Bit-exact with the encoder's Y_K when
  ``sample_fn`` is the same deterministic function (same chunk shape, same keys).
  """
  h = read_header(data)
  pmf = zipf_pmf(h["num_candidates"], h["rate_param_bits"])
  indices = np.asarray(_coding().decode_categorical(data[_HEADER.size:-_CRC.size], pmf, h["num_sources"]), np.int64)
  sampler = _sampler(sample_fn, jit_sampler)
  out = []
  per = h["sources_per_codebook"]
  for g, start in enumerate(range(0, h["num_sources"], per)):
    out.append(rcc_regenerate(indices[start:start + per], sample_fn, _codebook_key(seed, g),
                              h["num_candidates"], chunk_size=h["chunk_size"], _sampler_cache=sampler))
  return np.concatenate(out), indices


def gaussian_qy_sampler(qy_var):
  """``sample_fn(key, num)`` of the exact Gaussian Q*_Y = N(0, diag(qy_var)) (theory.gaussian_test_channel);
  coordinates with qy_var = 0 are identically 0."""
  std = jnp.sqrt(jnp.asarray(np.maximum(np.asarray(qy_var, np.float64), 0.0), jnp.float32)).reshape(-1)

  def sample_fn(key, num):
    return jax.random.normal(key, (num, std.size), jnp.float32) * std

  return sample_fn
