"""Coloured digits: grey digit images tinted with a colour drawn from a joint (digit, colour) PMF.

The two-task benchmark of the Gray-Wyner paper (§4.2, App. D.4, Table 6): task 1 predicts the
digit, task 2 the colour. A grey image is tinted black -> colour (0 stays black, 255 becomes the
colour), made RGB, resized bicubically to 32x32 and divided by 255. The colour of each example is
drawn from the row of the chosen joint PMF for its digit (rows are digits, columns colours):

* ``dependent``: ``I/10``, colour = digit; H(digit, colour) = I(digit; colour) = log2 10.
* ``independent``: uniform ``1/100``; H(digit, colour) = 2 log2 10, I(digit; colour) = 0.
* ``mixture``: digits 0-2 have their own colour; digits 3-5 are uniform over all ten; digits 6, 7,
  8, 9 are uniform over colours 0-3, 2-5, 4-7, 6-9; H(digit, colour) = 5.12, I = 1.40 bits.

Sources: scikit-learn's 8x8 digits (``"digits"``, offline, the splits of
:mod:`lossyless_jax.data.digits`) or a prepared TFDS dataset (``"tfds:mnist"``), whose ``train``
split is cut into a fixed train / validation pair (1/6 held out) and whose ``test`` is the test
split. Both go through the same :func:`colourize`. Colours are fixed per example by ``seed``.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from lossyless_jax import errors
from lossyless_jax.data import digits as digits_lib
from lossyless_jax.data import tfds_source

SPLITS = digits_lib.SPLITS
NUM_DIGITS = 10
NUM_COLOURS = 10
IMAGE_SIZE = 32  # §4.2: images are resized bicubically to 32x32.
VALIDATION_FRACTION = 1 / 6  # of a TFDS train split (MNIST: 50,000 train, 10,000 validation).

# The ten colours of §4.2 in label order, as the CSS/X11 names resolve to 8-bit RGB.
COLOUR_NAMES = ("red", "orange", "yellow", "lime", "green", "cyan", "blue", "purple", "magenta", "grey")
PALETTE = np.array([
    (255, 0, 0), (255, 165, 0), (255, 255, 0), (0, 255, 0), (0, 128, 0),
    (0, 255, 255), (0, 0, 255), (128, 0, 128), (255, 0, 255), (128, 128, 128),
], np.uint8)


def _mixture() -> np.ndarray:
  p = np.zeros((NUM_DIGITS, NUM_COLOURS))
  p[[0, 1, 2], [0, 1, 2]] = 0.1
  p[3:6] = 0.01
  for digit, first in zip(range(6, 10), (0, 2, 4, 6)):
    p[digit, first:first + 4] = 0.025
  return p


_PMFS = {
    "dependent": np.eye(NUM_DIGITS) / 10,
    "independent": np.full((NUM_DIGITS, NUM_COLOURS), 0.01),
    "mixture": _mixture(),
}
PMF_NAMES = tuple(_PMFS)


def joint_pmf(pmf: str) -> np.ndarray:
  """The 10x10 table P(digit, colour) of §4.2 (rows digits, columns colours), float64."""
  if pmf not in _PMFS:
    raise errors.DataError(f"colour PMF {pmf!r}: expected one of {', '.join(PMF_NAMES)}")
  return _PMFS[pmf].copy()


def conditional_pmf(pmf: str) -> np.ndarray:
  """P(colour | digit): each row of :func:`joint_pmf` normalised to sum to 1."""
  p = joint_pmf(pmf)
  return p / p.sum(axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class Information:
  """Entropies and mutual information of a (digit, colour) law, in bits."""
  h_digit: float
  h_colour: float
  h_joint: float
  mutual_information: float


def _entropy(p: np.ndarray) -> float:
  p = p[p > 0]
  return float(-(p * np.log2(p)).sum())


def _information(joint: np.ndarray) -> Information:
  h_d, h_c, h_dc = _entropy(joint.sum(1)), _entropy(joint.sum(0)), _entropy(joint.ravel())
  return Information(h_d, h_c, h_dc, max(h_d + h_c - h_dc, 0.0))


def information(pmf: str, digit_probs=None) -> Information:
  """Exact H(digit), H(colour), H(digit, colour), I(digit; colour) of a PMF (§4.2).

  With ``digit_probs`` (e.g. a split's label frequencies) the law is ``digit_probs x P(colour |
  digit)``, which is what a dataset whose digits are not exactly uniform follows.
  """
  cond = conditional_pmf(pmf)
  if digit_probs is None:
    return _information(joint_pmf(pmf))
  q = np.asarray(digit_probs, np.float64)
  if q.shape != (NUM_DIGITS,) or (q < 0).any() or not np.isclose(q.sum(), 1.0):
    raise errors.DataError(f"digit_probs: expected {NUM_DIGITS} non-negative probabilities summing to 1, got {q}")
  return _information(q[:, None] * cond)


def empirical_information(label, colour) -> Information:
  """Plug-in estimate of :class:`Information` from paired digit and colour labels."""
  joint = np.zeros((NUM_DIGITS, NUM_COLOURS))
  np.add.at(joint, (np.asarray(label), np.asarray(colour)), 1.0)
  return _information(joint / joint.sum())


def sample_colours(label, pmf: str, rng: np.random.Generator) -> np.ndarray:
  """A colour per digit label from P(colour | digit), int32; one uniform per example, in order."""
  label = np.asarray(label)
  if label.size and (label.min() < 0 or label.max() >= NUM_DIGITS):
    raise errors.DataError(f"digit labels must be in [0, {NUM_DIGITS}), got range [{label.min()}, {label.max()}]")
  cdf = np.cumsum(conditional_pmf(pmf), axis=1)
  cdf /= cdf[:, -1:]  # exactly 1 at the end, so zero-mass colours are never drawn
  u = rng.random(label.shape)
  return (u[..., None] >= cdf[label]).sum(-1).astype(np.int32)


def tint(grey: np.ndarray, colour) -> np.ndarray:
  """uint8 grey ``(N, H, W[, 1])`` -> uint8 RGB ``(N, H, W, 3)``: level ``v`` becomes
  ``floor(v * c / 255)`` per channel of the colour ``c`` (a black-to-colour ramp, §4.2)."""
  grey = np.asarray(grey)
  if grey.dtype != np.uint8:
    raise errors.DataError(f"grey images must be uint8, got {grey.dtype}")
  if grey.ndim == 4 and grey.shape[-1] == 1:
    grey = grey[..., 0]
  if grey.ndim != 3:
    raise errors.DataError(f"grey images must be (N, H, W) or (N, H, W, 1), got shape {grey.shape}")
  rgb = PALETTE[np.asarray(colour)].astype(np.int32)[:, None, None, :]
  return (grey.astype(np.int32)[..., None] * rgb // 255).astype(np.uint8)


def _resize_bicubic(images: np.ndarray, size: int, chunk: int = 4096) -> np.ndarray:
  """uint8 NHWC -> uint8 NHWC at size x size (Keys bicubic, a = -0.5), rounded and clipped."""
  import jax
  if images.shape[1:3] == (size, size):
    return images
  out = []
  for start in range(0, len(images), chunk):
    part = images[start:start + chunk].astype(np.float32)
    part = jax.image.resize(part, (len(part), size, size, images.shape[3]), method="bicubic")
    out.append(np.clip(np.round(np.asarray(part)), 0, 255).astype(np.uint8))
  return np.concatenate(out) if out else np.zeros((0, size, size, images.shape[3]), np.uint8)


def colourize(grey: np.ndarray, colour, image_size: int = IMAGE_SIZE) -> np.ndarray:
  """Tint, bicubic resize to ``image_size`` and /255: float32 NHWC RGB in [0, 1] (§4.2)."""
  if image_size <= 0:
    raise errors.DataError(f"image_size must be positive, got {image_size}")
  return _resize_bicubic(tint(grey, colour), image_size).astype(np.float32) / 255.0


def _to_uint8(images: np.ndarray) -> np.ndarray:
  return np.clip(np.round(np.asarray(images, np.float32) * 255.0), 0, 255).astype(np.uint8)


def grey_split(split: str, source: str = "digits", data_dir=None) -> tuple[np.ndarray, np.ndarray]:
  """Grey uint8 images ``(N, H, W, 1)`` and int32 digit labels of a split of ``source``."""
  if split not in SPLITS:
    raise errors.DataError(f"data split {split!r} of coloured digits: expected one of {', '.join(SPLITS)}")
  if source == "digits":
    arrays = digits_lib.load(split)
    return _to_uint8(arrays["image"]), arrays["label"]
  if not source.startswith("tfds:") or len(source) == 5:
    raise errors.DataError(f"coloured digits source {source!r}: expected 'digits' or 'tfds:<name>' (e.g. 'tfds:mnist')")
  name = source[5:]
  arrays = tfds_source.load_split(name, "test" if split == "test" else "train", data_dir)
  images, labels = _to_uint8(arrays["image"]), arrays["label"].astype(np.int32)
  if split != "test":
    perm = np.random.default_rng(len(labels)).permutation(len(labels))
    n_val = int(round(len(labels) * VALIDATION_FRACTION))
    idx = np.sort(perm[:n_val] if split == "validation" else perm[n_val:])
    images, labels = images[idx], labels[idx]
  return images, labels


def load(split: str, pmf: str = "dependent", *, seed: int = 0, source: str = "digits", data_dir=None,
         image_size: int = IMAGE_SIZE) -> dict:
  """A split of coloured digits: ``image`` float32 ``(N, S, S, 3)`` in [0, 1], ``label`` (digit) and
  ``colour`` int32. The same ``(split, pmf, seed, source)`` always gives the same arrays."""
  joint_pmf(pmf)  # validate the name before any loading
  grey, label = grey_split(split, source, data_dir)
  colour = sample_colours(label, pmf, np.random.default_rng([seed, SPLITS.index(split)]))
  return {"image": colourize(grey, colour, image_size), "label": label, "colour": colour}


def array_source(split: str, data_config) -> dict:
  """``data.ARRAY_SOURCES`` adapter: ``options.pmf`` (default 'dependent'), ``options.source``
  (default 'digits'), ``seed``, ``data_dir`` and ``image_size`` (0 means 32) of ``config.data``."""
  options = data_config.get("options", {}) or {}
  return load(split, options.get("pmf", "dependent"), seed=int(data_config.get("seed", 0)),
              source=options.get("source", "digits"), data_dir=data_config.get("data_dir"),
              image_size=int(data_config.get("image_size", 0) or IMAGE_SIZE))
