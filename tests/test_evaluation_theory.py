"""Closed-form R(D), slope maps and log-domain Blahut–Arimoto (evaluation/theory.py)."""
import math

import numpy as np
import pytest

from lossyless_jax.evaluation import theory as T

VAR20 = 4.0 * np.exp(-np.arange(20) / 2.0)  # authors' m = 20 variances
VAR40 = 4.0 * np.exp(-np.arange(40) * 1.0)


# --------------------------------------------------------------------------- water-filling

@pytest.mark.parametrize("variances", [VAR20, VAR40, np.array([4.0, 1.0, 0.25]), np.array([1.0])])
@pytest.mark.parametrize("frac", [0.01, 0.1, 0.37, 0.8, 0.999])
def test_water_level_sums_to_distortion(variances, frac):
  d = frac * variances.sum()
  lam = T.water_level(d, variances)
  assert np.minimum(lam, variances).sum() == pytest.approx(d, rel=1e-12)
  r = T.gaussian_rd(d, variances)
  expected = sum(0.5 * math.log2(s / lam) for s in variances if s > lam)
  assert r == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_gaussian_scalar_and_authors_check():
  assert T.gaussian_rd(0.25, [1.0]) == pytest.approx(1.0)
  assert T.gaussian_rd(1.0, [1.0]) == 0.0
  assert T.gaussian_rd(2.0, [1.0]) == 0.0
  # The authors' GaussianSource.ipynb: rd_gaussian(6, sigmas)·ln2 = 1.00189 nats for the m = 20 source.
  assert T.gaussian_rd_nats(6.0, VAR20) == pytest.approx(1.00189, abs=1e-5)
  assert T.gaussian_d_max(VAR20) == pytest.approx(10.166, abs=1e-3)
  assert T.gaussian_d_max(VAR40) == pytest.approx(6.328, abs=1e-3)
  # Vectorised.
  ds = np.array([0.5, 2.0, 5.0])
  np.testing.assert_allclose(T.gaussian_rd(ds, VAR20), [T.gaussian_rd(d, VAR20) for d in ds])


def test_gaussian_table_values():
  """Closed-form points (D, R) at the slopes of the authors' m = 20 sweep (the curve of Fig. 2)."""
  for beta, d, r in [(-1.0, 3.33, 3.89), (-0.5, 5.27, 1.92), (-0.25, 7.74, 0.64), (-2.0, 2.01, 6.59)]:
    dd, rr = T.gaussian_point_from_beta(beta, VAR20)
    assert dd == pytest.approx(d, abs=0.01)
    assert rr == pytest.approx(r, abs=0.01)


def test_rotated_gaussian_equals_diagonal():
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
  cov = q @ np.diag(VAR20) @ q.T
  for d in [0.5, 3.0, 9.0]:
    assert T.rotated_gaussian_rd(d, cov) == pytest.approx(T.gaussian_rd(d, VAR20), rel=1e-9)


@pytest.mark.parametrize("beta", [-0.13, -0.25, -1.0, -3.0, -20.0])
def test_gaussian_beta_d_maps_invert(beta):
  d, r = T.gaussian_point_from_beta(beta, VAR20)
  assert T.gaussian_beta_from_d(d, VAR20) == pytest.approx(beta, rel=1e-10)
  assert T.gaussian_rd(d, VAR20) == pytest.approx(r, rel=1e-10)
  assert T.gaussian_d_from_beta(beta, VAR20) == pytest.approx(d)
  # β̃ is the slope dR/dD in nats.
  h = 1e-6 * d
  slope = (T.gaussian_rd_nats(d + h, VAR20) - T.gaussian_rd_nats(d - h, VAR20)) / (2 * h)
  assert slope == pytest.approx(beta, rel=1e-4)


def test_gaussian_test_channel_is_rd_optimal():
  var = np.array([4.0, 1.0, 0.25])
  ch = T.gaussian_test_channel(var, distortion=1.0)
  lam = ch["lam"]
  assert lam == pytest.approx(T.water_level(1.0, var))
  assert ch["beta"] == pytest.approx(-1 / (2 * lam))
  assert list(ch["active"]) == [True, True, False]
  # E(X - Y)^2 per coordinate under X ~ N(0,σ²), Y = gX + N(0, c): (1-g)²σ² + c = λ on A, σ² off A.
  mse = (1 - ch["gain"]) ** 2 * var + ch["cond_var"]
  np.testing.assert_allclose(mse, np.minimum(lam, var))
  # Marginal of Y is Q*_Y: g²σ² + c = σ² − λ on A.
  np.testing.assert_allclose(ch["gain"] ** 2 * var + ch["cond_var"], ch["qy_var"])
  # I(X;Y) = ½ log(Var Y / c) on A equals R(D).
  act = ch["active"]
  mi = 0.5 * np.log2(ch["qy_var"][act] / ch["cond_var"][act]).sum()
  assert mi == pytest.approx(T.gaussian_rd(1.0, var))
  ch_b = T.gaussian_test_channel(var, beta=ch["beta"])
  assert ch_b["distortion"] == pytest.approx(1.0)
  with pytest.raises(ValueError):
    T.gaussian_test_channel(var)


# --------------------------------------------------------------------------- Bernoulli, Laplace

@pytest.mark.parametrize("p", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("beta", [-1.5, -2.0, -3.0, -6.0])
def test_bernoulli_maps_invert(p, beta):
  d = T.bernoulli_d_from_beta(beta, p)
  assert d == pytest.approx(1 / (1 + math.exp(-beta)))
  assert T.bernoulli_beta_from_d(d, p) == pytest.approx(beta)
  # slope of R(D) = h(p) - h(D) in nats is ln(D/(1-D)) = β̃
  h = 1e-6
  slope = (T.bernoulli_hamming_rd(d + h, p) - T.bernoulli_hamming_rd(d - h, p)) / (2 * h) * math.log(2)
  assert slope == pytest.approx(beta, rel=1e-5)


def test_bernoulli_values():
  p = 0.3
  assert T.bernoulli_hamming_rd(0.0, p) == pytest.approx(T.binary_entropy(p))
  assert T.bernoulli_hamming_rd(0.3, p) == 0.0
  assert T.bernoulli_hamming_rd(0.4, p) == 0.0
  # Reference values at β̃ = −1, −2, −3 (D = sigmoid(β̃), R = h(p) − h(D), Q*(1) = (p − D)/(1 − 2D)).
  for beta, d, r, q in [(-1, 0.269, 0.041, 0.067), (-2, 0.119, 0.354, 0.237), (-3, 0.047, 0.606, 0.279)]:
    dd = T.bernoulli_d_from_beta(beta, p)
    assert dd == pytest.approx(d, abs=1e-3)
    assert T.bernoulli_hamming_rd(dd, p) == pytest.approx(r, abs=1e-3)
    assert T.bernoulli_optimal_qy(dd, p) == pytest.approx(q, abs=1e-3)
  assert T.bernoulli_d_from_beta(-0.1, p) == pytest.approx(0.3)  # zero-rate region capped


@pytest.mark.parametrize("alpha", [1.0, 2.5])
@pytest.mark.parametrize("beta", [-3.0, -4.0, -10.0])
def test_laplace_maps_invert(alpha, beta):
  d = T.laplace_d_from_beta(beta, alpha)
  assert d == pytest.approx(-1 / beta)
  assert T.laplace_beta_from_d(d, alpha) == pytest.approx(beta)
  assert T.laplace_l1_rd(d, alpha) == pytest.approx(math.log2(1 / (alpha * d)))
  h = 1e-7
  slope = (T.laplace_l1_rd(d + h, alpha) - T.laplace_l1_rd(d - h, alpha)) / (2 * h) * math.log(2)
  assert slope == pytest.approx(beta, rel=1e-5)
  assert T.laplace_d_from_beta(-0.5, 1.0) == 1.0  # zero-rate cap at 1/α


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="beta"):
    T.gaussian_point_from_beta(0.5, VAR20)
  with pytest.raises(ValueError, match="variances"):
    T.gaussian_rd(1.0, [1.0, -1.0])
  with pytest.raises(ValueError, match="p must"):
    T.bernoulli_hamming_rd(0.1, 1.2)
  with pytest.raises(ValueError):
    T.bernoulli_beta_from_d(0.35, 0.3)
  with pytest.raises(ValueError, match="beta"):
    T.blahut_arimoto([0.5, 0.5], np.eye(2), 1.0)


# --------------------------------------------------------------------------- Blahut–Arimoto

@pytest.mark.parametrize("beta", [-1.5, -2.0, -3.0])
def test_ba_bernoulli_hamming(beta):
  p = 0.3
  res = T.blahut_arimoto([1 - p, p], 1.0 - np.eye(2), beta, tol=1e-13, max_iter=20000)
  assert res["converged"]
  assert res["distortion"] == pytest.approx(T.bernoulli_d_from_beta(beta, p), abs=1e-6)
  assert res["rate_bits"] == pytest.approx(T.bernoulli_hamming_rd(res["distortion"], p), abs=1e-6)
  assert math.exp(res["log_r"][1]) == pytest.approx(T.bernoulli_optimal_qy(res["distortion"], p), abs=1e-5)


def test_ba_discretised_gaussian_matches_water_filling():
  grid = np.linspace(-6, 6, 241)
  px = T.discretize_density(lambda g: -0.5 * g ** 2, grid)
  dmat = (grid[:, None] - grid[None, :]) ** 2
  for beta in [-1.0, -2.0, -4.0]:
    res = T.blahut_arimoto(px, dmat, beta, tol=1e-12, max_iter=5000)
    var = float(np.sum(px * grid ** 2))
    assert res["distortion"] == pytest.approx(-1 / (2 * beta), rel=5e-3)
    assert res["rate_bits"] == pytest.approx(T.gaussian_rd(res["distortion"], [var]), abs=0.01)


def test_ba_discretised_laplace_matches_closed_form():
  grid = np.linspace(-10, 10, 401)  # spacing 0.05: discretisation error ≈ 0.002–0.006 bit
  px = T.discretize_density(lambda g: -np.abs(g), grid)
  dmat = np.abs(grid[:, None] - grid[None, :])
  for beta in [-2.0, -4.0]:
    res = T.blahut_arimoto(px, dmat, beta, max_iter=300)
    assert res["distortion"] == pytest.approx(-1 / beta, rel=0.01)
    assert res["rate_bits"] == pytest.approx(T.laplace_l1_rd(res["distortion"]), abs=0.01)


def test_ba_log_domain_survives_large_distortions():
  # β̃ d ~ −1e4: a probability-domain BA would underflow to 0/0.
  rng = np.random.default_rng(1)
  x = rng.standard_normal((60, 5)) * 30
  res = T.blahut_arimoto_data(x, [-10.0])
  assert np.all(np.isfinite(res["rate_bits"]))
  assert res["rate_bits"][0] == pytest.approx(math.log2(60), abs=1e-6)


def test_ba_data_alphabet_curve():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((150, 4)) * np.array([2.0, 1.0, 0.5, 0.2])
  betas = -np.array([1000.0, 20.0, 4.0, 1.0, 0.3, 0.1, 0.03])
  res = T.blahut_arimoto_data(x, betas, max_iter=500)
  # Saturates at log2 n at high slope; decreasing rate, increasing distortion along the sweep.
  assert res["rate_bits"][0] == pytest.approx(math.log2(150), abs=1e-3)
  assert res["distortion"][0] < 1e-3
  assert np.all(np.diff(res["rate_bits"]) < 1e-9)
  assert np.all(np.diff(res["distortion"]) > -1e-9)
  assert np.all(res["rate_bits"] <= res["log2_n"] + 1e-9)
  # Zero-rate distortion with Y = data exceeds E‖X − μ‖².
  d_max = np.sum((x - x.mean(0)) ** 2, 1).mean()
  assert res["d_zero_rate"] > d_max


def test_ba_rate_is_mutual_information_of_channel():
  """The reported rate equals I(X;Y) of the returned channel, computed directly."""
  rng = np.random.default_rng(3)
  px = rng.dirichlet(np.ones(7))
  dmat = rng.uniform(0, 3, (7, 5))
  res = T.blahut_arimoto(px, dmat, -1.3, max_iter=7)  # not converged on purpose
  # Rebuild the channel of the last iteration from the previous r: run 6 iterations, then one step.
  prev = T.blahut_arimoto(px, dmat, -1.3, max_iter=6)
  logits = np.log(np.exp(prev["log_r"]))[None, :] - 1.3 * dmat
  cond = np.exp(logits - logits.max(1, keepdims=True))
  cond /= cond.sum(1, keepdims=True)
  r = px @ cond
  mi = np.sum(px[:, None] * cond * np.log2(cond / r[None, :]))
  assert res["rate_bits"] == pytest.approx(mi, rel=1e-10)
  assert res["distortion"] == pytest.approx(np.sum(px[:, None] * cond * dmat), rel=1e-12)
  np.testing.assert_allclose(np.exp(res["log_r"]), r, rtol=1e-10)
