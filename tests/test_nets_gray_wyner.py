"""Tests for lossyless_jax.nets.gray_wyner (shapes, strides, PyTorch-equivalent padding, heads)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.nets import gray_wyner as gw


def _key(seed):
  # RBG keys: XLA compiles them much faster than threefry on CPU.
  return jax.random.key(seed, impl="rbg")


def _normal(seed, shape):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _shapes(tree):
  return jax.tree_util.tree_map(lambda a: a.shape, tree)


def _init_shapes(module, x):
  return _shapes(jax.eval_shape(lambda: module.init(_key(0), x)))["params"]


def _out_shape(module, x):
  variables = jax.eval_shape(lambda: module.init(_key(0), x))
  return jax.eval_shape(module.apply, variables, x).shape


# --- numpy references of the PyTorch layers --------------------------------------------------------------


def _np_conv(x, kernel, bias, stride, pad):
  """PyTorch Conv2d on one HWC image: zero-pad ``pad`` each side, correlate, stride."""
  xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
  k = kernel.shape[0]
  ho = (xp.shape[0] - k) // stride + 1
  wo = (xp.shape[1] - k) // stride + 1
  out = np.zeros((ho, wo, kernel.shape[-1]))
  for i in range(ho):
    for j in range(wo):
      patch = xp[i * stride:i * stride + k, j * stride:j * stride + k]
      out[i, j] = np.einsum("abc,abco->o", patch, kernel)
  return out + bias


def _np_conv_transpose_torch(x, w, bias, stride, pad, output_padding):
  """PyTorch ConvTranspose2d by its scatter definition; ``w`` is the torch weight (in, out, k, k)."""
  h, wd, _ = x.shape
  k = w.shape[-1]
  full = np.zeros(((h - 1) * stride + k + output_padding, (wd - 1) * stride + k + output_padding, w.shape[1]))
  for i in range(h):
    for j in range(wd):
      full[i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum("c,coab->abo", x[i, j], w)
  ho = (h - 1) * stride - 2 * pad + k + output_padding
  wo = (wd - 1) * stride - 2 * pad + k + output_padding
  return full[pad:pad + ho, pad:pad + wo] + bias


def _np_bilinear_matrix(n_in, factor):
  """PyTorch bilinear, align_corners=False, scale_factor=1/factor, as an (n_out, n_in) matrix."""
  n_out = n_in // factor
  m = np.zeros((n_out, n_in))
  for i in range(n_out):
    src = max((i + 0.5) * factor - 0.5, 0.0)
    i0 = int(math.floor(src))
    i1 = min(i0 + 1, n_in - 1)
    lam = src - i0
    m[i, i0] += 1 - lam
    m[i, i1] += lam
  return m


def _elu(x):
  return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


# --- shapes and strides -----------------------------------------------------------------------------------


def test_analysis_is_stride_16_and_synthesis_inverts_the_shape():
  enc = gw.AnalysisTransform(8, channels=(4, 4, 8), num_blocks=3)
  dec = gw.SynthesisTransform(3, channels=(8, 4, 4), num_blocks=3)
  assert _out_shape(enc, jnp.zeros((2, 64, 64, 3))) == (2, 4, 4, 8)
  assert _out_shape(dec, jnp.zeros((2, 4, 4, 8))) == (2, 64, 64, 3)
  # PyTorch Conv2d(5, s2, p2) gives ceil(H/2) per stage: 50 -> 25 -> 13 -> 7 -> 4, 70 -> 35 -> 18 -> 9 -> 5.
  assert _out_shape(enc, jnp.zeros((1, 50, 70, 3))) == (1, 4, 5, 8)
  assert _out_shape(dec, jnp.zeros((1, 3, 5, 8))) == (1, 48, 80, 3)


def test_transform_layer_widths_match_the_paper():
  e = 192
  p = _init_shapes(gw.AnalysisTransform(e), jnp.zeros((1, 32, 32, 3)))
  assert [p[f"down_{i}"]["conv"]["kernel"] for i in range(4)] == [
      (5, 5, 3, 24), (5, 5, 24, 48), (5, 5, 48, 192), (5, 5, 192, e)]
  for i, c in enumerate((24, 48, 192)):
    assert sorted(p[f"res_{i}"]) == ["block_0", "block_1", "block_2"]
    blk = p[f"res_{i}"]["block_1"]
    assert [blk[f"conv_{j}"]["conv"]["kernel"] for j in range(3)] == [(1, 1, c, c), (3, 3, c, c), (1, 1, c, c)]
  q = _init_shapes(gw.SynthesisTransform(3), jnp.zeros((1, 2, 2, e)))
  # Transposed kernels are stored (k, k, out, in).
  assert [q[f"up_{i}"]["conv"]["kernel"] for i in range(4)] == [
      (5, 5, 192, e), (5, 5, 48, 192), (5, 5, 24, 48), (5, 5, 3, 24)]
  assert sorted(q["res_2"]) == ["block_0", "block_1", "block_2"]


# --- padding equivalence with PyTorch ---------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(8, 8), (7, 9)])
def test_strided_conv_equals_pytorch_padding_2(hw):
  x = _normal(1, (1, *hw, 2))
  conv = gw.TorchConv2d(3, kernel_size=5, stride=2)
  params = conv.init(_key(2), x)["params"]
  out = np.asarray(conv.apply({"params": params}, x))[0]
  kernel, bias = (np.asarray(params["conv"][n]) for n in ("kernel", "bias"))
  ref = _np_conv(x[0], kernel, bias, stride=2, pad=2)
  assert out.shape == ref.shape == (math.ceil(hw[0] / 2), math.ceil(hw[1] / 2), 3)
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
  if hw == (8, 8):  # Flax "SAME" pads (1, 2) here: shifted by one input pixel, not the PyTorch layer.
    same = jax.lax.conv_general_dilated(x, kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    assert not np.allclose(np.asarray(same)[0] + bias, ref, atol=1e-3)


def test_transposed_conv_equals_pytorch_output_padding_1():
  x = _normal(3, (1, 4, 5, 2))
  conv = gw.TorchConvTranspose2d(3, kernel_size=5, stride=2)
  params = conv.init(_key(4), x)["params"]
  out = np.asarray(conv.apply({"params": params}, x))[0]
  kernel, bias = (np.asarray(params["conv"][n]) for n in ("kernel", "bias"))
  torch_weight = kernel.transpose(3, 2, 0, 1)  # (k, k, out, in) -> PyTorch (in, out, k, k)
  ref = _np_conv_transpose_torch(x[0], torch_weight, bias, stride=2, pad=2, output_padding=1)
  assert out.shape == ref.shape == (8, 10, 3)
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_resblock_matches_reference():
  x = _normal(5, (1, 6, 5, 3))
  blk = gw.ResBlock(kernel_size=3)
  params = blk.init(_key(6), x)["params"]
  out = np.asarray(blk.apply({"params": params}, x))[0]

  def conv(name, h, pad):
    p = params[name]["conv"]
    return _np_conv(h, np.asarray(p["kernel"]), np.asarray(p["bias"]), 1, pad)

  h = _elu(conv("conv_0", x[0], 0))
  h = _elu(conv("conv_1", h, 1))
  np.testing.assert_allclose(out, x[0] + conv("conv_2", h, 0), rtol=1e-5, atol=1e-5)


def test_pytorch_default_initialisation():
  x = jnp.zeros((1, 4, 4, 64))
  p = gw.TorchConv2d(64, 5).init(_key(7), x)["params"]["conv"]
  bound = 1 / math.sqrt(64 * 25)
  for a in (p["kernel"], p["bias"]):
    a = np.abs(np.asarray(a))
    assert a.max() <= bound + 1e-7 and a.max() > 0.9 * bound
  # Transposed conv: PyTorch's fan_in is out·k·k (dimension 1 of its (in, out, k, k) weight).
  p = gw.TorchConvTranspose2d(64, 5, 2).init(_key(8), jnp.zeros((1, 2, 2, 8)))["params"]["conv"]
  bound = 1 / math.sqrt(64 * 25)
  k = np.abs(np.asarray(p["kernel"]))
  assert k.max() <= bound + 1e-7 and k.max() > 0.9 * bound
  assert np.abs(np.asarray(p["bias"])).max() <= bound + 1e-7


# --- pixel shuffle variant --------------------------------------------------------------------------------


def test_pixel_unshuffle_uses_pytorch_channel_order_and_shuffle_inverts_it():
  x = _normal(9, (2, 4, 6, 3))
  y = np.asarray(gw.pixel_unshuffle(x, 2))
  assert y.shape == (2, 2, 3, 12)
  for c in range(3):
    for i in range(2):
      for j in range(2):
        np.testing.assert_array_equal(y[..., c * 4 + i * 2 + j], x[:, i::2, j::2, c])
  np.testing.assert_array_equal(np.asarray(gw.pixel_shuffle(y, 2)), x)


def test_pixel_shuffle_transforms_shapes():
  x = jnp.zeros((2, 64, 64, 2))
  assert _out_shape(gw.PixelShuffleAnalysis(), x) == (2, 4, 4, 512)
  p = _init_shapes(gw.PixelShuffleAnalysis(), x)
  assert sorted(p) == ["res_0", "res_1", "res_2"] and sorted(p["res_2"]) == ["block_0"]
  assert p["res_0"]["block_0"]["conv_1"]["conv"]["kernel"] == (3, 3, 8, 8)
  assert p["res_2"]["block_0"]["conv_1"]["conv"]["kernel"] == (3, 3, 128, 128)
  assert _out_shape(gw.PixelShuffleAnalysis(out_channels=256), x) == (2, 4, 4, 256)
  assert _out_shape(gw.PixelShuffleSynthesis(), jnp.zeros((2, 4, 4, 512))) == (2, 64, 64, 2)
  with pytest.raises(ValueError, match="divisible by 256"):
    _out_shape(gw.PixelShuffleSynthesis(), jnp.zeros((1, 4, 4, 96)))


def test_pixel_shuffle_analysis_without_blocks_is_space_to_depth():
  x = _normal(10, (1, 32, 32, 1))
  enc = gw.PixelShuffleAnalysis(num_blocks=0)
  y = enc.apply(enc.init(_key(0), x), x)
  np.testing.assert_array_equal(np.asarray(gw.pixel_shuffle(gw.pixel_shuffle(gw.pixel_shuffle(
      gw.pixel_shuffle(y))))), np.asarray(x))


# --- samplers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor,hw", [(2, (6, 8)), (2, (7, 5)), (3, (9, 7)), (4, (8, 12))])
def test_bilinear_downsample_matches_pytorch_bilinear(factor, hw):
  x = _normal(11, (2, *hw, 3))
  out = np.asarray(gw.bilinear_downsample(x, factor))
  mh, mw = _np_bilinear_matrix(hw[0], factor), _np_bilinear_matrix(hw[1], factor)
  ref = np.einsum("ih,bhwc,jw->bijc", mh, x, mw)
  assert out.shape == ref.shape
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
  if factor == 2 and hw[0] % 2 == 0 and hw[1] % 2 == 0:
    avg = x.reshape(2, hw[0] // 2, 2, hw[1] // 2, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, avg, rtol=1e-5, atol=1e-6)


def test_samplers_shapes_and_nearest_upsampling():
  x = _normal(12, (1, 8, 6, 3))
  assert _out_shape(gw.DownSample(3), x) == (1, 4, 3, 3)
  assert _out_shape(gw.UpSample(3), x) == (1, 16, 12, 3)
  assert _init_shapes(gw.DownSample(3), x)["conv"]["conv"]["kernel"] == (5, 5, 3, 3)
  up = np.asarray(gw.nearest_upsample(x, 2))
  np.testing.assert_array_equal(up[:, 1::2, ::2], np.asarray(x))
  np.testing.assert_array_equal(up[:, ::2, 1::2], np.asarray(x))


# --- task heads -------------------------------------------------------------------------------------------


def test_synthetic_task_head_is_resblock_then_conv5x5_to_one_channel():
  x = jnp.zeros((2, 64, 64, 2))
  head = gw.SyntheticTaskHead()
  assert _out_shape(head, x) == (2, 64, 64)
  p = _init_shapes(head, x)
  assert p["res"]["conv_1"]["conv"]["kernel"] == (3, 3, 2, 2)
  assert p["out"]["conv"]["kernel"] == (5, 5, 2, 1)


def test_mlp_head_widths_and_forward():
  p = _init_shapes(gw.MLPHead(10), jnp.zeros((2, 32, 32, 3)))
  assert p["hidden"]["kernel"] == (3072, 3072) and p["out"]["kernel"] == (3072, 10)
  x = np.random.default_rng(13).random((3, 4, 4, 3)).astype(np.float32)
  head = gw.MLPHead(10, hidden=16)
  params = head.init(_key(14), x)["params"]
  out = np.asarray(head.apply({"params": params}, x))
  h = np.asarray(x).reshape(3, -1) @ np.asarray(params["hidden"]["kernel"]) + np.asarray(params["hidden"]["bias"])
  h = 1 / (1 + np.exp(-h))
  ref = h @ np.asarray(params["out"]["kernel"]) + np.asarray(params["out"]["bias"])
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
