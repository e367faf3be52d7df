"""COMMAND: python launch/main.py --config=configs/stl10_bince.py --config.data.data_dir=DIR

BINCE on STL10 (paper §5.2, App. E.4): SimCLR augmentations (resized crop, flip, colour jitter,
grey), ResNet18 -> z_dim 128, scale hyperprior, projection head, NT-Xent over the 2B-2 in-batch
negatives with a learnable temperature (init 0.07, floor 0.01) and the effective-batch-size
reweighting; MLP probe 2048-2048 on decoded ẑ. Needs a prepared TFDS `stl10` and a GPU.
Training reads the 100k `unlabelled` split (`config.data.train_split`); probes use `train`/`test`.
`:cifar10` runs the same recipe on CIFAR10 (32×32); `:mock` / `:cifar10_mock` are tiny variants
run on `tfds.testing.mock_data` by the tests.

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats; BINCE's code
factor_beta 0.003 (L = InfoNCE / 0.003 + λ·rate).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  dataset = "cifar10" if arg.startswith("cifar10") else "stl10"
  return lossyless.image_config("bince", dataset, "mock" if arg.endswith("mock") else "")
