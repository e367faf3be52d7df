"""One-shot reverse-channel coding: PFR / ORC, Prop. 1 index, Zipf coding (entropy/one_shot.py)."""
import importlib.util
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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
  key = jax.random.key(0)
  n = 1000
  lw_pfr = np.asarray(O.rcc_log_weights(key, n, chunk_size=300, method="pfr"))
  lw_orc = np.asarray(O.rcc_log_weights(key, n, chunk_size=300, method="orc"))
  assert lw_pfr.shape == (n,) and np.all(np.diff(lw_pfr) > 0)
  assert np.all(np.diff(lw_orc) > 0)
  # Exponentials of chunk c come from fold_in(fold_in(key, 0), c) (the documented key layout).
  ekey = jax.random.fold_in(key, 0)
  e = np.concatenate([np.asarray(jax.random.exponential(jax.random.fold_in(ekey, c), (300,)), np.float64)
                      for c in range(4)])[:n]
  j = np.arange(n)
  np.testing.assert_allclose(np.exp(lw_pfr), np.cumsum(e), rtol=1e-5)
  np.testing.assert_allclose(np.exp(lw_orc), np.cumsum(e * n / (n - j)), rtol=1e-5)
  # PFR: arrival times of a rate-1 Poisson process, W_N ≈ N; ORC: E W_N = N·H_N.
  assert np.exp(lw_pfr[-1]) == pytest.approx(n, rel=0.1)
  # Chunking does not change the weights' law but does change the draws: same chunking -> same values.
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


def test_exact_gaussian_rcc_conditional_law():
  """Scalar N(0,1), D = 0.25 with the exact Q*: Y_K ~ Q*_{Y|X=x} = N(0.75 x, 0.1875).

  One codebook per source (sources sharing a codebook have correlated outcomes)."""
  ch = T.gaussian_test_channel([1.0], distortion=0.25)
  qy = O.gaussian_qy_sampler(ch["qy_var"])
  x = np.asarray(jax.random.normal(jax.random.key(0), (600, 1)))
  y = np.concatenate([np.asarray(O.rcc_select(x[i:i + 1], qy, jax.random.key(100 + i), ch["beta"], 512,
                                              chunk_size=512)[1]) for i in range(600)])
  resid = y - ch["gain"][0] * x
  # Standard errors with 600 sources: mean 0.018, variance ≈ 0.011, E(x−y)² ≈ 0.015.
  assert abs(resid.mean()) < 0.06
  assert resid.var() == pytest.approx(ch["cond_var"][0], abs=0.035)
  assert np.mean((x - y) ** 2) == pytest.approx(0.25, abs=0.045)


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
  # The range coder's rate is close to the ideal Zipf code length.
  assert info["rate_bits_payload"] == pytest.approx(info["rate_bits_ideal"], abs=0.3)
  assert info["rate_bits_file"] <= info["guarantee_bits"]
  assert info["distortion"] == pytest.approx(0.25, abs=0.07)  # 250 sources: s.e. ≈ 0.022
  # A different seed decodes to different samples (the seed is the shared randomness).
  y_other, _ = O.rcc_decompress(data, qy, 999)
  assert not np.array_equal(y_other, y_dec)
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
  """Item 5: scalar Gaussian at D = 0.25 with the exact Q*, N = 2^14, 5,000 sources: distortion
  within 5% of 0.25, mean coded bits from the real file ≤ R + log2(R + 1) + 5 = 7, decoder
  reproduces Y_K exactly. ``per_codebook`` = 1: a fresh codebook per source; 100: the authors'."""
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
        f"guarantee={info['guarantee_bits']:.3f} enc_s={t1 - t0:.1f} dec_s={time.time() - t1:.1f}", flush=True)
  assert abs(info["distortion"] - 0.25) <= 0.05 * 0.25
  assert info["rate_bits_file"] <= info["guarantee_bits"]
  np.testing.assert_array_equal(y_dec, info["samples"])
