"""Tests for lossyless_jax.losses.infonce (BINCE / NT-Xent)."""
import json
import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.losses import infonce


def _reference(z1, z2, t, cosine=True, n_eff=None, before=True):
  """Direct NumPy NT-Xent with the authors' bookkeeping: drop the diagonal, positive at i+B-1 / i-B."""
  h = np.concatenate([z1, z2]).astype(np.float64)
  if cosine:
    h = h / np.linalg.norm(h, axis=1, keepdims=True)
  b = len(z1)
  n = 2 * b
  total, correct = 0.0, 0
  for i in range(n):
    others = [j for j in range(n) if j != i]
    logits = np.array([h[i] @ h[j] for j in others])
    pos = i + b - 1 if i < b else i - b
    assert others[pos] == (i + b) % n
    if n_eff is not None:
      shift = -math.log((2 * n_eff - 2) / (n - 2))
      if before:
        logits[pos] += shift
        logits = logits / t
      else:
        logits = logits / t
        logits[pos] += shift
    else:
      logits = logits / t
    m = logits.max()
    total += m + math.log(np.exp(logits - m).sum()) - logits[pos]
    correct += int(np.argmax(logits) == pos)
  return total / n, correct / n


@pytest.mark.parametrize("cosine", [True, False])
@pytest.mark.parametrize("n_eff,before", [(None, True), (50, True), (50, False)])
def test_matches_direct_numpy(cosine, n_eff, before):
  rng = np.random.default_rng(0)
  z1 = rng.normal(size=(5, 3)).astype(np.float32)
  z2 = (z1 + 0.5 * rng.normal(size=(5, 3))).astype(np.float32)
  t = 0.3
  loss, m = infonce.nt_xent(jnp.asarray(z1), jnp.asarray(z2), temperature=t, cosine=cosine,
                            effective_batch_size=n_eff, reweight_before_temperature=before)
  ref_loss, ref_acc = _reference(z1, z2, t, cosine, n_eff, before)
  np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-5)
  np.testing.assert_allclose(float(m["infonce_accuracy"]), ref_acc)


def test_learnable_temperature_init_floor_and_gradient():
  assert float(infonce.temperature_from_logit_scale(infonce.init_logit_scale())) == pytest.approx(0.07, rel=1e-6)
  assert float(infonce.temperature_from_logit_scale(jnp.asarray(10.0))) == pytest.approx(0.01)
  rng = np.random.default_rng(1)
  z1 = jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))
  z2 = jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))
  loss_ls, _ = infonce.nt_xent(z1, z2, infonce.init_logit_scale())
  loss_t, _ = infonce.nt_xent(z1, z2, temperature=0.07)
  np.testing.assert_allclose(float(loss_ls), float(loss_t), rtol=1e-5)
  g = jax.grad(lambda s: infonce.nt_xent(z1, z2, s)[0])
  assert float(g(jnp.asarray(1.0))) != 0.0
  assert float(g(jnp.asarray(10.0))) == 0.0  # clamped at T = 0.01
  with pytest.raises(ValueError, match="exactly one"):
    infonce.nt_xent(z1, z2)


def test_permutation_and_view_swap_invariance_and_finite_grads():
  rng = np.random.default_rng(2)
  z1 = jnp.asarray(rng.normal(size=(6, 4)).astype(np.float32))
  z2 = jnp.asarray(rng.normal(size=(6, 4)).astype(np.float32))
  perm = jnp.asarray(rng.permutation(6))
  loss = jax.jit(lambda a, b: infonce.nt_xent(a, b, temperature=0.1)[0])
  base, permuted, swapped = loss(z1, z2), loss(z1[perm], z2[perm]), loss(z2, z1)
  np.testing.assert_allclose(float(permuted), float(base), rtol=1e-5)
  np.testing.assert_allclose(float(swapped), float(base), rtol=1e-5)
  grads = jax.grad(lambda a, b: infonce.nt_xent(a, b, jnp.asarray(2.0))[0], argnums=(0, 1))(z1, z2)
  assert all(bool(jnp.all(jnp.isfinite(gr))) for gr in grads)


def test_aligned_views_give_zero_loss_and_full_accuracy():
  z = jnp.eye(4, 8)
  loss, m = infonce.nt_xent(z, z, temperature=0.01)
  assert float(loss) < 1e-6
  assert float(m["infonce_accuracy"]) == 1.0
  np.testing.assert_allclose(float(m["infonce_mi_lower_bound_nats"]), math.log(7), atol=1e-5)


_SHARDED_SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from lossyless_jax.losses import infonce
    assert jax.device_count() == 8, jax.devices()
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(32, 16)).astype(np.float32)
    z2 = (z1 + 0.3 * rng.normal(size=(32, 16))).astype(np.float32)
    ls = jnp.asarray(np.log(1 / 0.07), jnp.float32)

    def f(a, b, s):
        return infonce.nt_xent(a, b, s, effective_batch_size=1000)

    one = jax.devices()[0]
    single = jax.jit(jax.value_and_grad(lambda a, b, s: f(a, b, s)[0], argnums=(0, 2)))
    (l1, (ga1, gs1)) = single(jax.device_put(z1, one), jax.device_put(z2, one), ls)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    shard = NamedSharding(mesh, P("data"))
    rep = NamedSharding(mesh, P())
    a8, b8 = jax.device_put(z1, shard), jax.device_put(z2, shard)
    assert len(a8.sharding.device_set) == 8
    l8, (ga8, gs8) = single(a8, b8, jax.device_put(ls, rep))
    acc1 = f(z1, z2, ls)[1]["infonce_accuracy"]
    acc8 = jax.jit(f)(a8, b8, jax.device_put(ls, rep))[1]["infonce_accuracy"]
    print(json.dumps({"l1": float(l1), "l8": float(l8), "gs1": float(gs1), "gs8": float(gs8),
                      "ga": float(np.abs(np.asarray(ga1) - np.asarray(ga8)).max()),
                      "acc1": float(acc1), "acc8": float(acc8)}))
""")


def test_sharded_over_8_devices_equals_single_device(python):
  proc = python(["-c", _SHARDED_SCRIPT],
                env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"},
                timeout=240)
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert abs(out["l1"] - out["l8"]) < 1e-5
  assert abs(out["gs1"] - out["gs8"]) < 1e-5
  assert out["ga"] < 1e-5
  assert out["acc1"] == out["acc8"]
