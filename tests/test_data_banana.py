"""Tests for lossyless_jax.data.banana."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.data import banana


def test_sampler_is_keyed_and_has_closed_form_mean():
  x = banana.sample_banana(jax.random.key(0), 200_000)
  assert x.shape == (200_000, 2) and x.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(x[:5]), np.asarray(banana.sample_banana(jax.random.key(0), 200_000)[:5]))
  # Code variant: E[x2 + 0.1 (x1^2 - 9)] = 0, so the mean is the shift [-0.75, -1].
  np.testing.assert_allclose(np.asarray(x.mean(0)), [-0.75, -1.0], atol=0.03)
  # Paper-as-printed variant: E[x2] = 0.1*9 - 9 = -8.1 before the -40° rotation and [-3, -4] shift.
  xp = banana.sample_banana(jax.random.key(0), 200_000, variant="paper")
  a = math.radians(-40)
  expected = [8.1 * math.sin(a) - 3.0, -8.1 * math.cos(a) - 4.0]
  np.testing.assert_allclose(np.asarray(xp.mean(0)), expected, atol=0.03)
  # Standard deviations 3 and 0.5 before bending: the long axis dominates.
  assert 2.5 < float(jnp.linalg.norm(x.std(0))) < 4.0


def test_rotate2d_is_counter_clockwise():
  np.testing.assert_allclose(np.asarray(banana.rotate2d(jnp.array([1.0, 0.0]), 90.0)), [0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("invariance", banana.INVARIANCES)
def test_representative_is_invariant_under_the_group(invariance):
  x = banana.sample_banana(jax.random.key(1), 512)
  x_aug = banana.augment(jax.random.key(2), x, invariance)
  assert not np.allclose(np.asarray(x_aug), np.asarray(x))
  np.testing.assert_allclose(np.asarray(banana.representative(x_aug, invariance)),
                             np.asarray(banana.representative(x, invariance)), atol=1e-4)
  np.testing.assert_allclose(np.asarray(banana.maximal_invariant(x_aug, invariance)),
                             np.asarray(banana.maximal_invariant(x, invariance)), atol=1e-4)
  # The representative lies in the orbit of x and is its own representative.
  rep = banana.representative(x, invariance)
  np.testing.assert_allclose(np.asarray(banana.maximal_invariant(rep, invariance)),
                             np.asarray(banana.maximal_invariant(x, invariance)), atol=1e-5)
  np.testing.assert_allclose(np.asarray(banana.representative(rep, invariance)), np.asarray(rep), atol=1e-5)


def test_maximal_invariant_separates_orbits():
  x = jnp.array([[1.0, 2.0], [2.0, 1.0], [3.0, 0.5]])
  np.testing.assert_allclose(np.asarray(banana.maximal_invariant(x, "rotation"))[:, 0],
                             [math.sqrt(5), math.sqrt(5), math.sqrt(9.25)], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(banana.representative(x, "x_translation")), [[0, 2], [0, 1], [0, 0.5]])
  np.testing.assert_allclose(np.asarray(banana.representative(x, "y_translation")), [[1, 0], [2, 0], [3, 0]])
  rep = np.asarray(banana.representative(x, "rotation"))
  np.testing.assert_allclose(np.degrees(np.arctan2(rep[:, 1], rep[:, 0])) % 360, 225.0, atol=1e-4)


def test_translation_augmentation_uses_central_quantiles():
  lo, hi = banana.translation_range(0)
  assert lo < hi
  x = banana.sample_banana(jax.random.key(3), 4096)
  xa = np.asarray(banana.augment(jax.random.key(4), x, "x_translation"))
  assert xa[:, 0].min() >= lo and xa[:, 0].max() <= hi
  np.testing.assert_array_equal(xa[:, 1], np.asarray(x)[:, 1])
  frac_inside = np.mean((np.asarray(x)[:, 0] >= lo) & (np.asarray(x)[:, 0] <= hi))
  assert abs(frac_inside - 0.8) < 0.03
  # Rotations are uniform: mean angle of rotated copies of one point is ~ 0 on the circle.
  one = jnp.tile(jnp.array([[2.0, 0.0]]), (4096, 1))
  rot = np.asarray(banana.augment(jax.random.key(5), one, "rotation"))
  assert np.linalg.norm(rot.mean(0)) < 0.1


def test_sample_batch_views_share_the_orbit():
  batch = jax.jit(banana.sample_batch, static_argnums=(1, 2))(jax.random.key(6), 64, "rotation")
  assert set(batch) == {"x", "x_aug", "x_pos", "representative", "max_inv"}
  for view in ("x_aug", "x_pos"):
    np.testing.assert_allclose(np.asarray(banana.maximal_invariant(batch[view], "rotation")),
                               np.asarray(batch["max_inv"]), rtol=1e-5)
  assert not np.allclose(np.asarray(batch["x_aug"]), np.asarray(batch["x_pos"]))


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="invariance must be one of"):
    banana.representative(jnp.zeros((2, 2)), "scaling")
  with pytest.raises(ValueError, match="variant must be one of"):
    banana.sample_banana(jax.random.key(0), 3, variant="tf")
  with pytest.raises(ValueError, match="x must be \\(n, 2\\)"):
    banana.augment(jax.random.key(0), jnp.zeros((3,)), "rotation")
  assert banana.mesh_grid(5, 5.0).shape == (25, 2)
