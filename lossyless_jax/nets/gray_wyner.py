"""Transforms, samplers and task heads of the learnable Gray-Wyner network (Flax linen, NHWC).

Gray-Wyner paper §4 and App. D.1 (Fig. 6), D.3, D.4, D.5.

* :class:`ResBlock` — ``x + Conv1×1(ELU(Conv k×k(ELU(Conv1×1(x)))))`` at the input's width
  ("all ResNets use ELU ... the same number of channels as the input", App. D.1); k = 3 in the
  transforms, 5 in the conditional entropy model.
* :class:`AnalysisTransform` — ELIC-like (§4): ``Conv5×5 s2 (→24) → 3×RB → Conv5×5 s2 (→48) →
  3×RB → Conv5×5 s2 (→192) → 3×RB → Conv5×5 s2 (→E)``, total stride 16, no activation after the
  strided convs, no normalisation. :class:`SynthesisTransform` mirrors it with transposed convs
  (``E → 192 → 48 → 24 → M``), each exactly ×2.
* :class:`PixelShuffleAnalysis` / :class:`PixelShuffleSynthesis` — the synthetic-source variant
  (App. D.3): every scaling conv becomes a factor-2 pixel (un)shuffle, ``M → 4M → 16M → 64M → 256M``
  channels (2 → 8 → 32 → 128 → E = 512), one ResBlock per stack by default (the authors' code).
  ``out_channels`` appends a Conv5×5 (512 → E/2 for Separated, → 3E/2 for Combined).
* :class:`DownSample` / :class:`UpSample` — the learned ×2 samplers around the frozen Cityscapes task
  nets (App. D.5; layers from the authors' released code): bilinear ×½ (``align_corners=False``,
  no antialias) + Conv5×5, and nearest ×2 + Conv5×5. For factor 2 the bilinear ×½ is exactly a 2×2
  average; ``jax.image.resize`` would antialias. The authors' up-sampler mode is ``nearest-exact``,
  identical to ``nearest`` for integer factors.
* Task heads trained jointly with the codec (the tasks of §4.1/App. D.3 and §4.2/App. D.4; layers
  from the authors' released code): :class:`SyntheticTaskHead` ``ResBlock(M, k3) → Conv5×5(M → 1)``
  per linear-regression task, and :class:`MLPHead` ``Flatten → Dense(3072) → Sigmoid → Dense(10)``
  for the digit and for the colour of the coloured digits.

**Padding (equivalence with the authors' PyTorch layers).** Every conv here is the PyTorch layer
with ``padding = k // 2``:

* ``Conv2d(k, stride s, padding p = k//2)`` ↔ ``nn.Conv(padding=((p, p), (p, p)))``. Flax
  ``"SAME"`` is *not* equivalent for stride 2: it pads ``(1, 2)`` for k = 5 on an even side
  (total ``k - s``, the extra pixel after), so every output would be shifted by one input pixel.
  Output side ``floor((H + 2p - k) / s) + 1 = ceil(H / 2)`` for k = 5, s = 2. For stride 1 (the
  ResBlocks' ``padding='same'``, the samplers' and heads' Conv5×5) ``(p, p)`` equals ``"SAME"``.
* ``ConvTranspose2d(k, stride s, padding p, output_padding s - 1)`` ↔
  ``nn.ConvTranspose(padding=((k-1-p, k-1-p+s-1),) * 2, transpose_kernel=True)``: Flax's explicit
  transposed-conv padding pads the stride-dilated input, and PyTorch's layer is the correlation of
  that input padded ``k-1-p`` before and ``k-1-p+output_padding`` after with the flipped kernel,
  which ``transpose_kernel=True`` applies. For k = 5, s = 2 that is ``((2, 3), (2, 3))`` and the
  output is exactly ``2H``; Flax ``"SAME"`` pads ``(3, 2)`` and would shift the output by one pixel.

Weight layout: a PyTorch ``Conv2d`` weight ``(out, in, kh, kw)`` and a ``ConvTranspose2d`` weight
``(in, out, kh, kw)`` both map to the Flax kernel by ``w.transpose(2, 3, 1, 0)`` (the transposed
kernel is stored ``(kh, kw, out, in)``). :class:`MLPHead` flattens NHWC, PyTorch flattens NCHW: a
fixed permutation of the first Dense layer's rows, irrelevant for heads trained from scratch.

**Initialisation**: PyTorch's defaults (the authors' released code; the paper does not state it):
kernels and biases ``U(±1/sqrt(fan_in))``, with ``fan_in = in·k·k`` for convs, ``out·k·k`` for
transposed convs (PyTorch reads it from dimension 1 of the ``(in, out, k, k)`` weight) and ``in``
for dense layers.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.nets.mlp import get_activation

__all__ = [
  "torch_kernel_init",
  "torch_bias_init",
  "get_activation",
  "pixel_unshuffle",
  "pixel_shuffle",
  "bilinear_downsample",
  "nearest_upsample",
  "TorchConv2d",
  "TorchConvTranspose2d",
  "ResBlock",
  "ResBlockStack",
  "AnalysisTransform",
  "SynthesisTransform",
  "PixelShuffleAnalysis",
  "PixelShuffleSynthesis",
  "DownSample",
  "UpSample",
  "SyntheticTaskHead",
  "MLPHead",
  "LATENT_STRIDE",
]

LATENT_STRIDE = 16  # total stride of every analysis transform (§4)

# PyTorch's kaiming_uniform_(a=sqrt(5)): bound sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(fan_in).
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> Callable:
  """PyTorch's default bias init ``U(±1/sqrt(fan_in))``."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def _check_nhwc(x: jax.Array, who: str) -> None:
  if x.ndim != 4:
    raise ValueError(f"{who} expects NHWC inputs (B, H, W, C), got shape {tuple(x.shape)}")


def pixel_unshuffle(x: jax.Array, factor: int = 2) -> jax.Array:
  """Space-to-depth, PyTorch ``PixelUnshuffle`` channel order in NHWC:
  ``out[b, h, w, c·r² + i·r + j] = x[b, h·r + i, w·r + j, c]``."""
  _check_nhwc(x, "pixel_unshuffle")
  b, h, w, c = x.shape
  r = int(factor)
  if h % r or w % r:
    raise ValueError(f"pixel_unshuffle: spatial size {(h, w)} is not divisible by factor {r}")
  x = x.reshape(b, h // r, r, w // r, r, c)
  x = x.transpose(0, 1, 3, 5, 2, 4)  # (b, h/r, w/r, c, i, j)
  return x.reshape(b, h // r, w // r, c * r * r)


def pixel_shuffle(x: jax.Array, factor: int = 2) -> jax.Array:
  """Depth-to-space, the inverse of :func:`pixel_unshuffle` (PyTorch ``PixelShuffle`` order)."""
  _check_nhwc(x, "pixel_shuffle")
  b, h, w, c = x.shape
  r = int(factor)
  if c % (r * r):
    raise ValueError(f"pixel_shuffle: {c} channels are not divisible by factor² = {r * r}")
  x = x.reshape(b, h, w, c // (r * r), r, r)
  x = x.transpose(0, 1, 4, 2, 5, 3)  # (b, h, i, w, j, c)
  return x.reshape(b, h * r, w * r, c // (r * r))


def _bilinear_down_axis(x: jax.Array, axis: int, factor: int) -> jax.Array:
  # PyTorch bilinear, align_corners=False, scale 1/factor: source = (i + 1/2)·factor - 1/2. For an
  # integer factor that is pixel f·i + (f-1)/2 (odd f) or the mean of f·i + f/2 - 1 and f·i + f/2.
  n_out = x.shape[axis] // factor
  stop = n_out * factor

  def take(start):
    return jax.lax.slice_in_dim(x, start, start + stop - factor + 1, factor, axis)

  if factor % 2:
    return take((factor - 1) // 2)
  return 0.5 * (take(factor // 2 - 1) + take(factor // 2))


def bilinear_downsample(x: jax.Array, factor: int = 2) -> jax.Array:
  """PyTorch ``interpolate(scale_factor=1/factor, mode='bilinear', align_corners=False)`` (no
  antialias) for an integer ``factor``; output side ``floor(H / factor)``. Factor 2 = 2×2 average."""
  _check_nhwc(x, "bilinear_downsample")
  if int(factor) != factor or factor < 1:
    raise ValueError(f"bilinear_downsample: factor must be a positive integer, got {factor!r}")
  if x.shape[1] < factor or x.shape[2] < factor:
    raise ValueError(f"bilinear_downsample: spatial size {tuple(x.shape[1:3])} is smaller than factor {factor}")
  return _bilinear_down_axis(_bilinear_down_axis(x, 1, int(factor)), 2, int(factor))


def nearest_upsample(x: jax.Array, factor: int = 2) -> jax.Array:
  """Nearest ×``factor`` (PyTorch ``nearest`` and ``nearest-exact`` agree for integer factors)."""
  _check_nhwc(x, "nearest_upsample")
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


class TorchConv2d(nn.Module):
  """PyTorch ``Conv2d(k, stride, padding=k//2)``: explicit symmetric padding ``((k//2, k//2),) * 2``
  and PyTorch's default initialisation (see the module docstring)."""

  features: int
  kernel_size: int = 5
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _check_nhwc(x, type(self).__name__)
    k, p = self.kernel_size, self.kernel_size // 2
    fan_in = x.shape[-1] * k * k
    return nn.Conv(self.features, (k, k), strides=(self.stride, self.stride), padding=((p, p), (p, p)),
                   kernel_init=torch_kernel_init, bias_init=torch_bias_init(fan_in), name="conv")(x)


class TorchConvTranspose2d(nn.Module):
  """PyTorch ``ConvTranspose2d(k, stride s, padding p=k//2, output_padding=s-1)``: output exactly
  ``s·H``. Flax padding ``((k-1-p, k-1-p+s-1),) * 2`` of the dilated input, ``transpose_kernel=True``."""

  features: int
  kernel_size: int = 5
  stride: int = 2

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _check_nhwc(x, type(self).__name__)
    k, s = self.kernel_size, self.stride
    if k % 2 == 0:
      raise ValueError(f"{type(self).__name__}: kernel_size must be odd, got {k}")
    lo = k - 1 - k // 2
    pad = (lo, lo + s - 1)
    fan_in = self.features * k * k  # PyTorch: dimension 1 of the (in, out, k, k) weight
    return nn.ConvTranspose(self.features, (k, k), strides=(s, s), padding=(pad, pad), transpose_kernel=True,
                            kernel_init=torch_kernel_init, bias_init=torch_bias_init(fan_in), name="conv")(x)


class ResBlock(nn.Module):
  """``x + Conv1×1(act(Conv k×k(act(Conv1×1(x)))))`` at the input's channel count (App. D.1)."""

  kernel_size: int = 3
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _check_nhwc(x, "ResBlock")
    act = get_activation(self.activation)
    c = x.shape[-1]
    h = act(TorchConv2d(c, 1, name="conv_0")(x))
    h = act(TorchConv2d(c, self.kernel_size, name="conv_1")(h))
    return x + TorchConv2d(c, 1, name="conv_2")(h)


class ResBlockStack(nn.Module):
  """``num_blocks`` :class:`ResBlock` in sequence."""

  num_blocks: int = 3
  kernel_size: int = 3
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i in range(self.num_blocks):
      x = ResBlock(self.kernel_size, self.activation, name=f"block_{i}")(x)
    return x


def _check_widths(channels: Sequence[int], who: str) -> tuple[int, ...]:
  channels = tuple(int(c) for c in channels)
  if len(channels) != 3 or min(channels) < 1:
    raise ValueError(f"{who}: channels must be three positive widths (paper: 24, 48, 192), got {channels}")
  return channels


class AnalysisTransform(nn.Module):
  """Encoder ``f``: ``(B, H, W, M) -> (B, ⌈H/16⌉, ⌈W/16⌉, out_channels)`` (§4, Fig. 6).

  ``channels`` are the three intermediate widths (24, 48, 192 in the paper); small ones for tests.
  """

  out_channels: int
  channels: Sequence[int] = (24, 48, 192)
  num_blocks: int = 3
  kernel_size: int = 5
  res_kernel: int = 3
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _check_nhwc(x, "AnalysisTransform")
    widths = _check_widths(self.channels, "AnalysisTransform")
    for i, c in enumerate(widths):
      x = TorchConv2d(c, self.kernel_size, 2, name=f"down_{i}")(x)
      x = ResBlockStack(self.num_blocks, self.res_kernel, self.activation, name=f"res_{i}")(x)
    return TorchConv2d(self.out_channels, self.kernel_size, 2, name=f"down_{len(widths)}")(x)


class SynthesisTransform(nn.Module):
  """Decoder ``g``: ``(B, h, w, E) -> (B, 16h, 16w, out_channels)``, the mirror of the analysis
  (``channels`` 192, 48, 24 in the paper). Output: the M-channel "reconstruction" fed to a task model."""

  out_channels: int
  channels: Sequence[int] = (192, 48, 24)
  num_blocks: int = 3
  kernel_size: int = 5
  res_kernel: int = 3
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    _check_nhwc(y, "SynthesisTransform")
    widths = _check_widths(self.channels, "SynthesisTransform")
    for i, c in enumerate(widths):
      y = TorchConvTranspose2d(c, self.kernel_size, 2, name=f"up_{i}")(y)
      y = ResBlockStack(self.num_blocks, self.res_kernel, self.activation, name=f"res_{i}")(y)
    return TorchConvTranspose2d(self.out_channels, self.kernel_size, 2, name=f"up_{len(widths)}")(y)


class PixelShuffleAnalysis(nn.Module):
  """Synthetic-source encoder (App. D.3): ``unshuffle → RB → unshuffle → RB → unshuffle → RB →
  unshuffle``, ``M → 256M`` channels at stride 16; ``out_channels`` appends Conv5×5 (256M → out)."""

  num_blocks: int = 1
  out_channels: int | None = None
  res_kernel: int = 3
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    _check_nhwc(x, "PixelShuffleAnalysis")
    for i in range(3):
      x = pixel_unshuffle(x, 2)
      x = ResBlockStack(self.num_blocks, self.res_kernel, self.activation, name=f"res_{i}")(x)
    x = pixel_unshuffle(x, 2)
    if self.out_channels is not None:
      x = TorchConv2d(self.out_channels, 5, name="project")(x)
    return x


class PixelShuffleSynthesis(nn.Module):
  """Synthetic-source decoder (App. D.3): ``shuffle → RB → shuffle → RB → shuffle → RB → shuffle``,
  ``E → E/256`` channels (512 → 2) at ×16. ``E`` must be divisible by 256."""

  num_blocks: int = 1
  res_kernel: int = 3
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, y: jax.Array) -> jax.Array:
    _check_nhwc(y, "PixelShuffleSynthesis")
    if y.shape[-1] % 256:
      raise ValueError(f"PixelShuffleSynthesis: input channels {y.shape[-1]} must be divisible by 256 "
                       "(four ×2 shuffles; E = 512 gives M = 2)")
    for i in range(3):
      y = pixel_shuffle(y, 2)
      y = ResBlockStack(self.num_blocks, self.res_kernel, self.activation, name=f"res_{i}")(y)
    return pixel_shuffle(y, 2)


class DownSample(nn.Module):
  """Bilinear ×1/``factor`` (``align_corners=False``, no antialias) then Conv5×5 (c → c) (App. D.5)."""

  channels: int
  factor: int = 2
  kernel_size: int = 5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return TorchConv2d(self.channels, self.kernel_size, name="conv")(bilinear_downsample(x, self.factor))


class UpSample(nn.Module):
  """Nearest ×``factor`` then Conv5×5 (c → c) (App. D.5)."""

  channels: int
  factor: int = 2
  kernel_size: int = 5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return TorchConv2d(self.channels, self.kernel_size, name="conv")(nearest_upsample(x, self.factor))


class SyntheticTaskHead(nn.Module):
  """Regression head of the synthetic source (App. D.3): ``ResBlock(M, k3) → Conv5×5(M → 1)`` on the
  synthesis output ``(B, H, W, M)``; returns the prediction ``(B, H, W)`` of the 64×64 target."""

  res_kernel: int = 3
  kernel_size: int = 5
  activation: str | Callable = "elu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = ResBlock(self.res_kernel, self.activation, name="res")(x)
    return TorchConv2d(1, self.kernel_size, name="out")(x)[..., 0]


class MLPHead(nn.Module):
  """Digit or colour classifier of the coloured digits (App. D.4): ``Flatten → Dense(hidden) →
  Sigmoid → Dense(num_classes)``; logits ``(B, num_classes)``. ``hidden=None`` uses the flattened
  input size (3·32·32 = 3072 in the paper)."""

  num_classes: int = 10
  hidden: int | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.reshape(x.shape[0], -1)
    hidden = x.shape[-1] if self.hidden is None else int(self.hidden)
    x = nn.Dense(hidden, kernel_init=torch_kernel_init, bias_init=torch_bias_init(x.shape[-1]), name="hidden")(x)
    x = nn.sigmoid(x)
    return nn.Dense(self.num_classes, kernel_init=torch_kernel_init, bias_init=torch_bias_init(hidden),
                    name="out")(x)
