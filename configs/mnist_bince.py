"""COMMAND: python launch/main.py --config=configs/mnist_bince.py --config.data.data_dir=DIR

BINCE on augmented MNIST: the encoder and bottleneck of configs/mnist_vic.py with the projection
head and NT-Xent over the 2B−2 in-batch negatives, the ML-CPC reweighting with the training-set
size (60,000) (paper §5.1, App. E.3). `:mock` is the tiny variant run on `tfds.testing.mock_data`.

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = InfoNCE / 0.003 + λ·rate (the authors' factor_beta 0.003 for BINCE).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "mock"), "configs/mnist_bince.py")
  c = config_lib.load("configs/mnist_vic.py")
  defaults.switch_method(c, "bince")  # distortion factor 0.003
  c.coefs.rate.value = 0.01  # λ
  c.loss.effective_batch_size = 60_000  # the training-set size
  c.model.eval.cnn_on_reconstructions = False
  if arg == "mock":
    defaults.mock(c)
  return c


def get_sweep(arg: str = ""):
  """Fig. 6a (App. E.3): λ ∈ {0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100} on the rate × 3 seeds (the authors' code)."""
  lambdas = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(3)]
