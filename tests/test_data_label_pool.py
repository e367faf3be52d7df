"""Tests for lossyless_jax.data.label_pool."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.data import label_pool as L


def test_supervised_equivalence_samples_same_label():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, size=40).astype(np.int32)
  images = rng.random((40, 3, 3, 1)).astype(np.float32)
  images[:, 0, 0, 0] = labels  # tag each image with its label
  pool = L.make_label_pool(images, labels)
  query = jnp.asarray([0, 1, 2, 3, 3, 2, 1, 0] * 8)
  sample = jax.jit(L.sample_same_label)
  out = sample(jax.random.key(0), query, pool)
  np.testing.assert_array_equal(np.asarray(out[:, 0, 0, 0]).astype(int), np.asarray(query))
  np.testing.assert_array_equal(np.asarray(out), np.asarray(sample(jax.random.key(0), query, pool)))
  # Draws vary across the class (not always the same representative).
  class0 = np.asarray(out)[np.asarray(query) == 0].reshape(16, -1)
  assert len(np.unique(class0, axis=0)) > 1
  reps = L.label_representatives(jax.random.key(1), pool)
  assert reps.shape == (4, 3, 3, 1)
  np.testing.assert_array_equal(np.asarray(reps[:, 0, 0, 0]).astype(int), np.arange(4))
  direct = jax.jit(L.same_label_images)(jax.random.key(2), query, jnp.asarray(images), jnp.asarray(labels))
  np.testing.assert_array_equal(np.asarray(direct[:, 0, 0, 0]).astype(int), np.asarray(query))
  with pytest.raises(ValueError, match="classes \\[4\\] have no example"):
    L.make_label_pool(images, labels, num_classes=5)
