"""VIC / VC / BINCE / staggered: losses inside the loop and the compress-decode-probe report
(the image configs' mock-TFDS runs: tests/test_configs_mock_tfds.py)."""
import json
import math
import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax import methods, train
from lossyless_jax.entropy import coding, container
from lossyless_jax.methods import lossyless, lossyless_eval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RUNS: dict = {}


def load_config(name: str, arg: str = ""):
  import importlib.util
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", f"{name}.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg)


def tiny_vic_workdir() -> tuple[str, dict]:
  """One tiny digits VIC run shared by this module and tests/test_launch_codec.py."""
  if "vic" not in _RUNS:
    workdir = tempfile.mkdtemp(prefix="lossyless_vic_")
    config = load_config("digits_vic", "tiny")
    config.model.eval.cnn_on_reconstructions = False
    report = train.train_and_eval(config, workdir)
    _RUNS["vic"] = (workdir, report)
  return _RUNS["vic"]


def test_methods_are_registered():
  for name in ("vic", "vc", "bince", "staggered"):
    assert methods.get(name).name == name


def test_tiny_vic_report_contract_and_real_coding():
  workdir, report = tiny_vic_workdir()
  for key in ("bits_per_image_estimated", "bits_per_image_coded", "probe_accuracy", "uncompressed_accuracy"):
    assert key in report and isinstance(report[key], float) and math.isfinite(report[key]), key
  with open(os.path.join(workdir, "report.json")) as f:
    assert json.load(f)["bits_per_image_coded"] == report["bits_per_image_coded"]
  # acceptance 5: coded payload within 2 % of the estimate; the file adds only its header
  for split in ("train", "test"):
    est = report[f"{split}_bits_per_image_estimated"]
    payload = report[f"{split}_bits_per_image_coded_payload"]
    assert abs(payload - est) <= 0.02 * est, (split, payload, est)
    n = report[f"{split}_num_images"]
    hdr = report[f"{split}_header_bytes"]
    assert report[f"{split}_bits_per_image_coded"] == pytest.approx(payload + 8 * hdr / n)
  # the files on disk decode to the representations the probes used
  reps = np.load(os.path.join(workdir, "representations.npz"))
  params, model_state, _ = lossyless.load_workdir_params(workdir)
  tables = lossyless_eval.rate_state(params)["tables"]
  for split in ("train", "test"):
    with open(os.path.join(workdir, "compressed", f"{split}.ljxb"), "rb") as f:
      data = f.read()
    assert container.read_header(data).shape[0] == reps[f"{split}_z_hat"].shape[0]
    np.testing.assert_array_equal(coding.decompress({"tables": tables}, data), reps[f"{split}_z_hat"])
  rows = json.load(open(os.path.join(workdir, "classical.json")))
  assert {r["codec"] for r in rows} == {"png"}
  for r in rows:
    assert set(r) == {"codec", "quality", "bits_per_image", "accuracy"}
    assert r["bits_per_image"] > 8 * 20  # container headers alone exceed 20 bytes
    assert 0.0 <= r["accuracy"] <= 1.0


def _setup(name, arg="tiny", **overrides):
  """(config, method, batch, params, state, ctx) of a config with dotted-field overrides."""
  config = load_config(name, arg)
  for k, v in overrides.items():
    *path, last = k.split(".")
    target = config
    for p in path:
      target = target[p]
    target[last] = v
  method = methods.get(config.method)
  from lossyless_jax import data
  batch = {k: jnp.asarray(v) for k, v in next(data.build(config.data, "train")).items()}
  params, state = method.init(jax.random.PRNGKey(0), batch, config)
  ctx = methods.StepContext(step=jnp.int32(5), coefs={"rate": jnp.float32(0.1)}, config=config)
  return config, method, batch, params, state, ctx


def _loss_and_grads(name, arg="tiny", **overrides):
  config, method, batch, params, state, ctx = _setup(name, arg, **overrides)
  fn = jax.jit(lambda p, s, b, r: jax.value_and_grad(method.loss, has_aux=True)(p, s, b, r, ctx))
  (value, (metrics, new_state)), grads = fn(params, state, batch, jax.random.PRNGKey(1))
  return config, params, state, value, metrics, new_state, grads


def test_bince_loss_has_temperature_head_and_finite_gradients():
  config, params, state, value, metrics, new_state, grads = _loss_and_grads("digits_bince")
  assert np.isfinite(float(value))
  assert float(metrics["temperature"]) == pytest.approx(0.07, rel=1e-5)
  assert "head" in params and "decoder" not in params
  assert float(jnp.abs(grads["logit_scale"])) > 0
  assert float(jnp.abs(grads["encoder"]["out"]["kernel"]).sum()) > 0
  # BatchNorm statistics of the encoder move in training
  before = jax.tree_util.tree_leaves(state["encoder"])
  after = jax.tree_util.tree_leaves(new_state["encoder"])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  # quantiles are in the aux optimizer group and receive gradient only from the aux loss
  assert float(jnp.abs(grads["rate"]["quantiles"]).sum()) > 0


def _distortion(name, **overrides):
  _, method, batch, params, state, ctx = _setup(name, **overrides)
  _, (metrics, _) = jax.jit(lambda p, s, b, r: method.loss(p, s, b, r, ctx))(params, state, batch, jax.random.PRNGKey(1))
  return float(metrics["distortion"]), batch


def test_vic_and_vc_targets_differ():
  """Same params and keys: VIC reconstructs the unaugmented x, VC the augmented A(x) that was
  encoded; VC's distortion is weighted ×2 (factor_beta 0.5) but reported unweighted."""
  d_vic, batch = _distortion("digits_vic")
  d_vc, _ = _distortion("digits_vc")
  assert abs(d_vic - d_vc) > 1e-3 * abs(d_vic)


def test_eval_views_are_deterministic_and_batch_independent():
  config = load_config("digits_vic", "tiny")
  x1, y1 = lossyless_eval.views(config, "test")
  config.model.eval.chunk = 64
  x2, y2 = lossyless_eval.views(config, "test")
  np.testing.assert_array_equal(y1, y2)
  np.testing.assert_allclose(x1, x2, atol=1e-6)
  raw = lossyless.data_lib.load_arrays(config.data, "test")["image"]
  assert np.abs(x1 - raw).max() > 0.1  # augmented


def test_table_states_the_classical_ratio():
  out = {"method": "vic", "bits_per_image_estimated": 50.0, "bits_per_image_coded": 51.0, "probe_accuracy": 0.91}
  rows = [{"codec": "webp", "quality": 0, "bits_per_image": 470.0, "accuracy": 0.85},
          {"codec": "webp", "quality": 50, "bits_per_image": 840.0, "accuracy": 0.90}]
  assert lossyless_eval.table(out, rows).count("\n") == 3
  out.update(classical_within_2pts=True, classical_reference="webp:50", classical_over_coded_ratio=840.0 / 51.0)
  text = lossyless_eval.table(out, rows)
  assert "16.5x fewer coded bits than webp:50, the cheapest classical row within 2 points" in text
  out["classical_within_2pts"] = False
  assert "most accurate classical row" in lossyless_eval.table(out, rows)
