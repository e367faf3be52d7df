"""LRASPP on a dilated MobileNetV3-Large, the Cityscapes depth (disparity) network of the Gray-Wyner paper
(§3.6, §4.3, App. D.5): torchvision's ``lraspp_mobilenet_v3_large(num_classes=1)``
(``torchvision/models/segmentation/lraspp.py``; Howard et al. 2019, "Searching for MobileNetV3", §6.2).
Flax linen, NHWC.

Head, on ``low`` = ``features[4]`` (40 ch, stride 8) and ``high`` = ``features[16]`` (960 ch, stride 16):

* ``cbr`` = 1×1 960 → 128 (no bias) → BN (eps 1e-5) → ReLU;
* ``scale`` = **global** mean → 1×1 960 → 128 (no bias) → sigmoid (torchvision's gate, not the paper's
  strided 49×49 pooling);
* ``cbr · scale`` bilinearly upsampled (``align_corners=False``) to the low-level size, then
  ``low_classifier(low) + high_classifier(·)`` (1×1 convs with bias) and bilinear to the input size.

``tiny=True`` is a small random-weight variant (width ¼, six bottlenecks, 16 head channels) for CPU smoke
tests; it has no pretrained counterpart.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.nets.gray_wyner import torch_bias_init, torch_kernel_init
from lossyless_jax.nets.mobilenet import MOBILENET_V3_TINY_BLOCKS, ConvBN, MobileNetV3Large, bilinear_resize

__all__ = ["LRASPPHead", "LRASPP"]


class LRASPPHead(nn.Module):
  """torchvision's ``LRASPPHead``: ``(low, high) -> logits`` at the low-level resolution."""

  num_classes: int = 1
  inter_channels: int = 128

  @nn.compact
  def __call__(self, low: jax.Array, high: jax.Array, train: bool = False) -> jax.Array:
    x = ConvBN(self.inter_channels, 1, activation="relu", name="cbr")(high, train)
    s = nn.Conv(self.inter_channels, (1, 1), use_bias=False, kernel_init=torch_kernel_init,
                name="scale")(jnp.mean(high, axis=(1, 2), keepdims=True))
    x = bilinear_resize(x * nn.sigmoid(s), low.shape[1:3])
    low_logits = nn.Conv(self.num_classes, (1, 1), kernel_init=torch_kernel_init,
                         bias_init=torch_bias_init(low.shape[-1]), name="low_classifier")(low)
    high_logits = nn.Conv(self.num_classes, (1, 1), kernel_init=torch_kernel_init,
                          bias_init=torch_bias_init(self.inter_channels), name="high_classifier")(x)
    return low_logits + high_logits


class LRASPP(nn.Module):
  """LRASPP / MobileNetV3-Large (dilated): ``(B, H, W, 3) -> (B, H, W, num_classes)``.

  :meth:`features` returns the backbone's ``(low, high)`` maps (40 ch at stride 8, 960 ch at stride 16:
  64×128 and 32×64 for a 512×1024 input). ``train`` runs batch norm on batch statistics (pass
  ``mutable=["batch_stats"]``).
  """

  num_classes: int = 1
  tiny: bool = False

  def setup(self):
    if self.tiny:
      self.backbone = MobileNetV3Large(width_mult=0.25, blocks=MOBILENET_V3_TINY_BLOCKS)
      self.classifier = LRASPPHead(self.num_classes, inter_channels=16)
    else:
      self.backbone = MobileNetV3Large()
      self.classifier = LRASPPHead(self.num_classes)

  def features(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    return self.backbone(x, train)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    low, high = self.backbone(x, train)
    return bilinear_resize(self.classifier(low, high, train), x.shape[1:3])
