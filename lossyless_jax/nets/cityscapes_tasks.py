"""The frozen Cityscapes task networks of the Gray-Wyner paper (§3.6, §4.3, App. D.5), Flax linen, NHWC.

* :class:`SegmentationTask` = ``UpSample(19) ∘ DeepLabV3Plus ∘ DownSample(3)``: logits ``(B, H, W, 19)``.
* :class:`DepthTask` = ``UpSample(1) ∘ LRASPP(num_classes=1) ∘ DownSample(3)``: disparity ``(B, H, W)``
  (the single output channel, as the authors read ``['out'][:, 0]``).

Inputs are images in [0, 1], ``(B, H, W, 3)`` with even ``H`` and ``W``; there is no ImageNet
normalisation (the learned ×½ down-sampler absorbs it). The samplers are the learned bilinear ×½ +
Conv5×5 and nearest ×2 + Conv5×5 of `nets.gray_wyner` (App. D.5); submodules ``down``, ``net``, ``up``.

**Freezing.** During codec training the caller keeps every variable (samplers included) in non-trainable
state and calls with ``train=False``: batch norm then uses its running statistics and dropout is off,
while gradients still flow through the networks to their input. ``train=True`` (stage-0 pretraining)
uses batch statistics and needs ``mutable=["batch_stats"]`` (and a ``"dropout"`` rng for segmentation).

``tiny=True`` selects small random-weight networks for CPU smoke tests (a 64×128 forward in
milliseconds); the defaults are the architectures converted PyTorch weights load into
(`tools/convert_torch_weights.py`, `nets.task_weights`).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax

from lossyless_jax.nets.deeplab import DeepLabV3Plus
from lossyless_jax.nets.gray_wyner import DownSample, UpSample
from lossyless_jax.nets.lraspp import LRASPP

__all__ = ["SegmentationTask", "DepthTask", "NUM_CLASSES", "TASKS", "network"]

NUM_CLASSES = 19  # Cityscapes train ids


def _check_input(x: jax.Array, who: str) -> None:
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"{who} expects NHWC RGB images in [0, 1], (B, H, W, 3), got shape {tuple(x.shape)}")
  if x.shape[1] % 2 or x.shape[2] % 2:
    raise ValueError(f"{who}: height and width must be even (×½ then ×2 samplers), got {tuple(x.shape[1:3])}")


class SegmentationTask(nn.Module):
  """``UpSample(num_classes) ∘ DeepLabV3Plus ∘ DownSample(3)``: ``(B, H, W, 3) -> (B, H, W, num_classes)``."""

  num_classes: int = NUM_CLASSES
  tiny: bool = False

  def setup(self):
    self.down = DownSample(3)
    self.net = DeepLabV3Plus(self.num_classes, tiny=self.tiny)
    self.up = UpSample(self.num_classes)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check_input(x, type(self).__name__)
    return self.up(self.net(self.down(x), train))


class DepthTask(nn.Module):
  """``UpSample(1) ∘ LRASPP(num_classes=1) ∘ DownSample(3)``: ``(B, H, W, 3) -> (B, H, W)`` disparity."""

  tiny: bool = False

  def setup(self):
    self.down = DownSample(3)
    self.net = LRASPP(1, tiny=self.tiny)
    self.up = UpSample(1)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check_input(x, type(self).__name__)
    return self.up(self.net(self.down(x), train))[..., 0]


TASKS = {"segmentation": SegmentationTask, "depth": DepthTask}


@functools.lru_cache(maxsize=None)
def network(task: str, tiny: bool = False) -> nn.Module:
  """The wrapped network of ``task`` (``segmentation`` | ``depth``), one instance per ``(task, tiny)``."""
  return TASKS[task](tiny=tiny)
