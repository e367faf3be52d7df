"""Stride-2 convolutions as matrix products (im2col): faster on XLA's CPU backend.

``StridedConv`` equals ``nn.Conv(features, (k, k), strides=2, padding="SAME")`` and
``StridedConvTranspose`` equals ``nn.ConvTranspose(features, (3, 3), strides=2, padding="SAME")``:
same parameters (names, shapes, initialisers), same outputs up to float summation order. They
exist for speed. XLA's CPU backend runs a convolution with a dilated input (a transposed
convolution, and the input gradient of a strided one) far slower than a plain one, and even a
plain small convolution, and its kernel gradient, slower than the same product as one matrix
multiplication. Here every convolution is one matrix product of its k×k input taps (gathered by
strided slices) with the flattened kernel, so its two gradients are matrix products too:

* stride 2 (SAME padding, ``y[i] = Σ_t w[t]·x[2i + t − p]``): pad ``x``, take the k×k taps at
  stride 2;
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

# transposed k = 3: output phase r reads x[m - 1 + d] with kernel tap _T[r][d] (3 = a zero tap)
_T = np.array([[0, 2], [3, 1]])


def _same_pads(size: int, k: int) -> tuple[int, int]:
  """(low, high) padding of ``lax`` SAME for stride 2."""
  out = -(-size // 2)
  total = max((out - 1) * 2 + k - size, 0)
  return total // 2, total - total // 2


def _im2col_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """VALID ``conv(x, kernel, stride)`` as one matrix product: the k×k taps of every output
  position side by side in channels (tap-major, as HWIO flattens), times the flattened kernel."""
  kh, kw, c, o = kernel.shape
  b, h, w, _ = x.shape
  ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
  cols = jnp.concatenate([x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :]
                          for i in range(kh) for j in range(kw)], axis=-1)
  return (cols.reshape(b * ho * wo, kh * kw * c) @ kernel.reshape(kh * kw * c, o)).reshape(b, ho, wo, o)


def strided_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``conv(x, kernel, stride 2, SAME)`` for NHWC ``x`` and HWIO ``kernel`` (any k×k)."""
  _, h, w, _ = x.shape
  k = kernel.shape[0]
  x = jnp.pad(x, ((0, 0), _same_pads(h, k), _same_pads(w, k), (0, 0)))
  return _im2col_conv(x, kernel, 2)


def strided_conv_transpose(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None) -> jax.Array:
  """``lax.conv_transpose(x, kernel, stride 2, SAME) + bias`` for a 3×3 HWIO kernel: (B, 2H, 2W, O).

  The bias is added to the four phases before depth-to-space, so its gradient sums over
  ``(B·H·W, 4·O)``, not over the ``(B, 2H, 2W, 1)`` output of a one-channel decoder, which XLA:CPU
  fused into a slow reduction.
  """
  if kernel.shape[:2] != (3, 3):
    raise ValueError(f"strided_conv_transpose: 3×3 kernels only, got {kernel.shape[:2]}")
  b, h, w, _ = x.shape
  c, o = kernel.shape[2:]
  wpad = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  # (r, dh, s, dw, c, o) -> (dh, dw, c, r, s, o): phase (r, s) of the output as channels
  sub = wpad[_T[:, :, None, None], _T[None, None, :, :]]
  sub = sub.transpose(1, 3, 4, 0, 2, 5).reshape(2, 2, c, 4 * o)
  y = _im2col_conv(jnp.pad(x, ((0, 0), (1, 0), (1, 0), (0, 0))), sub, 1)
  if bias is not None:
    y = y + jnp.tile(bias, 4)
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
    return strided_conv_transpose(x, kernel.astype(x.dtype), bias.astype(x.dtype))
