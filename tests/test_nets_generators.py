"""Generators for Q_Y (nets/generators.py)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.nets import generators as G


def _num_params(tree):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def test_fc_generator_authors_shape():
  gen = G.FCGenerator(out_dim=20)
  params = gen.init(jax.random.key(0), jnp.zeros((1, 100)))
  y = gen.apply(params, jnp.ones((7, 100)))
  assert y.shape == (7, 20)
  # latent 100 -> 20 -> 20 -> 20 (authors' Decoder_FC)
  assert _num_params(params) == (100 * 20 + 20) + 2 * (20 * 20 + 20)


def test_fc_generator_sigmoid_spread():
  z = jax.random.normal(jax.random.key(1), (2000, 8))
  plain = G.FCGenerator(out_dim=1, hidden=(32, 32), output_activation="sigmoid")
  spread = G.FCGenerator(out_dim=1, hidden=(32, 32), output_activation="sigmoid", pre_activation_scale=10.0)
  p = plain.init(jax.random.key(2), z)
  y_plain = np.asarray(plain.apply(p, z))
  y_spread = np.asarray(spread.apply(p, z))  # same parameter tree
  assert y_plain.min() >= 0 and y_plain.max() <= 1
  assert y_spread.std() > 2 * y_plain.std()
  with pytest.raises(ValueError, match="output_activation"):
    G.FCGenerator(out_dim=1, output_activation="tanh").init(jax.random.key(0), z)


def test_dcgan_generator_paper_config():
  gen = G.DCGANGenerator(channels=32, out_channels=1)
  z = jnp.zeros((2, 128))
  shapes = jax.eval_shape(lambda k: gen.init(k, z, train=False), jax.random.key(0))
  # App. C-A's generator with c_d = 32: Linear 132k + ConvT 524k + 131k + 33k + 0.5k ≈ 0.82 M parameters.
  assert _num_params(shapes["params"]) == 821_409
  assert set(shapes) == {"params", "batch_stats"}
  out = jax.eval_shape(lambda v, z: gen.apply(v, z, train=False), shapes, jnp.zeros((5, 128)))
  assert out.shape == (5, 32, 32, 1)


@pytest.mark.parametrize("size,channels,out_channels", [(8, 4, 1), (16, 2, 3), (64, 2, 3)])
def test_dcgan_shapes(size, channels, out_channels):
  gen = G.DCGANGenerator(channels=channels, out_channels=out_channels, image_size=size)
  shapes = jax.eval_shape(lambda k: gen.init(k, jnp.zeros((2, 16)), train=False), jax.random.key(0))
  out = jax.eval_shape(lambda v, z: gen.apply(v, z, train=True, mutable=["batch_stats"]), shapes,
                       jnp.zeros((3, 16)))
  assert out[0].shape == (3, size, size, out_channels)
  # One BatchNorm per intermediate block (after its ReLU).
  n_blocks = int(np.log2(size)) - 2
  assert sorted(k for k in shapes["params"] if k.startswith("bn_")) == [f"bn_{i}" for i in range(n_blocks)]
  assert shapes["params"][f"bn_{n_blocks - 1}"]["scale"].shape == (channels,)


def test_dcgan_bad_size():
  with pytest.raises(ValueError, match="power of two"):
    G.DCGANGenerator(image_size=24).init(jax.random.key(0), jnp.zeros((1, 8)), train=False)


def test_dcgan_forward_and_sample_fn():
  gen = G.DCGANGenerator(channels=2, image_size=8)
  variables = jax.jit(lambda k: gen.init(k, jnp.zeros((2, 16)), train=False))(jax.random.key(0))
  # Batch-statistics BN (authors' behaviour), through the sample source.
  fn = jax.jit(G.make_sample_fn(gen, variables, 16, train_bn=True), static_argnums=1)
  a = fn(jax.random.key(3), 6)
  assert a.shape == (6, 8, 8, 1)
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  np.testing.assert_array_equal(np.asarray(a), np.asarray(fn(jax.random.key(3), 6)))
  # Running-average BN: a sample does not depend on the rest of its batch.
  apply = jax.jit(G.make_sample_fn(gen, variables, 16, train_bn=False, flatten=True), static_argnums=1)
  z6 = np.asarray(apply(jax.random.key(4), 6))
  assert z6.shape == (6, 64)
  full = jax.jit(lambda z: gen.apply(variables, z, train=False))
  z = G.sample_latent(jax.random.key(4), 6, 16)
  np.testing.assert_allclose(np.asarray(full(z)).reshape(6, -1), z6, rtol=1e-5, atol=1e-6)
  fc = G.FCGenerator(out_dim=3)
  p = fc.init(jax.random.key(0), jnp.zeros((1, 5)))
  assert G.make_sample_fn(fc, p, 5)(jax.random.key(0), 4).shape == (4, 3)
