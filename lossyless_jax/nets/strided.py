"""Stride-2 convolutions written as stride-1 convolutions on a space-to-depth layout.

``StridedConv`` equals ``nn.Conv(features, (k, k), strides=2, padding="SAME")`` and
``StridedConvTranspose`` equals ``nn.ConvTranspose(features, (3, 3), strides=2, padding="SAME")``:
same parameters (names, shapes, initialisers), same outputs up to float summation order. They
exist for speed. XLA's CPU backend runs a convolution with a dilated input (a transposed
convolution, and the input gradient of a strided one) far slower than a plain one, and these were
most of the digits VIC step. Here every convolution, forward and backward, is a plain stride-1 one:

* stride 2 (SAME padding, ``y[i] = Σ_t w[t]·x[2i + t − p]``): pad ``x``, fold 2×2 pixel blocks
  into channels, and convolve with the ``⌈k/2⌉×⌈k/2⌉`` kernel whose tap ``(d, phase)`` is
  ``w[2d + phase]`` (zero past ``k``);
* transposed stride 2, k = 3 (``lax.conv_transpose`` SAME: ``y[2m] = w0·x[m−1] + w2·x[m]``,
  ``y[2m+1] = w1·x[m]``): one 2×2 convolution emitting the four output phases as channels
  (sub-pixel convolution), then depth-to-space.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_DN = ("NHWC", "HWIO", "NHWC")
# transposed k = 3: output phase r reads x[m - 1 + d] with kernel tap _T[r][d] (3 = a zero tap)
_T = np.array([[0, 2], [3, 1]])


def _same_pads(size: int, k: int) -> tuple[int, int]:
  """(low, high) padding of ``lax`` SAME for stride 2."""
  out = -(-size // 2)
  total = max((out - 1) * 2 + k - size, 0)
  return total // 2, total - total // 2


def _conv(x, kernel, padding):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_DN)


def strided_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``conv(x, kernel, stride 2, SAME)`` for NHWC ``x`` and HWIO ``kernel`` (any k×k)."""
  b, h, w, c = x.shape
  k = kernel.shape[0]
  (ph0, ph1), (pw0, pw1) = _same_pads(h, k), _same_pads(w, k)
  hp, wp = h + ph0 + ph1, w + pw0 + pw1
  x = jnp.pad(x, ((0, 0), (ph0, ph1 + hp % 2), (pw0, pw1 + wp % 2), (0, 0)))
  hb, wb = x.shape[1] // 2, x.shape[2] // 2
  x = x.reshape(b, hb, 2, wb, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, hb, wb, 4 * c)
  taps = -(-k // 2)
  wpad = jnp.pad(kernel, ((0, 2 * taps - k), (0, 2 * taps - k), (0, 0), (0, 0)))
  # (dh, phase_h, dw, phase_w, c, o) -> (dh, dw, phase_h, phase_w, c, o)
  folded = wpad.reshape(taps, 2, taps, 2, c, -1).transpose(0, 2, 1, 3, 4, 5).reshape(taps, taps, 4 * c, -1)
  return _conv(x, folded, "VALID")


def strided_conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_transpose(x, kernel, stride 2, SAME)`` for a 3×3 HWIO kernel: (B, 2H, 2W, O)."""
  if kernel.shape[:2] != (3, 3):
    raise ValueError(f"strided_conv_transpose: 3×3 kernels only, got {kernel.shape[:2]}")
  b, h, w, _ = x.shape
  c, o = kernel.shape[2:]
  wpad = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  # (r, dh, s, dw, c, o) -> (dh, dw, c, r, s, o): phase (r, s) of the output as channels
  sub = wpad[_T[:, :, None, None], _T[None, None, :, :]]
  sub = sub.transpose(1, 3, 4, 0, 2, 5).reshape(2, 2, c, 4 * o)
  y = _conv(jnp.pad(x, ((0, 0), (1, 0), (1, 0), (0, 0))), sub, "VALID")
  return y.reshape(b, h, w, 2, 2, o).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, o)


class StridedConv(nn.Module):
  """``nn.Conv(features, (k, k), strides=(2, 2), padding="SAME")`` with the same parameters."""

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.linear.default_kernel_init
  bias_init: Callable[..., Any] = nn.initializers.zeros

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), jnp.float32)
    y = strided_conv(x, kernel.astype(x.dtype))
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(y.dtype)
    return y


class StridedConvTranspose(nn.Module):
  """``nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding="SAME")`` with the same
  parameters."""

  features: int
  kernel_init: Callable[..., Any] = nn.linear.default_kernel_init
  bias_init: Callable[..., Any] = nn.initializers.zeros

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", self.kernel_init, (3, 3, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
    return strided_conv_transpose(x, kernel.astype(x.dtype)) + bias.astype(x.dtype)
