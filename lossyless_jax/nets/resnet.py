"""ResNet18 (Flax linen, NHWC) with the CIFAR stem used for small images.

App. E.2: the encoder of the image experiments is a ResNet18 whose final fully
connected layer outputs the representation (``out_dim`` = z_dim, 128 by default in the paper);
for inputs under 100 px the code replaces the ImageNet stem (7×7 stride-2 conv + 3×3 max-pool)
by a 3×3 stride-1 conv and no max-pool (``stem="cifar"``; ``stem="auto"`` picks it for sides
< 100). The same network with ``out_dim = num_classes`` is the paper's predictor on
reconstructions.

BatchNorm uses running averages when ``train=False`` (pass ``mutable=["batch_stats"]`` when
training). Initialisation: Kaiming-normal ``fan_out`` convolutions, BN scale 1 / bias 0,
Kaiming-uniform final dense with zero bias (App. E, authors' ``weights_init``).

``pool="flatten"`` keeps the spatial map instead of global average pooling (the authors report
removing the pooling helps VIC/VC). ``width`` scales all channel counts (64 in the
standard network) for cheap CPU tests.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.nets.mlp import kaiming_normal_fan_out, kaiming_uniform

__all__ = ["BasicBlock", "ResNet", "ResNet18"]


class BasicBlock(nn.Module):
  """Two 3×3 convs with BN/ReLU and an identity or 1×1-projection shortcut."""

  features: int
  strides: int = 1
  bn_momentum: float = 0.9

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    def bn(name):
      return nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                          epsilon=1e-5, name=name)

    residual = x
    y = nn.Conv(self.features, (3, 3), strides=(self.strides, self.strides), padding=((1, 1), (1, 1)),
                use_bias=False, kernel_init=kaiming_normal_fan_out, name="conv1")(x)
    y = nn.relu(bn("bn1")(y))
    y = nn.Conv(self.features, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                kernel_init=kaiming_normal_fan_out, name="conv2")(y)
    y = bn("bn2")(y)
    if residual.shape[-1] != self.features or self.strides != 1:
      residual = nn.Conv(self.features, (1, 1), strides=(self.strides, self.strides), use_bias=False,
                         kernel_init=kaiming_normal_fan_out, name="proj_conv")(residual)
      residual = bn("proj_bn")(residual)
    return nn.relu(y + residual)


class ResNet(nn.Module):
  """ResNet with ``BasicBlock`` stages; ``stage_sizes=(2, 2, 2, 2)`` is ResNet18."""

  out_dim: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  width: int = 64
  stem: str = "auto"
  pool: str = "avg"
  bn_momentum: float = 0.9

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"expected NHWC images, got shape {tuple(x.shape)}")
    if self.stem not in ("auto", "cifar", "imagenet"):
      raise ValueError(f"stem must be 'auto', 'cifar' or 'imagenet', got {self.stem!r}")
    if self.pool not in ("avg", "flatten"):
      raise ValueError(f"pool must be 'avg' or 'flatten', got {self.pool!r}")
    stem = self.stem
    if stem == "auto":
      stem = "cifar" if min(x.shape[1], x.shape[2]) < 100 else "imagenet"

    if stem == "cifar":
      x = nn.Conv(self.width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                  kernel_init=kaiming_normal_fan_out, name="stem_conv")(x)
    else:
      x = nn.Conv(self.width, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), use_bias=False,
                  kernel_init=kaiming_normal_fan_out, name="stem_conv")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, epsilon=1e-5,
                     name="stem_bn")(x)
    x = nn.relu(x)
    if stem == "imagenet":
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))

    for i, n_blocks in enumerate(self.stage_sizes):
      for j in range(n_blocks):
        strides = 2 if (i > 0 and j == 0) else 1
        x = BasicBlock(self.width * 2**i, strides, self.bn_momentum,
                       name=f"stage{i + 1}_block{j + 1}")(x, train)

    if self.pool == "avg":
      x = jnp.mean(x, axis=(1, 2))
    else:
      x = x.reshape(x.shape[0], -1)
    return nn.Dense(self.out_dim, kernel_init=kaiming_uniform, bias_init=nn.initializers.zeros,
                    name="fc")(x)


def ResNet18(out_dim: int = 128, **kwargs) -> ResNet:  # noqa: N802 - constructor-style name
  """ResNet18; ``out_dim`` is the representation dimension (z_dim) or the number of classes."""
  return ResNet(out_dim=out_dim, stage_sizes=(2, 2, 2, 2), **kwargs)
