"""COMMAND: python launch/main.py --config=configs/banana_vic.py

VIC on the 2-D banana with rotation invariance (paper Sec. 5.1, Fig. 5; App. E.1): encode a randomly
rotated point A(x), reconstruct the maximal invariant Rot(225°)·[‖x‖, 0] (Gaussian: squared error,
the mean over the 2 coordinates as in the authors' code); z ∈ ℝ¹ (the authors' z_dim for VIC in
the rate–distortion sweep), MLP encoder/decoder (2 softplus hidden layers), factorized entropy
bottleneck, fresh samples every step. The report holds estimated and coded bits, the invariant
distortion (test MSE of the best predictor of the maximal invariant from ẑ) and writes the
quantization-cell plot `cells.png` (rings) with its ring score.
Deviation from the paper, to run in about a minute on 2 CPU cores: 256 hidden units (paper 1024),
batch 1024 (the authors' scripts; paper 8192), 1,500 steps, lr 1e-3 -> 1e-5 (paper -> 1e-6).
λ sweep (Fig. 5 left): `python launch/sweep.py --config=configs/banana_vic.py,configs/banana_vc.py`
over `SWEEP_LAMBDAS` and 5 seeds. `:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β, the coefficient on the rate in nats;
L = distortion + λ·rate (factor_beta 1 for both VIC and VC on Banana), constant (no warm-up).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults

SWEEP_LAMBDAS = (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0)  # App. E.1


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/banana_vic.py")
  c = defaults.config("vic", lmbda=0.07, num_steps=1500, lr=1e-3, warmup_fraction=0.0)  # λ of Fig. 5 right
  c.optim.name = "adam"
  c.optim.weight_decay = 0.0
  c.optim.lr.end_value = 1e-5
  c.data.name = "banana"
  c.data.batch_size = 1024
  c.data.eval_batch_size = 5000
  c.data.options.eval_size = 50_000  # points per eval split (train: fits the invariant predictor)
  c.data.options.variant = "code"  # the authors' code constants (banana.py)
  c.model.encoder = "mlp"
  c.model.hidden = c.model.decoder_hidden = (256, 256)
  c.model.activation = "softplus"
  c.model.z_dim = 1
  c.model.rate = "factorized"
  c.model.banana_invariance = "rotation"
  c.model.p_augment = 1.0  # VIC encodes a random orbit element A(x)
  c.loss.likelihood = "gaussian"
  c.loss.reduce = "mean"
  c.loss.distortion_factor = 1.0
  ev = c.model.eval
  ev.splits = ("train", "test")
  ev.train_copies, ev.test_copies, ev.chunk = 1, 1, 5000
  ev.mlp_epochs, ev.uncompressed, ev.cnn_on_reconstructions, ev.classical = 0, False, False, ()
  ev.cells_mesh, ev.cells_lim, ev.ring_bins = 500, 5.0, 100
  if arg == "tiny":
    defaults.tiny(c, steps=20)
    c.data.batch_size = 256
    c.data.eval_batch_size = 1000
    c.data.options.eval_size = 2000
    c.model.hidden = c.model.decoder_hidden = (32, 32)
    ev.chunk = 1000
    ev.cells_mesh = 100
  return c


def get_sweep(arg: str = ""):
  """Fig. 5 left (App. E.1): λ ∈ `SWEEP_LAMBDAS` on the rate × 5 seeds."""
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in SWEEP_LAMBDAS for s in range(5)]
