"""Augmentation specs: the named ops, the paper's presets and the spec parser.

A pipeline is described by a small spec that fits in an ``ml_collections.ConfigDict``: a sequence
whose entries are either a name (default arguments), a ``(name, kwargs)`` pair, or a mapping with a
``"name"`` key, e.g.::

    spec = (("rotation", {"degrees": 45}), ("translate", {"x": 0.25, "y": 0.25}),
            ("shear", {"degrees": 25}), ("scale", {"range": (0.6, 1.4)}))

A string form is also accepted: ``"rotation(degrees=45); hflip; gray(p=0.2)"``, and a preset name.
``PRESETS`` holds the augmentation sets of "Lossy Compression for Lossless Prediction" (Dubois et
al., 2021): ``mnist_large`` (App. E.3), ``mnist_small`` (Table 6 "small set"), ``stl10`` (SimCLR's
augmentations, with the parameters of the authors' released code) and ``none``.

``OPS`` maps each name to its kind and function: a *geometric* op draws a 3x3 forward matrix
``(key, (H, W, C), **kwargs) -> (3, 3)`` (see ``geometry``), so that consecutive geometric ops
can be fused into one warp; a *pixel* op maps ``(key, image, **kwargs) -> image``.
"""
from __future__ import annotations

import ast
import re
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from lossyless_jax.data import colour, geometry


# ---------------------------------------------------------------------------------------------
# Named ops.
# ---------------------------------------------------------------------------------------------
def _geom_rotation(key, shape, degrees=0.0):
  return geometry.random_affine_matrix(key, shape, degrees=degrees)


def _geom_translate(key, shape, x=0.0, y=0.0, round_pixels=True):
  return geometry.random_affine_matrix(key, shape, translate=(x, y), round_translation=round_pixels)


def _geom_shear(key, shape, degrees=0.0):
  return geometry.random_affine_matrix(key, shape, shear=degrees)


def _geom_scale(key, shape, range=(1.0, 1.0)):  # noqa: A002 - config-friendly name
  return geometry.random_affine_matrix(key, shape, scale=tuple(range))


def _geom_affine(key, shape, degrees=0.0, translate=(0.0, 0.0), scale=(1.0, 1.0), shear=0.0,
                 round_pixels=True):
  return geometry.random_affine_matrix(key, shape, degrees=degrees, translate=tuple(translate),
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
  return geometry.random_resized_crop(key, image, size=size, scale=tuple(scale), ratio=tuple(ratio))


def _pix_color(key, image, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, p=1.0):
  colour.check_jitter(brightness, contrast, saturation, hue)
  u = jax.random.uniform(key, (9,), jnp.float32)
  jittered = colour.jitter_from_uniforms(u, image, brightness, contrast, saturation, hue)
  return jnp.where(u[8] < p, jittered, image)


def _pix_gray(key, image, p=0.1):
  return colour.random_grayscale(key, image, p=p)


# name -> (kind, function). Geometric: (key, (H, W, C)) -> 3x3; pixel: (key, image) -> image.
OPS: dict[str, tuple[str, Callable]] = {
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

def _mnist_set(degrees: float, translate: float, shear: float, scale: tuple[float, float]) -> tuple:
  """Rotation ±``degrees``, translation ±``translate`` of the width then of the height, x-shear
  ±``shear`` degrees, scale range ``scale``, in torchvision ``RandomAffine``'s order."""
  return (
      ("rotation", {"degrees": degrees}),
      ("translate", {"x": translate, "y": 0.0}),
      ("translate", {"x": 0.0, "y": translate}),
      ("shear", {"degrees": shear}),
      ("scale", {"range": scale}),
  )


PRESETS: dict[str, tuple] = {
    # App. E.3, the authors' MNIST set: rotation ±45°, translation 25 % (x and y), shear 25°,
    # scale [0.6, 1.4].
    "mnist_large": _mnist_set(45.0, 0.25, 25.0, (0.6, 1.4)),
    # Table 6 "small set" (its parameters as in the authors' released code).
    "mnist_small": _mnist_set(15.0, 0.15, 15.0, (0.8, 1.2)),
    # STL10, the parameters of the authors' released code: flip, RandomResizedCrop(scale (0.3, 1),
    # ratio (0.7, 1.4)), ColorJitter(0.4, 0.4, 0.4, 0.2) with p 0.8, RandomGrayscale p 0.2; the
    # order is SimCLR's (not stated in the paper).
    "stl10": (
        ("resized_crop", {"scale": (0.3, 1.0), "ratio": (0.7, 1.4)}),
        ("hflip", {"p": 0.5}),
        ("color", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.2, "p": 0.8}),
        ("gray", {"p": 0.2}),
    ),
    "none": (),
}


# ---------------------------------------------------------------------------------------------
# Parser.
# ---------------------------------------------------------------------------------------------
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
  if name not in OPS:
    raise ValueError(f"unknown augmentation {name!r}; known: {sorted(OPS)}")
  return name, {k: _to_plain(v) for k, v in kwargs.items()}
