"""Tests for lossyless_jax.data.gray_wyner_synthetic (Gray-Wyner paper §4.1, App. D.3)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lossyless_jax.data import gray_wyner_synthetic as gws

N_STAT = 200  # samples for the statistical tests (200 × 8192 elements)


@pytest.fixture(scope="module")
def src():
  return gws.default_source()


@pytest.fixture(scope="module")
def batch(src):
  return src.sample_values(np.random.default_rng(1234), N_STAT)


def _group_entropies_by_loop(src):
  """H(X1, X2) and H(X1) + H(X2) by walking the groups one by one (independent of `aggregate`)."""
  n = src.num_locations
  h_row, h_col, h_pair = (gws.entropy_bits(src.row_marginal), gws.entropy_bits(src.column_marginal),
                          gws.entropy_bits(src.pair_pmf))
  joint = h_row * len(src.singles)
  per_channel = [0.0, 0.0]
  for i in src.singles:
    per_channel[int(i >= n)] += h_row
  for f, s in src.pairs:
    joint += h_pair
    cf, cs = int(f >= n), int(s >= n)
    if cf == cs:
      per_channel[cf] += h_pair
    else:
      per_channel[cf] += h_row
      per_channel[cs] += h_col
  return joint / n, sum(per_channel) / n


def test_exact_entropies_match_the_paper(src):
  h = gws.entropies()
  assert isinstance(h, gws.Entropies)
  assert 3.28 <= h.joint <= 3.31
  assert 4.60 <= h.marginal_sum <= 4.63
  assert 1.30 <= h.mutual_information <= 1.33
  assert h.mutual_information == pytest.approx(h.marginal_sum - h.joint, abs=1e-12)
  joint, marginal = _group_entropies_by_loop(src)
  assert h.joint == pytest.approx(joint, abs=1e-9)
  assert h.marginal_sum == pytest.approx(marginal, abs=1e-9)


def test_dependency_map_is_stored_once_and_reproducible(src):
  partner = src.partner
  assert partner.shape == (2 * 64 * 64,) and not partner.flags.writeable
  np.testing.assert_array_equal(partner, gws.dependency_map(8192, 110069))
  assert not np.array_equal(partner, gws.dependency_map(8192, 110070))
  paired = np.flatnonzero(partner >= 0)
  np.testing.assert_array_equal(partner[partner[paired]], paired)  # an involution on paired elements
  assert np.all(partner[paired] != paired)
  # The map of seed 110069 (Python's Mersenne Twister): 886 singles, 3653 pairs, 1827 across channels.
  assert (len(src.singles), len(src.pairs), src.num_cross_pairs) == (886, 3653, 1827)
  everything = np.concatenate([src.singles, src.pairs.ravel()])
  np.testing.assert_array_equal(np.sort(everything), np.arange(8192))
  assert np.all(src.pairs[:, 0] > src.pairs[:, 1])  # the higher index is the PMF row


def test_pair_pmf_is_the_smoothed_rounded_gaussian(src):
  p = src.pair_pmf
  assert p.shape == (9, 9) and p.sum() == pytest.approx(1.0, abs=1e-12)
  np.testing.assert_array_equal(p, p.T)  # rho = 1: both coordinates are the same draw
  off = p[~np.eye(9, dtype=bool)]
  np.testing.assert_allclose(off, 1.0 / (100_000 + 81), rtol=1e-12)  # add-one smoothing only
  edges = np.concatenate([[-np.inf], np.arange(8) + 0.5, [np.inf]])
  expected = np.diff(stats.norm.cdf(edges, loc=4.0, scale=2.0))  # N(0, 4) shifted by 4, rounded, clipped
  np.testing.assert_allclose(src.row_marginal, expected, atol=5e-3)
  np.testing.assert_array_equal(gws.pair_pmf(), p)


def test_sample_layout_and_normalisation(src):
  rng = np.random.default_rng(7)
  values = src.sample_values(np.random.default_rng(7), 3)
  out = src.sample(rng, 3, targets=False)
  assert set(out) == {"x", "symbols"}
  assert out["x"].shape == (3, 64, 64, 2) and out["x"].dtype == np.float32
  assert out["symbols"].shape == (3, 64, 64, 2) and out["symbols"].dtype == np.int8
  sym = values.astype(np.int64) - 4
  np.testing.assert_array_equal(out["symbols"][..., 0].reshape(3, -1), sym[:, :4096])  # channel 0 = X1
  np.testing.assert_array_equal(out["symbols"][..., 1].reshape(3, -1), sym[:, 4096:])
  np.testing.assert_array_equal(out["x"], out["symbols"].astype(np.float32) / 4.0)
  assert out["x"].min() >= -1.0 and out["x"].max() <= 1.0
  np.testing.assert_array_equal(np.unique(out["symbols"]), np.arange(-4, 5))


def test_stream_matches_the_exact_pmf_chi_square(src, batch):
  # Singles follow the row marginal.
  singles = batch[:, src.singles].ravel()
  counts = np.bincount(singles, minlength=9)
  assert stats.chisquare(counts, counts.sum() * src.row_marginal).pvalue > 1e-3
  # Pairs follow the pair PMF: 9 diagonal cells plus one pooled off-diagonal cell.
  f, s = batch[:, src.pairs[:, 0]].ravel(), batch[:, src.pairs[:, 1]].ravel()
  cells = np.bincount(f.astype(np.int64) * 9 + s, minlength=81).reshape(9, 9)
  obs = np.append(np.diag(cells), cells.sum() - np.trace(cells))
  p = src.pair_pmf
  exp = cells.sum() * np.append(np.diag(p), 1.0 - np.trace(p))
  assert stats.chisquare(obs, exp).pvalue > 1e-3
  # Distinct groups are independent: two disjoint sets of singles, pooled, against the product law.
  a, b = batch[:, src.singles[0::2][:400]].ravel(), batch[:, src.singles[1::2][:400]].ravel()
  joint = np.bincount(a.astype(np.int64) * 9 + b, minlength=81)
  assert stats.chisquare(joint, joint.sum() * np.outer(src.row_marginal, src.row_marginal).ravel()).pvalue > 1e-3


def test_stream_empirical_entropy_is_close_to_exact(src, batch):
  f, s = batch[:, src.pairs[:, 0]].ravel(), batch[:, src.pairs[:, 1]].ravel()
  pair = np.bincount(f.astype(np.int64) * 9 + s, minlength=81) / f.size
  single = np.bincount(batch[:, src.singles].ravel(), minlength=9) / (N_STAT * len(src.singles))
  first, second = np.bincount(f, minlength=9) / f.size, np.bincount(s, minlength=9) / s.size
  joint, marginal = src.aggregate(gws.entropy_bits(single), gws.entropy_bits(first), gws.entropy_bits(second),
                                  gws.entropy_bits(pair))
  h = src.entropies()
  assert joint == pytest.approx(h.joint, abs=0.01)
  assert marginal == pytest.approx(h.marginal_sum, abs=0.01)


def test_sampling_is_deterministic_given_a_seed(src):
  a = src.sample(np.random.default_rng(3), 4, targets=False)
  b = src.sample(np.random.default_rng(3), 4, targets=False)
  c = src.sample(np.random.default_rng(4), 4, targets=False)
  np.testing.assert_array_equal(a["x"], b["x"])
  assert not np.array_equal(a["x"], c["x"])
  with pytest.raises(TypeError):
    src.sample(3, 4)
  it = gws.stream(4, seed=5, targets=False)
  first = [next(it)["symbols"] for _ in range(3)]
  it2 = gws.stream(4, seed=5, targets=False)
  it2.restore({"position": 2})
  np.testing.assert_array_equal(next(it2)["symbols"], first[2])
  assert not np.array_equal(first[0], first[1])


def test_targets_are_bijective_with_determinant_one():
  small = gws.GrayWynerSynthetic(shape=(8, 8))
  a1, a2 = small.transforms
  for a in (a1, a2):
    assert a.shape == (64, 64)
    sign, logdet = np.linalg.slogdet(a)
    assert sign == 1.0 and abs(logdet) < 1e-10
    assert np.linalg.cond(a) < 10.0
  assert not np.allclose(a1, a2)
  out = small.sample(np.random.default_rng(0), 16)
  assert out["z1"].shape == out["z2"].shape == (16, 8, 8) and out["z1"].dtype == np.float32
  for c, (a, z) in enumerate(((a1, out["z1"]), (a2, out["z2"]))):
    x = out["x"][..., c].reshape(16, -1).astype(np.float64)
    np.testing.assert_allclose(z.reshape(16, -1), x @ a.T, rtol=1e-5, atol=1e-5)
    recovered = np.linalg.solve(a, z.reshape(16, -1).astype(np.float64).T).T * 4.0
    np.testing.assert_array_equal(np.rint(recovered).astype(np.int8), out["symbols"][..., c].reshape(16, -1))
    assert np.abs(recovered - np.rint(recovered)).max() < 1e-3


def test_location_pmf_is_exact():
  # Seed 6 at 4x4 has a pair joining X1 and X2 at the same location (flat location 6 = (1, 2));
  # rho = 0.5 makes the pair PMF asymmetric, so the orientation matters.
  small = gws.GrayWynerSynthetic(shape=(4, 4), seed=6, rho=0.5)
  assert small.partner[6] == 6 + 16
  assert not np.allclose(small.pair_pmf, small.pair_pmf.T)
  assert not np.allclose(small.row_marginal, small.column_marginal)
  np.testing.assert_array_equal(small.location_pmf(1, 2), small.pair_pmf.T)
  marg = small.element_marginals()
  for h, w in ((0, 0), (3, 3), (2, 1)):
    i = 4 * h + w
    assert small.partner[i] != i + 16
    np.testing.assert_allclose(small.location_pmf(h, w), np.outer(marg[i], marg[i + 16]))
  f, s = small.pairs[0]
  np.testing.assert_array_equal(marg[f], small.row_marginal)
  np.testing.assert_array_equal(marg[s], small.column_marginal)
  np.testing.assert_allclose(marg.sum(axis=1), 1.0)


def test_sample_source_options():
  class Cfg:
    options = {"targets": False}
  out = gws.sample_source(np.random.default_rng(0), 2, Cfg())
  assert set(out) == {"x", "symbols"}


@pytest.mark.slow
def test_full_size_targets_have_determinant_one():
  a1, a2 = gws.default_source().transforms
  for a in (a1, a2):
    sign, logdet = np.linalg.slogdet(a)
    assert a.shape == (4096, 4096) and sign == 1.0 and abs(logdet) < 1e-8
