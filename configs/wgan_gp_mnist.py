"""COMMAND: python launch/main.py --config=configs/wgan_gp_mnist.py --config.data.data_dir=DIR

WGAN-GP pretraining of NERD's DCGAN generator on MNIST (`:fashion_mnist`, `:svhn_cropped` likewise),
the authors' initialisation of every image generator (their README and `wgan_gp.py`; the paper does
not mention it): 32×32 images in [0, 1],
generator latent 128 and width c_d = 32 (as `configs/nerd_mnist.py`), critic of width 32, n_critic = 5
critic batches of 64 per generator step, gradient penalty λ = 10, Adam(1e-4, β = (0.5, 0.999)),
200 epochs. The dataset must be prepared with `tfds build mnist --data_dir=DIR`. Then
`python launch/main.py --config=configs/nerd_mnist.py --config.data.data_dir=DIR
--config.model.generator_workdir=workdirs/wgan_gp_mnist` starts NERD from this generator.
`:mock` is the tiny variant the tests run on `tfds.testing.mock_data` (its generator matches
`configs/nerd_mnist.py:mock`).
"""
from lossyless_jax.methods import nerd, wgan_gp


def get_config(arg=""):
  c = wgan_gp.base_config()
  mock, num_train = nerd.image_config(c, arg, "configs/wgan_gp_mnist.py")
  c.num_steps = 200 * num_train // c.data.batch_size  # 200 epochs, n_critic batches of 64 per step
  if mock:
    c.num_steps = c.eval_every = c.checkpoint.every = 3
    c.log_every = 1
    c.loss.n_critic = 2
    c.data.batch_size, c.data.eval_batch_size = 8, 8
  return c
