"""COMMAND: python launch/main.py --config=configs/nerd_mnist.py --config.data.data_dir=DIR

NERD on MNIST (`:fashion_mnist`, `:svhn_cropped` for the other datasets of the paper, §IV-B).
Images resized to 32×32 in [0, 1], squared error summed over the 1,024 (3,072) pixels, so
D_max = E‖X − μ‖² ≈ 55 on MNIST. The authors' settings (their released code; the paper gives
none): DCGAN generator with latent m_z = 128 and width c_d = 32 (App. C-A), Lagrangian mode over
their β̃ grid, B = 100, M = 40,000 samples per step, Adam(1e-4, β = (0.5, 0.999)), 20 epochs
(30 for SVHN). Evaluation with M = 40,000 is on the training split, as the authors' (their
read-out averages over the training set in batches of 10,000): `eval_splits` is "train[:100%]",
the whole TFDS train split read as an evaluation split. For a held-out estimate pass
`--config.eval_splits='("test",)' --config.monitor=test/loss`. Where this differs from the
authors: SVHN trains and evaluates on the whole TFDS train split of 73,257 images, the authors on a
random 70 % of it (51,279); evaluation streams all points against the same M atoms rather than a
fresh draw per batch of 10,000.

The dataset must be prepared with `tfds build mnist --data_dir=DIR` (fashion_mnist, svhn_cropped
likewise). The authors start every generator from a WGAN-GP one (their README): train
`configs/wgan_gp_mnist.py` first and pass `--config.model.generator_workdir=ITS_WORKDIR`. This is a
GPU run: all slopes train together, each with M = 40,000 DCGAN samples per step; to fit a smaller
device pass fewer `--config.loss.betas` per run. `:mock` is the tiny variant the tests run on
`tfds.testing.mock_data`.
"""
from lossyless_jax.methods import nerd

TRAIN_AS_EVAL = "train[:100%]"  # the train split, read whole as an evaluation split


def get_config(arg=""):
  c = nerd.base_config()
  mock, num_train = nerd.image_config(c, arg, "configs/nerd_mnist.py")
  c.optim.lr.value = 1e-4
  c.loss.num_samples = 40_000  # M per step (log2 M = 15.3 bits)
  svhn = arg == "svhn_cropped"
  c.num_steps = (30 if svhn else 20) * num_train // c.data.batch_size  # epochs of B = 100
  c.eval_every = c.checkpoint.every = c.num_steps
  c.data.eval_batch_size = 1000
  c.eval_splits = (TRAIN_AS_EVAL,)
  c.monitor = f"{TRAIN_AS_EVAL}/loss"
  # β̃ < 0, nats per unit squared error summed over pixels (the authors' grids).
  c.loss.betas = ((-10.0, -2.0, -1.0, -0.5, -0.4, -0.3, -0.2, -0.1, -0.05, -0.01) if svhn else
                  (-10.0, -2.0, -1.0, -0.5, -0.4, -0.3, -0.25, -0.2, -0.15, -0.1, -0.05))
  c.model.generator_workdir = ""  # a finished wgan_gp run: its generator initialises every G_θk
  if mock:
    c.num_steps = c.eval_every = c.checkpoint.every = 3
    c.log_every = 1
    c.data.batch_size, c.data.eval_batch_size = 8, 8
    c.loss.betas = (-1.0, -0.05)
    c.loss.num_samples, c.loss.eval_num_samples, c.loss.eval_chunk_size = 32, 64, 32
  return c
