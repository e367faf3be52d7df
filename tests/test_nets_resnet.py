"""Tests for lossyless_jax.nets.resnet."""
import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax.nets.resnet import ResNet, ResNet18


def _key(seed):
  # RBG keys: XLA compiles them much faster than threefry on CPU (network inits in seconds).
  return jax.random.key(seed, impl="rbg")


def _count(tree):
  return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


def test_resnet18_cifar_stem_parameter_count():
  net = ResNet18(out_dim=10)
  variables = jax.eval_shape(lambda: net.init(_key(0), jnp.zeros((1, 32, 32, 3))))
  # torchvision resnet18 (11,689,512) with a 3x3 stem (-7,680) and a 10-way head (-507,870).
  assert _count(variables["params"]) == 11_173_962
  assert variables["params"]["stem_conv"]["kernel"].shape == (3, 3, 3, 64)
  big = jax.eval_shape(lambda: net.init(_key(0), jnp.zeros((1, 128, 128, 3))))
  assert big["params"]["stem_conv"]["kernel"].shape == (7, 7, 3, 64)
  z = jax.eval_shape(lambda: ResNet18(out_dim=128).init(_key(0), jnp.zeros((1, 32, 32, 3))))
  assert z["params"]["fc"]["kernel"].shape == (512, 128)


def test_small_resnet_forward_train_and_eval():
  # Same blocks as ResNet18 (strided stages, projection shortcuts, BN) with one block per stage.
  net = ResNet(out_dim=7, stage_sizes=(1, 1, 1, 1), width=4)
  x = jax.random.uniform(_key(1), (2, 16, 16, 1))
  variables = jax.jit(net.init)(_key(0), x)
  train = jax.jit(lambda v, x: net.apply(v, x, train=True, mutable=["batch_stats"]))
  evaluate = jax.jit(lambda v, x: net.apply(v, x, train=False))
  out, upd = train(variables, x)
  assert out.shape == (2, 7)
  changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], upd["batch_stats"])
  assert all(jax.tree_util.tree_leaves(changed))
  e1 = evaluate(variables, x)
  np.testing.assert_array_equal(np.asarray(e1), np.asarray(evaluate(variables, x)))
  # Eval mode uses the running averages: a different batch composition does not change an example's output.
  np.testing.assert_allclose(np.asarray(evaluate(variables, x[:1])), np.asarray(e1[:1]), rtol=1e-5, atol=1e-5)
  flat = ResNet18(out_dim=3, width=4, pool="flatten")
  vf = jax.eval_shape(lambda: flat.init(_key(0), x))
  assert vf["params"]["fc"]["kernel"].shape == (2 * 2 * 32, 3)
