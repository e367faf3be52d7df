"""The NERD method through the loop: curve report, closed forms, constrained mode, one-shot coding."""
import json
import math
import os

import numpy as np
import pytest

from lossyless_jax import train
from lossyless_jax import config as config_lib
from lossyless_jax.methods import nerd


def _load(name, arg=""):
  import importlib.util
  spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "..", "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _tiny(config, steps=40):
  config.num_steps, config.log_every, config.eval_every = steps, 20, steps
  config.checkpoint.every = steps
  config.loss.num_samples = 512
  config.loss.eval_num_samples = 3000
  config.loss.eval_chunk_size = 1000
  return config


def test_gaussian_curve_report(tmp_path):
  config = _tiny(_load("nerd_gaussian"))
  config.loss.betas = (-1.0, -0.25)
  config.data.options.eval_size = 1000
  report = train.train_and_eval(config_lib.validate(config), str(tmp_path))
  assert report["beta"] == [-1.0, -0.25] and report["log2_M"] == pytest.approx(math.log2(3000))
  assert len(report["D"]) == len(report["R_bits"]) == len(report["R_exact_bits"]) == len(report["near_ceiling"]) == 2
  assert all(0 <= r <= report["log2_M"] for r in report["R_bits"])
  assert report["D"][0] < report["D"][1] <= report["D_max"] * 1.05  # steeper slope, lower distortion
  # R̂ is an upper bound on R(D̂) up to Monte-Carlo error, and the closed form is R(D̂).
  assert all(r > e - 0.2 for r, e in zip(report["R_bits"], report["R_exact_bits"]))
  curve = json.loads((tmp_path / "rd_curve.json").read_text())
  assert curve["R_bits"] == report["R_bits"] and curve["M"] == 3000
  assert (tmp_path / "rd_curve.png").stat().st_size > 10_000
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert {"R_bits/0", "D/1"} <= set(records[0]) and any("gap_bits/0" in r for r in records)


def test_constrained_mode_reports_targets_and_slopes(tmp_path):
  config = _tiny(_load("nerd_gaussian", "constrained"), steps=120)
  config.loss.targets = (8.0,)
  config.data.options.eval_size = 500
  report = train.train_and_eval(config, str(tmp_path))
  assert report["mode"] == "constrained" and report["target_D"] == [8.0]
  assert -20 < report["beta"][0] < 0 and report["D"][0] == pytest.approx(8.0, rel=0.02)


def test_one_shot_coding_decodes_the_encoders_samples(tmp_path):
  config = _tiny(_load("rcc_gaussian"), steps=200)
  config.loss.rcc_num_candidates = 2 ** 10
  config.loss.rcc_sources = 60
  config.data.options.eval_size = 200
  report = train.train_and_eval(config, str(tmp_path))
  assert report["rcc_decoded_exactly"] == [True]
  size_bits = 8 * os.path.getsize(tmp_path / "rcc_0.bin") / 60
  assert report["rcc_bits"][0] == pytest.approx(size_bits)
  assert report["rcc_bits"][0] <= report["rcc_guarantee_bits"][0] + 8 * 40 / 60  # + the file header
  assert 0.1 < report["rcc_D"][0] < 0.6


def test_bad_slopes_are_rejected(tmp_path):
  config = _tiny(_load("nerd_laplace"))
  config.loss.betas = (2.0,)
  with pytest.raises(ValueError, match=r"config.loss.betas: \(2.0,\); Lagrangian NERD needs slopes"):
    train.train_and_eval(config, str(tmp_path))


def _full_run(tmp_path, name, arg=""):
  return train.train_and_eval(_load(name, arg), str(tmp_path))


@pytest.mark.slow  # 3,000 steps x 5 generators and M = 40,000 evaluation: minutes on 2 cores
def test_acceptance_rotated_gaussian_lagrangian(tmp_path):
  r = _full_run(tmp_path, "nerd_gaussian")
  gaps = [abs(g) for g, e in zip(r["gap_bits"], r["R_exact_bits"]) if e < 7]
  assert len(r["beta"]) >= 5 and gaps and max(gaps) <= 0.1


@pytest.mark.slow  # constrained mode bisects every step: minutes on 2 cores
def test_acceptance_constrained(tmp_path):
  r = _full_run(tmp_path, "nerd_gaussian", "constrained")
  for d, t, g in zip(r["D"], r["target_D"], r["gap_bits"]):
    assert abs(d - t) <= 0.02 * t and abs(g) <= 0.15


@pytest.mark.slow  # two sources x 3,000 steps
def test_acceptance_laplace_and_bernoulli(tmp_path):
  assert max(abs(g) for g in _full_run(tmp_path / "l", "nerd_laplace")["gap_bits"]) <= 0.05
  assert max(abs(g) for g in _full_run(tmp_path / "b", "nerd_bernoulli")["gap_bits"]) <= 0.03


def test_curve_checks_on_a_known_curve():
  """R(D) = 0.5 log2(D_max / D) is decreasing and convex; a kink upward breaks convexity; k-means
  points are compared with the chord at their D, and are None outside the curve's D range."""
  d = np.array([0.5, 1.0, 2.0, 4.0])
  curve = {"beta": [-2.0, -1.0, -0.5, -0.1], "D": list(d), "R_bits": list(0.5 * np.log2(4.0 / d)),
           "near_ceiling": [False] * 4, "D_max": 4.0}
  c = nerd.curve_checks(curve, [(1.0, 1.5), (0.5, 1.5), (2.0, 0.3)])
  assert c["curve_monotone"] and c["curve_convex"] and c["zero_rate_reached"]
  assert c["kmeans_curve_R_bits"] == [pytest.approx(0.75), pytest.approx(0.75), None]
  assert c["kmeans_above_curve"] == [True, False, None] and not c["kmeans_all_above_curve"]
  curve["R_bits"][1] = 1.4  # a point above the chord of its neighbours
  assert not nerd.curve_checks(curve)["curve_convex"] and nerd.curve_checks(curve)["curve_monotone"]
  curve["near_ceiling"][1] = True  # untrusted points are left out
  assert nerd.curve_checks(curve)["curve_convex"]
  curve["D"][3] = 3.0
  assert not nerd.curve_checks(curve)["zero_rate_reached"]


@pytest.mark.slow  # 6 generators x 3,000 steps + k-means: 41 min wall on 2 shared cores (11 CPU-min)
def test_acceptance_digits(tmp_path):
  r = _full_run(tmp_path, "nerd_digits")
  assert r["curve_monotone"] and r["curve_convex"] and r["zero_rate_reached"]
  inside = [a for a in r["kmeans_above_curve"] if a is not None]
  assert len(inside) >= 6 and r["kmeans_all_above_curve"]


@pytest.mark.slow  # NERD at β̃ = -2 then one-shot coding of 1,000 sources over 2^14 candidates
def test_acceptance_one_shot_gaussian(tmp_path):
  r = _full_run(tmp_path, "rcc_gaussian")
  assert abs(r["rcc_D"][0] - 0.25) <= 0.05 * 0.25
  assert r["rcc_bits"][0] <= r["rcc_guarantee_bits"][0] and r["rcc_decoded_exactly"] == [True]


def test_nerd_mnist_mock_runs_on_mock_tfds(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  config = _load("nerd_mnist", "mock")
  assert config.data.name == "tfds:mnist" and config.data.image_size == 32 and config.model.generator == "dcgan"
  assert _load("nerd_mnist").model.latent_dim == 128 and _load("nerd_mnist", "svhn_cropped").model.out_channels == 3
  config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=16):
    report = train.train_and_eval(config, str(tmp_path / "run"))
  assert report["steps"] == 3 and report["M"] == 64 and len(report["D"]) == 2
  # Squared error summed over the 32×32 pixels in [0, 1].
  assert all(0 < d <= 1024 for d in report["D"]) and all(0 <= r <= report["log2_M"] for r in report["R_bits"])
  with pytest.raises(ValueError, match="unknown arg 'cifar10'; expected '' \\(mnist\\), 'fashion_mnist'"):
    _load("nerd_mnist", "cifar10")
