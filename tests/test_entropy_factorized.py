"""Deep factorized density: normalisation, init, aux loss, quantiles, fit to a known source."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lossyless_jax.entropy import coding
from lossyless_jax.entropy import factorized as fz
from lossyless_jax.entropy.hyperprior import VectorHyperprior
from lossyless_jax.entropy.testing import numpy_params


def _random_params(seed, channels=3):
  """Init params with every leaf perturbed, so the density is asymmetric and non-trivial."""
  p = fz.init_factorized_params(jax.random.key(seed), channels)
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray(np.asarray(x) + 0.5 * rng.standard_normal(x.shape), jnp.float32) for k, x in p.items()}


def _np64(p):
  return jax.tree_util.tree_map(lambda x: np.asarray(x, np.float64), p)


def test_init_matches_compressai():
  p = fz.init_factorized_params(jax.random.key(0), 5)
  scale = 10.0 ** (1 / 5)
  np.testing.assert_allclose(p["matrix_0"], math.log(math.expm1(1 / scale / 3)), rtol=1e-6)
  np.testing.assert_allclose(p["matrix_4"], math.log(math.expm1(1 / scale / 1)), rtol=1e-6)
  assert p["matrix_1"].shape == (5, 3, 3) and p["bias_4"].shape == (5, 1)
  assert "factor_4" not in p and float(jnp.abs(p["factor_0"]).max()) == 0.0
  np.testing.assert_array_equal(p["quantiles"], np.tile([-10.0, 0.0, 10.0], (5, 1)))
  assert float(jnp.abs(p["bias_0"]).max()) <= 0.5


def test_cumulative_is_monotone():
  p = _random_params(1)
  x = np.linspace(-300, 300, 20001)[:, None] * np.ones((1, 3))
  logits = fz.logits_cumulative(_np64(p), x, xp=np)
  assert np.all(np.diff(logits, axis=0) > 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_likelihoods_sum_to_one_with_tails_float64(seed):
  p = _np64(_random_params(seed))
  n = 400
  k = np.arange(-n, n + 1, dtype=np.float64)[:, None] * np.ones((1, 3))
  mass = fz.bin_probabilities(p, k, xp=np).sum(axis=0)
  edges = fz.logits_cumulative(p, np.array([[-n - 0.5] * 3, [n + 0.5] * 3]), xp=np)
  tails = fz._sigmoid(edges[0], np) + fz._sigmoid(-edges[1], np)
  np.testing.assert_allclose(mass + tails, 1.0, atol=1e-12)


def test_likelihoods_sum_to_one_float32_module_path():
  """The floored float32 likelihoods of the training path also sum to 1 ± 1e-6."""
  p = _random_params(3)
  n = 300
  k = jnp.arange(-n, n + 1, dtype=jnp.float32)[:, None] * jnp.ones((1, 3))
  edges_x = jnp.array([[-n - 0.5] * 3, [n + 0.5] * 3])

  @jax.jit
  def run(p):
    edges = fz.logits_cumulative(p, edges_x)
    return fz.factorized_likelihood(p, k), jax.nn.sigmoid(edges[0]) + jax.nn.sigmoid(-edges[1])

  lik, tails = run(p)
  total = np.asarray(lik, np.float64).sum(0) + np.asarray(tails, np.float64)
  assert np.all(np.abs(total - 1.0) <= 1e-6), total


def test_numpy_and_jax_paths_agree():
  p = _random_params(4)
  y = np.linspace(-20, 20, 81)[:, None] * np.ones((1, 3))
  a = fz.bin_probabilities(_np64(p), y, xp=np)
  b = jax.jit(fz.bin_probabilities)(p, jnp.asarray(y, jnp.float32))
  np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-7)


def test_likelihood_floor_and_its_gradient():
  p = fz.init_factorized_params(jax.random.key(0), 1)
  y = jnp.array([[400.0]])  # far in the tail: bin mass < 1e-9 but sigmoids not saturated

  @jax.jit
  def run(p):
    loss = lambda pp, sign: sign * jnp.log(fz.factorized_likelihood(pp, y)).sum()
    return (fz.bin_probabilities(p, y), fz.factorized_likelihood(p, y), jax.grad(loss)(p, -1.0), jax.grad(loss)(p, 1.0))

  raw, lik, g_min, g_max = run(p)
  assert float(raw[0, 0]) < 1e-9 and float(lik[0, 0]) == pytest.approx(1e-9)
  # minimising -log p wants p up (g < 0 on p): LowerBound passes the gradient ...
  assert float(jnp.abs(g_min["bias_4"]).sum()) > 0
  # ... while a loss that wants p further down below the floor gets none
  assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree_util.tree_leaves(g_max))


def test_aux_loss_reaches_only_quantiles():
  p = _random_params(5)
  g = jax.jit(jax.grad(fz.aux_loss))(p)
  for name, leaf in g.items():
    if name == "quantiles":
      assert float(jnp.abs(leaf).sum()) > 0
    else:
      assert float(jnp.abs(leaf).max()) == 0.0, name


def test_aux_loss_target_value():
  t = math.log(2 / 1e-9 - 1)
  assert fz.tail_logit(1e-9) == pytest.approx(t)
  assert 1 / (1 + math.exp(t)) == pytest.approx(5e-10, rel=1e-6)


def test_module_modes():
  m = fz.EntropyBottleneck(4)
  ste = fz.EntropyBottleneck(4, train_quantization="ste")
  z = jnp.array([[0.2, -1.7, 3.4, 10.6]])

  @jax.jit
  def run(z, key):
    v = m.init({"params": jax.random.key(0)}, z)
    return (
      v,
      m.apply(v, z),
      m.apply(v, z, train=True, rngs={"noise": key}),
      ste.apply(v, z, train=True),
      m.apply(v, method=fz.EntropyBottleneck.medians),
      m.apply(v, method=fz.EntropyBottleneck.quantiles),
    )

  v, (y, lik), (y_t, _), (y_s, _), med, quant = run(z, jax.random.key(1))
  np.testing.assert_array_equal(y, jnp.round(z))  # medians are 0 at init
  assert lik.shape == z.shape and float(lik.min()) > 0
  assert float(jnp.abs(y_t - z).max()) <= 0.5 and not np.array_equal(y_t, jnp.round(z))
  np.testing.assert_array_equal(y_s, jnp.round(z))
  np.testing.assert_array_equal(med, jnp.zeros(4))
  assert quant.shape == (4, 3)
  with pytest.raises(ValueError, match="4 channels"):
    jax.eval_shape(m.apply, v, jnp.zeros((1, 3)))


def test_optimizer_labels_route_quantiles_to_aux():
  m = VectorHyperprior(12)
  v = {"params": numpy_params(m, 12)}
  labels = fz.optimizer_labels(v["params"])
  assert labels["side_density"]["quantiles"] == "aux"
  flat = jax.tree_util.tree_leaves_with_path(labels)
  assert sum(lab == "aux" for _, lab in flat) == 1
  assert all(lab == "default" for path, lab in flat if "quantiles" not in jax.tree_util.keystr(path))
  # total_aux_loss finds the nested density
  assert float(jax.jit(fz.total_aux_loss)(v["params"])) == pytest.approx(
    float(jax.jit(lambda v: m.apply(v, method=VectorHyperprior.aux_loss))(v)), rel=1e-6
  )


# ------------------------------------------------------------------ fit to a known discrete source
LAPLACE_B = 2.0


def _rounded_laplace_pmf(support):
  b = LAPLACE_B
  k = np.abs(support)
  return np.where(k == 0, 1 - np.exp(-0.5 / b), np.exp(-(k - 0.5) / b) * (1 - np.exp(-1 / b)) / 2)


@pytest.fixture(scope="module")
def fitted():
  """Factorized density + quantiles trained on samples of round(Laplace(0, 2))."""
  rng = np.random.default_rng(0)
  samples = jnp.asarray(np.rint(rng.laplace(0, LAPLACE_B, 200_000)).astype(np.float32)[:, None])
  params = fz.init_factorized_params(jax.random.key(0), 1)
  steps = 500
  tx = optax.multi_transform(
    {
      "default": optax.adam(optax.cosine_decay_schedule(3e-2, steps)),
      "aux": optax.adam(optax.cosine_decay_schedule(1.0, steps, 1e-3)),
    },
    fz.optimizer_labels,
  )
  state = tx.init(params)

  @jax.jit
  def step(params, state, batch):
    def loss(p):
      rate = -jnp.mean(jnp.log(fz.factorized_likelihood(p, batch)))
      return rate + fz.total_aux_loss(p)

    g = jax.grad(loss)(params)
    upd, state = tx.update(g, state, params)
    return optax.apply_updates(params, upd), state

  for _ in range(steps):
    params, state = step(params, state, samples[rng.integers(0, samples.shape[0], 4096)])
  return params


def test_fit_rate_within_one_percent_of_entropy(fitted):
  """Acceptance 2: the fitted model's rate is within 1% of H[round(Laplace)], on both sides: a
  rate that under-counts the bits fails as well as one that over-counts them."""
  support = np.arange(-500, 501)
  pmf = _rounded_laplace_pmf(support)
  entropy = -(pmf * np.log2(pmf)).sum()
  q = fz.bin_probabilities(_np64(fitted), support.astype(np.float64)[:, None], xp=np)[:, 0]
  cross_entropy = -(pmf * np.log2(q)).sum()  # exact expected rate, bits/symbol
  # Gibbs: no model beats the entropy, so an exact rate below H means a miscounted rate.
  assert 0 <= cross_entropy - entropy < 0.01 * entropy, (cross_entropy, entropy)
  # held-out samples through the eval-mode module and the real coder
  rng = np.random.default_rng(1)
  x = np.rint(rng.laplace(0, LAPLACE_B, 50_000)).astype(np.float32)[:, None]
  _, lik = jax.jit(fz.EntropyBottleneck(1).apply)({"params": fitted}, jnp.asarray(x))
  est = float(-np.log2(np.asarray(lik, np.float64)).mean())
  assert abs(est - entropy) < 0.01 * entropy, (est, entropy)
  state = coding.make_model_state(fitted)
  coded = 8 * len(coding.compress(state, x)) / x.size
  assert abs(coded - entropy) < 0.01 * entropy, (coded, entropy)
  print(f"H={entropy:.4f} CE={cross_entropy:.4f} est={est:.4f} coded={coded:.4f} bits/symbol")


def test_quantiles_enclose_all_but_tail_mass(fitted):
  """Acceptance 1: after the aux loss, mass outside [q_lo, q_hi] is ~1e-9 (5e-10 each side)."""
  p64 = _np64(fitted)
  q = p64["quantiles"][0]
  logits = fz.logits_cumulative(p64, np.array([[q[0]], [q[1]], [q[2]]]), xp=np)[:, 0]
  below = fz._sigmoid(logits[0], np)
  above = fz._sigmoid(-logits[2], np)
  median_cdf = fz._sigmoid(logits[1], np)
  assert 2.5e-10 < below < 1e-9 and 2.5e-10 < above < 1e-9, (below, above)
  assert 0.5e-9 < below + above < 2e-9
  assert abs(median_cdf - 0.5) < 1e-2
  print(f"mass below q_lo={below:.3e}, above q_hi={above:.3e}, CDF(median)={median_cdf:.4f}")
