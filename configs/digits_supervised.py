"""COMMAND: python launch/main.py --config=configs/digits_supervised.py

Supervised VIC on augmented digits (paper Table 6 "supervised", notes §2.3): the equivalence is
"same label": the encoded image is a random training image with the same label (then augmented
with the 'mnist_small' set), the reconstruction target a fixed representative image of the label
(drawn once with a fixed seed). Evaluation is on the standard augmented data, as for digits_vic;
`uncompressed_accuracy` is a CNN with the same conv trunk trained on the same augmented images
(the supervised reference). The rate bound is log2(10) ≈ 3.32 bits (paper: 5.7 bits on MNIST).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = distortion / loss.distortion_factor + λ·rate (VIC factor_beta 1).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  c = lossyless.digits_config("vic", arg)
  c.loss.equivalence = "label"  # x ~ x' iff same label
  c.coefs.rate.value = 1.0  # λ = 1/β
  c.model.eval.cnn_on_reconstructions = False
  c.model.eval.classical = ()
  return c
