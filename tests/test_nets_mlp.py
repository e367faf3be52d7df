"""Tests for lossyless_jax.nets.mlp."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.nets import mlp


def _key(seed):
  # RBG keys: XLA compiles them much faster than threefry on CPU (network inits in seconds).
  return jax.random.key(seed, impl="rbg")


def test_mlp_shapes_flatten_and_kaiming_uniform_init():
  net = mlp.MLP((512, 64), 3, activation="softplus")
  x = jnp.ones((4, 2, 8))  # flattened to 16 features
  params = jax.jit(net.init)(_key(0), x)["params"]
  assert jax.eval_shape(lambda: net.apply({"params": params}, x)).shape == (4, 3)
  k0 = np.asarray(params["dense_0"]["kernel"])
  assert k0.shape == (16, 512)
  bound = math.sqrt(6.0 / 16)
  assert np.abs(k0).max() <= bound + 1e-6 and np.abs(k0).max() > 0.9 * bound
  k1 = np.asarray(params["dense_1"]["kernel"])
  np.testing.assert_allclose(k1.var(), 2.0 / 512, rtol=0.1)
  np.testing.assert_array_equal(np.asarray(params["dense_0"]["bias"]), 0.0)


def test_batchnorm_train_eval_and_dropout():
  net = mlp.MLP((32,), 4, norm="batch", dropout=0.5)
  x = jax.random.normal(_key(1), (16, 5)) * 3 + 2
  variables = jax.jit(net.init)(_key(0), x)
  assert "batch_stats" in variables
  train = jax.jit(lambda v, x, k: net.apply(v, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"]))
  evaluate = jax.jit(lambda v, x: net.apply(v, x, train=False))
  out, upd = train(variables, x, _key(2))
  assert out.shape == (16, 4)
  assert not np.allclose(np.asarray(upd["batch_stats"]["bn_0"]["mean"]), 0.0)
  e1 = evaluate(variables, x)
  np.testing.assert_array_equal(np.asarray(e1), np.asarray(evaluate(variables, x)))
  d1 = train(variables, x, _key(3))[0]
  d2 = train(variables, x, _key(4))[0]
  assert not np.allclose(np.asarray(d1), np.asarray(d2))


def test_projection_head_and_logit_scale():
  assert mlp.projection_dim(128) == 64 and mlp.projection_dim(8) == 10
  head = mlp.ProjectionHead()
  z = jnp.ones((3, 128))
  assert jax.eval_shape(lambda: head.apply(head.init(_key(0), z), z)).shape == (3, 64)
  ls = mlp.LogitScale()
  v = ls.init(_key(0))
  np.testing.assert_allclose(float(ls.apply(v)), math.log(1 / 0.07), rtol=1e-6)
  with pytest.raises(ValueError, match="unknown activation"):
    mlp.MLP((4,), 2, activation="swishy").init(_key(0), jnp.ones((1, 3)))
