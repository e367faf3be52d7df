"""Keyed, jittable image augmentations that define the invariance of a compressor.

"Lossy Compression for Lossless Prediction" (Dubois et al., 2021) replaces the maximal invariant
M(X) by the unaugmented input, which is only valid if the *same* augmentations are used at train
and test time (Sec. 4, App. C.3-C.4; notes §1.6 and §8.4). This module gives those augmentations
as pure JAX functions so that they run inside the jitted train step, on any device.

Conventions
-----------
- Images are float32 in [0, 1], channel-last. Single-example functions take ``(key, image)`` with
  ``image`` of shape ``(H, W, C)``; batched helpers vmap them over one key per example
  (``augment_batch``).
- Every random draw takes an explicit ``jax.random`` key; identical keys give identical outputs.
- Pixel coordinates: ``x`` is the column (to the right), ``y`` the row (downwards); geometric
  transforms act around the image centre ``((W-1)/2, (H-1)/2)``, so a 90° rotation of a square
  image maps pixel centres onto pixel centres and equals ``np.rot90``.
- Angles are in degrees; a positive rotation turns the content counter-clockwise *as displayed*
  (same as ``np.rot90`` and torchvision's ``rotate``). Positive translations move the content
  right / down. Areas uncovered by a geometric transform are filled with ``fill`` (default 0,
  torchvision's default).

Geometric ops are represented as 3x3 forward matrices; consecutive geometric ops in a pipeline are
multiplied and applied in *one* warp (``fuse_geometric=True``), which blurs less than warping
sequentially. The authors' code applies torchvision transforms one after the other with nearest
interpolation on PIL images; with ``fuse_geometric=False, order=0`` this module does the same
(up to torchvision's own sampling details).

Spec
----
A pipeline is described by a small spec that fits in an ``ml_collections.ConfigDict``: a sequence
whose entries are either a name (default arguments), a ``(name, kwargs)`` pair, or a mapping with a
``"name"`` key, e.g.::

    spec = (("rotation", {"degrees": 45}), ("translate", {"x": 0.25, "y": 0.25}),
            ("shear", {"degrees": 25}), ("scale", {"range": (0.6, 1.4)}))
    fn = build_augment(spec)                  # fn(key, image_hwc) -> image_hwc
    views = augment_batch(key, images, fn)    # (B, H, W, C)

A string form is also accepted: ``"rotation(degrees=45); hflip; gray(p=0.2)"``. ``PRESETS`` holds the
paper's sets (``mnist_large``, ``mnist_small``, ``stl10``, ``none``).

Supervised equivalence (Table 6 "supervised", notes §4.2): ``make_label_pool`` +
``sample_same_label`` return, for each example, a random pool image with the same label.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "AugmentFn",
    "PRESETS",
    "affine_matrix",
    "affine_warp",
    "rotate",
    "translate",
    "flip_left_right",
    "flip_up_down",
    "resized_crop",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "random_affine_matrix",
    "random_resized_crop",
    "random_color_jitter",
    "random_grayscale",
    "parse_spec",
    "build_augment",
    "augment_batch",
    "two_views",
    "LabelPool",
    "make_label_pool",
    "sample_same_label",
    "same_label_images",
    "label_representatives",
]

AugmentFn = Callable[[jax.Array, jax.Array], jax.Array]

# ITU-R 601-2 luma weights (PIL's "L" conversion and torchvision's rgb_to_grayscale).
_LUMA = (0.299, 0.587, 0.114)


def _check_image(image: jax.Array, name: str = "image") -> None:
  if image.ndim != 3:
    raise ValueError(
        f"{name} must be a single (H, W, C) image, got shape {tuple(image.shape)}; "
        "use augment_batch for (B, H, W, C) batches."
    )


# ---------------------------------------------------------------------------------------------
# Geometry: 3x3 forward matrices in centred (x=col, y=row) pixel coordinates.
# ---------------------------------------------------------------------------------------------
def affine_matrix(
    degrees: float | jax.Array = 0.0,
    translate_px: tuple[Any, Any] = (0.0, 0.0),
    scale: float | jax.Array = 1.0,
    shear_degrees: tuple[Any, Any] = (0.0, 0.0),
) -> jax.Array:
  """Forward 3x3 matrix ``T · R · Sh · S`` (scale first, translation last) around the centre.

  Args:
    degrees: rotation, counter-clockwise as displayed.
    translate_px: ``(tx, ty)`` in pixels; positive moves content right / down.
    scale: isotropic zoom factor (> 1 enlarges the content).
    shear_degrees: ``(sx, sy)``; x-shear maps ``dx -> dx + tan(sx)·dy``, y-shear
      ``dy -> dy + tan(sy)·dx``.
  """
  theta = jnp.deg2rad(jnp.asarray(degrees, jnp.float32))
  c, s = jnp.cos(theta), jnp.sin(theta)
  # y points down, so a counter-clockwise turn on screen is [[c, s], [-s, c]] on (dx, dy).
  rot = jnp.array([[c, s], [-s, c]])
  shx = jnp.tan(jnp.deg2rad(jnp.asarray(shear_degrees[0], jnp.float32)))
  shy = jnp.tan(jnp.deg2rad(jnp.asarray(shear_degrees[1], jnp.float32)))
  shear = jnp.array([[1.0, shx], [shy, 1.0]])
  lin = rot @ shear * jnp.asarray(scale, jnp.float32)
  t = jnp.stack([jnp.asarray(translate_px[0], jnp.float32), jnp.asarray(translate_px[1], jnp.float32)])
  top = jnp.concatenate([lin, t[:, None]], axis=1)
  return jnp.concatenate([top, jnp.array([[0.0, 0.0, 1.0]])], axis=0)


def _invert_affine(m: jax.Array) -> jax.Array:
  """Closed-form inverse of a 3x3 affine matrix (cheaper to compile than a general inverse)."""
  a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
  det = a * d - b * c
  lin = jnp.array([[d, -b], [-c, a]]) / det
  t = -lin @ m[:2, 2]
  top = jnp.concatenate([lin, t[:, None]], axis=1)
  return jnp.concatenate([top, jnp.array([[0.0, 0.0, 1.0]])], axis=0)


def _sample_bilinear(image: jax.Array, ys: jax.Array, xs: jax.Array, order: int, fill: float) -> jax.Array:
  """Sample ``image (H, W, C)`` at fractional ``(ys, xs)`` (any equal shapes S) -> ``(*S, C)``.

  Each tap gathers whole pixels (all channels at once); taps outside the image read ``fill``.
  """
  h, w, _ = image.shape

  def tap(yi, xi):
    valid = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)
    v = image[jnp.clip(yi, 0, h - 1).astype(jnp.int32), jnp.clip(xi, 0, w - 1).astype(jnp.int32)]
    return jnp.where(valid[..., None], v, jnp.asarray(fill, image.dtype))

  if order == 0:
    return tap(jnp.round(ys), jnp.round(xs))
  y0, x0 = jnp.floor(ys), jnp.floor(xs)
  wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
  top = (1 - wx) * tap(y0, x0) + wx * tap(y0, x0 + 1)
  bottom = (1 - wx) * tap(y0 + 1, x0) + wx * tap(y0 + 1, x0 + 1)
  return (1 - wy) * top + wy * bottom


def affine_warp(
    image: jax.Array, matrix: jax.Array, *, order: int = 1, fill: float = 0.0
) -> jax.Array:
  """Warp an ``(H, W, C)`` image with a forward 3x3 ``matrix`` (see ``affine_matrix``).

  Output pixel ``q`` samples the input at ``matrix⁻¹ q`` (coordinates relative to the centre)
  with ``order`` 1 (bilinear) or 0 (nearest) interpolation — the semantics of
  ``jax.scipy.ndimage.map_coordinates(..., mode="constant", cval=fill)``, implemented with
  whole-pixel gathers (several times faster on CPU than one ``map_coordinates`` per channel);
  samples outside the image read ``fill``.
  """
  _check_image(image)
  if order not in (0, 1):
    raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order}")
  h, w, _ = image.shape
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  inv = _invert_affine(matrix.astype(jnp.float32))
  yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
  dx, dy = xx - cx, yy - cy
  src_x = inv[0, 0] * dx + inv[0, 1] * dy + inv[0, 2] + cx
  src_y = inv[1, 0] * dx + inv[1, 1] * dy + inv[1, 2] + cy
  return _sample_bilinear(image, src_y, src_x, order, fill).astype(image.dtype)


def rotate(image: jax.Array, degrees: float | jax.Array, *, order: int = 1, fill: float = 0.0) -> jax.Array:
  """Rotate counter-clockwise (as displayed) by ``degrees`` around the centre."""
  return affine_warp(image, affine_matrix(degrees=degrees), order=order, fill=fill)


def translate(image: jax.Array, tx: Any, ty: Any, *, order: int = 1, fill: float = 0.0) -> jax.Array:
  """Shift content by ``(tx, ty)`` pixels (right / down)."""
  return affine_warp(image, affine_matrix(translate_px=(tx, ty)), order=order, fill=fill)


def flip_left_right(image: jax.Array) -> jax.Array:
  return image[:, ::-1, :]


def flip_up_down(image: jax.Array) -> jax.Array:
  return image[::-1, :, :]


def resized_crop(
    image: jax.Array, top: Any, left: Any, height: Any, width: Any, out_size: tuple[int, int]
) -> jax.Array:
  """Crop rows ``[top, top+height)`` and cols ``[left, left+width)`` and resize bilinearly.

  Resizing uses half-pixel centres (``align_corners=False``) and replicates the crop border,
  as cropping-then-resizing does; no antialiasing. The box may be traced values (jittable).
  Separable: rows are interpolated first, then columns.
  """
  _check_image(image)
  h, w, _ = image.shape
  oh, ow = int(out_size[0]), int(out_size[1])
  top, left = jnp.asarray(top, jnp.float32), jnp.asarray(left, jnp.float32)
  height, width = jnp.asarray(height, jnp.float32), jnp.asarray(width, jnp.float32)
  ys = top + (jnp.arange(oh, dtype=jnp.float32) + 0.5) * height / oh - 0.5
  xs = left + (jnp.arange(ow, dtype=jnp.float32) + 0.5) * width / ow - 0.5
  ys = jnp.clip(ys, top, top + height - 1.0)
  xs = jnp.clip(xs, left, left + width - 1.0)
  y0, x0 = jnp.floor(ys), jnp.floor(xs)
  wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
  y0i = jnp.clip(y0, 0, h - 1).astype(jnp.int32)
  y1i = jnp.clip(y0 + 1, 0, h - 1).astype(jnp.int32)
  x0i = jnp.clip(x0, 0, w - 1).astype(jnp.int32)
  x1i = jnp.clip(x0 + 1, 0, w - 1).astype(jnp.int32)
  rows = (1 - wy) * image[y0i] + wy * image[y1i]  # (oh, W, C)
  out = (1 - wx) * rows[:, x0i] + wx * rows[:, x1i]  # (oh, ow, C)
  return out.astype(image.dtype)


# ---------------------------------------------------------------------------------------------
# Colour.
# ---------------------------------------------------------------------------------------------
def rgb_to_grayscale(image: jax.Array) -> jax.Array:
  """Luma ``0.299 R + 0.587 G + 0.114 B`` with a kept channel axis ``(H, W, 1)``."""
  if image.shape[-1] == 1:
    return image
  if image.shape[-1] != 3:
    raise ValueError(f"expected 1 or 3 channels, got {image.shape[-1]}")
  # Explicit channel sum: a reduction over a size-3 minor axis is ~20x slower on XLA:CPU.
  r, g, b = image[..., 0:1], image[..., 1:2], image[..., 2:3]
  return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def _rgb_to_hsv_channels(rgb: jax.Array):
  r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
  maxc = jnp.maximum(jnp.maximum(r, g), b)
  minc = jnp.minimum(jnp.minimum(r, g), b)
  delta = maxc - minc
  s = jnp.where(maxc > 0, delta / jnp.where(maxc > 0, maxc, 1.0), 0.0)
  safe = jnp.where(delta > 0, delta, 1.0)
  rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
  h = jnp.where(r == maxc, bc - gc, jnp.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))  # in [-1, 5)
  h = jnp.where(delta > 0, jnp.where(h < 0, h + 6.0, h) / 6.0, 0.0)
  return h, s, maxc


def _hsv_channels_to_rgb(h, s, v):
  # Branch-free: channel n = v − v·s·clip(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6, n = 5, 3, 1.
  h6 = h * 6.0
  out = []
  for n in (5.0, 3.0, 1.0):
    k = n + h6
    k = jnp.where(k >= 6.0, k - 6.0, k)
    out.append(v - v * s * jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0))
  return jnp.stack(out, axis=-1)


def rgb_to_hsv(rgb: jax.Array) -> jax.Array:
  """RGB in [0,1] -> HSV in [0,1] (hue as a fraction of a turn), last axis of size 3."""
  return jnp.stack(_rgb_to_hsv_channels(rgb), axis=-1)


def hsv_to_rgb(hsv: jax.Array) -> jax.Array:
  """Inverse of ``rgb_to_hsv`` (hue in [0, 1])."""
  return _hsv_channels_to_rgb(hsv[..., 0], hsv[..., 1], hsv[..., 2])


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
  h, s, v = _rgb_to_hsv_channels(image)
  h = h + shift
  h = h - jnp.floor(h)  # wrap to [0, 1)
  return jnp.clip(_hsv_channels_to_rgb(h, s, v), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Random ops.
# ---------------------------------------------------------------------------------------------
def _range(value, name: str, around: float = 0.0) -> tuple[float, float]:
  """A scalar ``v`` means ``(around - v, around + v)``; a pair is taken as is."""
  if isinstance(value, (int, float)):
    if value < 0:
      raise ValueError(f"{name} must be >= 0 when given as a single number, got {value}")
    return (around - float(value), around + float(value))
  lo, hi = (float(v) for v in value)
  if lo > hi:
    raise ValueError(f"{name} must be (low, high) with low <= high, got {value}")
  return lo, hi


def random_affine_matrix(
    key: jax.Array,
    image_shape: Sequence[int],
    *,
    degrees: Any = 0.0,
    translate: tuple[float, float] = (0.0, 0.0),
    scale: tuple[float, float] = (1.0, 1.0),
    shear: Any = 0.0,
    round_translation: bool = True,
) -> jax.Array:
  """Forward matrix of a torchvision-``RandomAffine``-like transform.

  ``degrees`` (scalar d -> U[-d, d], or a pair), ``translate=(fx, fy)``: shift uniform in
  ``[-fx·W, fx·W]`` x ``[-fy·H, fy·H]`` (rounded to whole pixels when ``round_translation``, as
  torchvision does), ``scale`` range, ``shear`` (scalar s -> x-shear U[-s, s]; pair -> x-shear
  range; 4-tuple -> x and y shear ranges).
  """
  h, w = int(image_shape[0]), int(image_shape[1])
  # One draw for all six parameters (fewer PRNG calls compile much faster on CPU).
  u = jax.random.uniform(key, (6,), jnp.float32)

  def lerp(i, lo, hi):
    return lo + (hi - lo) * u[i]

  dlo, dhi = _range(degrees, "degrees")
  angle = lerp(0, dlo, dhi)
  fx, fy = float(translate[0]), float(translate[1])
  tx = lerp(1, -fx * w, fx * w)
  ty = lerp(2, -fy * h, fy * h)
  if round_translation:
    tx, ty = jnp.round(tx), jnp.round(ty)
  slo, shi = float(scale[0]), float(scale[1])
  if not 0 < slo <= shi:
    raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale}")
  sc = lerp(3, slo, shi)
  if isinstance(shear, (int, float)) or len(shear) == 2:
    sxlo, sxhi = _range(shear, "shear")
    sylo = syhi = 0.0
  elif len(shear) == 4:
    sxlo, sxhi, sylo, syhi = (float(v) for v in shear)
  else:
    raise ValueError(f"shear must be a number, a pair or a 4-tuple, got {shear}")
  shx = lerp(4, sxlo, sxhi)
  shy = lerp(5, sylo, syhi)
  return affine_matrix(degrees=angle, translate_px=(tx, ty), scale=sc, shear_degrees=(shx, shy))


def _crop_box(key, h: int, w: int, scale, ratio, attempts: int = 10):
  """torchvision ``RandomResizedCrop.get_params``, vectorised over ``attempts`` candidates."""
  u = jax.random.uniform(key, (2 * attempts + 2,), jnp.float32)
  area = float(h * w)
  target = area * (scale[0] + (scale[1] - scale[0]) * u[:attempts])
  log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
  log_r = log_lo + (log_hi - log_lo) * u[attempts:2 * attempts]
  aspect = jnp.exp(log_r)
  cw = jnp.round(jnp.sqrt(target * aspect))
  ch = jnp.round(jnp.sqrt(target / aspect))
  valid = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
  first = jnp.argmax(valid)
  any_valid = jnp.any(valid)
  # Fallback: centre crop with the aspect ratio clamped into ``ratio``.
  in_ratio = w / h
  if in_ratio < ratio[0]:
    fw, fh = float(w), float(round(w / ratio[0]))
  elif in_ratio > ratio[1]:
    fh, fw = float(h), float(round(h * ratio[1]))
  else:
    fw, fh = float(w), float(h)
  cw = jnp.where(any_valid, cw[first], fw)
  ch = jnp.where(any_valid, ch[first], fh)
  top_rand = jnp.minimum(jnp.floor(u[-2] * (h - ch + 1)), h - ch)
  left_rand = jnp.minimum(jnp.floor(u[-1] * (w - cw + 1)), w - cw)
  top = jnp.where(any_valid, top_rand, jnp.floor((h - ch) / 2))
  left = jnp.where(any_valid, left_rand, jnp.floor((w - cw) / 2))
  return top, left, ch, cw


def random_resized_crop(
    key: jax.Array,
    image: jax.Array,
    *,
    size: tuple[int, int] | None = None,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> jax.Array:
  """torchvision ``RandomResizedCrop``: area fraction ~ U(scale), log aspect ~ U(log ratio)."""
  _check_image(image)
  h, w, _ = image.shape
  size = (h, w) if size is None else (int(size[0]), int(size[1]))
  if not 0 < scale[0] <= scale[1] <= 1:
    raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
  if not 0 < ratio[0] <= ratio[1]:
    raise ValueError(f"ratio must satisfy 0 < low <= high, got {ratio}")
  top, left, ch, cw = _crop_box(key, h, w, scale, ratio)
  return resized_crop(image, top, left, ch, cw, size)


def _jitter_from_uniforms(u, image, brightness, contrast, saturation, hue):
  """ColorJitter from 8 uniforms: 4 factors, then a random order of the 4 adjustments.

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


def _check_jitter(brightness, contrast, saturation, hue):
  if not 0 <= hue <= 0.5:
    raise ValueError(f"hue must be in [0, 0.5], got {hue}")
  for name, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
    if v < 0:
      raise ValueError(f"{name} must be >= 0, got {v}")


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
  _check_jitter(brightness, contrast, saturation, hue)
  u = jax.random.uniform(key, (8,), jnp.float32)
  return _jitter_from_uniforms(u, image, brightness, contrast, saturation, hue)


def random_grayscale(key: jax.Array, image: jax.Array, *, p: float = 0.1) -> jax.Array:
  """With probability ``p`` replace the image by its luma (channels kept)."""
  gray = jnp.broadcast_to(rgb_to_grayscale(image), image.shape)
  return jnp.where(jax.random.bernoulli(key, p), gray, image)


# ---------------------------------------------------------------------------------------------
# Spec -> pipeline.
# ---------------------------------------------------------------------------------------------
def _geom_rotation(key, shape, degrees=0.0):
  return random_affine_matrix(key, shape, degrees=degrees)


def _geom_translate(key, shape, x=0.0, y=0.0, round_pixels=True):
  return random_affine_matrix(key, shape, translate=(x, y), round_translation=round_pixels)


def _geom_shear(key, shape, degrees=0.0):
  return random_affine_matrix(key, shape, shear=degrees)


def _geom_scale(key, shape, range=(1.0, 1.0)):  # noqa: A002 - config-friendly name
  return random_affine_matrix(key, shape, scale=tuple(range))


def _geom_affine(key, shape, degrees=0.0, translate=(0.0, 0.0), scale=(1.0, 1.0), shear=0.0,
                 round_pixels=True):
  return random_affine_matrix(key, shape, degrees=degrees, translate=tuple(translate),
                              scale=tuple(scale), shear=shear, round_translation=round_pixels)


def _flip_matrix(key, shape, p, axis):
  do = jax.random.bernoulli(key, p)
  sign = jnp.where(do, -1.0, 1.0)
  diag = [sign, 1.0] if axis == "x" else [1.0, sign]
  return jnp.array([[diag[0], 0.0, 0.0], [0.0, diag[1], 0.0], [0.0, 0.0, 1.0]])


def _geom_hflip(key, shape, p=0.5):
  return _flip_matrix(key, shape, p, "x")


def _geom_vflip(key, shape, p=0.5):
  return _flip_matrix(key, shape, p, "y")


def _pix_resized_crop(key, image, size=None, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
  return random_resized_crop(key, image, size=size, scale=tuple(scale), ratio=tuple(ratio))


def _pix_color(key, image, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, p=1.0):
  _check_jitter(brightness, contrast, saturation, hue)
  u = jax.random.uniform(key, (9,), jnp.float32)
  jittered = _jitter_from_uniforms(u, image, brightness, contrast, saturation, hue)
  return jnp.where(u[8] < p, jittered, image)


def _pix_gray(key, image, p=0.1):
  return random_grayscale(key, image, p=p)


# name -> (kind, function). Geometric: (key, (H, W, C)) -> 3x3; pixel: (key, image) -> image.
_OPS: dict[str, tuple[str, Callable]] = {
    "rotation": ("geometric", _geom_rotation),
    "translate": ("geometric", _geom_translate),
    "shear": ("geometric", _geom_shear),
    "scale": ("geometric", _geom_scale),
    "affine": ("geometric", _geom_affine),
    "hflip": ("geometric", _geom_hflip),
    "vflip": ("geometric", _geom_vflip),
    "resized_crop": ("pixel", _pix_resized_crop),
    "color": ("pixel", _pix_color),
    "gray": ("pixel", _pix_gray),
}

PRESETS: dict[str, tuple] = {
    # [P] App. E.3 / [C] `mnist_aug`: rotation ±45°, translation 25% (x and y), shear 25°, scale [0.6, 1.4].
    "mnist_large": (
        ("rotation", {"degrees": 45.0}),
        ("translate", {"x": 0.25, "y": 0.0}),
        ("translate", {"x": 0.0, "y": 0.25}),
        ("shear", {"degrees": 25.0}),
        ("scale", {"range": (0.6, 1.4)}),
    ),
    # [I, from code `mnist_aug_less`] Table 6 "small set".
    "mnist_small": (
        ("rotation", {"degrees": 15.0}),
        ("translate", {"x": 0.15, "y": 0.0}),
        ("translate", {"x": 0.0, "y": 0.15}),
        ("shear", {"degrees": 15.0}),
        ("scale", {"range": (0.8, 1.2)}),
    ),
    # [C] STL10: flip, RandomResizedCrop(scale (0.3, 1), ratio (0.7, 1.4)),
    # ColorJitter(0.4, 0.4, 0.4, 0.2) with p 0.8, RandomGrayscale p 0.2. (Order [I]: SimCLR's.)
    "stl10": (
        ("resized_crop", {"scale": (0.3, 1.0), "ratio": (0.7, 1.4)}),
        ("hflip", {"p": 0.5}),
        ("color", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.2, "p": 0.8}),
        ("gray", {"p": 0.2}),
    ),
    "none": (),
}

_STR_ENTRY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)


def _parse_str_entry(text: str) -> tuple[str, dict]:
  m = _STR_ENTRY.match(text)
  if m is None:
    raise ValueError(f"cannot parse augmentation entry {text!r}; expected 'name' or 'name(k=v, ...)'")
  name, args = m.group(1), m.group(2)
  kwargs: dict[str, Any] = {}
  if args and args.strip():
    call = ast.parse(f"f({args})", mode="eval").body
    if call.args:
      raise ValueError(f"augmentation {name!r}: use keyword arguments only, got {text!r}")
    for kw in call.keywords:
      kwargs[kw.arg] = ast.literal_eval(kw.value)
  return name, kwargs


def _to_plain(value):
  if hasattr(value, "to_dict"):
    value = value.to_dict()
  if isinstance(value, Mapping):
    return {k: _to_plain(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_to_plain(v) for v in value)
  return value


def parse_spec(spec: Any) -> tuple[tuple[str, dict], ...]:
  """Normalise a spec (preset name, string, or sequence of entries) to ``((name, kwargs), ...)``."""
  if spec is None:
    return ()
  if isinstance(spec, str):
    if spec in PRESETS:
      return parse_spec(PRESETS[spec])
    parts = [p for p in spec.split(";") if p.strip()]
    return tuple(_check_entry(*_parse_str_entry(p)) for p in parts)
  entries = []
  for entry in spec:
    entry = _to_plain(entry)
    if isinstance(entry, str):
      name, kwargs = _parse_str_entry(entry)
    elif isinstance(entry, Mapping):
      kwargs = dict(entry)
      if "name" not in kwargs:
        raise ValueError(f"augmentation entry {entry!r} is a mapping without a 'name' key")
      name = kwargs.pop("name")
    elif isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[0], str):
      name, kwargs = entry[0], dict(entry[1] or {})
    else:
      raise ValueError(
          f"augmentation entry {entry!r} must be a name, a (name, kwargs) pair or a mapping with 'name'"
      )
    entries.append(_check_entry(name, kwargs))
  return tuple(entries)


def _check_entry(name: str, kwargs: dict) -> tuple[str, dict]:
  if name not in _OPS:
    raise ValueError(f"unknown augmentation {name!r}; known: {sorted(_OPS)}")
  return name, {k: _to_plain(v) for k, v in kwargs.items()}


def build_augment(
    spec: Any,
    *,
    p: float = 1.0,
    order: int = 1,
    fill: float = 0.0,
    fuse_geometric: bool = True,
) -> AugmentFn:
  """Build ``fn(key, image) -> image`` for a single ``(H, W, C)`` image from ``spec``.

  Args:
    spec: preset name, string or sequence (see module docstring).
    p: probability of applying the whole pipeline (Fig. 12's ``p_augment``); else identity.
    order: interpolation for geometric warps, 1 bilinear or 0 nearest.
    fill: value of pixels uncovered by geometric transforms.
    fuse_geometric: multiply consecutive geometric ops into a single warp.
  """
  entries = parse_spec(spec)
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"p must be in [0, 1], got {p}")

  def fn(key: jax.Array, image: jax.Array) -> jax.Array:
    _check_image(image)
    keys = jax.random.split(key, len(entries) + 1)
    k_apply, keys = keys[0], keys[1:]
    out = image
    pending: list = []  # [(name, forward matrix)] of the current run of geometric ops

    def flush(img, group):
      if not group:
        return img
      if all(name in ("hflip", "vflip") for name, _ in group):
        # Pure flips: exact index reversal, no resampling; one gather with a per-example index
        # (a select between flipped and unflipped copies fuses badly after a gather on XLA:CPU).
        for name, mat in group:
          axis = 1 if name == "hflip" else 0
          n = img.shape[axis]
          ar = jnp.arange(n)
          idx = jnp.where(mat[0, 0] * mat[1, 1] < 0, n - 1 - ar, ar)
          img = jnp.take(img, idx, axis=axis)
        return img
      total = group[0][1]
      for _, mat in group[1:]:
        total = mat @ total
      return affine_warp(img, total, order=order, fill=fill)

    for k, (name, kwargs) in zip(keys, entries):
      kind, op = _OPS[name]
      if kind == "geometric":
        pending.append((name, op(k, out.shape, **kwargs)))
        if not fuse_geometric:
          out = flush(out, pending)
          pending = []
      else:
        out = flush(out, pending)
        pending = []
        # Materialise each stage: otherwise XLA fuses the resampling gathers into every consumer
        # of the colour ops and recomputes them (~1.5-3x slower on CPU).
        out = jax.lax.optimization_barrier(op(k, jax.lax.optimization_barrier(out), **kwargs))
    out = flush(out, pending)
    if p >= 1.0:
      return out
    if out.shape != image.shape:
      raise ValueError("p < 1 needs a pipeline that keeps the image shape")
    return jnp.where(jax.random.bernoulli(k_apply, p), out, image)

  return fn


def augment_batch(key: jax.Array, images: jax.Array, fn: AugmentFn) -> jax.Array:
  """Apply ``fn`` to each example of a ``(B, H, W, C)`` batch with independent keys."""
  if images.ndim != 4:
    raise ValueError(f"images must be (B, H, W, C), got shape {tuple(images.shape)}")
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(fn)(keys, images)


def two_views(key: jax.Array, images: jax.Array, fn: AugmentFn) -> tuple[jax.Array, jax.Array]:
  """Two independent augmentations of every example (BINCE / NT-Xent positives)."""
  k1, k2 = jax.random.split(key)
  return augment_batch(k1, images, fn), augment_batch(k2, images, fn)


# ---------------------------------------------------------------------------------------------
# Supervised equivalence: x ~ x' iff same label.
# ---------------------------------------------------------------------------------------------
class LabelPool(NamedTuple):
  """Pool sorted by label so that class ``c`` occupies ``[offsets[c], offsets[c] + counts[c])``."""

  images: jax.Array  # (N, ...) sorted by label
  labels: jax.Array  # (N,) int32, sorted
  offsets: jax.Array  # (K,) int32
  counts: jax.Array  # (K,) int32


def make_label_pool(images: Any, labels: Any, num_classes: int | None = None) -> LabelPool:
  """Host-side: sort the pool by label (stable) and index each class. Every class in
  ``range(num_classes)`` must have at least one example."""
  images = np.asarray(images)
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
    raise ValueError(
        f"labels must be 1-D with one entry per image; got labels {labels.shape}, images {images.shape}"
    )
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
  if labels.min() < 0:
    raise ValueError(f"labels must be >= 0, got min {labels.min()}")
  k = int(labels.max()) + 1 if num_classes is None else int(num_classes)
  if labels.max() >= k:
    raise ValueError(f"label {labels.max()} >= num_classes={k}")
  order = np.argsort(labels, kind="stable")
  counts = np.bincount(labels, minlength=k)
  empty = np.nonzero(counts == 0)[0]
  if empty.size:
    raise ValueError(f"make_label_pool: classes {empty.tolist()} have no example in the pool")
  offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
  return LabelPool(
      images=jnp.asarray(images[order]),
      labels=jnp.asarray(labels[order].astype(np.int32)),
      offsets=jnp.asarray(offsets.astype(np.int32)),
      counts=jnp.asarray(counts.astype(np.int32)),
  )


def sample_same_label(key: jax.Array, labels: jax.Array, pool: LabelPool) -> jax.Array:
  """For each label, a uniformly random pool image with that label (jittable, O(B)).

  This is the "supervised" augmentation of Table 6: the equivalence is "same label".
  Labels outside ``[0, K)`` are not checked inside jit; ``make_label_pool`` guarantees non-empty
  classes.
  """
  labels = jnp.asarray(labels, jnp.int32)
  u = jax.random.uniform(key, labels.shape)
  counts = pool.counts[labels]
  idx = pool.offsets[labels] + jnp.minimum(jnp.floor(u * counts).astype(jnp.int32), counts - 1)
  return pool.images[idx]


def same_label_images(key: jax.Array, labels: jax.Array, pool_images: jax.Array,
                      pool_labels: jax.Array) -> jax.Array:
  """Like ``sample_same_label`` but straight from unsorted pool arrays (jittable, O(B·N) memory):
  each example draws uniformly among the pool entries whose label equals its own. Use
  ``make_label_pool`` + ``sample_same_label`` for large pools. A label absent from the pool has no
  valid draw (not checked inside jit)."""
  labels = jnp.asarray(labels)
  mask = labels[:, None] == jnp.asarray(pool_labels)[None, :]
  logits = jnp.where(mask, 0.0, -jnp.inf)
  idx = jax.random.categorical(key, logits, axis=-1)
  return jnp.asarray(pool_images)[idx]


def label_representatives(key: jax.Array, pool: LabelPool) -> jax.Array:
  """One fixed random image per class, ``(K, ...)``: the supervised-VIC reconstruction target
  ([C]: "a fixed representative image of the label, drawn once with a fixed seed").
  Index it with the labels: ``label_representatives(key, pool)[labels]``."""
  k = pool.counts.shape[0]
  return sample_same_label(key, jnp.arange(k), pool)
