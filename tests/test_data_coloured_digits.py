"""Coloured digits (Gray-Wyner paper §4.2): PMFs and their information, tinting, resizing, splits."""
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image, ImageColor, ImageOps

from lossyless_jax import config as config_lib
from lossyless_jax import data
from lossyless_jax.data import coloured_digits as cd
from lossyless_jax.data import digits

LOG10 = np.log2(10)


def test_pmf_tables_and_exact_information():
  for name in cd.PMF_NAMES:
    p = cd.joint_pmf(name)
    assert p.shape == (10, 10) and (p >= 0).all()
    np.testing.assert_allclose(p.sum(1), 0.1)  # uniform digits
    np.testing.assert_allclose(cd.conditional_pmf(name).sum(1), 1.0)
  dep, ind, mix = (cd.information(n) for n in ("dependent", "independent", "mixture"))
  # Dependent: colour = digit, so everything is common: I = H(colour) = H(digit) = H(joint) = log2 10.
  np.testing.assert_allclose([dep.h_digit, dep.h_colour, dep.h_joint, dep.mutual_information], [LOG10] * 4)
  np.testing.assert_allclose([ind.h_digit, ind.h_colour, ind.h_joint], [LOG10, LOG10, 2 * LOG10])
  assert abs(ind.mutual_information) < 1e-12
  # Mixture: §4.2 quotes H = 5.12 and I = 1.4 bits; the colour marginal follows from the rows.
  assert round(mix.h_joint, 2) == 5.12 and round(mix.mutual_information, 1) == 1.4
  marginal = np.array([0.155, 0.155, 0.18, 0.08, 0.08, 0.08, 0.08, 0.08, 0.055, 0.055])
  np.testing.assert_allclose(cd.joint_pmf("mixture").sum(0), marginal)
  np.testing.assert_allclose(mix.h_colour, -(marginal * np.log2(marginal)).sum())
  np.testing.assert_allclose(mix.mutual_information, mix.h_digit + mix.h_colour - mix.h_joint)
  support = cd.joint_pmf("mixture") > 0
  assert support[:3].sum(1).tolist() == [1, 1, 1] and support[3:6].all()
  assert [np.flatnonzero(support[d]).tolist() for d in range(6, 10)] == [
      [0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
  # A non-uniform digit marginal changes H(digit) but not the Dependent identity I = H(digit).
  q = np.arange(1, 11) / 55
  skewed = cd.information("dependent", q)
  np.testing.assert_allclose(skewed.mutual_information, -(q * np.log2(q)).sum())
  assert skewed.h_digit < LOG10


@pytest.mark.parametrize("name", cd.PMF_NAMES)
def test_sampled_colour_frequencies_match_the_conditional_pmf(name):
  per_digit = 40_000
  label = np.repeat(np.arange(10), per_digit)
  colour = cd.sample_colours(label, name, np.random.default_rng(0))
  assert colour.dtype == np.int32 and colour.shape == label.shape
  freq = np.stack([np.bincount(colour[label == d], minlength=10) / per_digit for d in range(10)])
  cond = cd.conditional_pmf(name)
  assert np.abs(freq - cond).max() < 0.01  # binomial s.d. <= 0.0025 per cell
  assert (freq[cond == 0] == 0).all()  # zero-mass colours never drawn
  est = cd.empirical_information(label, colour)
  assert abs(est.mutual_information - cd.information(name).mutual_information) < 0.01


def test_tint_matches_the_black_to_colour_ramp():
  assert [ImageColor.getrgb(n) for n in cd.COLOUR_NAMES] == [tuple(c) for c in cd.PALETTE.tolist()]
  grey = np.random.default_rng(1).integers(0, 256, (10, 9, 7), dtype=np.uint8)
  grey[0, 0, :2] = (0, 255)
  tinted = cd.tint(grey[..., None], np.arange(10))
  assert tinted.dtype == np.uint8 and tinted.shape == (10, 9, 7, 3)
  for c, name in enumerate(cd.COLOUR_NAMES):
    ref = np.asarray(ImageOps.colorize(Image.fromarray(grey[c], "L"), black="black", white=name))
    np.testing.assert_array_equal(tinted[c], ref, err_msg=name)


def test_resize_is_bicubic_to_32():
  grey = digits.load("test")["image"][:40]
  grey = np.round(grey * 255).astype(np.uint8)
  colour = np.arange(40) % 10
  ours = np.round(cd.colourize(grey, colour) * 255)
  pil = np.stack([np.asarray(Image.fromarray(t).resize((32, 32), Image.BICUBIC))
                  for t in cd.tint(grey, colour)]).astype(np.float64)
  diff = np.abs(ours - pil)
  # PIL rounds to 8 bits between its two passes, so a few pixels differ; bilinear is off by ~4 levels on average.
  assert diff.mean() < 0.5 and (diff > 1).mean() < 0.05
  assert abs((ours - pil)[pil > 0].mean()) < 0.3  # rounded to 8 bits, not truncated (a -0.5 level bias)


def test_digits_splits_shapes_ranges_and_seeded_determinism():
  sizes = {"train": 1257, "validation": 180, "test": 360}
  for split, n in sizes.items():
    out = cd.load(split, "mixture", seed=3)
    assert set(out) == {"image", "label", "colour"}
    assert out["image"].shape == (n, 32, 32, 3) and out["image"].dtype == np.float32
    assert out["label"].dtype == np.int32 and out["colour"].dtype == np.int32
    assert out["image"].min() == 0.0 and out["image"].max() <= 1.0
    np.testing.assert_allclose(out["image"] * 255, np.round(out["image"] * 255), atol=1e-4)  # 8-bit levels
    np.testing.assert_array_equal(out["label"], digits.load(split)["label"])
    assert (cd.joint_pmf("mixture")[out["label"], out["colour"]] > 0).all()
    # The tint is the labelled colour: the brightest level per channel is nearest that palette entry.
    peak = out["image"].reshape(n, -1, 3).max(1) * 255
    nearest = np.argmin(((peak[:, None] - cd.PALETTE[None].astype(np.float64)) ** 2).sum(-1), 1)
    np.testing.assert_array_equal(nearest, out["colour"])
  a, b = cd.load("validation", "independent", seed=5), cd.load("validation", "independent", seed=5)
  assert all(np.array_equal(a[k], b[k]) for k in a)
  c = cd.load("validation", "independent", seed=6)
  assert not np.array_equal(a["colour"], c["colour"]) and np.array_equal(a["label"], c["label"])
  dep = cd.load("test", "dependent", image_size=16)
  np.testing.assert_array_equal(dep["colour"], dep["label"])
  assert dep["image"].shape == (360, 16, 16, 3)


def test_mnist_through_mock_tfds_has_the_same_structure(tmp_path):
  ref = cd.load("test", "mixture")
  with tfds.testing.mock_data(num_examples=24):
    splits = {s: cd.load(s, "mixture", seed=1, source="tfds:mnist", data_dir=str(tmp_path)) for s in cd.SPLITS}
    again = cd.load("train", "mixture", seed=1, source="tfds:mnist", data_dir=str(tmp_path))
    grey, label = cd.grey_split("train", "tfds:mnist", str(tmp_path))
  assert [len(splits[s]["label"]) for s in cd.SPLITS] == [20, 4, 24]  # 1/6 of train held out
  for out in splits.values():
    assert set(out) == set(ref)
    for k in ref:
      assert out[k].dtype == ref[k].dtype and out[k].shape[1:] == ref[k].shape[1:]
    assert 0 <= out["image"].min() and out["image"].max() <= 1
    assert (cd.joint_pmf("mixture")[out["label"], out["colour"]] > 0).all()
  assert grey.shape == (20, 28, 28, 1) and grey.dtype == np.uint8
  np.testing.assert_array_equal(splits["train"]["label"], label)
  np.testing.assert_array_equal(splits["train"]["image"], cd.colourize(grey, splits["train"]["colour"]))
  assert all(np.array_equal(splits["train"][k], again[k]) for k in again)


def test_array_source_runs_through_the_data_pipeline():
  c = config_lib.base_config().data
  c.update(dict(name="coloured_digits_test", batch_size=32, seed=2))
  c.options = {"pmf": "dependent"}
  data.register_array_source("coloured_digits_test", cd.array_source)
  try:
    batch = next(data.build(c, "train"))
    split = data.load_arrays(c, "validation")
  finally:
    data.ARRAY_SOURCES.pop("coloured_digits_test")
  assert batch["image"].shape == (32, 32, 32, 3)
  np.testing.assert_array_equal(batch["colour"], batch["label"])
  assert len(split["label"]) == 180


def test_bad_names_raise_clear_value_errors():
  for call in (lambda: cd.load("train", "dependant"), lambda: cd.information("Mixture"),
               lambda: cd.sample_colours([0, 1], "uniform", np.random.default_rng(0))):
    with pytest.raises(ValueError, match="expected one of dependent, independent, mixture"):
      call()
  with pytest.raises(ValueError, match="expected 'digits' or 'tfds:<name>'"):
    cd.load("train", source="mnist")
  with pytest.raises(ValueError, match="expected one of train, validation, test"):
    cd.load("val")
  with pytest.raises(ValueError, match=r"digit labels must be in \[0, 10\)"):
    cd.sample_colours([3, 10], "independent", np.random.default_rng(0))
