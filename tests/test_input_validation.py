"""Bad input fails before anything trains, with a one-line error naming what was wrong: a config
file's `:arg`, a method's field, a `.npz` of precomputed features."""
import glob
import os
import re

import numpy as np
import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import data as data_lib
from lossyless_jax import errors, methods

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "configs", "*.py")))
# The args the tests, notebooks and docs pass (the features/staggered paths are added in the test).
ARGS_IN_USE = {
    "banana_bince.py": ("tiny",), "banana_vc.py": ("tiny",), "banana_vic.py": ("tiny",),
    "digits_bince.py": ("tiny",), "digits_vc.py": ("tiny",), "digits_vic.py": ("tiny",),
    "digits_staggered_encoder.py": ("tiny",), "digits_staggered.py": (",tiny",),
    "digits_supervised.py": ("tiny", "bince", "bince,tiny"),
    "mnist_vic.py": ("mock",), "mnist_vc.py": ("mock",), "mnist_bince.py": ("mock",),
    "stl10_bince.py": ("mock", "cifar10", "cifar10_mock"),
    "nerd_gaussian.py": ("m40", "constrained", "lp1", "lp3", "warm"),
    "nerd_mnist.py": ("mock", "fashion_mnist", "svhn_cropped"), "wgan_gp_mnist.py": ("mock", "fashion_mnist"),
}


def _one_line(excinfo):
  assert "\n" not in str(excinfo.value), str(excinfo.value)


def _features(tmp_path, name="feats.npz", n=64, d=8, **overrides):
  rng = np.random.default_rng(0)
  arrays = {f"{s}_{k}": v for s in ("train", "test")
            for k, v in (("features", rng.normal(size=(n, d)).astype(np.float32)), ("labels", rng.integers(0, 3, n)))}
  arrays.update(overrides)
  path = str(tmp_path / name)
  np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
  return path


# ---------------------------------------------------------------------------- 1. config args
@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_refuses_an_unknown_arg_naming_its_file(name, tmp_path):
  args = ("",) + ARGS_IN_USE.get(name, ())
  if name == "clip_features.py":
    args += (_features(tmp_path), _features(tmp_path) + ",tiny")
  if name == "digits_staggered.py":
    args += (str(tmp_path), f"{tmp_path},tiny")
  for arg in args:  # every arg in use still loads
    config_lib.load(f"configs/{name}" + (f":{arg}" if arg else ""))
  for bad in ("tinny", "tiny,tiny,x") if name in ("clip_features.py", "digits_staggered.py") else ("tinny",):
    with pytest.raises(config_lib.ConfigError, match=rf"configs/{name}: .*{bad!r}") as e:
      config_lib.load(f"configs/{name}:{bad}")
    _one_line(e)


# ---------------------------------------------------------------------------- 2. method fields
_LOSSYLESS = "configs/digits_vic.py:tiny"
_BANANA = "configs/banana_vic.py:tiny"
_NERD = "configs/nerd_gaussian.py"
_GAN = "configs/wgan_gp_mnist.py:mock"
_BAD_FIELDS = [  # (config, dotted field, bad value, what the message says was expected)
    (_LOSSYLESS, "model.z_dim", 0, "a positive integer"),
    (_LOSSYLESS, "model.z_dim", -4, "a positive integer"),
    (_LOSSYLESS, "model.channels", (32, 0), "positive integers"),
    (_BANANA, "model.hidden", (0, 32), "positive integers"),
    (_BANANA, "model.decoder_hidden", (-1, 2), "positive integers"),
    (_LOSSYLESS, "model.resnet_width", 0, "a positive integer"),
    (_LOSSYLESS, "model.resnet_stage_sizes", (2, 0, 2, 2), "positive integers"),
    (_LOSSYLESS, "model.decoder_top_channels", 0, "a positive integer"),
    (_LOSSYLESS, "model.proj_hidden", 0, "a positive integer"),
    (_LOSSYLESS, "model.proj_dim", -1, "a non-negative integer"),
    (_LOSSYLESS, "model.rate_init_scale", 0.0, "a positive number"),
    (_LOSSYLESS, "model.augment_order", 3, "one of 0, 1"),
    (_BANANA, "model.activation", "sofplus", "one of"),
    (_BANANA, "model.norm", "group", "one of"),
    (_LOSSYLESS, "model.resnet_pool", "max", "one of 'avg', 'flatten'"),
    (_BANANA, "model.banana_invariance", "rotate", "one of"),
    (_LOSSYLESS, "loss.init_temperature", 0.0, "a positive number"),
    (_LOSSYLESS, "loss.min_temperature", -0.01, "a positive number"),
    (_LOSSYLESS, "loss.effective_batch_size", -1, "a non-negative integer"),
    (_LOSSYLESS, "model.eval.chunk", 0, "a positive integer"),
    (_LOSSYLESS, "model.eval.test_copies", 0, "a positive integer"),
    (_LOSSYLESS, "model.eval.mlp_hidden", (0,), "positive integers"),
    (_LOSSYLESS, "model.eval.mlp_dropout", 1.5, r"a probability in \[0, 1\)"),
    (_LOSSYLESS, "model.eval.linear_epochs", -1, "a non-negative integer"),
    (_LOSSYLESS, "model.eval.cnn_channels", (0, 64), "positive integers"),
    (_LOSSYLESS, "model.eval.splits", ("train", "tset"), "'train' and 'test', optionally 'validation'"),
    (_BANANA, "model.eval.cells_lim", 0.0, "a positive number"),
    (_NERD, "model.latent_dim", 0, "a positive integer"),
    (_NERD, "model.hidden", (32, 0), "positive integers"),
    (_NERD, "model.channels", 0, "a positive integer"),
    (_NERD, "model.out_channels", -1, "a positive integer"),
    (_NERD, "model.pre_activation_scale", 0.0, "a positive number"),
    (_NERD, "model.output_activation", "relu", "one of"),
    (_NERD, "loss.eval_points", -1, "a non-negative integer"),
    (_NERD, "loss.kmeans", (0, 4), "positive integers"),
    (_NERD, "loss.rcc_num_candidates", -1, "a non-negative integer"),
    (_NERD, "loss.rcc_sources", 0, "a positive integer"),
    (_NERD, "loss.rcc_sources_per_codebook", 0, "a positive integer"),
    (_NERD, "loss.beta_min", 0.0, "a negative number"),
    (_GAN, "loss.n_critic", 0, "a positive integer"),
    (_GAN, "loss.gp_weight", -1.0, "a non-negative number"),
    (_GAN, "loss.critic_lr", 0.0, "a positive number"),
    (_GAN, "model.latent_dim", 0, "a positive integer"),
    (_GAN, "model.critic_chanels", 8, "unknown field"),
    (_GAN, "data.batch_size", 7, "a multiple of config.loss.n_critic"),
]


@pytest.mark.parametrize("spec,field,value,expected", _BAD_FIELDS, ids=[f"{f}={v}" for _, f, v, _ in _BAD_FIELDS])
def test_method_validate_names_the_bad_field_its_value_and_what_was_expected(spec, field, value, expected):
  config = config_lib.load(spec)
  *path, last = field.split(".")
  node = config
  for p in path:
    node = node[p]
  with config.unlocked(), config.ignore_type():
    node[last] = value
  validate = methods.get(config.method).validate
  assert validate is not None, f"method {config.method!r} has no validate"
  validate(config_lib.load(spec))  # the config as shipped is valid
  with pytest.raises(config_lib.ConfigError, match=rf"config\.{re.escape(field)}: .*{expected}") as e:
    validate(config)
  if "unknown field" not in expected:
    assert repr(value) in str(e.value) or str(value) in str(e.value)
  _one_line(e)


# ---------------------------------------------------------------------------- 3. feature files
def _data(path):
  return config_lib.load(f"configs/clip_features.py:{path},tiny").data


def test_features_without_labels_are_refused_where_the_probes_need_them(tmp_path):
  from lossyless_jax.methods.lossyless import evaluate
  good = _features(tmp_path, "good.npz")
  path = _features(tmp_path, test_labels=None)
  config = config_lib.load(f"configs/clip_features.py:{good},tiny")
  config.data.options.path = path
  with pytest.raises(errors.DataError, match=rf"{path}: no array 'test_labels'") as e:
    evaluate.views(config, "test")  # the probes' labels: never made-up zeros
  _one_line(e)


def test_features_that_are_not_2d_are_refused_with_their_shape(tmp_path):
  path = _features(tmp_path, train_features=np.zeros(64, np.float32))
  for load in (lambda: config_lib.load(f"configs/clip_features.py:{path},tiny"),  # z_dim is read from it
               lambda: data_lib.load_arrays(_with_path(tmp_path, path), "train")):
    with pytest.raises(errors.DataError, match=rf"{path}: 'train_features' has shape \(64,\); expected 2-D") as e:
      load()
    _one_line(e)


def _with_path(tmp_path, path):
  data = _data(_features(tmp_path, "good.npz"))
  data.options.path = path
  return data


def test_features_and_labels_of_different_lengths_are_refused(tmp_path):
  path = _features(tmp_path, train_labels=np.zeros(50, np.int64))
  with pytest.raises(errors.DataError, match=rf"{path}: 'train_features' has 64 rows but 'train_labels' 50") as e:
    data_lib.load_arrays(_with_path(tmp_path, path), "train")
  _one_line(e)


def test_non_finite_features_are_refused_counting_the_rows(tmp_path):
  x = np.ones((64, 8), np.float32)
  x[3, 1], x[10, 0], x[10, 5] = np.nan, np.inf, -np.inf
  path = _features(tmp_path, test_features=x)
  with pytest.raises(errors.DataError, match=rf"{path}: 'test_features' has 2 of 64 rows with NaN or Inf") as e:
    data_lib.load_arrays(_with_path(tmp_path, path), "test")
  _one_line(e)


@pytest.mark.parametrize("labels,problem", [(np.full(64, 0.5), "integers"), (np.full(64, -1), "non-negative"),
                                            (np.array(["cat"] * 64), "integers")])
def test_labels_must_be_non_negative_integers(tmp_path, labels, problem):
  path = _features(tmp_path, train_labels=labels)
  with pytest.raises(errors.DataError, match=rf"{path}: 'train_labels' .*expected non-negative integer") as e:
    data_lib.load_arrays(_with_path(tmp_path, path), "train")
  assert problem in str(e.value)
  _one_line(e)
