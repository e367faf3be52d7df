"""Entropy coding: categorical primitive with escapes, exact round trips, coded size vs ideal."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.entropy import coding, container
from lossyless_jax.entropy import factorized as fz
from lossyless_jax.entropy import gaussian as g
from lossyless_jax.entropy.affine import AffinePrecision
from lossyless_jax.entropy.factorized import EntropyBottleneck
from lossyless_jax.entropy.hyperprior import VectorHyperprior
from lossyless_jax.entropy.tables import StaleTablesError, build_gaussian_tables
from lossyless_jax.entropy.testing import numpy_params

DIM = 16


# ------------------------------------------------------------------ encode/decode_categorical
def _zipf(k, s=1.1):
  p = 1.0 / np.arange(1, k + 1) ** s
  return p / p.sum()


def test_categorical_round_trip_with_escapes():
  pmf = _zipf(1000)
  rng = np.random.default_rng(0)
  s = rng.choice(1000, size=5000, p=pmf)
  s[:12] = [1000, 1001, 5000, 10**6, -1, -2, -(10**9), 2**40 - 1, -(2**40) + 1, 2**31, 0, 999]
  data = coding.encode_categorical(s, pmf)
  assert isinstance(data, bytes) and len(data) % 4 == 0
  out = coding.decode_categorical(data, pmf, s.size)
  assert out.dtype == np.int64
  np.testing.assert_array_equal(out, s)


def test_categorical_small_and_empty():
  pmf = np.array([0.7, 0.2, 0.1])
  for s in ([], [0], [2], [3], [-1], [1, 1, 1, 7]):
    s = np.asarray(s, np.int64)
    out = coding.decode_categorical(coding.encode_categorical(s, pmf), pmf, s.size)
    np.testing.assert_array_equal(out, s)
  assert coding.encode_categorical(np.zeros(0, np.int64), pmf) == b""


def test_categorical_size_close_to_ideal():
  pmf = _zipf(1 << 12)
  s = np.random.default_rng(1).choice(pmf.size, size=200_000, p=pmf)
  ideal = -np.log2(pmf[s]).sum()
  bits = 8 * len(coding.encode_categorical(s, pmf))
  assert bits <= 1.001 * ideal + 64 * 8, (bits, ideal)


def test_categorical_rejects_bad_input():
  pmf = np.array([0.5, 0.5])
  with pytest.raises(ValueError):
    coding.encode_categorical(np.array([2**41]), pmf)
  with pytest.raises(ValueError):
    coding.encode_categorical(np.array([0.5]), pmf)
  with pytest.raises(ValueError):
    coding.encode_categorical(np.array([0]), np.array([0.5, -0.1]))
  with pytest.raises(ValueError):
    coding.decode_categorical(b"\0\0\0\0", pmf, -1)
  with pytest.raises(container.CorruptedBitstreamError):
    coding.decode_categorical(b"\0\0\0", pmf, 3)


def test_categorical_garbage_never_crashes():
  pmf = _zipf(50)
  rng = np.random.default_rng(2)
  for _ in range(200):
    data = rng.integers(0, 256, 4 * rng.integers(0, 6), dtype=np.uint8).tobytes()
    try:
      out = coding.decode_categorical(data, pmf, 20)
      assert out.shape == (20,)
    except container.BitstreamError:
      pass


# ------------------------------------------------------------------ models
def _make(kind):
  base = EntropyBottleneck(DIM) if "factorized" in kind else VectorHyperprior(DIM)
  model = AffinePrecision(base) if kind.startswith("affine") else base
  # quantiles solved where the aux loss converges, so the tables are realistic
  params = numpy_params(model, DIM, seed=0, perturb=0.2)
  if kind.startswith("affine"):
    params["scaling"] = np.linspace(-1, 2, DIM).astype(np.float32)
    params["biasing"] = np.linspace(-3, 3, DIM).astype(np.float32)
  return model, {"params": params}


KINDS = ["factorized", "hyperprior", "affine_factorized", "affine_hyperprior"]


@pytest.fixture(scope="module")
def models():
  return {kind: _make(kind) for kind in KINDS}


def _latents(n, seed=0):
  rng = np.random.default_rng(seed)
  z = (rng.standard_normal((n, DIM)) * 4).astype(np.float32)
  # symbols far outside the quantiles (the escape path), including a whole far-away latent
  z.flat[::7] *= 1000.0
  z[0, 0], z[-1, -1] = 3.0e8, -7.5e5
  z[n // 2] = np.linspace(-2e5, 2e5, DIM)
  return z


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 7, 10_000])
def test_round_trip_exact(models, kind, n):
  """Acceptance 3: decompress(compress(z)) is exactly the eval-mode quantized latent."""
  model, v = models[kind]
  state = coding.make_model_state(v["params"])
  z = _latents(n, seed=n)
  data = coding.compress(state, z)
  out = coding.decompress({"tables": state["tables"]}, data)  # the decoder needs only tables
  assert out.dtype == np.float32 and out.shape == z.shape
  np.testing.assert_array_equal(out, coding.quantize(state, z))
  if n == 7 and kind == "factorized":  # (one batch size per model, to bound compile time)
    ref, _ = jax.jit(model.apply)(v, jnp.asarray(z))
    np.testing.assert_array_equal(out, np.asarray(ref))  # = the module's eval output on CPU
  if n == 7 and kind == "affine_factorized":
    # the decoder's inverse is y / exp(s) - b with exp(s) stored at export (IEEE division and
    # subtraction: the same bits everywhere); XLA rewrites the module's y / exp(s) as y · exp(-s),
    # so the module's eval output can differ from it in the last bit
    ref, _ = jax.jit(model.apply)(v, jnp.asarray(z))
    _assert_within_inverse_rounding(out, np.asarray(ref), v["params"]["biasing"])
  parts = coding.latent_symbols(state, z)
  assert np.abs(parts["symbols"]).max() > 10_000  # the far-outside symbols were exercised


def test_batch_shapes_and_empty(models):
  _, v = models["factorized"]
  state = coding.make_model_state(v["params"])
  z = _latents(12).reshape(3, 4, DIM)
  np.testing.assert_array_equal(coding.decompress(state, coding.compress(state, z)), coding.quantize(state, z))
  z1 = _latents(1)[0]
  np.testing.assert_array_equal(coding.decompress(state, coding.compress(state, z1)), coding.quantize(state, z1))
  z0 = np.zeros((0, DIM), np.float32)
  assert coding.decompress(state, coding.compress(state, z0)).shape == (0, DIM)


def test_compress_rejects_bad_latents_and_stale_tables(models):
  _, v = models["factorized"]
  state = coding.make_model_state(v["params"])
  with pytest.raises(ValueError, match="shape"):
    coding.compress(state, np.zeros((2, DIM + 1), np.float32))
  with pytest.raises(ValueError, match="NaN"):
    coding.compress(state, np.full((2, DIM), np.nan, np.float32))
  with pytest.raises(ValueError, match="2\\*\\*30"):
    coding.compress(state, np.full((2, DIM), 3e9, np.float32))
  with pytest.raises(ValueError, match="floating"):
    coding.compress(state, np.zeros((2, DIM), np.int32))
  params = jax.tree_util.tree_map(np.array, v["params"])
  params["quantiles"][:, 1] += 0.25
  with pytest.raises(StaleTablesError):
    coding.compress({"params": params, "tables": state["tables"]}, _latents(2))
  with pytest.raises(ValueError, match="params"):
    coding.compress({"tables": state["tables"]}, _latents(2))


# ------------------------------------------------------------------ acceptance 4: size vs ideal
def test_factorized_coded_size_vs_ideal_1e6_symbols():
  """Coded size <= 1.001 x Σ -log2 p + 64 bytes on >= 10**6 symbols (factorized)."""
  c, n = 8, 131_072  # 1,048,576 symbols
  rng = np.random.default_rng(0)
  p = fz.init_factorized_params(jax.random.key(1), c)
  p = {k: np.asarray(x) + 0.3 * rng.standard_normal(x.shape).astype(np.float32) for k, x in p.items()}
  p["quantiles"] = fz.exact_quantiles(p).astype(np.float32)
  state = coding.make_model_state(p)
  med = p["quantiles"][:, 1].astype(np.float64)
  p64 = {k: np.asarray(x, np.float64) for k, x in p.items()}
  grid = np.arange(-400, 401)
  pmf = fz.bin_probabilities(p64, med[None, :] + grid[:, None], xp=np)
  k = np.stack([rng.choice(grid, n, p=pmf[:, j] / pmf[:, j].sum()) for j in range(c)], 1)
  ideal = -np.log2(pmf[k + 400, np.arange(c)]).sum()
  z = (k + med[None, :]).astype(np.float32)
  data = coding.compress(state, z)
  np.testing.assert_array_equal(coding.decompress(state, data), coding.quantize(state, z))
  bits = 8 * len(data)
  print(f"factorized: {k.size} symbols, {bits} bits, ideal {ideal:.0f}, ratio {bits / ideal:.6f}")
  assert bits <= 1.001 * ideal + 64 * 8


def test_gaussian_coded_size_vs_ideal_1e6_symbols():
  """Same bound for the Gaussian conditional (ideal uses the continuous predicted scales)."""
  n = 1 << 20
  rng = np.random.default_rng(1)
  sec = build_gaussian_tables()
  scales = np.exp(rng.uniform(math.log(0.11), math.log(64.0), n)).astype(np.float32)
  means = rng.normal(0, 5, n).astype(np.float32)
  z = means + scales * rng.standard_normal(n).astype(np.float32)
  k = np.rint(z - means).astype(np.int32)
  ideal = -np.log2(g.gaussian_bin_probabilities(k.astype(np.float64), scales.astype(np.float64), xp=np)).sum()
  idx = g.scale_to_index(scales, sec["boundaries"])
  data = coding.encode_gaussian_symbols(k, idx, sec)
  np.testing.assert_array_equal(coding.decode_gaussian_symbols(data, idx, sec), k)
  bits = 8 * len(data)
  print(f"gaussian: {n} symbols, {bits} bits, ideal {ideal:.0f}, ratio {bits / ideal:.6f}")
  assert bits <= 1.001 * ideal + 64 * 8


def test_escape_heavy_stream_round_trips():
  """Every symbol escaped, across all 41 Elias-gamma lengths."""
  sec = build_gaussian_tables()
  n = 4000
  rng = np.random.default_rng(3)
  mag = np.floor(2.0 ** rng.uniform(5, 30.9, n)).astype(np.int64)
  k = (mag * rng.choice([-1, 1], n)).astype(np.int32)
  idx = rng.integers(0, 64, n).astype(np.uint8)
  data = coding.encode_gaussian_symbols(k, idx, sec)
  np.testing.assert_array_equal(coding.decode_gaussian_symbols(data, idx, sec), k)


def test_affine_rounding_matches_module_at_fma_ties(models):
  """Latents where rounding (z + b)·e^s - median with and without FMA contraction differ:
  the coder codes the module's symbols even there."""
  model, v = models["affine_factorized"]
  params = jax.tree_util.tree_map(np.array, v["params"])
  b = params["biasing"][0]
  med = np.float32(params["rate_model"]["quantiles"][0, 1])
  m = np.asarray(jax.jit(jnp.exp)(params["scaling"]))[0]
  rng = np.random.default_rng(0)
  z = rng.uniform(1e3, 3e4, 2_000_000).astype(np.float32)
  zb = (z + b).astype(np.float32)
  exact = zb.astype(np.float64) * np.float64(m) - np.float64(med)  # one rounding (FMA)
  fused = np.rint(exact.astype(np.float32))
  split = np.rint((zb * m).astype(np.float32) - med)  # two roundings
  ties = z[fused != split][:32]
  assert ties.size > 0
  lat = np.asarray(rng.normal(0, 3, (ties.size, DIM)), np.float32)
  lat[:, 0] = ties
  state = coding.make_model_state(params)
  out = coding.decompress(state, coding.compress(state, lat))
  ref, _ = jax.jit(model.apply)({"params": params}, jnp.asarray(lat))
  ref = np.asarray(ref)
  e = np.asarray(jax.jit(jnp.exp)(params["scaling"]))
  module_symbols = np.rint((ref[:, 0].astype(np.float64) + params["biasing"][0]) * e[0] - med)
  np.testing.assert_array_equal(coding.latent_symbols(state, lat)["symbols"][:, 0], module_symbols)
  _assert_within_inverse_rounding(out, ref, params["biasing"])


def _assert_within_inverse_rounding(out, ref, biasing):
  """``out`` and ``ref`` are the same dequantised latents up to the rounding of ``y·e^-s`` (a few
  ulps of ``y·e^-s``, before ``- b``)."""
  tol = 4 * np.spacing(np.abs(out) + np.abs(np.asarray(biasing, np.float32)))
  assert np.all(np.abs(out.astype(np.float64) - ref) <= tol)


@pytest.mark.parametrize("kind", ["hyperprior", "affine_hyperprior"])
def test_integer_h_s_matches_the_float_model(models, kind):
  """The hyperprior decoder runs h_s as an exported integer network: its means are the float
  model's to within the 2^-8 grid (plus weight rounding), its scales likewise, so ŷ differs from
  the module's eval output only by that mean shift (or by one where the rounding flips)."""
  from lossyless_jax.entropy import hyperprior, integer_net as inet
  model, v = models[kind]
  state = coding.make_model_state(v["params"])
  inner = v["params"].get("rate_model", v["params"])
  rng = np.random.default_rng(3)
  side_hat = np.rint(rng.normal(0, 3, (500, hyperprior.default_side_dim(DIM)))).astype(np.float32)
  side_hat += state["tables"]["factorized"]["medians"]
  codec = coding.codec_for(state).inner
  prm = codec.parameters(side_hat)
  ref = np.asarray(hyperprior.mlp_apply(inner["h_s"], side_hat), np.float64)
  mean = np.ldexp(prm.mean_q.astype(np.float64), -inet.FRAC_IN)
  scale = np.ldexp(prm.scale_q.astype(np.float64), -inet.FRAC_ACT)
  assert np.max(np.abs(mean - ref[:, DIM:])) <= 2.0**-9 + 1e-3 * (1 + np.abs(ref[:, DIM:]).max())
  assert np.max(np.abs(scale - ref[:, :DIM])) <= 2.0**-9 + 1e-3 * (1 + np.abs(ref[:, :DIM]).max())
  z = (rng.standard_normal((50, DIM)) * 4).astype(np.float32)
  out = coding.decompress({"tables": state["tables"]}, coding.compress(state, z))
  ref_out, _ = jax.jit(model.apply)(v, jnp.asarray(z))
  diff = np.abs(out - np.asarray(ref_out))
  scale_map = np.exp(np.asarray(v["params"]["scaling"])) if "affine" in kind else 1.0
  shift = diff * scale_map  # back in the coded space
  assert np.all((shift < 0.02) | (np.abs(shift - 1) < 0.02))
  assert np.mean(shift < 0.02) > 0.95
