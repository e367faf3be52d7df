"""Colour image augmentations with torchvision's semantics, keyed and jittable.

The colour half of the STL10 augmentation set of "Lossy Compression for Lossless Prediction"
(Dubois et al., 2021; App. E.3): ``ColorJitter`` and ``RandomGrayscale`` as in SimCLR.
Images are float32 in [0, 1], channel-last, with 1 or 3 channels; every output is clipped to
[0, 1].

The HSV conversions and the hue rotation are dm-pix's. The rest follows torchvision and is kept
here because dm-pix's namesakes follow ``tf.image`` instead: its brightness is additive (here a
factor), its contrast blends each channel with its own mean (here with the mean grey level),
its saturation scales the HSV saturation (here a blend with the grey image), and its grey
level uses the weights (0.2989, 0.587, 0.114) (here ITU-R 601-2's (0.299, 0.587, 0.114), as
PIL and torchvision).
"""
from __future__ import annotations

from typing import Any

import dm_pix
import jax
import jax.numpy as jnp


# ITU-R 601-2 luma weights (PIL's "L" conversion and torchvision's rgb_to_grayscale).
_LUMA = (0.299, 0.587, 0.114)


def rgb_to_grayscale(image: jax.Array) -> jax.Array:
  """Luma ``0.299 R + 0.587 G + 0.114 B`` with a kept channel axis ``(H, W, 1)``."""
  if image.shape[-1] == 1:
    return image
  if image.shape[-1] != 3:
    raise ValueError(f"expected 1 or 3 channels, got {image.shape[-1]}")
  # Explicit channel sum: a reduction over a size-3 minor axis is ~20x slower on XLA:CPU.
  r, g, b = image[..., 0:1], image[..., 1:2], image[..., 2:3]
  return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def rgb_to_hsv(rgb: jax.Array) -> jax.Array:
  """RGB in [0,1] -> HSV in [0,1] (hue as a fraction of a turn), last axis of size 3."""
  return dm_pix.rgb_to_hsv(rgb)


def hsv_to_rgb(hsv: jax.Array) -> jax.Array:
  """Inverse of ``rgb_to_hsv`` (hue in [0, 1])."""
  return dm_pix.hsv_to_rgb(hsv)


def adjust_brightness(image: jax.Array, factor: Any) -> jax.Array:
  """``clip(factor · image)``; factor 1 is the identity."""
  return jnp.clip(image * factor, 0.0, 1.0)


def adjust_contrast(image: jax.Array, factor: Any) -> jax.Array:
  """Blend with the mean grey level of the image; factor 1 is the identity."""
  mean = jnp.mean(rgb_to_grayscale(image))
  return jnp.clip(factor * image + (1.0 - factor) * mean, 0.0, 1.0)


def adjust_saturation(image: jax.Array, factor: Any) -> jax.Array:
  """Blend with the grey-scale image; factor 1 is the identity (no-op for 1 channel)."""
  if image.shape[-1] == 1:
    return image
  return jnp.clip(factor * image + (1.0 - factor) * rgb_to_grayscale(image), 0.0, 1.0)


def adjust_hue(image: jax.Array, shift: Any) -> jax.Array:
  """Rotate the hue by ``shift`` turns (in [-0.5, 0.5]); no-op for 1 channel."""
  if image.shape[-1] == 1:
    return image
  return jnp.clip(dm_pix.adjust_hue(image, shift), 0.0, 1.0)


def check_jitter(brightness, contrast, saturation, hue) -> None:
  """Raise unless the ``ColorJitter`` strengths are valid (hue in [0, 0.5], others >= 0)."""
  if not 0 <= hue <= 0.5:
    raise ValueError(f"hue must be in [0, 0.5], got {hue}")
  for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
    if v < 0:
      raise ValueError(f"{name} must be >= 0, got {v}")


def jitter_from_uniforms(u, image, brightness, contrast, saturation, hue):
  """ColorJitter from 8 uniforms ``u``: 4 factors, then a random order of the 4 adjustments.

  Brightness, contrast and saturation are all ``clip(α·x + β·gray(x) + γ·mean(gray(x)))``
  (brightness ``(b, 0, 0)``, contrast ``(c, 0, 1−c)``, saturation ``(s, 1−s, 0)``), so each step is
  one blend with per-example coefficients (no ``switch``, which under ``vmap`` would evaluate every
  branch). The hue rotation (the expensive HSV round trip) is applied exactly once, between the
  blends that precede it and those that follow it in the sampled order.
  """
  fb = max(0.0, 1 - brightness) + (1 + brightness - max(0.0, 1 - brightness)) * u[0]
  fc = max(0.0, 1 - contrast) + (1 + contrast - max(0.0, 1 - contrast)) * u[1]
  fs = max(0.0, 1 - saturation) + (1 + saturation - max(0.0, 1 - saturation)) * u[2]
  fh = -hue + 2 * hue * u[3]
  order = jnp.argsort(u[4:8])  # a uniformly random permutation of (brightness, contrast, saturation, hue)
  hue_pos = jnp.argmax(order == 3)
  # Rows: identity (used for the hue slot), brightness, contrast, saturation.
  coeffs = jnp.stack([
      jnp.array([1.0, 0.0, 0.0]),
      jnp.stack([fb, 0.0, 0.0]),
      jnp.stack([fc, 0.0, 1.0 - fc]),
      jnp.stack([fs, 1.0 - fs, 0.0]),
  ])
  op_row = jnp.where(order == 3, 0, order + 1)  # per step: which blend

  def blend(im, step, active):
    a, b, c = coeffs[jnp.where(active, op_row[step], 0)]
    gray = rgb_to_grayscale(im)
    out = jnp.clip(a * im + b * gray + c * jnp.mean(gray), 0.0, 1.0)
    return jnp.where(active, out, im)

  out = image
  for step in range(4):
    out = blend(out, step, step < hue_pos)
  if image.shape[-1] == 3:
    out = adjust_hue(out, fh)
  for step in range(4):
    out = blend(out, step, step > hue_pos)
  return out


def random_color_jitter(
    key: jax.Array,
    image: jax.Array,
    *,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> jax.Array:
  """torchvision ``ColorJitter``: factors ~ U[max(0, 1-v), 1+v], hue shift ~ U[-hue, hue] (in
  turns), the four adjustments applied in a random order. Zero strengths give the identity."""
  check_jitter(brightness, contrast, saturation, hue)
  u = jax.random.uniform(key, (8,), jnp.float32)
  return jitter_from_uniforms(u, image, brightness, contrast, saturation, hue)


def random_grayscale(key: jax.Array, image: jax.Array, *, p: float = 0.1) -> jax.Array:
  """With probability ``p`` replace the image by its luma (channels kept)."""
  gray = jnp.broadcast_to(rgb_to_grayscale(image), image.shape)
  return jnp.where(jax.random.bernoulli(key, p), gray, image)
