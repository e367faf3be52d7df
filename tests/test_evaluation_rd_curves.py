"""Tests for lossyless_jax.evaluation.rd_curves."""
import math

import numpy as np
import pytest

from lossyless_jax.evaluation import rd_curves as rd


def test_aurd_of_piecewise_linear_curve():
  d, r = [0.0, 1.0, 3.0], [4.0, 2.0, 0.0]
  assert rd.aurd(d, r) == pytest.approx(3.0 + 2.0)
  assert rd.aurd(d[::-1], r[::-1]) == pytest.approx(5.0)  # order of points does not matter
  # Restricted to [0.5, 2]: r(0.5) = 3, r(1) = 2, r(2) = 1.
  assert rd.aurd(d, r, distortion_range=(0.5, 2.0)) == pytest.approx(1.25 + 1.5)
  with pytest.raises(ValueError, match="within the observed span"):
    rd.aurd(d, r, distortion_range=(-1.0, 2.0))


def test_aurd_with_mse_converted_to_gaussian_entropy_bits():
  bits = np.array([-2.0, 0.0, 1.0])
  mse = 2.0 ** (2 * bits) / (2 * math.pi * math.e)
  np.testing.assert_allclose(rd.mse_to_bits(mse), bits, atol=1e-12)
  r = np.array([6.0, 2.0, 1.0])
  assert rd.aurd(mse, r, distortion_is_mse=True) == pytest.approx(2 * (6 + 2) / 2 + (2 + 1) / 2)


def test_aurd_over_seeds_mean_and_standard_error():
  curves = [([0.0, 1.0], [2.0, 2.0]), ([0.0, 1.0], [4.0, 4.0]), ([0.0, 1.0], [6.0, 6.0])]
  out = rd.aurd_over_seeds(curves)
  assert out["aurd_mean"] == pytest.approx(4.0)
  assert out["aurd_sem"] == pytest.approx(2.0 / math.sqrt(3))


def test_pareto_front():
  rate = [1.0, 2.0, 3.0, 2.5, 0.5]
  err = [0.5, 0.3, 0.1, 0.4, 0.9]
  np.testing.assert_array_equal(rd.pareto_front(rate, err), [4, 0, 1, 2])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_of_a_scaled_curve(method):
  q = np.array([30.0, 32.0, 34.0, 36.0, 38.0])
  r = np.array([100.0, 160.0, 250.0, 400.0, 640.0])
  assert rd.bd_rate(r, q, 0.5 * r, q, method=method) == pytest.approx(-50.0, abs=1e-6)
  assert rd.bd_rate(r, q, r, q, method=method) == pytest.approx(0.0, abs=1e-9)
  with pytest.raises(ValueError, match="do not overlap"):
    rd.bd_rate(r, q, r, q + 100, method=method)
