"""COMMAND: python launch/main.py --config=configs/mnist_vic.py --config.data.data_dir=DIR

VIC on augmented MNIST (paper §5.1, App. E.3): 32×32, rotation ±45°, translation 25 % (x and y),
shear 25°, scale [0.6, 1.4] at train and test time; ResNet18 (CIFAR stem) -> z_dim 128, scale
hyperprior, transposed-conv decoder 256-128-64-32-1; the MLP probe 2048-2048 on decoded ẑ. Needs a
prepared TFDS `mnist` in DIR (`tfds build mnist --data_dir=DIR`) and a GPU for the full run.
`:mock` is the tiny variant run on `tfds.testing.mock_data` by the tests.

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = distortion / loss.distortion_factor + λ·rate (the authors' factor_beta: VIC 1, VC 0.5, BINCE 0.003).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "mock"), "configs/mnist_vic.py")
  c = defaults.config("vic", lmbda=0.1, num_steps=50_000, lr=1e-3)
  c.data.name = "tfds:mnist"
  c.data.image_size = 32
  defaults.image_model(c)  # ResNet18 -> z_dim 128, hyperprior, decoder 256-128-64-32-1, MLP probe 2048-2048
  c.model.augment = "mnist_large"
  c.loss.likelihood = "bernoulli"
  if arg == "mock":
    defaults.mock(c)
  return c


def get_sweep(arg: str = ""):
  """Fig. 6a (App. E.3): λ ∈ {0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100} on the rate × 3 seeds (the authors' code)."""
  lambdas = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(3)]
