"""One-shot reverse-channel coding: PFR / ORC, Prop. 1 index, Zipf coding (entropy/one_shot.py)."""
import contextlib
import functools
import importlib.util
import math
import resource
import struct
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from lossyless_jax.entropy import one_shot as O
from lossyless_jax.evaluation import theory as T
from lossyless_jax.losses import distortions as DL
from lossyless_jax.nets import generators as G

HAVE_CODING = importlib.util.find_spec("lossyless_jax.entropy.coding") is not None
needs_coding = pytest.mark.skipif(not HAVE_CODING, reason="lossyless_jax.entropy.coding not available yet")


def test_zipf_pmf_and_guarantee():
  c = 1.0
  s = O.zipf_exponent(c)
  assert s == pytest.approx(1 + 1 / (c + math.log2(math.e) / math.e + 1))
  q = O.zipf_pmf(1000, c)
  assert q.dtype == np.float64 and q.shape == (1000,)
  assert q.sum() == pytest.approx(1.0)
  assert q[0] / q[9] == pytest.approx(10 ** s)  # q(k) ∝ k^{-s}, symbol K ↔ k = K + 1
  assert O.guarantee_bits(1.0) == pytest.approx(7.0)
  assert O.guarantee_bits(0.0) == pytest.approx(5.0)
  with pytest.raises(ValueError):
    O.zipf_exponent(-1.0)


def test_huffman_lengths():
  q = O.zipf_pmf(5000, 2.0)
  lengths = O.huffman_code_lengths(q)
  assert np.sum(2.0 ** -lengths) == pytest.approx(1.0)  # complete prefix code (Kraft equality)
  h = -np.sum(q * np.log2(q))
  mean_len = np.sum(q * lengths)
  assert h <= mean_len < h + 1
  assert np.all(np.diff(lengths) >= 0)  # monotone pmf -> monotone lengths
  assert O.huffman_code_lengths(np.array([1.0])).tolist() == [1]
  np.testing.assert_array_equal(O.huffman_code_lengths(np.array([0.5, 0.25, 0.25])), [1, 2, 2])


def test_log_weights_pfr_orc():
  """The laws of eq. (28)'s weights, not their formula: PFR's W_i are the arrival times of a rate-1
  Poisson process (i.i.d. Exp(1) gaps); ORC's W_i / N are the order statistics of N i.i.d. Exp(1)
  (Theis & Yosri), so their empirical law is Exp(1)."""
  key = jax.random.key(0)
  n = 1000
  lw_pfr = np.asarray(O.rcc_log_weights(key, n, chunk_size=300, method="pfr"), np.float64)
  lw_orc = np.asarray(O.rcc_log_weights(key, n, chunk_size=300, method="orc"), np.float64)
  assert lw_pfr.shape == lw_orc.shape == (n,) and np.all(np.diff(lw_pfr) > 0) and np.all(np.diff(lw_orc) > 0)
  gaps = np.diff(np.concatenate([[0.0], np.exp(lw_pfr)]))
  assert stats.kstest(gaps, "expon").pvalue > 1e-3
  assert stats.kstest(np.exp(lw_orc) / n, "expon").pvalue > 1e-3
  # ... and the law of ORC's W_i / N is not that of PFR's (arrival times grow like i, not like −log(1 − i/N)).
  assert stats.kstest(np.exp(lw_pfr) / n, "expon").pvalue < 1e-6
  # Exponentials of chunk c come from fold_in(fold_in(key, 0), c) (the documented key layout, which
  # the decoder relies on).
  ekey = jax.random.fold_in(key, 0)
  e = np.concatenate([np.asarray(jax.random.exponential(jax.random.fold_in(ekey, c), (300,)), np.float64)
                      for c in range(4)])[:n]
  np.testing.assert_allclose(np.exp(lw_pfr), np.cumsum(e), rtol=1e-5)  # float32 running sums
  # Same chunking -> same values.
  np.testing.assert_array_equal(lw_pfr, np.asarray(O.rcc_log_weights(key, n, chunk_size=300)))
  with pytest.raises(ValueError, match="method"):
    O.rcc_log_weights(key, 10, method="astar")


@pytest.mark.parametrize("method", ["pfr", "orc"])
def test_select_matches_brute_force_and_regenerates_bit_exactly(method):
  """Chunked running argmin = argmin over the full score vector; decoder's Y_K == encoder's Y_K."""
  qy = O.gaussian_qy_sampler([0.75, 0.5])
  key = jax.random.key(7)
  n, chunk, beta = 1000, 256, -2.0  # uneven last chunk
  x = jax.random.normal(jax.random.key(1), (13, 2))
  idx, y_enc = O.rcc_select(x, qy, key, beta, n, chunk_size=chunk, method=method)
  # Brute force with the same codebook (chunk c from fold_in(fold_in(key, 1), c)).
  skey = jax.random.fold_in(key, 1)
  y_all = jnp.concatenate([qy(jax.random.fold_in(skey, c), chunk) for c in range(4)])[:n]
  lw = O.rcc_log_weights(key, n, chunk_size=chunk, method=method)
  score = np.asarray(lw)[None, :] - beta * np.asarray(DL.squared_error(x, y_all))
  np.testing.assert_array_equal(idx, np.argmin(score, axis=1))
  y_dec = O.rcc_regenerate(idx, qy, key, n, chunk_size=chunk)
  np.testing.assert_array_equal(y_dec, np.asarray(y_enc))  # bit-exact
  # Eager (un-jitted) generation may differ in the last ulp: bit-exactness needs the same code path.
  np.testing.assert_allclose(y_dec, np.asarray(y_all)[idx], rtol=1e-6)
  with pytest.raises(ValueError, match="indices must lie"):
    O.rcc_regenerate([n], qy, key, n, chunk_size=chunk)
  with pytest.raises(ValueError, match="beta"):
    O.rcc_select(x, qy, key, 1.0, n)


def test_generator_codebook_regenerates_bit_exactly():
  """With a (batch-statistics BatchNorm) DCGAN as Q_Y, the decoder regenerates Y_K bit-exactly."""
  gen = G.DCGANGenerator(channels=2, image_size=8)
  variables = jax.jit(lambda k: gen.init(k, jnp.zeros((2, 16)), train=False))(jax.random.key(0))
  fn = G.make_sample_fn(gen, variables, 16, train_bn=True, flatten=True)
  x = jax.random.uniform(jax.random.key(3), (5, 64))
  idx, y_enc = O.rcc_select(x, fn, jax.random.key(4), -0.5, 300, chunk_size=128)
  y_dec = O.rcc_regenerate(idx, fn, jax.random.key(4), 300, chunk_size=128)
  np.testing.assert_array_equal(y_dec, np.asarray(y_enc))


@pytest.mark.parametrize("method", ["pfr", "orc"])
def test_exact_gaussian_rcc_conditional_law(method):
  """Scalar N(0,1), D = 0.25 with the exact Q*: Y_K ~ Q*_{Y|X=x} = N(0.75 x, 0.1875). Goodness of fit
  of the standardised residuals (Y_K − 0.75 x)/√0.1875 against N(0, 1), one codebook per source
  (sources sharing a codebook have correlated outcomes)."""
  ch = T.gaussian_test_channel([1.0], distortion=0.25)
  qy = O.gaussian_qy_sampler(ch["qy_var"])
  x = np.asarray(jax.random.normal(jax.random.key(0), (600, 1)))
  y = np.concatenate([np.asarray(O.rcc_select(x[i:i + 1], qy, jax.random.key(100 + i), ch["beta"], 512,
                                              chunk_size=512, method=method)[1]) for i in range(600)])
  resid = ((y - ch["gain"][0] * x) / math.sqrt(ch["cond_var"][0]))[:, 0]
  assert stats.kstest(resid, "norm").pvalue > 1e-3
  # Standard errors with 600 sources: mean 0.041, variance 0.058 (standardised), E(x−y)² ≈ 0.015.
  assert abs(resid.mean()) < 0.17 and abs(resid.var() - 1.0) < 0.23
  assert np.mean((x - y) ** 2) == pytest.approx(0.25, abs=0.045)


EULER_BITS = np.euler_gamma / math.log(2.0)  # −E log2 S for S ~ Exp(1)


@functools.lru_cache(maxsize=None)
def _pfr_index_law(distortion=0.25, num_draws=8000, kmax=4096):
  """Law of the PFR index K (1-based) for X ~ N(0, 1) with the exact pair (Q*_Y, Q*_{Y|X}) at D, from
  Poisson-process theory and independent of the coder: (W_i / r(Y_i), Y_i), r = dQ*_{Y|X=x}/dQ*_Y,
  is a rate-1 Poisson process with i.i.d. Q*_{Y|X=x} marks, so the selected candidate has
  (S, Y_K) ~ Exp(1) ⊗ Q*_{Y|X=x}, W_K = S r(Y_K), and the other points before it in W order number
  Poisson(μ), μ = S · E_{Y'~Q*_{Y|X=x}}[(r(Y_K)/r(Y') − 1)_+]. Returns (pmf of K on 1..kmax, E log2 W_K)."""
  ch = T.gaussian_test_channel([1.0], distortion=distortion)
  g, c, q = ch["gain"][0], ch["cond_var"][0], ch["qy_var"][0]
  rng = np.random.default_rng(0)
  x = rng.standard_normal(num_draws)
  y = g * x + math.sqrt(c) * rng.standard_normal(num_draws)
  s = rng.exponential(size=num_draws)
  log_r = lambda yy, xx: -(yy - g * xx) ** 2 / (2 * c) + yy ** 2 / (2 * q) + 0.5 * math.log(q / c)
  nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # E f(ξ), ξ ~ N(0, 1) ≈ Σ w f(node) / √(2π)
  weights = weights / math.sqrt(2 * math.pi)
  y_other = g * x[:, None] + math.sqrt(c) * nodes[None, :]
  ratio = np.exp(log_r(y, x)[:, None] - log_r(y_other, x[:, None]))
  mu = s * (np.maximum(ratio - 1.0, 0.0) * weights[None]).sum(1)
  k = np.arange(kmax)
  pmf = np.zeros(kmax)
  for start in range(0, num_draws, 1000):
    pmf += stats.poisson.pmf(k[None, :], mu[start:start + 1000, None]).sum(0)
  log2_w = (np.log(s) + log_r(y, x)) / math.log(2)
  return pmf / num_draws, float(log2_w.mean())


@needs_coding
@pytest.mark.parametrize("method", ["pfr", "orc"])
def test_index_law_matches_poisson_theory(method):
  """Scalar Gaussian at D = 0.25 (R = 1 bit), exact Q*, 2,000 sources with a codebook of N = 4,096
  each: E log2 W_K = R − γ/ln 2 (exact for PFR as N → ∞), and E log2 K and H(K) equal their values
  under the PFR index law (`_pfr_index_law`: E log2 K = 0.947, H(K) = 2.54 bits), within 4 standard
  errors. ORC has the same law up to O(2^R / N). Both sit far below the guarantee (27)–(25)."""
  ch = T.gaussian_test_channel([1.0], distortion=0.25)
  qy = O.gaussian_qy_sampler(ch["qy_var"])
  n = 2000
  x = np.asarray(jax.random.normal(jax.random.key(3), (n, 1)))
  _, info = O.rcc_compress(x, qy, 11, ch["beta"], 4096, ch["rate_bits"], method=method, chunk_size=4096,
                           sources_per_codebook=1)
  pmf, log2_w_theory = _pfr_index_law()
  k = np.arange(1, pmf.size + 1)
  log2_k_theory = float((pmf * np.log2(k)).sum())
  h_theory = float(-(pmf[pmf > 0] * np.log2(pmf[pmf > 0])).sum())
  assert log2_w_theory == pytest.approx(ch["rate_bits"] - EULER_BITS, abs=0.05)  # the oracle's own check
  indices = info["indices"] + 1
  se_k = np.log2(indices).std() / math.sqrt(n)
  assert abs(info["mean_log2_index"] - log2_k_theory) <= 4 * se_k
  assert info["mean_log2_index"] <= ch["rate_bits"] + 1.0  # E log2 K ≤ E log2(1 + W_K) ≤ R + 1
  # E log2 W_K: sd(log2 W_K) ≈ 2.2 bits here.
  assert abs(info["mean_log2_weight"] - (ch["rate_bits"] - EULER_BITS)) <= 4 * 2.2 / math.sqrt(n)
  # Plug-in H(K) with the Miller–Madow correction (support − 1)/(2 n ln 2); its standard error is
  # sd(−log2 p(K))/√n ≈ 2/√2000 = 0.045 bit.
  support = np.unique(indices).size
  h = info["index_entropy_bits"] + (support - 1) / (2 * n * math.log(2))
  assert abs(h - h_theory) <= 0.18
  assert h >= T.gaussian_rd(info["distortion"], [1.0])  # converse: H(K) ≥ I(X; Y_K) ≥ R(D)
  assert info["rate_bits_huffman"] == pytest.approx(info["rate_bits_ideal"], abs=0.25)


@needs_coding
@pytest.mark.parametrize("method", ["pfr", "orc"])
def test_compress_decompress_round_trip(method, tmp_path):
  ch = T.gaussian_test_channel([1.0], distortion=0.25)
  qy = O.gaussian_qy_sampler(ch["qy_var"])
  x = np.asarray(jax.random.normal(jax.random.key(0), (250, 1)))
  path = tmp_path / "codes.rcc"
  data, info = O.rcc_compress(x, qy, 1234, ch["beta"], 1024, 1.0, method=method, chunk_size=512,
                              sources_per_codebook=1, path=str(path))
  assert path.read_bytes() == data
  assert O.read_header(data)["num_sources"] == 250
  y_dec, idx = O.rcc_decompress(path.read_bytes(), qy, 1234)
  np.testing.assert_array_equal(idx, info["indices"])
  np.testing.assert_array_equal(y_dec, info["samples"])  # bit-exact from seed + index
  assert info["rate_bits_file"] == pytest.approx(8 * len(data) / 250)
  assert info["rate_bits_payload"] < info["rate_bits_file"]
  assert info["guarantee_bits"] == pytest.approx(7.0)
  # The range coder's rate is close to the ideal Zipf code length (one stream over the 250 sources).
  assert info["rate_bits_payload"] == pytest.approx(info["rate_bits_ideal"], abs=0.3)
  # The index law (see test_index_law_matches_poisson_theory): E log2 K = 0.947 bit, s.e. ≈ 0.07 here.
  assert info["mean_log2_index"] == pytest.approx(0.947, abs=0.3)
  assert info["distortion"] == pytest.approx(0.25, abs=0.07)  # 250 sources: s.e. ≈ 0.022
  # Another seed is another codebook (the seed is the shared randomness): refused, not decoded.
  with pytest.raises(ValueError, match="seed"):
    O.rcc_decompress(data, qy, 999)
  with pytest.raises(ValueError, match="magic"):
    O.rcc_decompress(b"XXXX" + data[4:], qy, 1234)


@needs_coding
def test_corrupted_or_truncated_rcc_files_are_refused():
  from lossyless_jax.entropy import container
  ch = T.gaussian_test_channel([1.0], distortion=0.25)
  qy = O.gaussian_qy_sampler(ch["qy_var"])
  x = np.asarray(jax.random.normal(jax.random.key(1), (40, 1)))
  data, _ = O.rcc_compress(x, qy, 7, ch["beta"], 256, 1.0, chunk_size=256, sources_per_codebook=10)
  for i in range(len(data)):  # every single-byte flip: header, payload or checksum
    bad = bytearray(data)
    bad[i] ^= 0x5A
    with pytest.raises(container.BitstreamError):
      O.read_header(bytes(bad))
  for n in (0, 3, 10, len(data) - 1):
    with pytest.raises(container.BitstreamError):
      O.rcc_decompress(data[:n], qy, 7)


@needs_coding
@pytest.mark.slow
@pytest.mark.parametrize("method,per_codebook", [("pfr", 1), ("pfr", 100), ("orc", 100)])
def test_acceptance_one_shot_scalar_gaussian(method, per_codebook, tmp_path):
  """Scalar Gaussian at D = 0.25 with the exact Q*, N = 2^14, 5,000 sources: distortion within 5 %
  of 0.25, the decoder reproduces Y_K exactly, E log2 K and H(K) at their values under the PFR index
  law, E log2 W_K = R − γ/ln 2. ``per_codebook`` = 1: a fresh codebook per source; 100: the authors'
  (the standard errors are then those of 50 independent codebooks' worth of correlated sources, so
  the tolerances widen)."""
  ch = T.gaussian_test_channel([1.0], distortion=0.25)
  qy = O.gaussian_qy_sampler(ch["qy_var"])
  x = np.asarray(jax.random.normal(jax.random.key(0), (5000, 1)))
  t0 = time.time()
  data, info = O.rcc_compress(x, qy, 2024, ch["beta"], 2 ** 14, ch["rate_bits"], method=method,
                              chunk_size=4096, sources_per_codebook=per_codebook,
                              path=str(tmp_path / "g.rcc"))
  t1 = time.time()
  y_dec, _ = O.rcc_decompress((tmp_path / "g.rcc").read_bytes(), qy, 2024)
  print(f"[rcc-{method}-per{per_codebook}] D={info['distortion']:.4f} file_bits={info['rate_bits_file']:.3f} "
        f"payload_bits={info['rate_bits_payload']:.3f} huffman_bits={info['rate_bits_huffman']:.3f} "
        f"ideal_bits={info['rate_bits_ideal']:.3f} H(K)={info['index_entropy_bits']:.3f} "
        f"E_log2_K={info['mean_log2_index']:.3f} E_log2_W={info['mean_log2_weight']:.3f} "
        f"guarantee={info['guarantee_bits']:.3f} enc_s={t1 - t0:.1f} dec_s={time.time() - t1:.1f}", flush=True)
  assert abs(info["distortion"] - 0.25) <= 0.05 * 0.25
  np.testing.assert_array_equal(y_dec, info["samples"])
  pmf, _ = _pfr_index_law()
  k = np.arange(1, pmf.size + 1)
  widen = 1.0 if per_codebook == 1 else 3.0
  assert abs(info["mean_log2_index"] - float((pmf * np.log2(k)).sum())) <= widen * 4 * 1.15 / math.sqrt(5000)
  assert abs(info["mean_log2_weight"] - (ch["rate_bits"] - EULER_BITS)) <= widen * 4 * 2.2 / math.sqrt(5000)
  h_theory = float(-(pmf[pmf > 0] * np.log2(pmf[pmf > 0])).sum())
  assert abs(info["index_entropy_bits"] - h_theory) <= widen * 0.15


# ----------------------------------------------------------------------------- bitstream hardening
from lossyless_jax.entropy import container as C  # noqa: E402

_OLD_HEADER = struct.Struct("<4sBIIIId")  # format 2 (b"RCC2"): header, payload, CRC-32 of both


def _small_file(n=30, var=0.75, seed=0, num_candidates=256, chunk_size=256, per_codebook=10):
  x = np.random.default_rng(0).normal(size=(n, 1)).astype(np.float32)
  qy = O.gaussian_qy_sampler(np.array([var]))
  data, info = O.rcc_compress(x, qy, seed, -2.0, num_candidates, 1.0, chunk_size=chunk_size,
                              sources_per_codebook=per_codebook)
  return data, info, qy


def _forge(data, payload=None, index_crc_of=None, **fields):
  """Rewrites header fields by name (and optionally the payload) and re-seals every CRC a forger can
  compute without decoding: the header CRC and the payload CRC; with ``index_crc_of`` also the index
  CRC (CRC-32 of header bytes [0, 52) then the indices as u32)."""
  hdr = O.HEADER
  vals = dict(zip(O.HEADER_FIELDS, hdr.unpack_from(data)))
  body = data[hdr.size:-4]
  if payload is not None:
    body = payload
    vals["payload_bytes"] = len(payload)
  vals.update(fields)
  head = bytearray(hdr.pack(*(vals[k] for k in O.HEADER_FIELDS)))
  if index_crc_of is not None:
    crc = zlib.crc32(np.asarray(index_crc_of, "<u4").tobytes(), zlib.crc32(bytes(head[:52])))
    struct.pack_into("<I", head, 52, crc)
  struct.pack_into("<I", head, 56, zlib.crc32(bytes(head[:56])))
  return bytes(head) + body + struct.pack("<I", zlib.crc32(body))


def _vm_bytes():
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmSize:"):
        return int(line.split()[1]) * 1024
  raise RuntimeError("no VmSize")


@contextlib.contextmanager
def _address_space_headroom(extra=1 << 30):
  """Caps this process's address space at its current size + ``extra`` (so a 16 GiB allocation
  fails with MemoryError instead of reaching the OOM killer)."""
  soft, hard = resource.getrlimit(resource.RLIMIT_AS)
  resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + extra, hard))
  try:
    yield
  finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@needs_coding
def test_rcc_file_of_another_sampler_or_seed_is_refused():
  """Item 5: a valid file decoded with another Q_Y (another variance) or another seed raises
  ForeignModelError naming the part that differs, instead of decoding to other samples."""
  x = np.random.default_rng(0).normal(size=(300, 1)).astype(np.float32)
  a, b = O.gaussian_qy_sampler(np.array([0.75])), O.gaussian_qy_sampler(np.array([0.5]))
  data, info = O.rcc_compress(x, a, 0, -2.0, 4096, 1.0, sources_per_codebook=10)
  with pytest.raises(C.ForeignModelError, match="sampler"):
    O.rcc_decompress(data, b, 0)
  with pytest.raises(C.ForeignModelError, match="seed"):
    O.rcc_decompress(data, a, seed=1)
  y, idx = O.rcc_decompress(data, a, 0)  # the right model still decodes bit-exactly
  np.testing.assert_array_equal(y, info["samples"])
  np.testing.assert_array_equal(idx, info["indices"])
  # A jax key equal to key(0) is the same common randomness.
  np.testing.assert_array_equal(O.rcc_decompress(data, a, jax.random.key(0))[0], info["samples"])


@needs_coding
def test_rcc_generator_fingerprint():
  """Item 5: a trained generator is fingerprinted by its parameters (``sampler_fingerprint``); a file
  of another generator is refused; a plain callable without a fingerprint is a TypeError."""
  gen = G.FCGenerator(out_dim=2, hidden=(8,))
  v0 = gen.init(jax.random.key(0), jnp.zeros((1, 3)))
  v1 = gen.init(jax.random.key(1), jnp.zeros((1, 3)))
  f0, f1 = G.make_sample_fn(gen, v0, 3), G.make_sample_fn(gen, v1, 3)
  fp0, fp1 = O.sampler_fingerprint(v0, module=gen), O.sampler_fingerprint(v1, module=gen)
  assert fp0 != fp1 and fp0 == O.sampler_fingerprint(jax.tree_util.tree_map(np.array, v0), module=gen)
  assert O.sampler_fingerprint(functools.partial(np.add, v0)) != O.sampler_fingerprint(functools.partial(np.add, v1))
  x = np.random.default_rng(1).normal(size=(20, 2)).astype(np.float32)
  data, info = O.rcc_compress(x, f0, 5, -1.0, 128, 1.0, chunk_size=64, fingerprint=fp0)
  np.testing.assert_array_equal(O.rcc_decompress(data, f0, 5, fingerprint=fp0)[0], info["samples"])
  with pytest.raises(C.ForeignModelError, match="sampler"):
    O.rcc_decompress(data, f1, 5, fingerprint=fp1)
  with pytest.raises(TypeError, match="fingerprint"):
    O.rcc_decompress(data, f0, 5)
  with pytest.raises(TypeError, match="fingerprint"):
    O.rcc_compress(x, f0, 5, -1.0, 128, 1.0)


@needs_coding
def test_rcc_other_sampling_environment_is_refused(monkeypatch):
  """Item 5: files record the JAX / PRNG environment that sampled Q_Y; another one is refused."""
  data, _, qy = _small_file()
  monkeypatch.setattr(O, "sampling_environment", lambda seed=None: "jax 0.0.0; prng rbg; backend tpu")
  with pytest.raises(C.ForeignModelError, match="environment"):
    O.rcc_decompress(data, qy, 0)


@needs_coding
def test_old_rcc_format_is_unsupported():
  """Item 5: a format-2 file (magic RCC2, no model fingerprint) raises UnsupportedVersionError."""
  _, info, qy = _small_file()
  payload = coding_lib().encode_categorical(info["indices"], O.zipf_pmf(256, 1.0))
  old = _OLD_HEADER.pack(b"RCC2", 0, 256, 256, 30, 10, 1.0) + payload
  old += struct.pack("<I", zlib.crc32(old))
  with pytest.raises(C.UnsupportedVersionError, match="RCC2"):
    O.rcc_decompress(old, qy, 0)
  with pytest.raises(C.NotABitstreamError):
    O.rcc_decompress(b"LJXB" + old[4:], qy, 0)


def coding_lib():
  from lossyless_jax.entropy import coding
  return coding


@needs_coding
def test_huge_num_candidates_is_refused_before_allocating():
  """Item 6: N = 2^31 in a forged header (CRCs re-sealed) is refused before any O(N) allocation
  (under a 1 GiB address-space headroom a 16 GiB pmf would be a MemoryError)."""
  data, _, qy = _small_file()
  bad = _forge(data, num_candidates=2 ** 31, chunk_size=4096)
  with _address_space_headroom():
    with pytest.raises(C.CorruptedBitstreamError, match="candidates"):
      O.rcc_decompress(bad, qy, 0)
    with pytest.raises(C.CorruptedBitstreamError, match="candidates"):
      O.read_header(bad)


@needs_coding
def test_huge_num_sources_is_refused():
  """Item 6: num_sources = 2^31 (which aborted the process inside the range decoder) is refused
  against what the payload can hold."""
  data, _, qy = _small_file()
  with _address_space_headroom():
    with pytest.raises(C.CorruptedBitstreamError, match="sources"):
      O.rcc_decompress(_forge(data, num_sources=2 ** 31), qy, 0)
    with pytest.raises(C.CorruptedBitstreamError, match="sources"):
      O.rcc_decompress(_forge(data, num_sources=10_000), qy, 0)  # 30 indices' payload can't hold 10^4


@needs_coding
def test_zero_num_sources_is_refused():
  data, _, qy = _small_file()
  with pytest.raises(C.CorruptedBitstreamError, match="sources"):
    O.rcc_decompress(_forge(data, num_sources=0), qy, 0)


@needs_coding
def test_decoded_indices_fail_the_index_crc():
  """Item 6: anything that passes the header and payload CRCs but decodes to other indices, or
  regenerates from another codebook layout, fails the index CRC."""
  data, info, qy = _small_file(num_candidates=256, chunk_size=64)
  # Header fields the index decoder does not use: same indices, other codebooks.
  for forged in (_forge(data, chunk_size=32), _forge(data, sources_per_codebook=5)):
    with pytest.raises(C.CorruptedBitstreamError, match="index CRC"):
      O.rcc_decompress(forged, qy, 0)
  # Other indices in the payload (payload CRC re-sealed).
  other = info["indices"].copy()
  other[3] = (other[3] + 1) % 256
  payload = coding_lib().encode_categorical(other, O.zipf_pmf(256, 1.0))
  with pytest.raises(C.CorruptedBitstreamError, match="index CRC"):
    O.rcc_decompress(_forge(data, payload=payload), qy, 0)


@needs_coding
def test_decoded_index_out_of_range_is_refused():
  """Item 6: a decoded index >= N (the escape codes any integer) is refused, even with a matching CRC."""
  data, info, qy = _small_file()
  bad_idx = info["indices"].copy()
  bad_idx[0] = 256 + 5
  payload = coding_lib().encode_categorical(bad_idx, O.zipf_pmf(256, 1.0))
  with pytest.raises(C.CorruptedBitstreamError, match=r"index"):
    O.rcc_decompress(_forge(data, payload=payload, index_crc_of=bad_idx), qy, 0)


@needs_coding
@pytest.mark.parametrize("field,value,match", [
    ("rate_param_bits", float("nan"), "rate"), ("rate_param_bits", float("inf"), "rate"),
    ("rate_param_bits", -1.0, "rate"), ("sources_per_codebook", 0, "per codebook"),
    ("sources_per_codebook", 31, "per codebook"), ("chunk_size", 0, "chunk"), ("chunk_size", 257, "chunk"),
    ("method", 7, "method"), ("num_candidates", 1, "candidates"), ("num_candidates", 0, "candidates"),
])
def test_forged_header_fields_are_refused(field, value, match):
  """Item 6: every header field is bounded (CRCs re-sealed, so only the field checks can catch it)."""
  data, _, qy = _small_file()
  with pytest.raises(C.CorruptedBitstreamError, match=match):
    O.rcc_decompress(_forge(data, **{field: value}), qy, 0)
