"""Tests for lossyless_jax.losses.vicreg against a direct NumPy VICReg."""
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.losses import vicreg


def test_matches_numpy():
  rng = np.random.default_rng(0)
  z1, z2 = rng.normal(size=(16, 5)) * 0.5, rng.normal(size=(16, 5))
  def ref(a, b):
    inv = np.mean((a - b) ** 2)
    var = lambda z: np.mean(np.maximum(0, 1 - np.sqrt(z.var(0, ddof=1) + 1e-4)))
    def cov(z):
      c = np.cov(z, rowvar=False)
      return (np.sum(c ** 2) - np.sum(np.diag(c) ** 2)) / z.shape[1]
    return 25 * inv + 25 * (var(a) + var(b)) / 2 + cov(a) + cov(b)
  loss, m = vicreg.vicreg(jnp.asarray(z1, jnp.float32), jnp.asarray(z2, jnp.float32))
  assert float(loss) == pytest.approx(ref(z1, z2), rel=1e-5)
  assert set(m) == {"invariance", "variance", "covariance"}
  with pytest.raises(ValueError):
    vicreg.vicreg(jnp.ones((1, 3)), jnp.ones((1, 3)))
