"""COMMAND: python launch/sweep.py --config=configs/nerd_digits_vc.py --workdir=workdirs/nerd_digits_vc

VC on exactly the source and distortion of configs/nerd_digits.py, to place a trained compressor on
NERD's estimated R(D) (issue 17): scikit-learn's digits at their own 8×8 (64 pixels in [0, 1], no
augmentation: VC encodes x and reconstructs x), squared error summed over the pixels
(``loss.likelihood = gaussian_sigmoid``), the conv encoder and bottleneck of configs/digits_vc.py.
The operating point of a run is the test evaluation of its reported step: rate = estimated bits
−log2 q(ẑ) per image, distortion = E‖x − x̂‖². `launch/report.py DIR_NERD DIR_VC` prints each
point's gap rate − R̂(D) to the NERD curve. `:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): L = 2·‖x − x̂‖² + λ·rate_nats (factor_beta 0.5), so a run aims at the
slope dR/dD = −2/λ nats per unit squared error: `get_sweep()`'s λ ∈ {0.25, …, 8} spans NERD digits'
slopes β̃ ∈ [−6, −0.5] (and beyond, towards zero rate).
"""
from lossyless_jax import config as config_lib


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/nerd_digits_vc.py")
  c = config_lib.load("configs/digits_vc.py" + (f":{arg}" if arg else ""))
  c.data.image_size = 0  # the digits' own 8×8, as configs/nerd_digits.py
  c.model.augment = None  # the NERD source: x itself, reconstructed
  c.model.channels = (32, 64)
  c.loss.likelihood = "gaussian_sigmoid"  # ‖sigmoid(decoder(ẑ)) − x‖², summed over the 64 pixels
  c.loss.reduce = "sum"
  ev = c.model.eval
  ev.train_copies = ev.validation_copies = ev.test_copies = 1  # no augmentation: one view per image
  ev.classical = ()
  return c


def get_sweep(arg: str = ""):
  """λ on the rate, from near-lossless to near-zero rate (see the module docstring)."""
  return [{"coefs.rate.value": lam} for lam in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)]
