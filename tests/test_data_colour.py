"""Tests for lossyless_jax.data.colour."""
import colorsys

import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.data import colour as C


def _img(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).random(shape).astype(np.float32))


def test_hsv_matches_colorsys_and_round_trips():
  px = np.random.default_rng(0).random((64, 3)).astype(np.float32)
  px[0] = [0.5, 0.5, 0.5]  # grey: hue and saturation 0
  px[1] = [0.0, 0.0, 0.0]
  round_trip = jax.jit(lambda x: (C.rgb_to_hsv(x), C.hsv_to_rgb(C.rgb_to_hsv(x))))
  hsv, back = (np.asarray(v) for v in round_trip(jnp.asarray(px)))
  ref = np.array([colorsys.rgb_to_hsv(*p) for p in px])
  np.testing.assert_allclose(hsv, ref, atol=1e-5)
  np.testing.assert_allclose(back, px, atol=1e-5)


def test_hue_shift_matches_colorsys():
  img = _img((4, 5, 3), seed=3)
  shift = 0.3
  out = np.asarray(jax.jit(C.adjust_hue)(img, shift))
  ref = np.array([colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
                  for h, s, v in (colorsys.rgb_to_hsv(*p) for p in np.asarray(img).reshape(-1, 3))])
  np.testing.assert_allclose(out.reshape(-1, 3), ref, atol=1e-5)
  # A third of a turn permutes pure primaries: red -> green; one channel is a no-op.
  red = jnp.zeros((1, 1, 3)).at[..., 0].set(1.0)
  np.testing.assert_allclose(np.asarray(jax.jit(C.adjust_hue)(red, 1 / 3))[0, 0], [0, 1, 0], atol=1e-5)
  grey = _img((3, 3, 1))
  np.testing.assert_array_equal(np.asarray(C.adjust_hue(grey, 0.3)), np.asarray(grey))


def test_grayscale_and_colour_adjustments():
  img = _img((4, 4, 3))

  @jax.jit
  def adjust(x):
    return (C.random_grayscale(jax.random.key(0), x, p=1.0), C.adjust_saturation(x, 0.0),
            C.adjust_contrast(x, 0.0), C.adjust_brightness(x, 0.5))

  g, sat0, flat, half = (np.asarray(v) for v in adjust(img))
  luma = np.asarray(img) @ np.array([0.299, 0.587, 0.114], np.float32)
  for c in range(3):
    np.testing.assert_allclose(g[..., c], luma, atol=1e-6)
  np.testing.assert_allclose(sat0, g, atol=1e-6)
  np.testing.assert_allclose(flat, np.full_like(flat, luma.mean()), atol=1e-6)
  np.testing.assert_allclose(half, 0.5 * np.asarray(img), atol=1e-6)
  # Jitter keeps [0, 1] and is keyed.
  jitter = jax.jit(lambda k, x: C.random_color_jitter(k, x, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2))
  j1, j2 = jitter(jax.random.key(1), img), jitter(jax.random.key(1), img)
  np.testing.assert_array_equal(np.asarray(j1), np.asarray(j2))
  assert float(j1.min()) >= 0 and float(j1.max()) <= 1
  assert not np.allclose(np.asarray(j1), np.asarray(jitter(jax.random.key(2), img)))


def test_color_jitter_equals_sequential_adjustments_in_sampled_order():
  img = _img((5, 4, 3), seed=7)
  strengths = dict(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2)
  jitter = jax.jit(lambda k, x: C.random_color_jitter(k, x, **strengths))
  orders = set()
  for seed in range(4):
    key = jax.random.key(seed)
    u = np.asarray(jax.random.uniform(key, (8,), jnp.float32))
    factors = [0.6 + 0.8 * u[0], 0.6 + 0.8 * u[1], 0.6 + 0.8 * u[2], -0.2 + 0.4 * u[3]]
    fns = [C.adjust_brightness, C.adjust_contrast, C.adjust_saturation, C.adjust_hue]
    ref = img
    order = tuple(int(i) for i in np.argsort(u[4:8]))
    orders.add(order)
    for i in order:
      ref = fns[i](ref, factors[i])
    np.testing.assert_allclose(np.asarray(jitter(key, img)), np.asarray(ref), atol=1e-5)
  assert len(orders) > 1
