"""MobileNetV2 (output stride 16) and MobileNetV3-Large (dilated C5) backbones of the frozen Cityscapes
task networks (Gray-Wyner paper §3.6, §4.3, App. D.5), in Flax linen, NHWC.

Both are exactly the PyTorch networks whose checkpoints they load (`tools/convert_torch_weights.py`):

* :class:`MobileNetV2` — the backbone of VainF's DeepLabV3+ (DeepLabV3Plus-Pytorch,
  ``network/backbone/mobilenetv2.py``; Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
  Bottlenecks") at output stride 16, with that code's quirks:

  - the stem ``Conv3×3 s2 → BN → ReLU6`` is **unpadded** (VALID: 512 → 255);
  - every inverted residual **zero-pads its input** by ``fixed_padding(3, d)`` (``d`` each side) before
    the 1×1 expansion, and its depthwise 3×3 is VALID. The padded ring thus becomes ``ReLU6(BN(0))``,
    not zeros: a MobileNetV2 padding inside the depthwise conv differs at every border;
  - ReLU6, BatchNorm eps 1e-5 (PyTorch momentum 0.1 = Flax 0.9), bias-free convs;
  - OS16 dilations: the c96 stage and the first c160 block run at stride 1, dilation 1; the next two
    c160 blocks and the c320 block at dilation 2;
  - returns ``(low, high)``: ``features[0:4]`` (24 ch, stride 4) and ``features[4:-1]`` (320 ch,
    stride 16); the final 1×1 → 1280 conv is not part of the DeepLab backbone.

* :class:`MobileNetV3Large` — torchvision's ``mobilenet_v3_large(dilated=True)`` (Howard et al. 2019,
  "Searching for MobileNetV3"): hardswish / ReLU per block, squeeze-excitation with ReLU and hardsigmoid
  and torchvision's squeeze width ``make_divisible(expanded // 4, 8)``, symmetric ``(k-1)//2·d``
  padding, BatchNorm eps 1e-3 (PyTorch momentum 0.01 = Flax 0.99); the C4 stage's blocks use dilation 2
  and stride 1. Returns ``(low, high)`` = ``features[4]`` (40 ch, stride 8) and ``features[16]`` (the
  1×1 → 960 conv, stride 16), the LRASPP inputs.

Submodule names follow the PyTorch indices (``features_{i}`` is ``features[i]``), which the converter
relies on. ``width_mult`` and a shortened block list (``max_repeats`` / ``blocks``) give the small
random-weight variants of the CPU smoke tests; the defaults are the real networks.

Also here, shared by the task heads: :class:`ConvBN` (``Conv2d(bias=False) → BatchNorm2d → act``) and
:func:`bilinear_resize` (PyTorch ``interpolate(mode='bilinear', align_corners=False)``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.nets.gray_wyner import torch_bias_init, torch_kernel_init

__all__ = [
  "make_divisible",
  "bilinear_resize",
  "ConvBN",
  "InvertedResidualV2",
  "MobileNetV2",
  "mobilenet_v2_blocks",
  "SqueezeExcitation",
  "InvertedResidualV3",
  "MobileNetV3Large",
  "MOBILENET_V3_LARGE",
  "MOBILENET_V3_TINY_BLOCKS",
]

_ACTIVATIONS: dict[str, Callable] = {
  "relu": nn.relu,
  "relu6": jax.nn.relu6,
  "hardswish": jax.nn.hard_swish,  # x · ReLU6(x + 3) / 6, as torch.nn.Hardswish
}


def make_divisible(v: float, divisor: int = 8) -> int:
  """The MobileNet channel rounding: nearest multiple of ``divisor`` (at least ``divisor``), never more
  than 10 % below ``v``."""
  new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
  return new_v + divisor if new_v < 0.9 * v else new_v


def bilinear_resize(x: jax.Array, size: Sequence[int]) -> jax.Array:
  """PyTorch ``F.interpolate(x, size, mode='bilinear', align_corners=False)`` on NHWC: half-pixel centres,
  no antialiasing (``jax.image.resize`` with ``antialias=False``; for upsampling antialiasing has no
  effect anyway). A 1×1 input is broadcast."""
  h, w = int(size[0]), int(size[1])
  if x.shape[1:3] == (h, w):
    return x
  if x.shape[1:3] == (1, 1):
    return jnp.broadcast_to(x, (x.shape[0], h, w, x.shape[-1]))
  return jax.image.resize(x, (x.shape[0], h, w, x.shape[-1]), "bilinear", antialias=False)


class ConvBN(nn.Module):
  """PyTorch ``Conv2d(k, stride, padding, dilation, groups, bias=False) → BatchNorm2d(eps) → act``.

  ``padding`` is the symmetric zero padding in pixels (PyTorch's integer padding; Flax ``"SAME"`` is not
  equivalent at stride 2). ``groups = channels`` is a depthwise conv (kernel ``(k, k, 1, C)``). BatchNorm
  uses its running statistics unless ``train``; ``momentum`` is Flax's (``1 -`` PyTorch's).
  """

  features: int
  kernel_size: int = 1
  stride: int = 1
  dilation: int = 1
  padding: int = 0
  groups: int = 1
  eps: float = 1e-5
  momentum: float = 0.9
  activation: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    k, p, s, d = self.kernel_size, self.padding, self.stride, self.dilation
    x = nn.Conv(self.features, (k, k), strides=(s, s), padding=((p, p), (p, p)), kernel_dilation=(d, d),
                feature_group_count=self.groups, use_bias=False, kernel_init=torch_kernel_init, name="conv")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.eps, name="bn")(x)
    return x if self.activation is None else _ACTIVATIONS[self.activation](x)


def _check_image(x: jax.Array, who: str) -> None:
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"{who} expects NHWC RGB images (B, H, W, 3), got shape {tuple(x.shape)}")


# --- MobileNetV2 (VainF, output stride 16) ----------------------------------------------------------------

# (expansion t, channels c, repeats n, stride s) per stage, Sandler et al. 2018, Table 2.
_MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                        (6, 320, 1, 1))
_LOW_STAGE = 1  # the c24 stage ends features[0:4]


def mobilenet_v2_blocks(output_stride: int = 16, width_mult: float = 1.0,
                        max_repeats: int | None = None) -> list[tuple[int, int, int, int, int]]:
  """The inverted residuals ``(stage, out_channels, stride, dilation, expansion)`` in order, with VainF's
  dilation rule: once the stem plus strides reach ``output_stride``, a stage's stride becomes 1 and the
  running dilation is multiplied by it; a stage's first block keeps the dilation before that product."""
  blocks = []
  stride_so_far, dilation = 2, 1  # the stem has stride 2
  for stage, (t, c, n, s) in enumerate(_MOBILENET_V2_STAGES):
    first_dilation = dilation
    if stride_so_far == output_stride:
      stride, dilation = 1, dilation * s
    else:
      stride, stride_so_far = s, stride_so_far * s
    out = c if width_mult == 1.0 else make_divisible(c * width_mult)
    for i in range(n if max_repeats is None else min(n, max_repeats)):
      blocks.append((stage, out, stride if i == 0 else 1, first_dilation if i == 0 else dilation, t))
  return blocks


class InvertedResidualV2(nn.Module):
  """VainF's inverted residual: ``pad_d(x) → [1×1 → BN → ReLU6] → dw3×3 (stride, dilation d, VALID) → BN
  → ReLU6 → 1×1 → BN``, plus ``x`` when stride 1 and the widths agree. The 1×1 expansion (absent for
  expansion 1) sees the zero-padded input."""

  features: int
  stride: int = 1
  dilation: int = 1
  expand_ratio: int = 6

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    inp, d = x.shape[-1], self.dilation
    hidden = int(round(inp * self.expand_ratio))
    # fixed_padding(3, d): effective kernel 2d + 1, total padding 2d, d before and d after.
    h = jnp.pad(x, ((0, 0), (d, d), (d, d), (0, 0)))
    if self.expand_ratio != 1:
      h = ConvBN(hidden, 1, activation="relu6", name="expand")(h, train)
    h = ConvBN(hidden, 3, self.stride, d, padding=0, groups=hidden, activation="relu6", name="depthwise")(h, train)
    h = ConvBN(self.features, 1, name="project")(h, train)
    return x + h if self.stride == 1 and inp == self.features else h


class MobileNetV2(nn.Module):
  """VainF's MobileNetV2 DeepLab backbone at output stride 16: ``(B, H, W, 3) -> (low, high)`` with
  ``low`` ``(B, ⌈(⌊(H-3)/2⌋+1)/2⌉, ·, 24)`` (stride 4) and ``high`` (stride 16, 320 ch).

  ``width_mult`` / ``max_repeats`` (blocks per stage) shrink it for smoke tests; the defaults are the
  network of ``deeplabv3plus_mobilenet_cityscapes_os16.pth``.
  """

  width_mult: float = 1.0
  max_repeats: int | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    _check_image(x, type(self).__name__)
    stem = 32 if self.width_mult == 1.0 else make_divisible(32 * self.width_mult)
    x = ConvBN(stem, 3, 2, padding=0, activation="relu6", name="features_0")(x, train)  # unpadded stem
    low = None
    blocks = mobilenet_v2_blocks(16, self.width_mult, self.max_repeats)
    for i, (stage, out, stride, dilation, t) in enumerate(blocks, start=1):
      x = InvertedResidualV2(out, stride, dilation, t, name=f"features_{i}")(x, train)
      if stage == _LOW_STAGE and (i == len(blocks) or blocks[i][0] != stage):
        low = x
    return low, x


# --- MobileNetV3-Large (torchvision, dilated) -------------------------------------------------------------

# torchvision's mobilenet_v3_large(dilated=True) bottlenecks, features[1..15]:
# (kernel, expanded, out, squeeze-excitation, activation, stride, dilation).
MOBILENET_V3_LARGE = (
  (3, 16, 16, False, "relu", 1, 1),
  (3, 64, 24, False, "relu", 2, 1),  # C1
  (3, 72, 24, False, "relu", 1, 1),
  (5, 72, 40, True, "relu", 2, 1),  # C2: features[4], the low-level output (stride 8)
  (5, 120, 40, True, "relu", 1, 1),
  (5, 120, 40, True, "relu", 1, 1),
  (3, 240, 80, False, "hardswish", 2, 1),  # C3
  (3, 200, 80, False, "hardswish", 1, 1),
  (3, 184, 80, False, "hardswish", 1, 1),
  (3, 184, 80, False, "hardswish", 1, 1),
  (3, 480, 112, True, "hardswish", 1, 1),
  (3, 672, 112, True, "hardswish", 1, 1),
  (5, 672, 160, True, "hardswish", 2, 2),  # C4, dilated: stride 1
  (5, 960, 160, True, "hardswish", 1, 2),
  (5, 960, 160, True, "hardswish", 1, 2),
)
_V3_LOW_BLOCK = 3  # MOBILENET_V3_LARGE index of features[4]
MOBILENET_V3_TINY_BLOCKS = (0, 1, 3, 6, 10, 12)  # one block per width change: the smoke-test variant
_V3_EPS, _V3_MOMENTUM = 1e-3, 0.99


class SqueezeExcitation(nn.Module):
  """torchvision's ``SqueezeExcitation``: ``x · hardsigmoid(fc2(ReLU(fc1(mean_hw(x)))))``, 1×1 convs with
  bias."""

  squeeze_channels: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    s = jnp.mean(x, axis=(1, 2), keepdims=True)
    s = nn.Conv(self.squeeze_channels, (1, 1), kernel_init=torch_kernel_init, bias_init=torch_bias_init(c),
                name="fc1")(s)
    s = nn.Conv(c, (1, 1), kernel_init=torch_kernel_init, bias_init=torch_bias_init(self.squeeze_channels),
                name="fc2")(nn.relu(s))
    return x * jax.nn.hard_sigmoid(s)  # ReLU6(s + 3) / 6, as torch.nn.Hardsigmoid


class InvertedResidualV3(nn.Module):
  """torchvision's MobileNetV3 block: ``[1×1 → BN → act] → dw k×k → BN → act → [SE] → 1×1 → BN``, plus
  ``x`` when the configured stride is 1 and the widths agree. A dilated block runs at stride 1."""

  expanded: int
  features: int
  kernel_size: int = 3
  use_se: bool = False
  activation: str = "relu"
  stride: int = 1
  dilation: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    inp, k, d = x.shape[-1], self.kernel_size, self.dilation
    bn = dict(eps=_V3_EPS, momentum=_V3_MOMENTUM)
    h = x
    if self.expanded != inp:
      h = ConvBN(self.expanded, 1, activation=self.activation, name="expand", **bn)(h, train)
    stride = 1 if d > 1 else self.stride
    h = ConvBN(self.expanded, k, stride, d, padding=(k - 1) // 2 * d, groups=self.expanded,
               activation=self.activation, name="depthwise", **bn)(h, train)
    if self.use_se:
      h = SqueezeExcitation(make_divisible(self.expanded // 4), name="se")(h)
    h = ConvBN(self.features, 1, name="project", **bn)(h, train)
    return x + h if self.stride == 1 and inp == self.features else h


class MobileNetV3Large(nn.Module):
  """torchvision's ``mobilenet_v3_large(dilated=True).features``: ``(B, H, W, 3) -> (low, high)`` with
  ``low`` = ``features[4]`` ``(B, ⌈H/8⌉, ⌈W/8⌉, 40)`` and ``high`` = ``features[16]``
  ``(B, ⌈H/16⌉, ⌈W/16⌉, 960)``.

  ``width_mult`` (torchvision's) and ``blocks`` (indices into :data:`MOBILENET_V3_LARGE` to keep; must
  include 3, the low-level block) shrink it for smoke tests; the defaults are the real network.
  """

  width_mult: float = 1.0
  blocks: Sequence[int] | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    _check_image(x, type(self).__name__)
    keep = range(len(MOBILENET_V3_LARGE)) if self.blocks is None else tuple(self.blocks)
    if _V3_LOW_BLOCK not in keep:
      raise ValueError(f"MobileNetV3Large: blocks must include {_V3_LOW_BLOCK} (features[4], the low-level output), "
                       f"got {tuple(keep)}")
    ch = lambda c: make_divisible(c * self.width_mult)  # noqa: E731 (torchvision's adjust_channels)
    bn = dict(eps=_V3_EPS, momentum=_V3_MOMENTUM)
    x = ConvBN(ch(16), 3, 2, padding=1, activation="hardswish", name="features_0", **bn)(x, train)
    low = None
    for i in keep:
      k, exp, out, se, act, stride, dilation = MOBILENET_V3_LARGE[i]
      x = InvertedResidualV3(ch(exp), ch(out), k, se, act, stride, dilation, name=f"features_{i + 1}")(x, train)
      if i == _V3_LOW_BLOCK:
        low = x
    high = ConvBN(6 * ch(MOBILENET_V3_LARGE[-1][2]), 1, activation="hardswish",
                  name=f"features_{len(MOBILENET_V3_LARGE) + 1}", **bn)(x, train)
    return low, high
