"""Tests for lossyless_jax.evaluation.classical (Pillow codecs)."""
import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

from lossyless_jax.evaluation import classical


@pytest.fixture(scope="module")
def patches():
  """Eight 32x32 RGB crops of scikit-learn's bundled photographs, float in [0, 1]."""
  imgs = load_sample_images().images
  out = [img[r:r + 32, c:c + 32] for img in imgs for r, c in ((100, 100), (200, 300), (300, 150), (50, 400))]
  return np.stack(out).astype(np.float32) / 255.0


def test_png_is_lossless_for_uint8_float_and_grey(patches):
  u8 = classical.to_uint8(patches)
  res = classical.codec_round_trip(u8, "png", 9)
  np.testing.assert_array_equal(res["decoded"], u8)
  assert res["mse"] == 0.0
  resf = classical.codec_round_trip(patches, "png", 6)
  assert resf["decoded"].dtype == np.float32
  np.testing.assert_array_equal(resf["decoded"], u8.astype(np.float32) / 255.0)
  grey = patches[..., 0]
  resg = classical.codec_round_trip(grey, "png", 6)
  assert resg["decoded"].shape == grey.shape
  np.testing.assert_array_equal(classical.to_uint8(resg["decoded"]), classical.to_uint8(grey))
  sizes = [r["bits_per_image"] for r in classical.sweep_codec(u8, "png", (0, 9))]
  assert sizes[1] < sizes[0]  # zlib level 9 beats level 0 (stored)


def test_bits_are_file_sizes(patches):
  u8 = classical.to_uint8(patches)
  res = classical.codec_round_trip(u8, "jpeg", 50)
  buf = io.BytesIO()
  Image.fromarray(u8[3]).save(buf, format="JPEG", quality=50)
  assert res["bits"][3] == 8 * len(buf.getvalue())
  assert res["bits_per_image"] == pytest.approx(res["bits"].mean())
  assert res["bpp"] == pytest.approx(res["bits_per_image"] / (32 * 32))


@pytest.mark.parametrize("codec,qualities", [("jpeg", (5, 25, 50, 75, 95)), ("webp", (5, 25, 50, 75, 95))])
def test_lossy_codecs_bits_increase_and_error_decreases_with_quality(patches, codec, qualities):
  rows = classical.sweep_codec(patches, codec, qualities)
  bits = [r["bits_per_image"] for r in rows]
  mse = [r["mse"] for r in rows]
  assert all(b1 < b2 for b1, b2 in zip(bits, bits[1:])), bits
  assert all(m1 > m2 for m1, m2 in zip(mse, mse[1:])), mse
  assert rows[-1]["decoded"].shape == patches.shape


def test_bad_inputs_raise(patches):
  with pytest.raises(ValueError, match="float images must be in \\[0, 1\\]"):
    classical.codec_round_trip(patches * 2, "png", 6)
  with pytest.raises(ValueError, match="codec must be one of"):
    classical.codec_round_trip(patches, "avif", 50)
  with pytest.raises(ValueError, match="jpeg quality"):
    classical.codec_round_trip(patches, "jpeg", 0)
