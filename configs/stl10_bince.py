"""COMMAND: python launch/main.py --config=configs/stl10_bince.py --config.data.data_dir=DIR

BINCE on STL10 (paper §5.2, App. E.4): SimCLR augmentations (resized crop, flip, colour jitter,
grey), ResNet18 -> z_dim 128, scale hyperprior, projection head, NT-Xent over the 2B−2 in-batch
negatives with a learnable temperature (init 0.07, floor 0.01) and the effective-batch-size
reweighting with the compressor's training-set size (the 100k `unlabelled` images, the authors'
`data.length`); MLP probe 2048-2048 on decoded ẑ. Needs a prepared TFDS `stl10` and a GPU.
Training reads the `unlabelled` split (`config.data.train_split`); probes use `train`/`test`.
`:cifar10` runs the same recipe on CIFAR10 (32×32, 50k training images); `:mock` /
`:cifar10_mock` are tiny variants run on `tfds.testing.mock_data` by the tests.

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = InfoNCE / 0.003 + λ·rate (the authors' factor_beta 0.003 for BINCE).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "mock", "cifar10", "cifar10_mock"), "configs/stl10_bince.py")
  cifar = arg.startswith("cifar10")
  c = defaults.config("bince", lmbda=0.01, num_steps=40_000 if cifar else 80_000, lr=1e-3)
  c.data.name = "tfds:cifar10" if cifar else "tfds:stl10"
  c.data.train_split = "train" if cifar else "unlabelled"
  c.data.image_size = 32 if cifar else 0  # STL10 at its native 96×96
  defaults.image_model(c)  # ResNet18 -> z_dim 128, hyperprior, MLP probe 2048-2048
  c.model.proj_hidden, c.model.proj_dim = 128, 0
  c.model.augment = "stl10"
  c.loss.likelihood = "gaussian_sigmoid"
  c.loss.init_temperature, c.loss.min_temperature = 0.07, 0.01
  c.loss.effective_batch_size = 50_000 if cifar else 100_000  # the training-set size
  c.model.eval.cnn_on_reconstructions = False
  if arg.endswith("mock"):
    defaults.mock(c)
  return c


def get_sweep(arg: str = ""):
  """Table 1's λ range [1e-5, 100] (the paper samples it log-uniformly) on a decade grid."""
  return [{"coefs.rate.value": lam} for lam in (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)]
