"""Tests for lossyless_jax.nets.convnets."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.nets import convnets


def _key(seed):
  # RBG keys: XLA compiles them much faster than threefry on CPU (network inits in seconds).
  return jax.random.key(seed, impl="rbg")


def _shapes(module, x, **kw):
  variables = jax.eval_shape(lambda: module.init(_key(0), x, **kw))
  return jax.tree_util.tree_map(lambda a: a.shape, variables)


def test_decoder_architecture_matches_paper_for_32x32():
  dec = convnets.ConvTransposeDecoder((32, 32, 1))
  shapes = _shapes(dec, jnp.zeros((2, 128)))["params"]
  assert shapes["dense"]["kernel"] == (128, 2 * 2 * 256)
  # 4 transposed convs, channels 256 -> 128 -> 64 -> 32 -> 1, spatial 2 -> 32.
  assert [shapes[f"deconv_{i}"]["kernel"] for i in range(4)] == [
      (3, 3, 256, 128), (3, 3, 128, 64), (3, 3, 64, 32), (3, 3, 32, 1)]
  assert "deconv_4" not in shapes
  assert convnets.num_upsampling_blocks(96) == 6 and convnets.num_upsampling_blocks(28) == 4


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 3)])
def test_decoder_and_encoder_output_shapes(shape):
  z = jax.random.normal(_key(0), (2, 16))
  x = jnp.zeros((2,) + shape)
  dec = convnets.ConvTransposeDecoder(shape, top_channels=16)
  enc = convnets.ConvEncoder(z_dim=16, channels=(8, 16))

  @jax.jit
  def run(z, x):
    v = dec.init(_key(1), z)
    out, _ = dec.apply(v, z, train=True, mutable=["batch_stats"])
    ve = enc.init(_key(2), x)
    return out, enc.apply(ve, x)

  out, code = run(z, x)
  assert out.shape == (2,) + shape
  assert code.shape == (2, 16)


def test_conv_init_is_kaiming_normal_fan_out():
  enc = convnets.ConvEncoder(z_dim=4, channels=(256,))
  params = jax.jit(enc.init)(_key(0), jnp.zeros((1, 8, 8, 64)))["params"]
  k = np.asarray(params["trunk"]["conv_0"]["kernel"])  # (3, 3, 64, 256)
  np.testing.assert_allclose(k.std(), math.sqrt(2.0 / (3 * 3 * 256)), rtol=0.05)
  clf = convnets.CNNClassifier(num_classes=10, channels=(4,), hidden=8)
  out = jax.eval_shape(lambda: clf.apply(clf.init(_key(0), jnp.zeros((1, 8, 8, 1))), jnp.zeros((3, 8, 8, 1))))
  assert out.shape == (3, 10)
