"""DeepLabV3+ on a MobileNetV2 at output stride 16, the frozen Cityscapes segmentation network of the
Gray-Wyner paper (§3.6, §4.3, App. D.5), as VainF's DeepLabV3Plus-Pytorch builds it
(``network/_deeplab.py``, ``modeling.py``; Chen et al. 2018, "Encoder-Decoder with Atrous Separable
Convolution for Semantic Image Segmentation"; the checkpoint ``deeplabv3plus_mobilenet_cityscapes_os16.pth``
has no separable convs). Flax linen, NHWC.

Head (every conv bias-free except the last; BatchNorm eps 1e-5):

* ASPP on the stride-16 features, five branches of 256 channels: 1×1; 3×3 at dilations 6, 12, 18
  (padding = dilation); image pooling (global mean → 1×1 → BN → ReLU, broadcast back). Concatenated
  (1280) → 1×1 → 256 → BN → ReLU → Dropout(0.1) (inactive unless ``train``).
* Low-level branch on the stride-4 features: 1×1 24 → 48 → BN → ReLU.
* The ASPP output is bilinearly upsampled (``align_corners=False``) to the low-level size and
  concatenated after the low-level features (304) → 3×3 → 256 → BN → ReLU → 1×1 → classes (with bias).
* The logits are bilinearly upsampled to the input size inside the model.

``tiny=True`` is a small random-weight variant (backbone width ¼, one block per stage, head widths
32/8/32) for CPU smoke tests; it has no pretrained counterpart.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from lossyless_jax.nets.gray_wyner import torch_bias_init, torch_kernel_init
from lossyless_jax.nets.mobilenet import ConvBN, MobileNetV2, bilinear_resize

__all__ = ["DeepLabV3PlusHead", "DeepLabV3Plus", "ASPP_RATES_OS16"]

ASPP_RATES_OS16 = (6, 12, 18)


class DeepLabV3PlusHead(nn.Module):
  """VainF's ``DeepLabHeadV3Plus``: ``(low, high) -> logits`` at the low-level resolution."""

  num_classes: int = 19
  aspp_channels: int = 256
  low_channels: int = 48
  decoder_channels: int = 256
  rates: Sequence[int] = ASPP_RATES_OS16
  dropout: float = 0.1

  @nn.compact
  def __call__(self, low: jax.Array, high: jax.Array, train: bool = False) -> jax.Array:
    a = self.aspp_channels
    low = ConvBN(self.low_channels, 1, activation="relu", name="project")(low, train)
    branches = [ConvBN(a, 1, activation="relu", name="aspp_0")(high, train)]
    for j, r in enumerate(self.rates, start=1):
      branches.append(ConvBN(a, 3, dilation=r, padding=r, activation="relu", name=f"aspp_{j}")(high, train))
    pooled = ConvBN(a, 1, activation="relu", name="aspp_pool")(jnp.mean(high, axis=(1, 2), keepdims=True), train)
    branches.append(bilinear_resize(pooled, high.shape[1:3]))
    y = ConvBN(a, 1, activation="relu", name="aspp_project")(jnp.concatenate(branches, axis=-1), train)
    y = nn.Dropout(self.dropout, deterministic=not train)(y)
    y = bilinear_resize(y, low.shape[1:3])
    y = ConvBN(self.decoder_channels, 3, padding=1, activation="relu", name="decoder")(
        jnp.concatenate([low, y], axis=-1), train)
    return nn.Conv(self.num_classes, (1, 1), kernel_init=torch_kernel_init,
                   bias_init=torch_bias_init(self.decoder_channels), name="classify")(y)


class DeepLabV3Plus(nn.Module):
  """DeepLabV3+ / MobileNetV2 OS16: ``(B, H, W, 3) -> (B, H, W, num_classes)`` logits.

  :meth:`features` returns the backbone's ``(low, high)`` maps (24 ch at stride 4, 320 ch at stride 16:
  128×256 and 32×64 for a 512×1024 input). ``train`` runs batch norm on batch statistics (pass
  ``mutable=["batch_stats"]``) and dropout (needs a ``"dropout"`` rng).
  """

  num_classes: int = 19
  tiny: bool = False

  def setup(self):
    if self.tiny:
      self.backbone = MobileNetV2(width_mult=0.25, max_repeats=1)
      self.classifier = DeepLabV3PlusHead(self.num_classes, aspp_channels=32, low_channels=8, decoder_channels=32)
    else:
      self.backbone = MobileNetV2()
      self.classifier = DeepLabV3PlusHead(self.num_classes)

  def features(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    return self.backbone(x, train)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    low, high = self.backbone(x, train)
    return bilinear_resize(self.classifier(low, high, train), x.shape[1:3])
