"""Optimizers from config: schedules, parameter groups, clipping, gradient accumulation."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import optim


def _sched(**kw):
  return optim.make_schedule(config_lib.schedule_config(**kw), num_steps=100)


def test_schedules():
  s = _sched(kind="constant", value=2.0, warmup_steps=10)
  assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(1.0) and float(s(50)) == 2.0
  s = _sched(kind="exponential", value=1e-3, end_value=1e-5)
  assert float(s(0)) == pytest.approx(1e-3) and float(s(100)) == pytest.approx(1e-5, rel=1e-4)
  assert float(s(50)) == pytest.approx(1e-4, rel=1e-3)
  s = _sched(kind="cosine", value=1.0)
  assert float(s(50)) == pytest.approx(0.5, abs=1e-6) and float(s(100)) == pytest.approx(0.0, abs=1e-6)
  s = _sched(kind="multistep", value=1.0, boundaries=(0.5, 0.75), factor=0.1)
  assert [float(s(t)) for t in (49, 51, 80)] == pytest.approx([1.0, 0.1, 0.01])
  s = _sched(kind="step", value=1.0, boundaries=(10,), factor=0.5)
  assert [float(s(t)) for t in (9, 11)] == pytest.approx([1.0, 0.5])
  s = _sched(kind="linear", value=1.0, end_value=0.0)
  assert float(s(25)) == pytest.approx(0.75)
  with pytest.raises(config_lib.ConfigError, match=r"config.schedule.kind: 'sqrt'"):
    _sched(kind="sqrt")


def _params():
  return {"encoder": {"w": jnp.ones(3)}, "bottleneck": {"quantiles": jnp.ones(2)}}


def test_quantiles_get_their_own_group():
  cfg = config_lib.base_config().optim
  cfg.name, cfg.lr.value = "sgd", 0.1
  cfg.momentum = 0.0
  cfg.groups.aux = config_lib.optimizer_config(name="sgd", momentum=0.0, lr=config_lib.schedule_config(value=1.0))
  tx = optim.make_optimizer(cfg, 10, _params())
  grads = jax.tree_util.tree_map(jnp.ones_like, _params())
  updates, _ = tx.update(grads, tx.init(_params()), _params())
  np.testing.assert_allclose(updates["encoder"]["w"], -0.1)
  np.testing.assert_allclose(updates["bottleneck"]["quantiles"], -1.0)


def test_missing_or_unused_group_is_named():
  cfg = config_lib.base_config().optim
  with pytest.raises(config_lib.ConfigError, match=r"config.optim.groups.aux: missing"):
    optim.make_optimizer(cfg, 10, _params())
  cfg.groups.other = config_lib.optimizer_config()
  with pytest.raises(config_lib.ConfigError, match=r"config.optim.groups.other: no parameter has this label"):
    optim.make_optimizer(cfg, 10, {"w": jnp.ones(2)})


def test_clipping_and_accumulation():
  cfg = config_lib.base_config().optim
  cfg.name, cfg.lr.value, cfg.momentum, cfg.clip_norm = "sgd", 1.0, 0.0, 1.0
  p = {"w": jnp.zeros(2)}
  tx = optim.make_optimizer(cfg, 10, p)
  updates, _ = tx.update({"w": jnp.array([3.0, 4.0])}, tx.init(p), p)
  np.testing.assert_allclose(updates["w"], [-0.6, -0.8], rtol=1e-6)
  cfg.clip_norm, cfg.accumulate_steps = None, 2
  tx = optim.make_optimizer(cfg, 10, p)
  state = tx.init(p)
  u1, state = tx.update({"w": jnp.array([1.0, 0.0])}, state, p)
  u2, state = tx.update({"w": jnp.array([3.0, 2.0])}, state, p)
  np.testing.assert_allclose(u1["w"], 0.0)
  np.testing.assert_allclose(u2["w"], [-2.0, -1.0])


def test_coefficients_are_jittable():
  c = config_lib.base_config().coefs
  c.beta = config_lib.schedule_config(value=0.1, warmup_steps=10)
  fn = jax.jit(optim.make_coefficients(c, 100))
  assert float(fn(5)["beta"]) == pytest.approx(0.05)


def _lars_loss(p, x):
  return jnp.sum(jnp.tanh(x @ p["w"] + p["b"]) ** 2)


def _lars_params(seed=0):
  rng = np.random.default_rng(seed)
  return ({"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "b": jnp.asarray(rng.normal(size=4), jnp.float32)},
          jnp.asarray(rng.normal(size=(8, 3)), jnp.float32))


def test_lars_equals_optax_lars_without_weight_decay_and_clipping():
  """optax normalises by ‖g + λw‖, LARS / LARC by ‖g‖ + λ‖w‖: the two agree at λ = 0."""
  params, x = _lars_params()
  c = config_lib.optimizer_config(name="lars", trust_coefficient=0.02, momentum=0.9)
  c.lr.value = 0.1
  tx = optim._base_optimizer(c, 10, "optim")
  mask = optim.kernel_mask(params)
  ref = optax.lars(0.1, weight_decay=0.0, weight_decay_mask=mask, trust_coefficient=0.02, trust_ratio_mask=mask,
                   momentum=0.9)
  p, q, s, t = params, params, tx.init(params), ref.init(params)
  for _ in range(5):
    u, s = tx.update(jax.grad(_lars_loss)(p, x), s, p)
    p = optax.apply_updates(p, u)
    v, t = ref.update(jax.grad(_lars_loss)(q, x), t, q)
    q = optax.apply_updates(q, v)
  for k in params:
    np.testing.assert_allclose(np.asarray(p[k]), np.asarray(q[k]), rtol=1e-5, atol=1e-7)
  assert not np.allclose(np.asarray(p["w"]), np.asarray(params["w"]))


def test_lars_ratio_weight_decay_and_clipping():
  w = jnp.asarray([[3.0, 4.0]])  # ‖w‖ = 5
  g = jnp.asarray([[0.0, 2.0]])  # ‖g‖ = 2
  lr = lambda step: 0.1
  out, _ = optim.scale_by_lars(0.5, 0.1, False, lr).update({"w": g}, optim.scale_by_lars(0.5, 0.1, False, lr).init(None),
                                                            {"w": w})
  ratio = 0.5 * 5.0 / (2.0 + 0.1 * 5.0)
  np.testing.assert_allclose(np.asarray(out["w"]), ratio * (np.asarray(g) + 0.1 * np.asarray(w)), rtol=1e-6)
  tx = optim.scale_by_lars(0.5, 0.0, True, lr)  # LARC: min(r / η, 1) = min(1.25 / 0.1, 1) = 1
  out, _ = tx.update({"w": g, "b": jnp.ones(2)}, tx.init(None), {"w": w, "b": jnp.ones(2)})
  np.testing.assert_allclose(np.asarray(out["w"]), np.asarray(g))
  np.testing.assert_array_equal(np.asarray(out["b"]), np.ones(2))  # biases pass unchanged
  out, _ = tx.update({"w": g}, tx.init(None), {"w": jnp.zeros((1, 2))})  # ‖w‖ = 0: ratio 1
  np.testing.assert_allclose(np.asarray(out["w"]), np.asarray(g))
