"""Tests for the frozen Cityscapes task networks: lossyless_jax.nets.{mobilenet, deeplab, lraspp,
cityscapes_tasks, task_weights} and tools/convert_torch_weights.py (shapes, VainF's input-side padding,
inference-mode batch norm, gradients, weight files, and parity with the PyTorch models)."""
import importlib.util
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.errors import WeightsError
from lossyless_jax.nets import cityscapes_tasks as ct
from lossyless_jax.nets import deeplab, lraspp, mobilenet, task_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_REASON = "the PyTorch parity tests need torch and torchvision (pip install -e '.[torch]')"


def _key(seed):
  return jax.random.key(seed, impl="rbg")


def _shapes(module, x, method=None):
  variables = jax.eval_shape(lambda: module.init(_key(0), x))
  out = jax.eval_shape(lambda v: module.apply(v, x, method=method), variables)
  return jax.tree_util.tree_map(lambda a: a.shape, out)


def _random_variables(module, x, seed, **kwargs):
  """Random variables of ``module`` from its ``eval_shape``d init (a real init compiles for seconds):
  kernels ``U(±sqrt(3/fan_in))``, small biases, BN scale/bias and running statistics random too, so that
  ``BN(0) != 0`` and the statistics matter."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: module.init(_key(0), x, **kwargs))

  def draw(path, a):
    name = path[-1].key
    if name == "kernel":
      b = np.sqrt(3.0 / np.prod(a.shape[:-1]))
      return rng.uniform(-b, b, a.shape).astype(a.dtype)
    if name in ("scale", "var"):
      return rng.uniform(0.5, 1.5, a.shape).astype(a.dtype)
    return rng.uniform(-0.3, 0.3, a.shape).astype(a.dtype)  # biases, running means

  return jax.tree_util.tree_map_with_path(draw, shapes)


def _converter():
  spec = importlib.util.spec_from_file_location("convert_torch_weights", os.path.join(ROOT, "tools",
                                                                                      "convert_torch_weights.py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


# --- shapes -----------------------------------------------------------------------------------------------


def test_deeplab_feature_and_logit_shapes_at_512x1024():
  x = jnp.zeros((1, 512, 1024, 3))
  net = deeplab.DeepLabV3Plus()
  low, high = _shapes(net, x, deeplab.DeepLabV3Plus.features)
  assert low == (1, 128, 256, 24) and high == (1, 32, 64, 320)
  assert _shapes(net, x) == (1, 512, 1024, 19)
  # The unpadded stem: 34 -> 16 (a padded one gives 17), then the c24 stage 16 -> 8 (17 -> 9).
  assert _shapes(net, jnp.zeros((1, 34, 34, 3)), deeplab.DeepLabV3Plus.features)[0] == (1, 8, 8, 24)


def test_lraspp_feature_and_output_shapes_at_512x1024():
  x = jnp.zeros((1, 512, 1024, 3))
  net = lraspp.LRASPP(num_classes=1)
  low, high = _shapes(net, x, lraspp.LRASPP.features)
  assert low == (1, 64, 128, 40) and high == (1, 32, 64, 960)
  assert _shapes(net, x) == (1, 512, 1024, 1)


@pytest.mark.parametrize("tiny", [False, True])
@pytest.mark.parametrize("hw", [(64, 128), (1024, 2048)])
def test_wrapped_tasks_output_at_input_size(tiny, hw):
  x = jnp.zeros((2, *hw, 3))
  assert _shapes(ct.SegmentationTask(tiny=tiny), x) == (2, *hw, 19)
  assert _shapes(ct.DepthTask(tiny=tiny), x) == (2, *hw)


def test_wrapped_tasks_reject_bad_inputs():
  with pytest.raises(ValueError, match="NHWC RGB"):
    _shapes(ct.DepthTask(tiny=True), jnp.zeros((1, 64, 128, 1)))
  with pytest.raises(ValueError, match="even"):
    _shapes(ct.SegmentationTask(tiny=True), jnp.zeros((1, 63, 128, 3)))


def test_mobilenet_v2_os16_block_pattern():
  blocks = [(c, s, d, t) for _, c, s, d, t in mobilenet.mobilenet_v2_blocks(16)]
  assert blocks == ([(16, 1, 1, 1), (24, 2, 1, 6), (24, 1, 1, 6), (32, 2, 1, 6), (32, 1, 1, 6), (32, 1, 1, 6),
                     (64, 2, 1, 6)] + [(64, 1, 1, 6)] * 3 + [(96, 1, 1, 6)] * 3
                    + [(160, 1, 1, 6), (160, 1, 2, 6), (160, 1, 2, 6), (320, 1, 2, 6)])


def test_layer_widths_match_the_pytorch_checkpoints():
  x = jnp.zeros((1, 64, 64, 3))
  p = jax.eval_shape(lambda: deeplab.DeepLabV3Plus().init(_key(0), x))["params"]
  b = p["backbone"]
  assert b["features_0"]["conv"]["kernel"].shape == (3, 3, 3, 32)
  assert "expand" not in b["features_1"] and b["features_1"]["depthwise"]["conv"]["kernel"].shape == (3, 3, 1, 32)
  assert b["features_17"]["project"]["conv"]["kernel"].shape == (1, 1, 960, 320) and "features_18" not in b
  c = p["classifier"]
  assert c["aspp_project"]["conv"]["kernel"].shape == (1, 1, 1280, 256)
  assert c["decoder"]["conv"]["kernel"].shape == (3, 3, 304, 256)
  assert c["classify"]["bias"].shape == (19,) and "bias" not in c["decoder"]["conv"]
  q = jax.eval_shape(lambda: lraspp.LRASPP(1).init(_key(0), x))["params"]
  bb = q["backbone"]
  # torchvision's squeeze width make_divisible(expanded // 4, 8): 72 -> 24, 120 -> 32, 960 -> 240.
  assert bb["features_4"]["se"]["fc1"]["kernel"].shape == (1, 1, 72, 24)
  assert bb["features_5"]["se"]["fc1"]["kernel"].shape == (1, 1, 120, 32)
  assert bb["features_15"]["se"]["fc1"]["kernel"].shape == (1, 1, 960, 240)
  assert bb["features_16"]["conv"]["kernel"].shape == (1, 1, 160, 960)
  assert q["classifier"]["scale"]["kernel"].shape == (1, 1, 960, 128) and "bias" not in q["classifier"]["scale"]
  # torchvision's lraspp_mobilenet_v3_large has 3,221,538 parameters for 21 classes: 3,400 fewer for one.
  assert sum(a.size for a in jax.tree_util.tree_leaves(q)) == 3_221_538 - 20 * (40 + 1) - 20 * (128 + 1)


# --- VainF's input-side fixed padding ---------------------------------------------------------------------


def _conv(x, kernel, stride=1, dilation=1, pad=0, groups=1):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), [(pad, pad), (pad, pad)],
                                      rhs_dilation=(dilation, dilation), feature_group_count=groups,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("dilation", [1, 2])
def test_inverted_residual_pads_its_input_before_the_expansion(dilation):
  """VainF pads the block's input; the 1×1 expansion turns that ring into ReLU6(BN(0)) != 0 before a VALID
  depthwise conv. A block padding inside the depthwise conv ('SAME') differs at the borders."""
  x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 9, 11, 8)), jnp.float32)
  blk = mobilenet.InvertedResidualV2(8, stride=1, dilation=dilation, expand_ratio=6)
  v = _random_variables(blk, x, 2)
  out = np.asarray(blk.apply(v, x))
  p, s = v["params"], v["batch_stats"]

  def bn(h, name):
    stats, affine = s[name]["bn"], p[name]["bn"]
    return (h - stats["mean"]) / np.sqrt(stats["var"] + 1e-5) * affine["scale"] + affine["bias"]

  def block(h, depthwise_pad):
    h = jax.nn.relu6(bn(_conv(h, p["expand"]["conv"]["kernel"]), "expand"))
    h = jax.nn.relu6(bn(_conv(h, p["depthwise"]["conv"]["kernel"], dilation=dilation, pad=depthwise_pad,
                              groups=48), "depthwise"))
    return x + bn(_conv(h, p["project"]["conv"]["kernel"]), "project")

  d = dilation
  ref = np.asarray(block(jnp.pad(x, ((0, 0), (d, d), (d, d), (0, 0))), 0))
  same = np.asarray(block(x, d))
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
  assert np.abs(out - same).max() > 1e-2  # the borders differ ...
  np.testing.assert_allclose(out[:, d:-d, d:-d], same[:, d:-d, d:-d], rtol=1e-5, atol=1e-5)  # ... the interior not


# --- frozen use: inference-mode batch norm, gradients, speed ----------------------------------------------


@pytest.mark.parametrize("task", [ct.SegmentationTask(tiny=True), ct.DepthTask(tiny=True)], ids=["seg", "depth"])
def test_frozen_tiny_task_is_fast_uses_running_stats_and_passes_gradients_to_the_input(task):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(size=(2, 64, 128, 3)), jnp.float32)
  v = _random_variables(task, x, 1, train=False)
  apply = jax.jit(lambda v, x: task.apply(v, x, train=False))
  out = jax.block_until_ready(apply(v, x))
  assert out.shape == ((2, 64, 128, 19) if isinstance(task, ct.SegmentationTask) else (2, 64, 128))
  t0 = time.perf_counter()
  for _ in range(5):
    jax.block_until_ready(apply(v, x))
  assert (time.perf_counter() - t0) / 5 < 0.25  # a few ms per image on 2 CPU cores
  # Inference mode: an image's output does not depend on the rest of the batch; the running stats matter.
  other = apply(v, x.at[1].set(jnp.asarray(rng.uniform(size=(64, 128, 3)), jnp.float32)))
  np.testing.assert_allclose(np.asarray(other[0]), np.asarray(out[0]), rtol=1e-5, atol=1e-6)
  shifted = jax.tree_util.tree_map(lambda a: a + 0.5, v["batch_stats"])
  assert not np.allclose(np.asarray(apply({**v, "batch_stats": shifted}, x)), np.asarray(out), atol=1e-4)
  g = jax.jit(jax.grad(lambda x: jnp.sum(task.apply(v, x, train=False) ** 2)))(x)
  assert np.all(np.isfinite(np.asarray(g))) and float(jnp.max(jnp.abs(g))) > 0
  assert float(jnp.mean(jnp.abs(g[:, :4]))) > 0 and float(jnp.mean(jnp.abs(g[:, -4:]))) > 0  # whole image
  # Training mode (stage-0 pretraining) uses batch statistics and updates the running ones.
  train = jax.jit(lambda v, x: task.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": _key(3)}))
  _, upd = train(v, x)
  assert not any(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(upd["batch_stats"]),
                                                      jax.tree_util.tree_leaves(v["batch_stats"])))


# --- weight files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".msgpack", ".npz"])
def test_weights_save_load_round_trip(tmp_path, suffix):
  task = ct.DepthTask(tiny=True)
  x = jnp.zeros((1, 64, 128, 3))
  v = _random_variables(task, x, 5, train=False)
  path = str(tmp_path / f"w{suffix}")
  task_weights.save(path, v)
  got = task_weights.load(path, task, x)
  assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(jax.tree_util.tree_map(np.asarray, v))
  for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(v)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert a.dtype == b.dtype


def test_missing_weights_file_names_the_path_and_the_conversion_command(tmp_path):
  path = str(tmp_path / "nowhere" / "seg.msgpack")
  with pytest.raises(WeightsError) as e:
    task_weights.load(path, ct.SegmentationTask(), jnp.zeros((1, 64, 128, 3)))
  assert path in str(e.value)
  assert (f"python tools/convert_torch_weights.py --kind deeplabv3plus_mobilenet "
          f"--input deeplabv3plus_mobilenet_cityscapes_os16.pth --output {path}") in str(e.value)
  with pytest.raises(WeightsError) as e:
    task_weights.load(path, ct.DepthTask(), jnp.zeros((1, 64, 128, 3)))
  assert f"--kind mobilenet_v3_large_imagenet --input mobilenet_v3_large-8738ca79.pth --output {path}" in str(e.value)
  with pytest.raises(WeightsError, match=r"--kind deeplabv3plus_mobilenet .* --bare"):
    task_weights.load(path, deeplab.DeepLabV3Plus(), jnp.zeros((1, 64, 128, 3)))


def test_weights_file_that_does_not_fit_names_the_key(tmp_path):
  task = ct.SegmentationTask(tiny=True)
  x = jnp.zeros((1, 64, 128, 3))
  v = _random_variables(task, x, 0, train=False)
  path = str(tmp_path / "w.msgpack")
  bad = jax.tree_util.tree_map(lambda a: a, v)
  bad["params"]["net"]["classifier"]["classify"]["kernel"] = np.zeros((1, 1, 32, 18), np.float32)
  task_weights.save(path, bad)
  with pytest.raises(WeightsError, match=r"w\.msgpack.*params/net/classifier/classify/kernel.*\(1, 1, 32, 18\)"):
    task_weights.load(path, task, x)
  del bad["params"]["net"]["classifier"]["classify"]
  task_weights.save(path, bad)
  with pytest.raises(WeightsError, match=r"params/net/classifier/classify/(kernel|bias).* missing"):
    task_weights.load(path, task, x)
  v["params"]["extra"] = {"kernel": np.zeros(3, np.float32)}
  task_weights.save(path, v)
  with pytest.raises(WeightsError, match=r"unexpected array 'params/extra/kernel'"):
    task_weights.load(path, task, x)
  task_weights.save(path, _random_variables(task, x, 0, train=False))  # tiny weights do not fit the real network
  with pytest.raises(WeightsError, match=r"w\.msgpack.*shape"):
    task_weights.load(path, ct.SegmentationTask(), x)
  with open(path, "wb") as f:
    f.write(b"not msgpack")
  with pytest.raises(WeightsError, match="not a readable msgpack"):
    task_weights.load(path, task, x)


def test_converter_without_torch_says_how_to_install_it(monkeypatch, tmp_path):
  conv = _converter()
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match=r'pip install -e "\.\[torch\]"'):
    conv.load_state_dict(str(tmp_path / "x.pth"))


# --- parity with PyTorch ----------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None,
                    reason=TORCH_REASON)
def test_pytorch_parity(python):
  """`tests/scripts/torch_parity.py` in its own process: logits within 1e-4 relative of PyTorch's."""
  proc = python(["-m", "pytest", "-q", "tests/scripts/torch_parity.py"], timeout=600, check=False)
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
  assert " passed" in proc.stdout and "failed" not in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
