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
