"""Tests for lossyless_jax.data.augment."""
import colorsys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lossyless_jax.data import augment as A


def _img(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).random(shape).astype(np.float32))


IDENTITY_SPEC = (
    ("rotation", {"degrees": 0.0}),
    ("translate", {"x": 0.0, "y": 0.0}),
    ("shear", {"degrees": 0.0}),
    ("scale", {"range": (1.0, 1.0)}),
    ("hflip", {"p": 0.0}),
    ("vflip", {"p": 0.0}),
    ("color", {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}),
    ("resized_crop", {"scale": (1.0, 1.0), "ratio": (1.0, 1.0)}),
    ("gray", {"p": 0.0}),
)


def test_identity_parameters_give_identity():
  img = _img((9, 9, 3))
  fn = jax.jit(A.build_augment(IDENTITY_SPEC))
  np.testing.assert_allclose(np.asarray(fn(jax.random.key(3), img)), np.asarray(img), atol=1e-5)
  geometric = jax.jit(A.build_augment(IDENTITY_SPEC[:6], fuse_geometric=False, order=0))
  np.testing.assert_array_equal(np.asarray(geometric(jax.random.key(3), img)), np.asarray(img))


@pytest.mark.parametrize("side", [8, 9])
@pytest.mark.parametrize("order", [0, 1])
def test_rotation_by_multiples_of_90_matches_rot90(side, order):
  img = _img((side, side, 2), seed=side)
  for k in (1, 2, 3):
    out = A.rotate(img, 90.0 * k, order=order)
    np.testing.assert_allclose(np.asarray(out), np.rot90(np.asarray(img), k, axes=(0, 1)), atol=1e-5)


def test_rotation_zero_and_360_are_identity():
  img = _img((7, 10, 1))
  np.testing.assert_allclose(np.asarray(A.rotate(img, 0.0)), np.asarray(img), atol=1e-6)
  np.testing.assert_allclose(np.asarray(A.rotate(img, 360.0)), np.asarray(img), atol=1e-4)


def test_integer_translation_shifts_with_zero_fill():
  img = _img((6, 7, 1))
  out = np.asarray(A.translate(img, 2.0, -1.0))  # 2 right, 1 up
  ref = np.zeros_like(np.asarray(img))
  ref[:-1, 2:] = np.asarray(img)[1:, :-2]
  np.testing.assert_allclose(out, ref, atol=1e-6)


def test_flips_and_scale_about_centre():
  img = _img((5, 6, 3))
  hf = A.build_augment([("hflip", {"p": 1.0})])(jax.random.key(0), img)
  vf = A.build_augment([("vflip", {"p": 1.0})])(jax.random.key(0), img)
  np.testing.assert_allclose(np.asarray(hf), np.asarray(img)[:, ::-1], atol=1e-6)
  np.testing.assert_allclose(np.asarray(vf), np.asarray(img)[::-1], atol=1e-6)
  # Zooming by 2 around the centre of a 5x5 image: output pixel (2+d) reads input (2+d/2).
  sq = _img((5, 5, 1))
  z = np.asarray(A.affine_warp(sq, A.affine_matrix(scale=2.0)))
  np.testing.assert_allclose(z[2, 2], np.asarray(sq)[2, 2], atol=1e-6)
  np.testing.assert_allclose(z[0, 2], np.asarray(sq)[1, 2], atol=1e-6)


def test_keyed_determinism_and_batching():
  fn = A.build_augment("rotation(degrees=45); translate(x=0.25, y=0.25)")
  imgs = _img((4, 12, 12, 1))
  batched = jax.jit(lambda k, x: A.augment_batch(k, x, fn))
  a = batched(jax.random.key(0), imgs)
  b = batched(jax.random.key(0), imgs)
  c = batched(jax.random.key(1), imgs)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.allclose(np.asarray(a), np.asarray(c))
  assert a.shape == imgs.shape and float(a.min()) >= 0.0 and float(a.max()) <= 1.0
  # Example i of the batch uses the i-th split key.
  keys = jax.random.split(jax.random.key(0), 4)
  np.testing.assert_allclose(np.asarray(jax.jit(fn)(keys[2], imgs[2])), np.asarray(a[2]), atol=1e-6)
  v1, v2 = jax.jit(lambda k, x: A.two_views(k, x, fn))(jax.random.key(5), imgs)
  assert not np.allclose(np.asarray(v1), np.asarray(v2))


def test_presets_run_jitted_on_batches():
  imgs = _img((3, 16, 16, 3))
  for name in ("mnist_large", "stl10"):
    out = jax.jit(lambda k, x: A.augment_batch(k, x, A.build_augment(name)))(jax.random.key(0), imgs)
    assert out.shape == imgs.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not np.allclose(np.asarray(out), np.asarray(imgs))


def test_random_affine_parameters_stay_in_range():
  mats = jax.jit(jax.vmap(lambda k: A.random_affine_matrix(k, (32, 32), degrees=45.0, scale=(0.6, 1.4))))(
      jax.random.split(jax.random.key(0), 256))
  lin = np.asarray(mats[:, :2, :2])
  scale = np.sqrt(np.abs(np.linalg.det(lin)))
  angle = np.degrees(np.arctan2(lin[:, 0, 1], lin[:, 0, 0]))
  assert scale.min() >= 0.6 - 1e-5 and scale.max() <= 1.4 + 1e-5
  assert np.abs(angle).max() <= 45.0 + 1e-3 and np.abs(angle).max() > 30.0
  np.testing.assert_allclose(np.asarray(mats[:, :2, 2]), 0.0)


def test_spec_forms_are_equivalent():
  as_tuple = (("rotation", {"degrees": 45}), "hflip", ("gray", {"p": 0.2}))
  as_str = "rotation(degrees=45); hflip; gray(p=0.2)"
  as_dicts = [{"name": "rotation", "degrees": 45}, {"name": "hflip"}, {"name": "gray", "p": 0.2}]
  cfg = ml_collections.ConfigDict({"spec": as_dicts})
  expected = (("rotation", {"degrees": 45}), ("hflip", {}), ("gray", {"p": 0.2}))
  for s in (as_tuple, as_str, as_dicts, cfg.spec):
    assert A.parse_spec(s) == expected
  assert A.parse_spec("none") == ()
  with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
    A.parse_spec(["rotate"])


def test_pipeline_probability_zero_is_identity():
  img = _img((8, 8, 3))
  out = A.build_augment("mnist_large", p=0.0)(jax.random.key(0), img)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


def test_hsv_matches_colorsys_and_round_trips():
  px = np.random.default_rng(0).random((64, 3)).astype(np.float32)
  px[0] = [0.5, 0.5, 0.5]  # grey: hue and saturation 0
  px[1] = [0.0, 0.0, 0.0]
  round_trip = jax.jit(lambda x: (A.rgb_to_hsv(x), A.hsv_to_rgb(A.rgb_to_hsv(x))))
  hsv, back = (np.asarray(v) for v in round_trip(jnp.asarray(px)))
  ref = np.array([colorsys.rgb_to_hsv(*p) for p in px])
  np.testing.assert_allclose(hsv, ref, atol=1e-5)
  np.testing.assert_allclose(back, px, atol=1e-5)
  # Hue shift by a third of a turn permutes pure primaries: red -> green.
  red = jnp.zeros((1, 1, 3)).at[..., 0].set(1.0)
  np.testing.assert_allclose(np.asarray(jax.jit(A.adjust_hue)(red, 1 / 3))[0, 0], [0, 1, 0], atol=1e-5)


def test_grayscale_and_colour_adjustments():
  img = _img((4, 4, 3))

  @jax.jit
  def adjust(x):
    return (A.random_grayscale(jax.random.key(0), x, p=1.0), A.adjust_saturation(x, 0.0),
            A.adjust_contrast(x, 0.0), A.adjust_brightness(x, 0.5))

  g, sat0, flat, half = (np.asarray(v) for v in adjust(img))
  luma = np.asarray(img) @ np.array([0.299, 0.587, 0.114], np.float32)
  for c in range(3):
    np.testing.assert_allclose(g[..., c], luma, atol=1e-6)
  np.testing.assert_allclose(sat0, g, atol=1e-6)
  np.testing.assert_allclose(flat, np.full_like(flat, luma.mean()), atol=1e-6)
  np.testing.assert_allclose(half, 0.5 * np.asarray(img), atol=1e-6)
  # Jitter keeps [0, 1] and is keyed.
  jitter = jax.jit(lambda k, x: A.random_color_jitter(k, x, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2))
  j1, j2 = jitter(jax.random.key(1), img), jitter(jax.random.key(1), img)
  np.testing.assert_array_equal(np.asarray(j1), np.asarray(j2))
  assert float(j1.min()) >= 0 and float(j1.max()) <= 1
  assert not np.allclose(np.asarray(j1), np.asarray(jitter(jax.random.key(2), img)))


def test_color_jitter_equals_sequential_adjustments_in_sampled_order():
  img = _img((5, 4, 3), seed=7)
  strengths = dict(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2)
  jitter = jax.jit(lambda k, x: A.random_color_jitter(k, x, **strengths))
  orders = set()
  for seed in range(4):
    key = jax.random.key(seed)
    u = np.asarray(jax.random.uniform(key, (8,), jnp.float32))
    factors = [0.6 + 0.8 * u[0], 0.6 + 0.8 * u[1], 0.6 + 0.8 * u[2], -0.2 + 0.4 * u[3]]
    fns = [A.adjust_brightness, A.adjust_contrast, A.adjust_saturation, A.adjust_hue]
    ref = img
    order = tuple(int(i) for i in np.argsort(u[4:8]))
    orders.add(order)
    for i in order:
      ref = fns[i](ref, factors[i])
    np.testing.assert_allclose(np.asarray(jitter(key, img)), np.asarray(ref), atol=1e-5)
  assert len(orders) > 1


def test_random_resized_crop_shapes_and_constant_image():
  img = jnp.full((12, 16, 3), 0.25)
  crop = jax.jit(lambda k, x: A.random_resized_crop(k, x, size=(8, 8), scale=(0.3, 1.0), ratio=(0.7, 1.4)))
  out = crop(jax.random.key(0), img)
  assert out.shape == (8, 8, 3)
  np.testing.assert_allclose(np.asarray(out), 0.25, atol=1e-6)
  # Top-left 2x2 crop of a ramp resized to 4x4 (half-pixel centres, border replicated).
  ramp = jnp.arange(16.0).reshape(4, 4, 1)
  z = np.asarray(A.resized_crop(ramp, 0, 0, 2, 2, (4, 4)))
  assert z[0, 0, 0] == 0.0 and z[3, 3, 0] == 5.0


def test_supervised_equivalence_samples_same_label():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, size=40).astype(np.int32)
  images = rng.random((40, 3, 3, 1)).astype(np.float32)
  images[:, 0, 0, 0] = labels  # tag each image with its label
  pool = A.make_label_pool(images, labels)
  query = jnp.asarray([0, 1, 2, 3, 3, 2, 1, 0] * 8)
  sample = jax.jit(A.sample_same_label)
  out = sample(jax.random.key(0), query, pool)
  np.testing.assert_array_equal(np.asarray(out[:, 0, 0, 0]).astype(int), np.asarray(query))
  np.testing.assert_array_equal(np.asarray(out), np.asarray(sample(jax.random.key(0), query, pool)))
  # Draws vary across the class (not always the same representative).
  class0 = np.asarray(out)[np.asarray(query) == 0].reshape(16, -1)
  assert len(np.unique(class0, axis=0)) > 1
  reps = A.label_representatives(jax.random.key(1), pool)
  assert reps.shape == (4, 3, 3, 1)
  np.testing.assert_array_equal(np.asarray(reps[:, 0, 0, 0]).astype(int), np.arange(4))
  direct = jax.jit(A.same_label_images)(jax.random.key(2), query, jnp.asarray(images), jnp.asarray(labels))
  np.testing.assert_array_equal(np.asarray(direct[:, 0, 0, 0]).astype(int), np.asarray(query))
  with pytest.raises(ValueError, match="classes \\[4\\] have no example"):
    A.make_label_pool(images, labels, num_classes=5)


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="single \\(H, W, C\\) image"):
    A.build_augment("mnist_large")(jax.random.key(0), jnp.zeros((2, 4, 4, 1)))
  with pytest.raises(ValueError, match="\\(B, H, W, C\\)"):
    A.augment_batch(jax.random.key(0), jnp.zeros((4, 4, 1)), A.build_augment("none"))
