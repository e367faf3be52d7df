"""COMMAND: python launch/main.py --config=configs/mnist_vc.py --config.data.data_dir=DIR

VC on augmented MNIST: configs/mnist_vic.py reconstructing the augmented image A(x) itself
(paper §5.1, App. E.3). `:mock` is the tiny variant run on `tfds.testing.mock_data` by the tests.

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = 2·distortion + λ·rate (the authors' factor_beta 0.5 for VC).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "mock"), "configs/mnist_vc.py")
  c = config_lib.load("configs/mnist_vic.py" + (f":{arg}" if arg else ""))
  defaults.switch_method(c, "vc")  # distortion factor 0.5
  return c


def get_sweep(arg: str = ""):
  """Fig. 6a (App. E.3): λ ∈ {0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100} on the rate × 3 seeds (the authors' code)."""
  lambdas = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(3)]
