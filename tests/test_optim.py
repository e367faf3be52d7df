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
