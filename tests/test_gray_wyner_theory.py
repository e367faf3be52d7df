"""Tests for lossyless_jax.evaluation.gray_wyner_theory (Gray-Wyner paper §4.1, App. D.3)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lossyless_jax.data import gray_wyner_synthetic as gws
from lossyless_jax.evaluation import gray_wyner_theory as gwt
from lossyless_jax.evaluation import theory

# Theoretical points of the synthetic source (§4.1): (RMSE, Joint, Independent, MI) per multiplier
# α = 0.1, 2, 5, 7, 100; rates in bits per location.
PAPER_POINTS = np.array([
    [0.6873, 0.0, 0.0, 0.0],
    [0.4949, 0.5168, 0.7244, 0.2076],
    [0.3129, 1.2361, 1.7321, 0.4960],
    [0.2706, 1.4680, 2.0566, 0.5886],
    [0.0071, 3.2919, 4.6068, 1.3149],
])


@pytest.fixture(scope="module")
def curves():
  return gwt.theoretical_curves()


@pytest.mark.parametrize("m", [2, 9, 81])
def test_blahut_arimoto_matches_uniform_hamming_closed_form(m):
  p = np.full(m, 1.0 / m)
  dmat = 1.0 - np.eye(m)
  random_init = np.log(np.random.default_rng(m).dirichlet(np.ones(m)))  # BA has to find the uniform r
  for init in (None, random_init):
    for beta in (-0.5, -1.0, -2.0, -4.0, -8.0):
      res = theory.blahut_arimoto(p, dmat, beta, log_r_init=init)
      e = (m - 1) * math.exp(beta)
      assert res["distortion"] == pytest.approx(e / (1.0 + e), abs=1e-3)  # D(β̃) of the closed form
      assert abs(res["rate_bits"] - gwt.uniform_hamming_rd(res["distortion"], m)) < 1e-3


def test_uniform_hamming_closed_form():
  assert gwt.uniform_hamming_rd(0.0, 9) == pytest.approx(math.log2(9))
  assert gwt.uniform_hamming_rd(1 - 1 / 9, 9) == 0.0
  assert gwt.uniform_hamming_rd(0.95, 9) == 0.0
  d = np.array([0.05, 0.2, 0.4])
  np.testing.assert_allclose(gwt.uniform_hamming_rd(d, 2), theory.bernoulli_hamming_rd(d, 0.5), atol=1e-12)
  with pytest.raises(ValueError):
    gwt.uniform_hamming_rd(-0.1, 4)


def test_distortion_matrices():
  d = gwt.pair_distortion_matrix()
  assert d.shape == (81, 81)
  np.testing.assert_array_equal(np.diag(d), 0.0)
  assert d[0 * 9 + 0, 8 * 9 + 8] == pytest.approx((64 + 64) / 16)  # (0, 0) -> (8, 8)
  assert d[3 * 9 + 4, 4 * 9 + 6] == pytest.approx((1 + 4) / 16)    # (3, 4) -> (4, 6)
  np.testing.assert_allclose(gwt.coordinate_distortion_matrix()[0], (np.arange(9) / 4.0) ** 2)


def test_theoretical_points_match_the_paper(curves):
  ours = np.stack([curves["distortion"], curves["joint"], curves["independent"], curves["mutual_information"]], 1)
  np.testing.assert_allclose(ours[:, 1:], PAPER_POINTS[:, 1:], atol=0.01)  # rates within 0.01 bit
  np.testing.assert_allclose(ours[:4, 0], PAPER_POINTS[:4, 0], atol=2e-3)
  # At α = 100 the paper prints RMSE 0.0071; this PMF gives ≈ 0.0035 (the distortion there is set by
  # the ~1e-3 off-diagonal mass of the PMF). Only its order of magnitude is checked.
  assert 0.0 < ours[4, 0] < 0.01
  np.testing.assert_allclose(curves["mutual_information"], curves["independent"] - curves["joint"], atol=1e-12)


def test_theoretical_curve_is_consistent(curves):
  src = gws.default_source()
  h = src.entropies()
  assert np.all(np.diff(curves["joint"]) > -1e-9) and np.all(np.diff(curves["distortion"]) < 0)
  assert curves["joint"][0] < 1e-4 and curves["independent"][0] < 1e-4
  assert curves["joint"][-1] < h.joint and h.joint - curves["joint"][-1] < 0.01
  assert curves["independent"][-1] < h.marginal_sum + 1e-9
  # Zero rate: at convergence every element is reproduced by the best constant symbol, 4 (value 0).
  # After the paper's 1000 iterations α = 0.1 is not converged yet (rate ~1e-6, RMSE 4e-4 higher).
  var = np.sum(src.row_marginal * ((np.arange(9) - 4) / 4.0) ** 2)
  var_col = np.sum(src.column_marginal * ((np.arange(9) - 4) / 4.0) ** 2)
  mse0 = (len(src.singles) * var + len(src.pairs) * (var + var_col)) / src.num_locations
  zero = gwt.theoretical_curves(src, (0.1,), max_iter=5000)
  assert zero["iterations"][0] < 5000 and zero["joint"][0] < 1e-8
  assert zero["distortion"][0] == pytest.approx(math.sqrt(mse0), abs=1e-6)
  assert 0.0 < curves["distortion"][0] - math.sqrt(mse0) < 1e-3


def test_pair_channel_read_out_matches_blahut_arimoto():
  src = gws.default_source()
  p = src.pair_pmf.ravel()
  for alpha in (7.0, 100.0):
    ch = gwt.pair_channel(src.pair_pmf, alpha, max_iter=5000)
    res = theory.blahut_arimoto(p, gwt.pair_distortion_matrix(), -alpha, max_iter=5000)
    assert ch["rate_pair"] == pytest.approx(res["rate_bits"], abs=1e-6)
    assert ch["distortion_pair"] == pytest.approx(res["distortion"], abs=1e-6)
    assert ch["distortion_first"] + ch["distortion_second"] == pytest.approx(ch["distortion_pair"], abs=1e-12)
    joint = np.exp(ch["log_joint"])
    np.testing.assert_allclose(joint.sum(axis=1), p, atol=1e-12)
    # Marginal rates of a symmetric PMF are equal and below the joint rate.
    assert ch["rate_first"] == pytest.approx(ch["rate_second"], abs=1e-9)
    assert ch["rate_first"] < ch["rate_pair"]


def test_empirical_mutual_information_interpolates_and_floors():
  dj = np.array([0.1, 0.2, 0.3, 0.4])
  di = np.array([0.15, 0.25, 0.5])
  out = gwt.empirical_mutual_information(dj, 4.0 - 10.0 * dj, di, 6.0 - 12.0 * di)
  grid = np.array([0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
  np.testing.assert_allclose(out["distortion"], grid)
  np.testing.assert_allclose(out["joint"], 4.0 - 10.0 * grid, atol=1e-12)        # incl. extrapolation at 0.5
  np.testing.assert_allclose(out["independent"], 6.0 - 12.0 * grid, atol=1e-12)  # incl. extrapolation at 0.1
  np.testing.assert_allclose(out["mutual_information"], 2.0 - 2.0 * grid, atol=1e-12)
  # Crossing curves: the difference goes negative and is floored at 0.001.
  crossed = gwt.empirical_mutual_information(dj, 1.0 - dj, di, 2.0 - 6.0 * di)
  np.testing.assert_allclose(crossed["mutual_information"], np.maximum(1.0 - 5.0 * grid, 0.001), atol=1e-12)
  assert crossed["mutual_information"][0] == pytest.approx(0.5) and crossed["mutual_information"][-1] == 0.001
  # Piecewise (not global) linear interpolation.
  np.testing.assert_allclose(gwt.interpolate_rd([0.0, 1.0, 2.0], [4.0, 2.0, 1.0], [-1.0, 0.5, 1.5, 3.0]),
                             [6.0, 3.0, 1.5, 0.0])
  with pytest.raises(ValueError):
    gwt.empirical_mutual_information([0.1], [1.0], di, di)


def test_common_channel_bd_rate_against_empirical_mi():
  dj = np.array([0.1, 0.2, 0.3, 0.4])
  di = np.array([0.15, 0.25, 0.35, 0.45])
  mi = gwt.empirical_mutual_information(dj, 4.0 - 5.0 * dj, di, 6.0 - 9.0 * di)
  assert np.all(mi["mutual_information"] > 0.001)
  assert gwt.common_channel_bd_rate(mi, mi["mutual_information"], mi["distortion"]) == pytest.approx(0.0, abs=1e-9)
  assert gwt.common_channel_bd_rate(mi, 2.0 * mi["mutual_information"], mi["distortion"]) == pytest.approx(100.0, abs=1e-6)
  assert gwt.common_channel_bd_rate(mi, 0.5 * mi["mutual_information"], mi["distortion"]) == pytest.approx(-50.0, abs=1e-6)
