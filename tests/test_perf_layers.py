"""The speed-only rewrites compute what they replace: strided convolutions (nets.strided), the
unrolled Threefry lowering (cpu_speed), the one-pass NERD dual (losses.nerd), the device
prefetcher and the bound on steps in flight (pipelining), and bfloat16 compute (precision)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax import cpu_speed, pipelining, precision
from lossyless_jax.data import pipeline
from lossyless_jax.losses import distortions, nerd
from lossyless_jax.nets import strided

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("h, w, k", [(16, 16, 3), (7, 7, 3), (8, 5, 3), (9, 9, 5), (6, 6, 4), (2, 2, 3)])
def test_strided_conv_equals_flax_conv_with_stride_2(h, w, k):
  x = jnp.asarray(RNG.normal(size=(2, h, w, 3)), jnp.float32)
  ref = nn.Conv(5, (k, k), strides=(2, 2), padding="SAME")
  variables = ref.init(jax.random.PRNGKey(0), x)
  mine = strided.StridedConv(5, k)
  assert jax.tree_util.tree_map(jnp.shape, mine.init(jax.random.PRNGKey(0), x)) == \
      jax.tree_util.tree_map(jnp.shape, variables)
  np.testing.assert_allclose(mine.apply(variables, x), ref.apply(variables, x), atol=2e-6)
  # and its gradients (the input gradient is what XLA's CPU backend ran slowly)
  g_ref = jax.grad(lambda v, x: jnp.sum(jnp.sin(ref.apply(v, x))), argnums=(0, 1))(variables, x)
  g_mine = jax.grad(lambda v, x: jnp.sum(jnp.sin(mine.apply(v, x))), argnums=(0, 1))(variables, x)
  for a, b in zip(jax.tree_util.tree_leaves(g_mine), jax.tree_util.tree_leaves(g_ref)):
    np.testing.assert_allclose(a, b, atol=2e-5)


@pytest.mark.parametrize("h, w", [(2, 2), (4, 4), (3, 5)])
def test_strided_conv_transpose_equals_flax_conv_transpose(h, w):
  x = jnp.asarray(RNG.normal(size=(2, h, w, 3)), jnp.float32)
  ref = nn.ConvTranspose(5, (3, 3), strides=(2, 2), padding="SAME")
  variables = jax.tree_util.tree_map(lambda p: p + 0.3, ref.init(jax.random.PRNGKey(0), x))  # non-zero bias
  mine = strided.StridedConvTranspose(5)
  out = mine.apply(variables, x)
  assert out.shape == (2, 2 * h, 2 * w, 5)
  np.testing.assert_allclose(out, ref.apply(variables, x), atol=2e-6)
  g_ref = jax.grad(lambda v: jnp.sum(jnp.sin(ref.apply(v, x))))(variables)
  g_mine = jax.grad(lambda v: jnp.sum(jnp.sin(mine.apply(v, x))))(variables)
  for a, b in zip(jax.tree_util.tree_leaves(g_mine), jax.tree_util.tree_leaves(g_ref)):
    np.testing.assert_allclose(a, b, atol=2e-5)


def test_strided_conv_transpose_refuses_other_kernels():
  with pytest.raises(ValueError, match="3×3"):
    strided.strided_conv_transpose(jnp.zeros((1, 2, 2, 1)), jnp.zeros((4, 4, 1, 1)))


_DRAW = """
import jax, numpy as np, sys
key = jax.random.PRNGKey(3)
normal = jax.jit(lambda k: jax.random.normal(k, (3, 257)))(key)
bits = jax.jit(lambda k: jax.random.bits(jax.random.fold_in(k, 1), (1001,)))(key)
sys.stdout.write(np.asarray(normal).tobytes().hex() + " " + np.asarray(bits).tobytes().hex())
"""


def test_unrolled_threefry_gives_the_same_bits():
  import subprocess
  import sys
  status = cpu_speed.apply()
  assert status["threefry_unrolled"], "the private JAX hook moved: cpu_speed.apply() is a no-op"
  scope = {}
  exec(compile(_DRAW.replace("sys.stdout.write", "result ="), "draw", "exec"), scope)  # pylint: disable=exec-used
  plain = subprocess.run([sys.executable, "-c", _DRAW], capture_output=True, text=True, check=True).stdout
  assert scope["result"] == plain  # JAX's own rolled lowering, in a process without the hook


def _reference_readouts(dmat, beta):
  """eq. (11) from the plain formulas (log-sum-exp and softmax over a row)."""
  a = beta * dmat
  lse = jax.scipy.special.logsumexp(a, axis=1)
  w = jax.nn.softmax(a, axis=1)
  neg = -jnp.mean(lse - np.log(dmat.shape[1]))
  dh = jnp.mean(jnp.sum(w * dmat, axis=1))
  return neg, dh


def test_one_pass_dual_matches_the_plain_formulas_and_their_gradient():
  x = jnp.asarray(RNG.normal(size=(6, 4)), jnp.float32)
  y = jnp.asarray(RNG.normal(size=(50, 4)), jnp.float32)
  for beta in (-0.3, -4.0, -60.0):  # -60: every exp(β̃ d) underflows without the shift
    loss_fn = lambda y: nerd.nerd_lagrangian_loss(distortions.squared_error(x, y), beta)
    (loss, m), grad = jax.value_and_grad(loss_fn, has_aux=True)(y)
    ref_loss, ref_dh = _reference_readouts(distortions.squared_error(x, y), beta)
    ref_grad = jax.grad(lambda y: _reference_readouts(distortions.squared_error(x, y), beta)[0])(y)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(m["d_hat"], ref_dh, rtol=1e-5)
    np.testing.assert_allclose(m["rate_nats"], beta * ref_dh + ref_loss, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_a_stack_of_slopes_equals_each_slope_alone():
  dmats = jnp.asarray(RNG.uniform(0, 5, size=(8, 3, 40)), jnp.float32)
  betas = jnp.asarray([-0.5, -2.0, -7.0])
  losses, m = nerd.nerd_lagrangian_loss(dmats, betas)
  assert losses.shape == (3,) and m["rate_bits"].shape == (3,)
  for k in range(3):
    loss_k, m_k = nerd.nerd_lagrangian_loss(dmats[:, k], float(betas[k]))
    np.testing.assert_allclose(losses[k], loss_k, rtol=1e-6)
    for name in ("d_hat", "rate_bits", "d_min_mean", "d_mean", "log2_M"):
      np.testing.assert_allclose(m[name][k], m_k[name], rtol=1e-6)


def test_squared_error_is_exact_in_the_folded_form():
  x = jnp.asarray(RNG.normal(size=(7, 5)), jnp.float32)
  y = jnp.asarray(RNG.normal(size=(9, 5)), jnp.float32)
  xy = jnp.matmul(x, y.T, precision="highest")
  unfolded = jnp.maximum(jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None] - 2.0 * xy, 0.0)
  assert np.array_equal(np.asarray(distortions.squared_error(x, y)), np.asarray(unfolded))


class _Counting:
  def __init__(self):
    self.it = pipeline.SampledTrainIterator(lambda rng, n: {"x": rng.normal(size=(n, 2))}, 4, 0, 0, 1)
    self.fetched = 0

  def __next__(self):
    self.fetched += 1
    return next(self.it)

  def state(self):
    return self.it.state()


def test_prefetcher_runs_ahead_but_reports_the_consumed_position():
  source = _Counting()
  reference = pipeline.SampledTrainIterator(lambda rng, n: {"x": rng.normal(size=(n, 2))}, 4, 0, 0, 1)
  prefetched = pipelining.DevicePrefetcher(source, jax.device_put, size=2)
  for i in range(5):
    batch, state = next(prefetched)
    np.testing.assert_array_equal(np.asarray(batch["x"]), jax.device_put(next(reference)["x"]))
    assert state == {"position": i + 1}  # what a checkpoint after this step must record
    assert source.fetched == i + 3  # two batches ahead
  with pytest.raises(ValueError, match="prefetch size"):
    pipelining.DevicePrefetcher(source, jax.device_put, size=0)


def test_in_flight_waits_on_the_step_limit_steps_back():
  waited = []

  class Out:
    def __init__(self, i):
      self.i = i

    def block_until_ready(self):
      waited.append(self.i)
      return self

  bound = pipelining.InFlight(2)
  for i in range(5):
    bound.add(Out(i))
    assert waited == list(range(max(i - 1, 0)))  # steps 0..i-2 done, at most 2 queued
  with pytest.raises(ValueError, match="steps in flight"):
    pipelining.InFlight(-1)


def test_bfloat16_computes_in_bfloat16_but_keeps_float32_parameters_and_entropy_models():
  import ml_collections
  params = {"encoder": {"kernel": jnp.ones((3, 2))}, "rate": {"scale": jnp.ones((2,))}}
  seen = {}

  def loss(p, state, batch, rng, ctx):
    seen.update(enc=p["encoder"]["kernel"].dtype, rate=p["rate"]["scale"].dtype, x=batch["x"].dtype,
                label=batch["label"].dtype)
    h = batch["x"] @ p["encoder"]["kernel"]
    value = jnp.sum(h * p["rate"]["scale"])
    return value, ({"h": jnp.mean(h)}, {"stats": state["stats"] + jnp.mean(h)})

  config = ml_collections.ConfigDict({"precision": "bfloat16"})
  mixed = precision.wrap_loss(loss, config, keep=("rate",))
  batch = {"x": jnp.ones((4, 3)), "label": jnp.arange(4)}
  (value, (metrics, state)), grads = jax.value_and_grad(mixed, has_aux=True)(
      params, {"stats": jnp.zeros(())}, batch, None, None)
  assert seen == {"enc": jnp.bfloat16, "rate": jnp.float32, "x": jnp.bfloat16, "label": jnp.int32}
  assert value.dtype == metrics["h"].dtype == state["stats"].dtype == jnp.float32
  assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
  assert precision.wrap_loss(loss, ml_collections.ConfigDict({"precision": "float32"})) is loss
  from lossyless_jax.config import ConfigError
  with pytest.raises(ConfigError, match="config.precision"):
    precision.wrap_loss(loss, ml_collections.ConfigDict({"precision": "float16"}))
