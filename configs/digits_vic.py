"""COMMAND: python launch/main.py --config=configs/digits_vic.py

VIC (paper Eq. 8) on augmented scikit-learn digits, the default job: encode A(x), reconstruct the
unaugmented x (Bernoulli logits summed over pixels). Then the full evaluation (real bitstreams,
probes on the decoded representations selected on the validation split, PNG/JPEG/WebP over
their quality range) and a printed table. About 3–6 minutes on 2 idle CPU cores. `:tiny` shrinks it to
a few steps (tests).

λ/β convention (paper §2.5, App. E): `coefs.rate.value` = λ = 1/β, the coefficient on the rate in
nats; L = distortion / loss.distortion_factor + λ·rate (the authors' factor_beta: VIC 1, VC 0.5,
BINCE 0.003), λ warmed up linearly from λ·1e-5 over the first 10 % of the steps.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults

# The paper's "small" MNIST augmentations (App. E.3: rotation 15°, translation 15 %, shear 15°,
# scale [0.8, 1.2]) at train and test time.
AUGMENT = "mnist_small"
# Classical codecs, down to each one's lowest quality (PNG is lossless: one setting).
QUALITIES = (0, 5, 10, 20, 30, 40, 50, 60, 75, 90)  # Pillow's quality; JPEG's lowest is 1
CLASSICAL = ("png:9",) + tuple(f"jpeg:{max(q, 1)}" for q in QUALITIES) + tuple(f"webp:{q}" for q in QUALITIES)


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/digits_vic.py")
  c = defaults.config("vic", lmbda=0.1, num_steps=2000, lr=1e-3)
  c.data.name = "digits"  # 1,257 train / 180 validation / 360 test images, 8×8 upsampled
  c.data.image_size = 16
  c.data.batch_size = 128
  c.data.eval_batch_size = 360
  c.model.encoder = "conv"  # stride-2 3×3 convolutions
  c.model.channels = (32, 64)
  c.model.z_dim = 32
  c.model.rate = "factorized"
  c.model.decoder_top_channels = 64
  c.model.augment = AUGMENT
  c.loss.likelihood = "bernoulli"
  ev = c.model.eval
  ev.train_copies, ev.validation_copies, ev.test_copies = 2, 2, 2  # fixed augmented views per image
  ev.linear_epochs, ev.mlp_hidden, ev.mlp_epochs = 300, (512, 512), 40
  # the CNN of the uncompressed and classical rows: up to 40 epochs, stopped 6 epochs after its
  # best validation accuracy, whose parameters it keeps; it sees 4 views of each train image
  ev.cnn_channels, ev.cnn_hidden, ev.cnn_epochs, ev.cnn_patience = (32, 64), 128, 40, 6
  ev.classical_copies = 4
  ev.classical = CLASSICAL
  if arg == "tiny":
    defaults.tiny(c)
  return c


def get_sweep(arg: str = ""):
  """Fig. 6a (App. E.3): λ ∈ {0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100} on the rate × 3 seeds (the authors' code)."""
  lambdas = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(3)]
