"""COMMAND: python launch/main.py --config=configs/clip_features.py:/path/to/features.npz

The zero-shot CLIP compressor recipe (paper §2.6 / §5.3, App. E.6) on features the user computed
(e.g. CLIP ViT-B/32 image embeddings): the .npz holds `train_features` (N, d), `train_labels`,
`test_features`, `test_labels`. The frozen "encoder" is the identity; an affine precision
(z + b)·exp(s) + factorized entropy bottleneck is trained with the L1 feature distortion; the
train and test features are coded to real bitstreams, decoded, and probed (linear and MLP probes;
`uncompressed_accuracy` is the linear probe on the raw features).

λ/β convention (paper §2.6, code): L = ‖z − ẑ‖₁ + λ·rate_nats with λ = `coefs.rate.value`
(EB⁻ λ=1e-2 more bits, EB⁺ λ=1e-1 fewer bits); annealed linearly from λ·1e-5 over 10 % of training.
"""
import os

from lossyless_jax import config as config_lib
from lossyless_jax.data import npz_features
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  path, _, size = arg.partition(",")
  if size not in ("", "tiny") or (path and not path.endswith(".npz")):
    raise config_lib.ConfigError(f"configs/clip_features.py: arg {arg!r}; expected '<features>.npz' or "
                                 "'<features>.npz,tiny'")
  c = defaults.config("staggered", lmbda=0.05, num_steps=3000)
  c.data.name = "npz_features"
  c.data.options.path = path
  c.data.batch_size = 128
  c.data.eval_batch_size = 512
  c.model.encoder = "identity"
  c.model.z_dim = 512  # CLIP ViT-B/32; read from the file when it exists
  if path and os.path.exists(path):
    c.model.z_dim = npz_features.feature_dim(path)
  c.model.rate = "factorized"
  c.model.affine = True
  c.loss.likelihood = "gaussian"
  c.model.eval.cnn_on_reconstructions = False
  c.model.eval.uncompressed = True
  c.model.eval.classical = ()
  c.model.eval.train_copies = 1
  c.model.eval.test_copies = 1
  c.model.eval.chunk = 512
  c.model.eval.splits = ("train", "test")
  if size == "tiny":
    defaults.tiny(c)
    c.data.batch_size = 32
    c.data.eval_batch_size = 32
    c.model.eval.chunk = 64
  return c


def get_sweep(arg: str = ""):
  """§2.6 / Table 3's EB⁻, EB, EB⁺: λ ∈ {1e-2, 5e-2, 1e-1} on the rate."""
  return [{"coefs.rate.value": lam} for lam in (1e-2, 5e-2, 1e-1)]
