"""Every lossyless config: loads, validates, names a registered method, documents its COMMAND
and the λ/β convention; the staggered and features configs run end to end on tiny data."""
import importlib.util
import math
import os

import numpy as np
import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import methods, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["digits_vic", "digits_vc", "digits_bince", "digits_supervised", "digits_staggered_encoder", "digits_staggered",
         "mnist_vic", "mnist_vc", "mnist_bince", "stl10_bince", "clip_features"]


def _module(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


@pytest.mark.parametrize("name", NAMES)
def test_config_is_valid_and_documented(name):
  mod = _module(name)
  assert mod.__doc__.startswith("COMMAND: python launch/main.py --config=configs/") and f"configs/{name}.py" in mod.__doc__
  assert "λ" in mod.__doc__ and ("β" in mod.__doc__ or "rate" in mod.__doc__)
  c = config_lib.validate(mod.get_config())
  method = methods.get(c.method)
  assert method.name == c.method
  method.validate(c)
  # the entropy models' quantiles have their own optimizer group; without a bottleneck there are none
  assert c.coefs.rate.value > 0 and ("aux" in c.optim.groups) == (c.model.rate != "none")


def test_digits_methods_differ_only_where_they_should():
  vic, vc, bince = (_module(n).get_config() for n in ("digits_vic", "digits_vc", "digits_bince"))
  assert (vic.method, vc.method, bince.method) == ("vic", "vc", "bince")
  assert (vic.loss.distortion_factor, vc.loss.distortion_factor, bince.loss.distortion_factor) == (1.0, 0.5, 0.003)
  assert vic.model.augment == vc.model.augment == bince.model.augment


def test_digits_vic_is_the_default_main_job():
  import ast
  tree = ast.parse(open(os.path.join(ROOT, "launch", "main.py")).read())
  (node,) = [n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "DEFAULT_CONFIG"]
  assert [a.value for a in node.value.args if isinstance(a, ast.Constant)][-2:] == ["configs", "digits_vic.py"]


def test_supervised_reference_is_the_encoders_trunk():
  c = _module("digits_supervised").get_config()
  assert c.loss.equivalence == "label" and c.model.eval.uncompressed
  assert tuple(c.model.eval.cnn_channels) == tuple(c.model.channels)


def test_clip_features_staggered_runs_on_a_users_npz(tmp_path):
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(3, 24)).astype(np.float32) * 3
  def split(n):
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(size=(n, 24))).astype(np.float32), y
  xtr, ytr = split(96)
  xte, yte = split(64)
  path = str(tmp_path / "feats.npz")
  np.savez(path, train_features=xtr, train_labels=ytr, test_features=xte, test_labels=yte)
  c = _module("clip_features").get_config(f"{path},tiny")
  assert c.model.z_dim == 24
  report = train.train_and_eval(c, str(tmp_path / "run"))
  for key in ("bits_per_image_estimated", "bits_per_image_coded", "probe_accuracy", "uncompressed_accuracy"):
    assert math.isfinite(report[key])
  assert report["uncompressed_accuracy"] > 0.9  # well separated classes
  assert report["coded_within_2pct_plus_header"]


def test_supervised_bince_uses_the_label_equivalence():
  c = _module("digits_supervised").get_config("bince")
  assert (c.method, c.loss.equivalence, c.model.z_dim) == ("bince", "label", 4)


def test_stl10_reweights_with_the_unlabelled_set_size():
  c = _module("stl10_bince").get_config()
  assert c.data.train_split == "unlabelled" and c.loss.effective_batch_size == 100_000


@pytest.mark.slow(reason="trains the tiny step-1 encoder without a rate term, then the staggered bottleneck on it (~2 min on 2 cores)")
def test_staggered_chains_a_rate_free_encoder_and_freezes_it(tmp_path):
  import jax
  from lossyless_jax.methods.lossyless import model
  step1 = str(tmp_path / "encoder")
  r1 = train.train_and_eval(_module("digits_staggered_encoder").get_config("tiny"), step1)
  assert "bits_per_image_coded" not in r1 and math.isfinite(r1["probe_accuracy"])  # nothing coded
  p1, _, _ = model.load_workdir_params(step1)
  assert "rate" not in p1
  c = _module("digits_staggered").get_config(f"{step1},tiny")
  report = train.train_and_eval(c, str(tmp_path / "run"))
  assert math.isfinite(report["bits_per_image_coded"]) and math.isfinite(report["probe_accuracy"])
  params, state, _ = model.load_workdir_params(str(tmp_path / "run"))
  assert "encoder" not in params and "scaling" in params["rate"]
  for a, b in zip(jax.tree_util.tree_leaves(state["frozen_encoder"]["params"]), jax.tree_util.tree_leaves(p1["encoder"])):
    np.testing.assert_array_equal(a, b)  # frozen
