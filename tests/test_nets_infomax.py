"""Tests for lossyless_jax.nets.infomax: Table 2's ConvNet, the output normalisations, the split critic."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.nets import infomax as nets
from lossyless_jax.nets.mlp import MLP


def test_split_critic_equals_the_concatenation_mlp():
  critic = nets.PairCritic((16, 8))
  rng = np.random.default_rng(0)
  u, y = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32), jnp.asarray(rng.normal(size=(7, 3)), jnp.float32)
  params = critic.init(jax.random.PRNGKey(0), u, y)["params"]
  t = critic.apply({"params": params}, u, y)
  assert t.shape == (5, 7)
  ii, jj = np.meshgrid(np.arange(5), np.arange(7), indexing="ij")
  ref = critic.concatenated(params, u[ii.ravel()], y[jj.ravel()]).reshape(5, 7)
  np.testing.assert_allclose(np.asarray(t), np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_mnist_convnet_reduces_24_to_1():
  net = nets.MnistConvNet(2)
  x = jnp.zeros((3, 24, 24, 1))
  variables = net.init(jax.random.PRNGKey(0), x)
  assert net.apply(variables, x).shape == (3, 2)
  assert variables["params"]["dense_0"]["kernel"].shape == (128, 128)  # 1×1×128 features
  assert [variables["params"][f"conv_{i}"]["kernel"].shape[-1] for i in range(3)] == [32, 64, 128]


def test_output_normalisations():
  h = jax.random.normal(jax.random.PRNGKey(0), (512, 2)) * 3.0 + 5.0
  for target in ("gauss", "uniform_pit"):
    norm = nets.OutputNorm(target)
    variables = norm.init(jax.random.PRNGKey(0), h)
    assert "params" not in variables  # no affine parameters (Thm 3.4's constraint)
    f, _ = norm.apply(variables, h, train=True, mutable=["batch_stats"])
    if target == "gauss":
      np.testing.assert_allclose(np.asarray(f.mean(0)), 0.0, atol=1e-5)
      np.testing.assert_allclose(np.asarray(f.var(0)), 1.0, atol=1e-3)
    else:
      assert 0.0 < float(f.min()) and float(f.max()) < 1.0
  u = nets.OutputNorm("uniform").apply({}, h)
  assert 0.0 <= float(u.min()) and float(u.max()) <= 1.0
  with pytest.raises(ValueError, match="target"):
    nets.OutputNorm("cauchy").init(jax.random.PRNGKey(0), h)


def test_embedding_returns_features_and_projection():
  emb = nets.Embedding(MLP((8,), 6), "gauss", MLP((16,), 4, norm="batch"))
  x = jnp.ones((4, 3))
  variables = emb.init(jax.random.PRNGKey(0), x)
  h, f = emb.apply(variables, x, features=True)
  assert h.shape == (4, 6) and f.shape == (4, 4)
