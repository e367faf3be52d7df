"""Quantized coding tables: quantization, exact reproduction by constriction, fingerprints."""

import math

import constriction
import jax
import numpy as np
import pytest
import scipy.special as sps

from lossyless_jax.entropy import factorized as fz
from lossyless_jax.entropy import tables as T
from lossyless_jax.entropy.affine import AffinePrecision
from lossyless_jax.entropy.gaussian import make_scale_table
from lossyless_jax.entropy.hyperprior import VectorHyperprior
from lossyless_jax.entropy.testing import numpy_params


def test_quantize_pmf_properties():
  rng = np.random.default_rng(0)
  for n in (2, 3, 17, 1000, 70_000):
    p = rng.dirichlet(np.full(n, 0.3))
    c = T.quantize_pmf(p)
    assert c.dtype == np.uint32 and c.min() >= 1
    assert int(c.astype(np.int64).sum()) == 1 << 24
    # each count within one (plus the +1 floor) of the ideal share of the free weight
    ideal = p * ((1 << 24) - n)
    assert np.all(np.abs(c.astype(np.float64) - 1 - ideal) <= 1.0 + 1e-6)


def test_quantize_pmf_unnormalised_zeros_and_errors():
  c = T.quantize_pmf(np.array([0.0, 3.0, 1.0, 0.0]))
  assert c[0] == 1 and c[3] == 1 and int(c.sum()) == 1 << 24
  assert abs(c[1] / c[2] - 3.0) < 1e-5
  for bad in (np.array([1.0]), np.array([1.0, -0.1]), np.array([np.nan, 1.0]), np.zeros(3)):
    with pytest.raises(ValueError):
      T.quantize_pmf(bad)


def test_quantize_pmf_is_deterministic():
  p = np.random.default_rng(1).random(5000)
  np.testing.assert_array_equal(T.quantize_pmf(p), T.quantize_pmf(p.copy()))


def test_constriction_reproduces_counts_exactly():
  """``Categorical(counts - 1, perfect=False)`` must code symbol j at -log2(c_j / 2**24) bits."""
  counts = T.quantize_pmf(np.array([0.0, 1e-9, 2.2e-7, 0.25, 0.5, 0.25 - 2.2e-7]))
  assert list(counts[:2]) == [1, 1] and counts[2] in (4, 5)
  model = constriction.stream.model.Categorical(counts.astype(np.float64) - 1, perfect=False)
  n = 20_000
  for j in (0, 2, 3, 4):
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(np.full(n, j, np.int32), model)
    bits = enc.num_bits()
    ideal = n * (24 - math.log2(int(counts[j])))
    assert ideal <= bits <= ideal * 1.001 + 64, (j, bits, ideal)
    dec = constriction.stream.queue.RangeDecoder(enc.get_compressed())
    np.testing.assert_array_equal(dec.decode(model, n), np.full(n, j))


def test_categorical_table_trims_and_keeps_escape_mass():
  pmf = np.array([0.5, 0.3, 0.1, 1e-12, 1e-13])  # sums to 0.9: 0.1 left for symbols >= 5
  counts, length = T.categorical_table(pmf)
  assert length == 3 and counts.size == 4
  assert counts[-1] / 2**24 == pytest.approx(0.1, rel=1e-5)
  counts, length = T.categorical_table(np.array([1.0]))
  assert length == 1 and counts[-1] == 1


def _eb_params(channels=3, seed=0):
  p = numpy_params(fz.EntropyBottleneck(channels), channels, seed=seed)
  q = np.asarray(p["quantiles"]).copy()
  q[:, 0], q[:, 1], q[:, 2] = [-30, -25, -40], [0.3, -1.2, 2.0], [33, 20, 41.5]
  p["quantiles"] = q[:channels]
  return p


def test_factorized_tables_follow_quantiles_and_pmf():
  p = _eb_params()
  t = T.build_factorized_tables(p)
  q = np.asarray(p["quantiles"], np.float64)
  np.testing.assert_array_equal(t["medians"], np.asarray(p["quantiles"], np.float32)[:, 1])
  p64 = {k: np.asarray(v, np.float64) for k, v in p.items()}
  for c in range(3):
    med = float(t["medians"][c])
    neg, pos = math.ceil(med - q[c, 0]), math.ceil(q[c, 2] - med)
    assert t["kmin"][c] == -neg
    counts = t["counts"][t["starts"][c] : t["starts"][c + 1]]
    assert counts.size == neg + pos + 2 and int(counts.sum()) == 1 << 24
    k = np.arange(-neg, pos + 1, dtype=np.float64)
    pmf = fz.bin_probabilities({n: v[c : c + 1] for n, v in p64.items()}, (med + k)[:, None], xp=np)[:, 0]
    big = pmf > 1e-4
    np.testing.assert_allclose(counts[:-1][big] / 2**24, pmf[big], rtol=1e-3)


def test_gaussian_tables_support_and_escape():
  t = T.build_gaussian_tables()
  table = make_scale_table()
  mult = -sps.ndtri(0.5e-9)
  for i in (0, 30, 63):
    n = math.ceil(table[i] * mult)
    counts = t["counts"][t["starts"][i] : t["starts"][i + 1]]
    assert t["kmin"][i] == -n and counts.size == 2 * n + 2
    assert counts[n] == counts.max()  # mode at zero
  assert t["boundaries"].size == 63


def _hyper_params(dim=12, affine=False):
  model = VectorHyperprior(dim)
  if affine:
    model = AffinePrecision(model)
  return numpy_params(model, dim)


def test_build_tables_kinds_and_fingerprint():
  eb = _eb_params()
  t1 = T.build_tables(eb)
  assert int(t1["kind"]) == T.KIND_FACTORIZED and int(t1["dim"]) == 3 and "gaussian" not in t1
  hp = _hyper_params(affine=True)
  t2 = T.build_tables(hp)
  assert int(t2["kind"]) == T.KIND_HYPERPRIOR and int(t2["dim"]) == 12 and "affine" in t2
  assert t1["fingerprint"].shape == (16,) and t1["fingerprint"].dtype == np.uint8
  assert T.verify_fingerprint(t1) == t1["fingerprint"].tobytes()
  np.testing.assert_array_equal(T.build_tables(eb)["fingerprint"], t1["fingerprint"])
  assert not np.array_equal(t1["fingerprint"], t2["fingerprint"])
  with pytest.raises(ValueError, match="not those of"):
    T.build_tables({"foo": np.zeros(3)})


def test_fingerprint_detects_any_change():
  t = T.build_tables(_eb_params())
  base = t["fingerprint"].copy()
  t["factorized"]["counts"] = t["factorized"]["counts"].copy()
  t["factorized"]["counts"][5] += 1
  assert not np.array_equal(T.fingerprint(t), base)
  with pytest.raises(T.StaleTablesError):
    T.verify_fingerprint(t)


def test_tables_must_match_params():
  p = _eb_params()
  t = T.build_tables(p)
  T.check_tables_match_params(t, p)
  q = np.asarray(p["quantiles"]).copy()
  q[0, 1] += 0.01
  with pytest.raises(T.StaleTablesError, match="build_tables"):
    T.check_tables_match_params(t, dict(p, quantiles=q))
  hp = _hyper_params()
  th = T.build_tables(hp)
  T.check_tables_match_params(th, hp)
  bumped = jax.tree_util.tree_map(np.array, hp)
  bumped["h_s"]["dense_2"]["bias"] += 1e-3
  with pytest.raises(T.StaleTablesError):
    T.check_tables_match_params(th, bumped)
