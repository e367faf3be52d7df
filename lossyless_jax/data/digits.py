"""scikit-learn's handwritten digits (1,797 8x8 grey images, 10 classes), shipped with the package.

Splits are fixed by a seeded permutation (independent of the run's seed): 1,257 train,
180 validation, 360 test. Images are float32 NHWC in [0, 1], optionally resized
(bilinear) to `image_size` x `image_size`.
"""
from __future__ import annotations

import numpy as np

from lossyless_jax import errors

SPLITS = ("train", "validation", "test")
NUM_CLASSES = 10


def load(split: str, image_size: int = 0) -> dict:
  from sklearn.datasets import load_digits
  if split not in SPLITS:
    raise errors.DataError(f"data split {split!r} of 'digits': expected one of {', '.join(SPLITS)}")
  bunch = load_digits()
  images = (bunch.images.astype(np.float32) / 16.0)[..., None]
  labels = bunch.target.astype(np.int32)
  perm = np.random.default_rng(1797).permutation(len(labels))
  test, val, train = perm[:360], perm[360:540], perm[540:]
  idx = {"train": train, "validation": val, "test": test}[split]
  images, labels = images[idx], labels[idx]
  if image_size and image_size != images.shape[1]:
    images = resize(images, image_size)
  return {"image": images, "label": labels}


def resize(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize of NHWC float images to size x size, values kept in [0, 1]."""
  import jax
  out = jax.image.resize(images, (images.shape[0], size, size, images.shape[3]), method="bilinear")
  return np.clip(np.asarray(out, np.float32), 0.0, 1.0)
