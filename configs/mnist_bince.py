"""COMMAND: python launch/main.py --config=configs/mnist_bince.py --config.data.data_dir=DIR

Augmented MNIST (paper §5.1, App. E.3): 32×32, rotation ±45°, translation 25 % (x and y), shear
25°, scale [0.6, 1.4] at train and test time; ResNet18 (CIFAR stem) -> z_dim 128, scale
hyperprior, transposed-conv decoder; the MLP probe 2048-2048 on decoded ẑ. Needs a prepared TFDS
`mnist` in DIR (`tfds build mnist --data_dir=DIR`) and a GPU for the full run (~50k steps).
`:mock` is the tiny variant run on `tfds.testing.mock_data` by the tests.

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats (code convention:
L = distortion / loss.distortion_factor + λ·rate; factor_beta VIC 1, VC 0.5, BINCE 0.003).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  return lossyless.image_config("bince", "mnist", arg)
