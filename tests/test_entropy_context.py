"""Masked-context entropy model: causality, exact wavefront/raster decoding, batch independence of the
integer parameter function, coded size, and typed errors for wrong conditioning or damaged files."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.entropy import coding, container
from lossyless_jax.entropy import context as cx
from lossyless_jax.entropy.tables import StaleTablesError

H, W, C = 8, 12, 4
CC, SC = 3, 2
VARIANTS = {"plain": (0, 0), "cond": (CC, 0), "cond+side": (CC, SC)}


def make_params(model, seed=0, scale_bias=None):
  """Parameters without an XLA compile: shapes from ``eval_shape``, values from NumPy."""
  args = (
    jnp.zeros((H, W, model.channels)),
    jnp.zeros((H, W, model.cond_channels)) if model.cond_channels else None,
    jnp.zeros((H, W, model.side_channels)) if model.side_channels else None,
  )
  shapes = jax.eval_shape(lambda: model.init({"params": jax.random.key(0)}, *args))["params"]
  rng = np.random.default_rng(seed)
  params = {}
  for name, layer in shapes.items():
    k = layer["kernel"].shape
    params[name] = {
      "kernel": (rng.standard_normal(k) / math.sqrt(math.prod(k[:-1]))).astype(np.float32),
      "bias": (0.1 * rng.standard_normal(layer["bias"].shape)).astype(np.float32),
    }
  if scale_bias is not None:  # scales around scale_bias (untrained nets predict ~0, i.e. 0.11)
    params["ep_2"]["kernel"][..., : model.channels] *= 0.1
    params["ep_2"]["bias"][: model.channels] = scale_bias
  return params


_STATES = {}


def setup(variant="plain", seed=0, scale_bias=None):
  key = (variant, seed, scale_bias)
  if key not in _STATES:
    cc, sc = VARIANTS[variant]
    model = cx.ContextModel(C, cond_channels=cc, side_channels=sc)
    params = make_params(model, seed, scale_bias)
    _STATES[key] = (model, params, cx.export(model, params))
  return _STATES[key]


def side_inputs(variant, rng, h=H, w=W, grid=False):
  cc, sc = VARIANTS[variant]
  cond = rng.normal(0, 2, (h, w, cc)).astype(np.float32) if cc else None
  side = rng.normal(0, 1, (h, w, sc)).astype(np.float32) if sc else None
  if grid:  # on the 2^-8 grid, as the integer path sees them
    cond, side = [None if a is None else (np.rint(a * 256) / 256).astype(np.float32) for a in (cond, side)]
  return cond, side


def latent(rng, h=H, w=W, c=C):
  kind = rng.integers(4)
  s = [0.3, 1.0, 3.0, 12.0][rng.integers(4)]
  y = rng.normal(0, s, (h, w, c))
  if kind == 1:
    y = np.round(y)  # integer latents
  elif kind == 2:
    y = np.round(y) + 0.5  # rounding ties against a zero mean
  elif kind == 3:
    y = y + 40.0 * rng.standard_normal((1, 1, c))  # large offsets: escapes under small scales
  return y.astype(np.float32)


def all_positions(h=H, w=W):
  return np.stack(np.divmod(np.arange(h * w), w), axis=1)


# ------------------------------------------------------------------ structure
def test_type_a_mask_keeps_the_twelve_causal_taps():
  m = cx.type_a_mask(2, 3)[:, :, 0, 0]
  assert m.shape == (5, 5) and m.sum() == 12
  assert m[:2].all() and m[2, :2].all() and not m[2, 2:].any() and not m[3:].any()
  kh, kw = cx.causal_offsets()
  assert len(kh) == 12 and all((a < 2) or (a == 2 and b < 2) for a, b in zip(kh, kw))


def test_wavefronts_cover_the_latent_once_in_causal_order():
  for h, w in [(1, 1), (1, 7), (6, 1), (8, 12), (5, 3)]:
    steps = list(cx.wavefronts(h, w))
    assert len(steps) == (3 * (h - 1) + w if w >= 3 else h)
    seen = np.full((h, w), -1)
    for hs, ws in steps:
      t = 3 * hs[0] + ws[0]
      assert hs.size and np.all(3 * hs + ws == t) and np.all(seen[hs, ws] == -1) and t > seen.max()
      seen[hs, ws] = t
    assert np.all(seen >= 0)
    kh, kw = cx.causal_offsets()
    for i in range(h):  # every causal neighbour is in an earlier wavefront
      for j in range(w):
        for a, b in zip(kh - 2, kw - 2):
          if 0 <= i + a < h and 0 <= j + b < w:
            assert seen[i + a, j + b] < seen[i, j]


# ------------------------------------------------------------------ causality
CAUSAL_SITES = [(0, 0), (3, 5), (7, 11), (4, 0), (0, 11)]


def _later_changed_and_earlier_same(before, after, h, w, atol=0.0):
  diff = np.any(np.abs(np.asarray(after, np.float64) - np.asarray(before, np.float64)) > atol, axis=-1).reshape(H, W)
  raster = np.arange(H * W).reshape(H, W)
  here = h * W + w
  assert not diff[raster <= here].any(), f"parameters at or before ({h}, {w}) depend on ŷ[{h}, {w}]"
  if here < H * W - 1:
    assert diff[raster > here].any(), f"no later parameter depends on ŷ[{h}, {w}]"


def test_float_path_is_causal():
  model, params, _ = setup("cond+side")
  rng = np.random.default_rng(1)
  y = rng.normal(0, 2, (H, W, C)).astype(np.float32)
  cond, side = side_inputs("cond+side", rng)
  fn = jax.jit(lambda yy: model.apply({"params": params}, yy, cond, side, method=cx.ContextModel.entropy_parameters))
  base = fn(y)
  for h, w in CAUSAL_SITES:
    y2 = y.copy()
    y2[h, w] += 5.0
    new = fn(y2)
    for b, a in zip(base, new):  # exact here; the tolerance only admits a conv algorithm's rounding
      _later_changed_and_earlier_same(b, a, h, w, atol=1e-5 * float(np.max(np.abs(b))))


def test_integer_path_is_causal():
  _, _, state = setup("cond+side")
  rng = np.random.default_rng(2)
  y = (np.rint(rng.normal(0, 2, (H, W, C)) * 256) / 256).astype(np.float32)
  cond, side = side_inputs("cond+side", rng)
  pos = all_positions()
  base = cx.parameters(state, y, pos, cond, side)
  for h, w in CAUSAL_SITES:
    y2 = y.copy()
    y2[h, w] += 5.0
    new = cx.parameters(state, y2, pos, cond, side)
    both = [np.concatenate([p.mean_q, p.scale_q], 1) for p in (base, new)]
    _later_changed_and_earlier_same(*both, h, w)


def test_integer_path_follows_the_float_model():
  """Teacher-forced on the same grid values, the exported network matches the float one up to its
  fixed-point rounding (catches a wrong tap order or layer layout, which causality would not)."""
  for variant in VARIANTS:
    model, params, state = setup(variant, scale_bias=1.0)
    rng = np.random.default_rng(3)
    y = (np.rint(rng.normal(0, 2, (H, W, C)) * 256) / 256).astype(np.float32)
    cond, side = side_inputs(variant, rng, grid=True)
    scales, means = model.apply({"params": params}, y, cond, side, method=cx.ContextModel.entropy_parameters)
    got = cx.parameters(state, y, all_positions(), cond, side)
    np.testing.assert_allclose(got.mean_q / 256.0, np.asarray(means).reshape(-1, C), atol=2**-9 + 1e-3)
    np.testing.assert_allclose(got.scale_q / 4096.0, np.asarray(scales).reshape(-1, C), atol=1e-3)


# ------------------------------------------------------------------ exact decoding
def _raster_reference(state, y, cond, side):
  """ŷ by the textbook serial coder: raster order, one position at a time, ŷ updated at once."""
  h, w, _ = y.shape
  y_hat = np.zeros_like(y)
  for i in range(h):
    for j in range(w):
      mean = cx.parameters(state, y_hat, [(i, j)], cond, side).mean_q[0] / 256.0
      y_hat[i, j] = np.rint(y[i, j] - mean) + mean
  return y_hat


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_wavefront_coder_equals_serial_raster_coder(variant):
  _, _, state = setup(variant, scale_bias=0.5)
  rng = np.random.default_rng(4)
  y = latent(rng)
  cond, side = side_inputs(variant, rng)
  np.testing.assert_array_equal(cx.quantize(state, y, cond, side), _raster_reference(state, y, cond, side))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_wavefront_decoder_returns_the_encoders_y_hat(variant):
  rng = np.random.default_rng({"plain": 10, "cond": 11, "cond+side": 12}[variant])
  for i in range(100):
    _, _, state = setup(variant, seed=i % 2, scale_bias=[None, 0.5][i % 2])
    h, w = (int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1))) if i % 4 else (H, W)
    y = latent(rng, h, w)
    cond, side = side_inputs(variant, rng, h, w)
    ref = cx.symbols(state, y, cond, side)["y_hat"]
    data = cx.compress(state, y, cond, side)
    out = cx.decompress(state, data, (h, w, C), cond, side, engine=cx.ENGINES[i % 2])
    assert out.dtype == np.float32 and out.shape == y.shape
    np.testing.assert_array_equal(out, ref)
    assert np.max(np.abs(ref - y)) <= 0.5


def test_raster_and_wavefront_decode_the_same_file_identically():
  for variant in VARIANTS:
    _, _, state = setup(variant)
    rng = np.random.default_rng(5)
    y = latent(rng)
    cond, side = side_inputs(variant, rng)
    data = cx.compress(state, y, cond, side, engine="int64")
    outs = [
      cx.decompress(state, data, y.shape, cond, side, schedule=s, engine=e) for s in cx.SCHEDULES for e in cx.ENGINES
    ]
    for out in outs[1:]:
      np.testing.assert_array_equal(out, outs[0])
    np.testing.assert_array_equal(outs[0], cx.quantize(state, y, cond, side))


def test_integer_parameters_do_not_depend_on_the_batch():
  _, _, state = setup("cond+side", scale_bias=0.5)
  rng = np.random.default_rng(6)
  y = (np.rint(rng.normal(0, 300, (H, W, C)) * 256) / 256).astype(np.float32)  # wide range: large sums
  cond, side = side_inputs("cond+side", rng)
  pos = all_positions()
  together = cx.parameters(state, y, pos, cond, side)
  alone = [cx.parameters(state, y, [p], cond, side) for p in pos]
  perm = rng.permutation(len(pos))
  shuffled = cx.parameters(state, y, pos[perm], cond, side)
  reference = cx.parameters(state, y, pos, cond, side, engine="int64")
  for field in cx.IntParams._fields:
    a = getattr(together, field)
    np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in alone]), a)
    np.testing.assert_array_equal(getattr(shuffled, field), a[perm])
    np.testing.assert_array_equal(getattr(reference, field), a)
  threadpoolctl = pytest.importorskip("threadpoolctl")
  with threadpoolctl.threadpool_limits(1):
    one_thread = cx.parameters(state, y, pos, cond, side)
  for field in cx.IntParams._fields:
    np.testing.assert_array_equal(getattr(one_thread, field), getattr(together, field))


def test_coded_size_close_to_the_integer_models_ideal():
  _, _, state = setup("cond", scale_bias=2.0)
  rng = np.random.default_rng(7)
  y = rng.normal(0, 2.5, (H, W, C)).astype(np.float32)
  cond, _ = side_inputs("cond", rng)
  sym = cx.symbols(state, y, cond)
  ts_len = np.diff(state["gaussian"]["starts"]) - 1
  kmin = state["gaussian"]["kmin"][sym["indices"]]
  assert np.all((sym["symbols"] >= kmin) & (sym["symbols"] < kmin + ts_len[sym["indices"]])), "test wants no escapes"
  ideal = coding.table_bits(sym["symbols"], sym["indices"], state["gaussian"])
  data = cx.compress(state, y, cond)
  header = container.read_header(data)
  overhead_bits = 8 * (header.header_length + header.payload_lengths[0] + 4)  # header, conditioning record, CRC
  coded = 8 * len(data) - overhead_bits
  assert coded <= 1.02 * ideal + 64, (coded, ideal)  # + at most two 32-bit words to end the range coder
  assert coded >= ideal - 1


# ------------------------------------------------------------------ errors
def test_wrong_conditioning_raises():
  _, _, state = setup("cond+side")
  rng = np.random.default_rng(8)
  y = latent(rng)
  cond, side = side_inputs("cond+side", rng)
  other_cond, other_side = side_inputs("cond+side", rng)
  data = cx.compress(state, y, cond, side)
  np.testing.assert_array_equal(cx.decompress(state, data, y.shape, cond, side), cx.quantize(state, y, cond, side))
  for c, s in [(other_cond, side), (cond, other_side), (None, side), (cond[:, :-1], side)]:
    with pytest.raises(cx.ConditioningMismatchError):
      cx.decompress(state, data, y.shape, c, s)
  tiny = cond.copy()
  tiny[0, 0, 0] += 1.0 / 256  # one grid step in one element
  with pytest.raises(cx.ConditioningMismatchError):
    cx.decompress(state, data, y.shape, tiny, side)
  with pytest.raises(cx.ShapeMismatchError):
    cx.decompress(state, data, (H, W + 1, C), cond, side)
  with pytest.raises(container.ForeignModelError):
    cx.decompress(setup("cond+side", seed=1)[2], data, y.shape, cond, side)


def test_flipped_bytes_raise_typed_errors():
  _, _, state = setup("cond")
  rng = np.random.default_rng(9)
  y = latent(rng, 4, 6)
  cond, _ = side_inputs("cond", rng, 4, 6)
  data = cx.compress(state, y, cond)
  for i in range(len(data)):
    bad = bytearray(data)
    bad[i] ^= 1 << (i % 8)
    with pytest.raises(container.BitstreamError):
      cx.decompress(state, bytes(bad), None, cond)
  for n in (0, 3, 20, len(data) - 1):
    with pytest.raises(container.BitstreamError):
      cx.decompress(state, data[:n], None, cond)


def test_symbol_crc_catches_a_valid_but_wrong_stream():
  """Another latent's range-coder words in an otherwise valid file (both container CRCs recomputed)
  decode without a coder error; only the symbol CRC can tell, and it must."""
  _, _, state = setup("plain", scale_bias=0.5)
  rng = np.random.default_rng(13)
  y, y_other = latent(rng), latent(rng)
  data, other = cx.compress(state, y), cx.compress(state, y_other)
  head, payloads = container.unpack(data)
  _, other_payloads = container.unpack(other)
  forged = container.pack(head.kind, head.fingerprint, head.shape, [payloads[0], other_payloads[1]], head.symbols_crc)
  with pytest.raises(container.CorruptedBitstreamError, match="symbol CRC"):
    cx.decompress(state, forged, y.shape)
  swapped = container.pack(head.kind, head.fingerprint, (W, H, C), payloads, head.symbols_crc)  # same size
  with pytest.raises(container.CorruptedBitstreamError):
    cx.decompress(state, swapped, None)


def test_state_and_inputs_are_validated():
  _, _, state = setup("cond")
  y = np.zeros((H, W, C), np.float32)
  cond = np.zeros((H, W, CC), np.float32)
  with pytest.raises(ValueError):
    cx.compress(state, y)  # the model needs cond
  with pytest.raises(ValueError):
    cx.compress(state, np.full((H, W, C), np.nan, np.float32), cond)
  with pytest.raises(ValueError):
    cx.compress(state, np.full((H, W, C), 1e6, np.float32), cond)
  with pytest.raises(ValueError):
    cx.compress(state, y[..., :2], cond)
  tampered = dict(state, layers=dict(state["layers"]))
  tampered["layers"]["ep_0"] = dict(state["layers"]["ep_0"], bias=state["layers"]["ep_0"]["bias"] + 1)
  with pytest.raises(StaleTablesError):
    cx.compress(tampered, y, cond)


# ------------------------------------------------------------------ training path
@pytest.mark.parametrize("mode", ["noise", "ste"])
def test_training_path_gives_likelihoods_and_gradients(mode):
  cc, sc = VARIANTS["cond+side"]
  model = cx.ContextModel(C, cond_channels=cc, side_channels=sc, train_quantization=mode)
  params = make_params(model)
  rng = np.random.default_rng(14)
  y = rng.normal(0, 2, (2, H, W, C)).astype(np.float32)
  cond, side = (rng.normal(0, 1, (2, H, W, n)).astype(np.float32) for n in (cc, sc))

  def rate(p, yy):
    _, lik = model.apply({"params": p}, yy, cond, side, train=True, rngs={"noise": jax.random.key(0)})
    return -jnp.sum(jnp.log2(lik))

  bits, (g_p, g_y) = jax.value_and_grad(rate, argnums=(0, 1))(params, y)
  assert np.isfinite(bits) and bits > 0
  assert np.all(np.isfinite(g_y)) and np.any(g_y != 0)
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(g_p))
  y_hat, lik = model.apply({"params": params}, y, cond, side)  # eval: round(y - μ) + μ, p >= 1e-9
  assert y_hat.shape == y.shape and np.all(np.asarray(lik) >= 1e-9) and np.all(np.abs(np.asarray(y_hat) - y) <= 0.5)


def test_coding_reads_and_writes_context_files_through_the_kind_table():
  """``coding.compress`` / ``decompress`` take a context state like any other model kind (its codec
  comes from the table of kinds): the same bytes as ``context.compress``, options passed through,
  and an unknown option refused before decoding."""
  from lossyless_jax.entropy import coding
  _, _, state = setup("cond")
  rng = np.random.default_rng(5)
  y = latent(rng)
  cond, _ = side_inputs("cond", rng)
  data = coding.compress({"tables": state}, y, cond=cond)
  assert data == cx.compress(state, y, cond)
  out = coding.decompress({"tables": state}, data, cond=cond, schedule="raster")
  np.testing.assert_array_equal(out, cx.quantize(state, y, cond))
  with pytest.raises(TypeError):
    coding.decompress({"tables": state}, data, cond=cond, temperature=2)
  with pytest.raises(ValueError, match="schedule"):
    coding.decompress({"tables": state}, data, cond=cond, schedule="zigzag")
