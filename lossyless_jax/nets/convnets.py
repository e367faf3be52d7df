"""Small convolutional encoder / classifier and the transposed-conv decoder (Flax linen, NHWC).

Decoder (App. E.2): ``Dense(z -> 2·2·C0)`` reshaped to ``(2, 2, C0)``, then
``log2(side) − 1`` blocks ``[BatchNorm, ReLU, ConvTranspose(k=3, s=2, "SAME")]``, channels halving
at each block and the last block emitting the image channels: for 32×32, 256→128→64→32→C and
2→4→8→16→32. Sides that are not powers of two are decoded at the next power of two and resized
back bilinearly (the code resizes STL10's 96 to 128 and back). The output is logits /
unnormalised values: apply ``sigmoid`` for images in [0, 1] (``losses.invariant`` does).

The paper uses a ResNet18 encoder for images (``nets.resnet``); ``ConvEncoder`` is the small
CPU-friendly encoder for 8×8 / 16×16 / 28×28 / 32×32 grey images: stride-2 3×3
convolutions, then flatten and ``Dense(z_dim)``. ``CNNClassifier`` is the same trunk with a
classification head, for "CNN on reconstructions / decoded images".

Initialisation: Kaiming-normal ``fan_out`` for (transposed) convolutions, Kaiming-uniform for
dense layers, zero biases (App. E; authors' ``weights_init``). The stride-2 (transposed)
convolutions are ``nets.strided``'s: the same layers, computed as matrix products (speed).
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax

from lossyless_jax.nets.mlp import kaiming_normal_fan_out, kaiming_uniform
from lossyless_jax.nets.strided import StridedConv, StridedConvTranspose

__all__ = ["ConvEncoder", "CNNClassifier", "ConvTransposeDecoder", "num_upsampling_blocks"]


def num_upsampling_blocks(side: int, start_side: int = 2) -> int:
  """Number of ×2 blocks to go from ``start_side`` to the next power of two ≥ ``side``."""
  if side < start_side:
    raise ValueError(f"image side {side} must be >= start_side {start_side}")
  target = 1 << math.ceil(math.log2(side))
  return int(round(math.log2(target / start_side)))


class _ConvTrunk(nn.Module):
  channels: Sequence[int]
  kernel_size: int = 3
  norm: str | None = "batch"

  @nn.compact
  def __call__(self, x, train: bool = False):
    if x.ndim != 4:
      raise ValueError(f"expected NHWC images, got shape {tuple(x.shape)}")
    if self.norm not in (None, "batch"):
      raise ValueError(f"norm must be None or 'batch', got {self.norm!r}")
    for i, c in enumerate(self.channels):
      x = StridedConv(c, self.kernel_size, use_bias=self.norm is None, kernel_init=kaiming_normal_fan_out,
                      bias_init=nn.initializers.zeros, name=f"conv_{i}")(x)
      if self.norm == "batch":
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         name=f"bn_{i}")(x)
      x = nn.relu(x)
    return x.reshape(x.shape[0], -1)


class ConvEncoder(nn.Module):
  """``[Conv(3×3, stride 2) -> BN -> ReLU] × len(channels) -> flatten -> Dense(z_dim)``."""

  z_dim: int
  channels: Sequence[int] = (32, 64, 128)
  kernel_size: int = 3
  norm: str | None = "batch"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    h = _ConvTrunk(self.channels, self.kernel_size, self.norm, name="trunk")(x, train)
    return nn.Dense(self.z_dim, kernel_init=kaiming_uniform, bias_init=nn.initializers.zeros,
                    name="out")(h)


class CNNClassifier(nn.Module):
  """Conv trunk + ``Dense(hidden) -> ReLU -> Dropout -> Dense(num_classes)``: a small CNN trained on
  images or on decoded images (classical codecs, VC/VIC reconstructions)."""

  num_classes: int
  channels: Sequence[int] = (32, 64, 128)
  hidden: int = 256
  dropout: float = 0.0
  norm: str | None = "batch"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    h = _ConvTrunk(self.channels, 3, self.norm, name="trunk")(x, train)
    h = nn.relu(nn.Dense(self.hidden, kernel_init=kaiming_uniform,
                         bias_init=nn.initializers.zeros, name="hidden")(h))
    if self.dropout > 0:
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes, kernel_init=kaiming_uniform,
                    bias_init=nn.initializers.zeros, name="out")(h)


class ConvTransposeDecoder(nn.Module):
  """Decode ``z (B, z_dim)`` to image logits ``(B, H, W, C)`` with ``out_shape = (H, W, C)``.

  ``top_channels`` is C0 (256 in the paper); block ``i`` outputs ``top_channels / 2^(i+1)``
  channels except the last one, which outputs ``C``.
  """

  out_shape: Sequence[int]
  top_channels: int = 256
  start_side: int = 2

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    h_out, w_out, c_out = (int(v) for v in self.out_shape)
    n_blocks = num_upsampling_blocks(max(h_out, w_out), self.start_side)
    s = self.start_side
    x = nn.Dense(s * s * self.top_channels, kernel_init=kaiming_uniform,
                 bias_init=nn.initializers.zeros, name="dense")(z)
    x = x.reshape(z.shape[0], s, s, self.top_channels)
    channels = self.top_channels
    for i in range(n_blocks):
      last = i == n_blocks - 1
      channels = c_out if last else max(channels // 2, 1)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                       name=f"bn_{i}")(x)
      x = nn.relu(x)
      x = StridedConvTranspose(channels, kernel_init=kaiming_normal_fan_out,
                               bias_init=nn.initializers.zeros, name=f"deconv_{i}")(x)
    if n_blocks == 0:  # side == start_side: project channels only
      x = nn.Conv(c_out, (1, 1), kernel_init=kaiming_normal_fan_out, name="to_channels")(x)
    if x.shape[1] != h_out or x.shape[2] != w_out:
      x = jax.image.resize(x, (x.shape[0], h_out, w_out, c_out), method="bilinear")
    return x
