"""Geometric image augmentations: affine warps, flips and resized crops, keyed and jittable.

The spatial half of the augmentation sets of "Lossy Compression for Lossless Prediction"
(Dubois et al., 2021; App. E.3): random rotation, translation, shear and scale for MNIST, flips and
random resized crops for STL10.

Conventions
-----------
- Images are float32 in [0, 1], channel-last; single-example functions take ``(H, W, C)``.
- Pixel coordinates: ``x`` is the column (to the right), ``y`` the row (downwards); geometric
  transforms act around the image centre ``((W-1)/2, (H-1)/2)``, so a 90° rotation of a square
  image maps pixel centres onto pixel centres and equals ``np.rot90``.
- Angles are in degrees; a positive rotation turns the content counter-clockwise *as displayed*
  (same as ``np.rot90`` and torchvision's ``rotate``). Positive translations move the content
  right / down. Areas uncovered by a transform are filled with ``fill`` (default 0,
  torchvision's default).
- An affine transform is a 3x3 *forward* matrix in centred ``(x, y)`` coordinates, so that
  consecutive transforms multiply and are applied in one warp.

Flips are dm-pix's. The warp and the crop resize keep their own sampler, which gathers whole
pixels (all channels of a tap at once): ``dm_pix.affine_transform`` interpolates over the
channel axis too (8 scalar taps per output value) and is 17-50x slower on XLA:CPU for the MNIST
sets, and with ``mode="constant"`` it fills a whole sample that reaches past the border
instead of only the taps outside the image. dm-pix has no resize of a traced crop box.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import dm_pix
import jax
import jax.numpy as jnp


def check_image(image: jax.Array, name: str = "image") -> None:
  """Raise unless ``image`` is a single ``(H, W, C)`` image."""
  if image.ndim != 3:
    raise ValueError(
        f"{name} must be a single (H, W, C) image, got shape {tuple(image.shape)}; "
        "use augment_batch for (B, H, W, C) batches."
    )


# ---------------------------------------------------------------------------------------------
# 3x3 forward matrices in centred (x=col, y=row) pixel coordinates.
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


# ---------------------------------------------------------------------------------------------
# Warps and flips.
# ---------------------------------------------------------------------------------------------
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
  ``jax.scipy.ndimage.map_coordinates(..., mode="constant", cval=fill)`` (each tap outside the
  image reads ``fill``), except that nearest rounds ties to even.
  """
  check_image(image)
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
  """Mirror the columns of an ``(..., H, W, C)`` image (``dm_pix.flip_left_right``)."""
  return dm_pix.flip_left_right(image)


def flip_up_down(image: jax.Array) -> jax.Array:
  """Mirror the rows of an ``(..., H, W, C)`` image (``dm_pix.flip_up_down``)."""
  return dm_pix.flip_up_down(image)


# ---------------------------------------------------------------------------------------------
# Crops.
# ---------------------------------------------------------------------------------------------
def resized_crop(
    image: jax.Array, top: Any, left: Any, height: Any, width: Any, out_size: tuple[int, int]
) -> jax.Array:
  """Crop rows ``[top, top+height)`` and cols ``[left, left+width)`` and resize bilinearly.

  Resizing uses half-pixel centres (``align_corners=False``) and replicates the crop border,
  as cropping-then-resizing does; no antialiasing. The box may be traced values (jittable).
  Separable: rows are interpolated first, then columns.
  """
  check_image(image)
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
  check_image(image)
  h, w, _ = image.shape
  size = (h, w) if size is None else (int(size[0]), int(size[1]))
  if not 0 < scale[0] <= scale[1] <= 1:
    raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
  if not 0 < ratio[0] <= ratio[1]:
    raise ValueError(f"ratio must satisfy 0 < low <= high, got {ratio}")
  top, left, ch, cw = _crop_box(key, h, w, scale, ratio)
  return resized_crop(image, top, left, ch, cw, size)
