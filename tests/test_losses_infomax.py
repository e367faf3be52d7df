"""Tests for lossyless_jax.losses.infomax (noise-injected DIM): capacities, noise, Thm 4.1's critic,
the InfoNCE / DV / NWJ bounds over the N×N matrix, and the full matrix on 8 simulated devices."""
import json
import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.losses import infomax


def test_capacities_inverses_and_remark_3_6():
  assert infomax.capacity_gaussian(0.1, 2) == pytest.approx(math.log(101))  # Fig. 2a
  assert infomax.capacity_uniform(0.05, 2) == pytest.approx(2 * math.log(11))  # Fig. 2b
  assert infomax.capacity_gaussian(0.0, 2) == math.inf and infomax.capacity_uniform(0.0, 3) == math.inf
  # the capacity table of the paper's notes (d = 2): C = 2 nats <-> σ = 0.396, ε = 0.291
  assert infomax.sigma_for_capacity(2.0, 2) == pytest.approx(0.396, abs=5e-4)
  assert infomax.epsilon_for_capacity(2.0, 2) == pytest.approx(0.291, abs=5e-4)
  for c in (0.5, 3.0, 14.0):
    assert infomax.capacity_gaussian(infomax.sigma_for_capacity(c, 2), 2) == pytest.approx(c)
    assert infomax.capacity_uniform(infomax.epsilon_for_capacity(c, 5), 5) == pytest.approx(c)
  assert infomax.uniform_continuous_mi(0.05, 2) == pytest.approx(4.7052, abs=1e-4)
  assert infomax.uniform_continuous_mi(0.1, 2) == pytest.approx(3.4189, abs=1e-4)
  assert infomax.uniform_continuous_mi(0.05, 2) < infomax.capacity_uniform(0.05, 2)


def test_noise_is_fresh_and_has_the_right_law():
  y = jnp.zeros((20000, 2))
  g1 = infomax.inject_noise(jax.random.PRNGKey(0), y, "gaussian", 0.3)
  g2 = infomax.inject_noise(jax.random.PRNGKey(1), y, "gaussian", 0.3)
  assert float(jnp.std(g1)) == pytest.approx(0.3, rel=0.02) and not np.allclose(g1, g2)
  u = infomax.inject_noise(jax.random.PRNGKey(0), y, "uniform", 0.05)
  assert float(jnp.max(jnp.abs(u))) <= 0.05 and float(jnp.std(u)) == pytest.approx(0.05 / math.sqrt(3), rel=0.02)
  assert infomax.inject_noise(jax.random.PRNGKey(0), y + 1, "gaussian", 0.0) is not None
  np.testing.assert_array_equal(infomax.inject_noise(jax.random.PRNGKey(0), y + 1, "uniform", 0.0), y + 1)


def _reference_bounds(t):
  t = np.asarray(t, np.float64)
  n = len(t)
  diag = np.diag(t)
  lse = np.log(np.exp(t).sum(1))
  off = t[~np.eye(n, dtype=bool)]
  return {"infonce": np.mean(diag - lse) + math.log(n), "dv": diag.mean() - math.log(np.mean(np.exp(off))),
          "nwj": diag.mean() - np.mean(np.exp(off - 1))}


@pytest.mark.parametrize("bound", infomax.BOUNDS)
def test_bounds_match_numpy_and_masks_drop_padding(bound):
  rng = np.random.default_rng(0)
  t = rng.normal(size=(7, 7)).astype(np.float32)
  np.testing.assert_allclose(float(infomax.mi_bound(jnp.asarray(t), bound)), _reference_bounds(t)[bound], rtol=1e-5)
  padded = np.full((9, 9), 50.0, np.float32)
  padded[:7, :7] = t
  mask = jnp.asarray([1] * 7 + [0, 0])
  np.testing.assert_allclose(float(infomax.mi_bound(jnp.asarray(padded), bound, mask)), _reference_bounds(t)[bound],
                             rtol=1e-5)
  perm = rng.permutation(7)
  np.testing.assert_allclose(float(infomax.mi_bound(jnp.asarray(t[perm][:, perm]), bound)),
                             _reference_bounds(t)[bound], rtol=1e-5)


def test_infonce_never_exceeds_log_n():
  t = 100.0 * jnp.eye(16)  # a perfect critic
  assert float(infomax.mi_bound(t)) == pytest.approx(math.log(16), abs=1e-5)
  t = jax.random.normal(jax.random.PRNGKey(0), (16, 16)) * 30
  assert float(infomax.mi_bound(t)) <= math.log(16) + 1e-6


def _estimate(sample, sigma, reps=10, n=2048, seed=0):
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(reps):
    x = sample(rng, (n, 2))
    y = x + sigma * rng.normal(size=x.shape)
    values.append(float(infomax.mi_bound(infomax.gaussian_critic(jnp.asarray(x, jnp.float32),
                                                                 jnp.asarray(y, jnp.float32), sigma))))
  return float(np.mean(values))


GAUSS = lambda rng, s: rng.normal(size=s)
UNIFORM = lambda rng, s: rng.uniform(-math.sqrt(3), math.sqrt(3), size=s)
RADEMACHER = lambda rng, s: rng.choice([-1.0, 1.0], size=s)


@pytest.mark.parametrize("sigma", [1.0, 0.5, 0.3])
def test_closed_form_critic_attains_capacity_only_for_gaussian_embeddings(sigma):
  """Thm 4.1 (acceptance 1): InfoNCE(T*) on exact pairs (x, x + σz), N = 2048, is within 0.03 nats of
  C for x ~ N(0, I) and strictly below C for unit-variance uniform and Rademacher x."""
  cap = infomax.capacity_gaussian(sigma, 2)
  assert abs(_estimate(GAUSS, sigma) - cap) < 0.03
  assert _estimate(UNIFORM, sigma) < cap
  assert _estimate(RADEMACHER, sigma) < cap


def test_closed_form_critic_is_pmi_minus_capacity():
  """Thm 4.1's proof: T*(x, y) + C = log p(y | x) − log p(y) for Y ~ N(0, I), Y + Z, Z ~ N(0, σ²I)."""
  from scipy import stats
  rng = np.random.default_rng(3)
  x, y, sigma = rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), 0.4
  pmi = (stats.norm.logpdf(y[None], x[:, None], sigma).sum(-1) - stats.norm.logpdf(y, 0, math.sqrt(1 + sigma ** 2)).sum(-1)[None])
  t = np.asarray(infomax.gaussian_critic(jnp.asarray(x), jnp.asarray(y), sigma), np.float64)
  np.testing.assert_allclose(t + infomax.capacity_gaussian(sigma, 2), pmi, rtol=1e-4, atol=1e-4)


_SHARDED = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from lossyless_jax.losses import infomax
    from lossyless_jax.nets.infomax import PairCritic
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    u = rng.normal(size=(64, 2)).astype(np.float32)
    y = (u + 0.3 * rng.normal(size=(64, 2))).astype(np.float32)
    critic = PairCritic((32, 32))
    params = critic.init(jax.random.PRNGKey(0), u[:2], y[:2])["params"]
    out = {}
    for bound in ("infonce", "dv", "nwj"):
      for kind in ("mlp", "gaussian"):
        def f(p, a, b):
          t = critic.apply({"params": p}, a, b) if kind == "mlp" else infomax.gaussian_critic(a, b, 0.5)
          return infomax.mi_bound(t, bound)
        step = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))
        one = jax.devices()[0]
        v1, g1 = step(jax.device_put(params, one), jax.device_put(u, one), jax.device_put(y, one))
        mesh = Mesh(np.array(jax.devices()), ("data",))
        shard, rep = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
        a8, b8 = jax.device_put(u, shard), jax.device_put(y, shard)
        assert len(a8.sharding.device_set) == 8
        v8, g8 = step(jax.device_put(params, rep), a8, b8)
        # gradients relative in the 2-norm over all leaves (the largest entry-wise difference over the
        # largest entry is ~1.6e-6: float32 sums over the N² pairs in another order)
        flat = lambda g: np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree_util.tree_leaves(g)])
        out[f"{bound}_{kind}"] = {"value": abs(float(v8) - float(v1)) / abs(float(v1)),
                                  "grad": float(np.linalg.norm(flat(g8) - flat(g1)) / np.linalg.norm(flat(g1)))}
    print(json.dumps(out))
""")


def test_full_matrix_on_8_devices_matches_one_device(python):
  """Acceptance 7: the N×N critic matrix of the whole global batch under sharding (every bound, both
  critics): the value and the gradients (2-norm over all parameters and inputs) equal one device's to
  1e-6 relative."""
  proc = python(["-c", _SHARDED], env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=8",
                                              "JAX_PLATFORMS": "cpu"}, timeout=240)
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert len(out) == 6, out
  assert all(r["value"] <= 1e-6 and r["grad"] <= 1e-6 for r in out.values()), out
