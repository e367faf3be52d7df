"""The noise-injected DIM configs: documented and valid; the TFDS ones (MNIST, CIFAR SimCLR / VICReg)
run end to end on `tfds.testing.mock_data`."""
import math

import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import methods, train

NAMES = ("infomax_digits_gauss", "infomax_digits_uniform", "infomax_mnist", "simclr_noise_cifar", "vicreg_noise_cifar")


@pytest.mark.parametrize("name", NAMES)
def test_configs_are_valid_and_documented(name):
  import importlib.util
  spec = importlib.util.spec_from_file_location(name, f"configs/{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.__doc__.startswith(f"COMMAND: python launch/main.py --config=configs/{name}.py")
  c = config_lib.validate(module.get_config())
  assert c.method == "infomax"
  methods.get("infomax").validate(c)
  assert module.get_sweep()


def test_paper_settings():
  mnist = config_lib.load("configs/infomax_mnist.py")
  assert (mnist.data.batch_size, mnist.optim.name, mnist.optim.lr.value) == (1024, "adam", 1e-3)
  assert (mnist.model.encoder, mnist.model.crop, mnist.model.input_noise, mnist.loss.critic_hidden) == (
      "mnist_convnet", 24, 0.6, (256, 256))
  for name, proj in (("simclr_noise_cifar", (2048, 256)), ("vicreg_noise_cifar", (2048, 2048, 2048))):
    c = config_lib.load(f"configs/{name}.py:0.3")
    assert c.loss.sigma == 0.3 and c.model.projector == proj and c.optim.name == "lars" and c.optim.trust_coefficient == 0.02
  with pytest.raises(config_lib.ConfigError, match="unknown arg"):
    config_lib.load("configs/simclr_noise_cifar.py:0.2")


# The CIFAR configs compile a ResNet18 train step (minutes on 2 shared cores): slow.
@pytest.mark.parametrize("name,arg,tfds_name", [
    ("infomax_mnist", "mock", "mnist"),
    pytest.param("simclr_noise_cifar", "mock", "cifar10", marks=pytest.mark.slow),
    pytest.param("vicreg_noise_cifar", "mock", "cifar10", marks=pytest.mark.slow)])
def test_tfds_configs_run_on_mock_data(tmp_path, name, arg, tfds_name):
  tfds = pytest.importorskip("tensorflow_datasets")
  config = config_lib.load(f"configs/{name}.py:{arg}")
  assert config.data.name == f"tfds:{tfds_name}"
  config.data.data_dir = str(tmp_path / "tfds")
  with tfds.testing.mock_data(num_examples=24):
    report = train.train_and_eval(config, str(tmp_path / "run"))
  assert report["steps"] == 2
  for key in ("knn_auc", "silhouette", "shapiro_p"):
    assert math.isfinite(report[key]), key
  if name != "infomax_mnist":
    assert 0.0 <= report["linear_probe_accuracy"] <= 1.0
