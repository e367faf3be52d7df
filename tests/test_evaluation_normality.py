"""Tests for lossyless_jax.evaluation.normality: Henze–Zirkler against pingouin, calibration of the
bootstrapped mean p-values, the probability integral transform, uniform marginals and downstream scores."""
import math

import numpy as np
import pytest
from scipy import stats

from lossyless_jax.evaluation import normality


def test_henze_zirkler_equals_pingouin():
  pingouin = pytest.importorskip("pingouin", reason="pingouin (the Henze–Zirkler oracle) is not installed")
  rng = np.random.default_rng(0)
  samples = [rng.normal(size=(200, 2)), rng.uniform(size=(150, 3)), rng.laplace(size=(40, 2)),
             rng.normal(size=(30, 5)) @ rng.normal(size=(5, 5)), np.c_[rng.normal(size=(50, 1)), np.zeros((50, 1))]]
  for x in samples:
    hz, p = normality.henze_zirkler(x)
    ref = pingouin.multivariate_normality(x)
    assert hz == pytest.approx(float(ref.hz), rel=1e-9) and p == pytest.approx(float(ref.pval), rel=1e-8, abs=1e-300)


def test_henze_zirkler_stack_equals_each_sample():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(4, 60, 2))
  hz, p = normality.henze_zirkler(x)
  for r in range(4):
    assert (hz[r], p[r]) == pytest.approx(normality.henze_zirkler(x[r]))
  with pytest.raises(ValueError, match="p >= 2"):
    normality.henze_zirkler(rng.normal(size=(10, 1)))


def test_tests_are_calibrated():
  """Acceptance 2: 200-point × 200-repetition mean p-values on N(0, I) lie in [0.4, 0.6]; on the
  unit-variance uniform they are below 0.05."""
  rng = np.random.default_rng(0)
  gauss = normality.bootstrap_pvalues(rng.normal(size=(5000, 2)), seed=0)
  uniform = normality.bootstrap_pvalues(rng.uniform(-math.sqrt(3), math.sqrt(3), size=(5000, 2)), seed=0)
  assert all(0.4 <= gauss[k] <= 0.6 for k in ("shapiro_p", "dagostino_p", "henze_zirkler_p")), gauss
  assert all(uniform[k] < 0.05 for k in ("shapiro_p", "dagostino_p", "henze_zirkler_p")), uniform


def test_bootstrap_draws_fresh_directions_and_skips_hz_when_singular():
  rng = np.random.default_rng(2)
  # normal along one axis, uniform along the other: fixed-axis tests would give 0.5 or ≈ 0; random
  # directions mix them
  x = np.c_[rng.normal(size=3000), rng.uniform(-math.sqrt(3), math.sqrt(3), size=3000)]
  p = normality.bootstrap_pvalues(x, seed=0, repetitions=100)["shapiro_p"]
  assert 0.05 < p < 0.45
  out = normality.bootstrap_pvalues(rng.normal(size=(300, 40)), seed=0, size=30, repetitions=5)
  assert out["henze_zirkler_p"] is None and out["shapiro_p"] is not None
  assert normality.bootstrap_pvalues(rng.normal(size=(300, 1)), repetitions=5)["henze_zirkler_p"] is None


def test_probability_integral_transforms():
  rng = np.random.default_rng(3)
  u = rng.uniform(size=(4000, 2))
  g = normality.gaussianize(u)
  assert stats.kstest(g[:, 0], "norm").pvalue > 0.01
  lap = normality.to_marginal(rng.normal(size=4000), stats.laplace())
  assert stats.kstest(lap, "laplace").pvalue > 0.01 and stats.kstest(lap, "norm").pvalue < 1e-3
  expo = normality.to_marginal(u[:, 0], stats.expon(), source="uniform")
  assert stats.kstest(expo, "expon").pvalue > 0.01
  assert np.all(np.isfinite(normality.gaussianize(np.array([[0.0, 1.0]]))))


def test_uniform_marginals_see_the_discrete_optimum():
  """Thm 3.5's maximiser (uniform on {0, 2ε, …, 1}) passes no KS test and puts its atoms at the edges."""
  rng = np.random.default_rng(4)
  ok = normality.uniform_marginals(rng.uniform(size=(2000, 2)))
  atoms = normality.uniform_marginals(rng.choice(np.linspace(0, 1, 6), size=(2000, 2)))
  assert min(ok["ks_uniform_p"]) > 0.01 and max(atoms["ks_uniform_p"]) < 1e-6
  assert atoms["edge_low"][0] == pytest.approx(1 / 6, abs=0.03) and ok["edge_low"][0] < 0.04
  assert sum(ok["histogram"][1]) == 2000 and len(ok["histogram"][0]) == 10


def test_moments_and_downstream_scores():
  rng = np.random.default_rng(5)
  labels = np.repeat(np.arange(4), 100)
  centres = 5.0 * np.eye(4)[:, :2] + 5.0 * np.eye(4)[:, 2:3]
  x = centres[labels] + 0.3 * rng.normal(size=(400, 2))
  good = normality.downstream(x[::2], labels[::2], x[1::2], labels[1::2])
  assert min(good["gnb_auc"], good["knn_auc"], good["mlp_auc"]) > 0.99 and good["silhouette"] > 0.7
  noise = normality.downstream(rng.normal(size=(200, 2)), labels[::2], rng.normal(size=(200, 2)), labels[1::2])
  assert abs(noise["knn_auc"] - 0.5) < 0.1 and abs(noise["silhouette"]) < 0.1
  m = normality.moments(rng.normal(size=(20000, 3)))
  assert max(map(abs, m["excess_kurtosis"])) < 0.1 and m["max_abs_correlation"] < 0.05
  assert normality.mi_against_capacity(1.0, None, 256)["ceiling_nats"] == pytest.approx(math.log(256))
  assert normality.mi_against_capacity(1.0, 1.5, 256) == pytest.approx({"ceiling_nats": 1.5, "gap_nats": 0.5})
