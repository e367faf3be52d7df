"""PyTorch parity of the Cityscapes task networks (run by `tests/test_nets_task.py` in its own process:
importing torchvision after TensorFlow and JAX in one process can crash it)."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_nets_task import ROOT, TORCH_REASON, _converter  # noqa: E402

from lossyless_jax.nets import cityscapes_tasks as ct  # noqa: E402
from lossyless_jax.errors import WeightsError  # noqa: E402
from lossyless_jax.nets import deeplab, lraspp, task_weights  # noqa: E402


# --- parity with PyTorch ----------------------------------------------------------------------------------


def _randomise_torch_bn(model, seed):
  import torch
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5, generator=g)
        m.bias.uniform_(-0.3, 0.3, generator=g)
        m.running_mean.uniform_(-0.3, 0.3, generator=g)
        m.running_var.uniform_(0.5, 2.0, generator=g)
  return model.eval()


def _numpy_state(model):
  return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _rel_err(out, ref):
  return float(np.abs(np.asarray(out) - ref).max() / np.abs(ref).max())


def _torch_deeplabv3plus_mobilenet(num_classes=19):
  """An independent PyTorch DeepLabV3+ / MobileNetV2 OS16 with VainF's module layout (and state-dict keys):
  unpadded stem, input-padded inverted residuals, 5-branch ASPP at rates 6/12/18."""
  import torch
  import torch.nn.functional as F
  from torch import nn

  def cbr(inp, out, k=1, stride=1, dilation=1, groups=1):
    return nn.Sequential(nn.Conv2d(inp, out, k, stride, 0, dilation=dilation, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6())

  class Block(nn.Module):
    def __init__(self, inp, out, stride, dilation, t):
      super().__init__()
      hid = inp * t
      self.conv = nn.Sequential(*([cbr(inp, hid)] if t != 1 else []), cbr(hid, hid, 3, stride, dilation, hid),
                                nn.Conv2d(hid, out, 1, bias=False), nn.BatchNorm2d(out))
      self.pad, self.res = dilation, stride == 1 and inp == out

    def forward(self, x):
      y = self.conv(F.pad(x, (self.pad,) * 4))
      return x + y if self.res else y

  spec = ([(16, 1, 1, 1), (24, 2, 1, 6), (24, 1, 1, 6), (32, 2, 1, 6), (32, 1, 1, 6), (32, 1, 1, 6), (64, 2, 1, 6)]
          + [(64, 1, 1, 6)] * 3 + [(96, 1, 1, 6)] * 3 + [(160, 1, 1, 6), (160, 1, 2, 6), (160, 1, 2, 6),
                                                         (320, 1, 2, 6)])
  feats, inp = [cbr(3, 32, 3, 2)], 32
  for out, s, d, t in spec:
    feats.append(Block(inp, out, s, d, t))
    inp = out

  def branch(inp, out, k, rate=1):
    return nn.Sequential(nn.Conv2d(inp, out, k, padding=rate if k == 3 else 0, dilation=rate, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU())

  class ASPP(nn.Module):
    def __init__(self):
      super().__init__()
      self.convs = nn.ModuleList([branch(320, 256, 1)] + [branch(320, 256, 3, r) for r in (6, 12, 18)]
                                 + [nn.Sequential(nn.AdaptiveAvgPool2d(1), *branch(320, 256, 1))])
      self.project = nn.Sequential(*branch(1280, 256, 1), nn.Dropout(0.1))

    def forward(self, x):
      pooled = F.interpolate(self.convs[4](x), size=x.shape[-2:], mode="bilinear", align_corners=False)
      return self.project(torch.cat([c(x) for c in self.convs[:4]] + [pooled], 1))

  class Head(nn.Module):
    def __init__(self):
      super().__init__()
      self.project = branch(24, 48, 1)
      self.aspp = ASPP()
      self.classifier = nn.Sequential(*branch(304, 256, 3), nn.Conv2d(256, num_classes, 1))

    def forward(self, low, high):
      low = self.project(low)
      high = F.interpolate(self.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=False)
      return self.classifier(torch.cat([low, high], 1))

  class Model(nn.Module):
    def __init__(self):
      super().__init__()
      self.backbone = nn.Module()
      self.backbone.low_level_features = nn.Sequential(*feats[:4])
      self.backbone.high_level_features = nn.Sequential(*feats[4:])
      self.classifier = Head()

    def forward(self, x):
      low = self.backbone.low_level_features(x)
      out = self.classifier(low, self.backbone.high_level_features(low))
      return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)

  return Model()


def _parity_input(seed, shape=(2, 3, 100, 140)):
  import torch
  return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_deeplabv3plus_matches_pytorch():
  torch = pytest.importorskip("torch", reason=TORCH_REASON)
  torch.manual_seed(0)
  model = _randomise_torch_bn(_torch_deeplabv3plus_mobilenet(), 1)
  x = _parity_input(2)
  with torch.no_grad():
    ref = model(x).numpy().transpose(0, 2, 3, 1)
  conv = _converter()
  state = _numpy_state(model)
  v = conv.convert("deeplabv3plus_mobilenet", state, wrap=False)
  out = jax.jit(deeplab.DeepLabV3Plus().apply)(v, jnp.asarray(x.numpy().transpose(0, 2, 3, 1)))
  assert out.shape == ref.shape == (2, 100, 140, 19)
  assert _rel_err(out, ref) < 1e-4
  # Every PyTorch key is used, every Flax variable filled.
  with pytest.raises(WeightsError, match=r"'classifier\.extra\.weight'"):
    conv.convert("deeplabv3plus_mobilenet", {**state, "classifier.extra.weight": np.zeros(3)}, wrap=False)
  missing = dict(state)
  del missing["backbone.high_level_features.3.conv.1.1.running_var"]
  with pytest.raises(WeightsError, match=r"'backbone\.high_level_features\.3\.conv\.1\.1\.running_var'"):
    conv.convert("deeplabv3plus_mobilenet", missing, wrap=False)
  with pytest.raises(WeightsError, match=r"classifier\.aspp\.convs\.2\.0\.weight"):
    conv.convert("deeplabv3plus_mobilenet", {**state, "classifier.aspp.convs.2.0.weight": np.zeros((256, 320, 1, 1))},
                 wrap=False)


def test_lraspp_matches_torchvision():
  torch = pytest.importorskip("torch", reason=TORCH_REASON)
  pytest.importorskip("torchvision", reason=TORCH_REASON)
  from torchvision.models.segmentation import lraspp_mobilenet_v3_large
  torch.manual_seed(0)
  model = _randomise_torch_bn(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=1), 1)
  x = _parity_input(3)
  with torch.no_grad():
    ref = model(x)["out"].numpy().transpose(0, 2, 3, 1)
  conv = _converter()
  v = conv.convert("lraspp_mobilenet_v3_large", _numpy_state(model), wrap=False)
  out = jax.jit(lraspp.LRASPP(1).apply)(v, jnp.asarray(x.numpy().transpose(0, 2, 3, 1)))
  assert out.shape == ref.shape == (2, 100, 140, 1)
  assert _rel_err(out, ref) < 1e-4


def test_imagenet_mobilenet_v3_converts_to_the_lraspp_backbone():
  torch = pytest.importorskip("torch", reason=TORCH_REASON)
  pytest.importorskip("torchvision", reason=TORCH_REASON)
  from torchvision.models import mobilenet_v3_large
  torch.manual_seed(0)
  # The ImageNet classifier is not dilated; its weights are the same shapes. Compare with the dilated one.
  state = _numpy_state(_randomise_torch_bn(mobilenet_v3_large(weights=None), 1))
  dilated = mobilenet_v3_large(weights=None, dilated=True)
  dilated.load_state_dict({k: torch.from_numpy(a) for k, a in state.items()})
  dilated.eval()
  x = _parity_input(4, (1, 3, 96, 128))
  with torch.no_grad():
    low = dilated.features[:5](x)
    high = dilated.features[5:](low)
  conv = _converter()
  v = conv.convert("mobilenet_v3_large_imagenet", state, wrap=True, seed=7)
  assert sorted(v["params"]) == ["down", "net", "up"]
  net = {"params": v["params"]["net"], "batch_stats": v["batch_stats"]["net"]}
  features = jax.jit(lambda v, x: lraspp.LRASPP(1).apply(v, x, method=lraspp.LRASPP.features))
  f_low, f_high = features(net, jnp.asarray(x.numpy().transpose(0, 2, 3, 1)))
  assert _rel_err(f_low, low.numpy().transpose(0, 2, 3, 1)) < 1e-4
  assert _rel_err(f_high, high.numpy().transpose(0, 2, 3, 1)) < 1e-4


def test_converter_command_line_writes_a_loadable_wrapped_file(tmp_path):
  torch = pytest.importorskip("torch", reason=TORCH_REASON)
  torch.manual_seed(0)
  model = _randomise_torch_bn(_torch_deeplabv3plus_mobilenet(), 1)
  pth, out = str(tmp_path / "vainf.pth"), str(tmp_path / "seg.msgpack")
  torch.save({"model_state": model.state_dict(), "cur_itrs": 1}, pth)
  cmd = [sys.executable, "tools/convert_torch_weights.py", "--kind", "deeplabv3plus_mobilenet", "--input", pth,
         "--output", out]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  x = jnp.zeros((1, 64, 128, 3))
  v = task_weights.load(out, ct.SegmentationTask(), x)
  ref = _converter().convert("deeplabv3plus_mobilenet", _numpy_state(model), wrap=False)
  for a, b in zip(jax.tree_util.tree_leaves(v["params"]["net"]), jax.tree_util.tree_leaves(ref["params"])):
    np.testing.assert_array_equal(np.asarray(a), b)
  proc = subprocess.run(cmd[:3] + ["lraspp_mobilenet_v3_large", "--input", pth, "--output", out], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2 and "error:" in proc.stderr and "state dict has no" in proc.stderr
