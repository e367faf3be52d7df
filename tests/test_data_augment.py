"""Tests for lossyless_jax.data.augment: the pipeline and the public names it re-exports."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.data import augment as A
from lossyless_jax.data import augment_spec, colour, geometry, label_pool


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


def test_reexports_every_public_name_of_the_parts():
  parts = {"geometry": geometry, "colour": colour, "augment_spec": augment_spec, "label_pool": label_pool}
  pipeline = {"AugmentFn", "build_augment", "augment_batch", "two_views"}
  for name in A.__all__:
    assert hasattr(A, name), name
    if name in pipeline:
      continue
    homes = [m for m in parts.values() if getattr(m, name, None) is getattr(A, name)]
    assert homes, f"{name} is not re-exported from a part module"
  assert set(A.__all__) >= {"PRESETS", "parse_spec", "LabelPool", "affine_warp", "random_color_jitter"}
  assert list(inspect.signature(A.build_augment).parameters) == ["spec", "p", "order", "fill", "fuse_geometric"]


def test_identity_parameters_give_identity():
  img = _img((9, 9, 3))
  fn = jax.jit(A.build_augment(IDENTITY_SPEC))
  np.testing.assert_allclose(np.asarray(fn(jax.random.key(3), img)), np.asarray(img), atol=1e-5)
  geometric = jax.jit(A.build_augment(IDENTITY_SPEC[:6], fuse_geometric=False, order=0))
  np.testing.assert_array_equal(np.asarray(geometric(jax.random.key(3), img)), np.asarray(img))


def test_fused_warp_equals_sequential_warps_for_pixel_aligned_ops():
  """One warp with the product matrix == the ops one after the other (exact when every op maps
  pixel centres to pixel centres): the product is taken in the order of the spec."""
  spec = [("rotation", {"degrees": (90.0, 90.0)}), ("translate", {"x": 0.25, "y": 0.0}), ("vflip", {"p": 1.0})]
  img = _img((8, 8, 2), seed=4)
  for seed in range(3):
    key = jax.random.key(seed)
    fused = A.build_augment(spec, order=0)(key, img)
    sequential = A.build_augment(spec, order=0, fuse_geometric=False)(key, img)
    np.testing.assert_array_equal(np.asarray(fused), np.asarray(sequential))
  assert not np.array_equal(np.asarray(fused), np.rot90(np.asarray(img))[::-1])  # the shift is not 0


def test_flips_in_the_pipeline():
  img = _img((5, 6, 3))
  hf = A.build_augment([("hflip", {"p": 1.0})])(jax.random.key(0), img)
  vf = A.build_augment([("vflip", {"p": 1.0})])(jax.random.key(0), img)
  np.testing.assert_array_equal(np.asarray(hf), np.asarray(img)[:, ::-1])
  np.testing.assert_array_equal(np.asarray(vf), np.asarray(img)[::-1])
  # p = 0.5 on a batch: each view is the image or its mirror, exactly, and both occur.
  imgs = _img((16, 5, 6, 1), seed=1)
  out = np.asarray(jax.jit(lambda k, x: A.augment_batch(k, x, A.build_augment("hflip")))(jax.random.key(0), imgs))
  same = [np.array_equal(o, x) for o, x in zip(out, np.asarray(imgs))]
  mirrored = [np.array_equal(o, x[:, ::-1]) for o, x in zip(out, np.asarray(imgs))]
  assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)
  # Fused with a rotation the flip goes through the warp: hflip after a 0° rotation is exact.
  both = A.build_augment([("rotation", {"degrees": 0.0}), ("hflip", {"p": 1.0})])(jax.random.key(0), img)
  np.testing.assert_allclose(np.asarray(both), np.asarray(img)[:, ::-1], atol=1e-6)


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


@pytest.mark.parametrize("preset", ["mnist_large", "stl10"])
def test_views_do_not_depend_on_the_batch_size(preset):
  """Example i's view depends only on (key, i, its image): the first 3 views of a batch of 5 are
  those of the batch of its first 3 examples (``split`` keys are prefix-stable)."""
  fn = A.build_augment(preset)
  imgs = _img((5, 16, 16, 3), seed=2)
  batched = jax.jit(lambda k, x: A.augment_batch(k, x, fn))
  full, part = batched(jax.random.key(7), imgs), batched(jax.random.key(7), imgs[:3])
  np.testing.assert_allclose(np.asarray(full[:3]), np.asarray(part), atol=1e-6)
  assert not np.allclose(np.asarray(full[0]), np.asarray(full[1]))


def test_presets_run_jitted_on_batches():
  imgs = _img((3, 16, 16, 3))
  for name in ("mnist_large", "stl10"):
    out = jax.jit(lambda k, x: A.augment_batch(k, x, A.build_augment(name)))(jax.random.key(0), imgs)
    assert out.shape == imgs.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not np.allclose(np.asarray(out), np.asarray(imgs))


def test_pipeline_probability_zero_is_identity():
  img = _img((8, 8, 3))
  out = A.build_augment("mnist_large", p=0.0)(jax.random.key(0), img)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="single \\(H, W, C\\) image"):
    A.build_augment("mnist_large")(jax.random.key(0), jnp.zeros((2, 4, 4, 1)))
  with pytest.raises(ValueError, match="\\(B, H, W, C\\)"):
    A.augment_batch(jax.random.key(0), jnp.zeros((4, 4, 1)), A.build_augment("none"))
  with pytest.raises(ValueError, match="p must be in"):
    A.build_augment("none", p=1.5)
