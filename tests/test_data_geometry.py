"""Tests for lossyless_jax.data.geometry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.data import geometry as G


def _img(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).random(shape).astype(np.float32))


@pytest.mark.parametrize("side", [8, 9])
@pytest.mark.parametrize("order", [0, 1])
def test_rotation_by_multiples_of_90_matches_rot90(side, order):
  img = _img((side, side, 2), seed=side)
  for k in (1, 2, 3):
    out = G.rotate(img, 90.0 * k, order=order)
    np.testing.assert_allclose(np.asarray(out), np.rot90(np.asarray(img), k, axes=(0, 1)), atol=1e-5)


def test_rotation_zero_and_360_are_identity():
  img = _img((7, 10, 1))
  np.testing.assert_allclose(np.asarray(G.rotate(img, 0.0)), np.asarray(img), atol=1e-6)
  np.testing.assert_allclose(np.asarray(G.rotate(img, 360.0)), np.asarray(img), atol=1e-4)


def test_integer_translation_shifts_with_zero_fill():
  img = _img((6, 7, 1))
  out = np.asarray(G.translate(img, 2.0, -1.0))  # 2 right, 1 up
  ref = np.zeros_like(np.asarray(img))
  ref[:-1, 2:] = np.asarray(img)[1:, :-2]
  np.testing.assert_allclose(out, ref, atol=1e-6)


@pytest.mark.parametrize("order", [0, 1])
def test_half_pixel_shift_blends_each_border_tap_with_fill(order):
  """Each tap outside the image reads ``fill`` (map_coordinates' "constant" mode), so a half-pixel
  shift blends the first column with ``fill`` instead of dropping it (bilinear)."""
  img = _img((4, 5, 2))
  out = np.asarray(G.translate(img, 0.5, 0.0, order=order, fill=0.25))
  x = np.asarray(img)
  if order == 1:
    np.testing.assert_allclose(out[:, 0], 0.5 * 0.25 + 0.5 * x[:, 0], atol=1e-6)
    np.testing.assert_allclose(out[:, 1:], 0.5 * x[:, :-1] + 0.5 * x[:, 1:], atol=1e-6)
  else:  # source column q - 0.5 rounds to even: columns 0, 0 (from -0.5), 2, 2, 4
    np.testing.assert_allclose(out, x[:, [0, 0, 2, 2, 4]], atol=0)


def test_flips_match_numpy():
  img = _img((5, 6, 3))
  np.testing.assert_array_equal(np.asarray(G.flip_left_right(img)), np.asarray(img)[:, ::-1])
  np.testing.assert_array_equal(np.asarray(G.flip_up_down(img)), np.asarray(img)[::-1])
  # A horizontal flip is the affine warp with matrix diag(-1, 1, 1), exactly.
  flip = jnp.diag(jnp.array([-1.0, 1.0, 1.0]))
  np.testing.assert_allclose(np.asarray(G.affine_warp(img, flip)), np.asarray(img)[:, ::-1], atol=1e-6)


def test_scale_about_centre():
  # Zooming by 2 around the centre of a 5x5 image: output pixel (2+d) reads input (2+d/2).
  sq = _img((5, 5, 1))
  z = np.asarray(G.affine_warp(sq, G.affine_matrix(scale=2.0)))
  np.testing.assert_allclose(z[2, 2], np.asarray(sq)[2, 2], atol=1e-6)
  np.testing.assert_allclose(z[0, 2], np.asarray(sq)[1, 2], atol=1e-6)


def test_random_affine_parameters_stay_in_range():
  mats = jax.jit(jax.vmap(lambda k: G.random_affine_matrix(k, (32, 32), degrees=45.0, scale=(0.6, 1.4))))(
      jax.random.split(jax.random.key(0), 256))
  lin = np.asarray(mats[:, :2, :2])
  scale = np.sqrt(np.abs(np.linalg.det(lin)))
  angle = np.degrees(np.arctan2(lin[:, 0, 1], lin[:, 0, 0]))
  assert scale.min() >= 0.6 - 1e-5 and scale.max() <= 1.4 + 1e-5
  assert np.abs(angle).max() <= 45.0 + 1e-3 and np.abs(angle).max() > 30.0
  np.testing.assert_allclose(np.asarray(mats[:, :2, 2]), 0.0)


def test_random_resized_crop_shapes_and_constant_image():
  img = jnp.full((12, 16, 3), 0.25)
  crop = jax.jit(lambda k, x: G.random_resized_crop(k, x, size=(8, 8), scale=(0.3, 1.0), ratio=(0.7, 1.4)))
  out = crop(jax.random.key(0), img)
  assert out.shape == (8, 8, 3)
  np.testing.assert_allclose(np.asarray(out), 0.25, atol=1e-6)
  # Top-left 2x2 crop of a ramp resized to 4x4 (half-pixel centres, border replicated).
  ramp = jnp.arange(16.0).reshape(4, 4, 1)
  z = np.asarray(G.resized_crop(ramp, 0, 0, 2, 2, (4, 4)))
  assert z[0, 0, 0] == 0.0 and z[3, 3, 0] == 5.0
  # The whole image at its own size is the identity.
  x = _img((6, 7, 2))
  np.testing.assert_allclose(np.asarray(G.resized_crop(x, 0, 0, 6, 7, (6, 7))), np.asarray(x), atol=1e-6)


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="single \\(H, W, C\\) image"):
    G.affine_warp(jnp.zeros((2, 4, 4, 1)), jnp.eye(3))
  with pytest.raises(ValueError, match="order must be 0"):
    G.affine_warp(jnp.zeros((4, 4, 1)), jnp.eye(3), order=3)
