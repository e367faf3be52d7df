"""Configs: `:arg` strings, --config.x=y overrides, and errors that name the field before training."""
import pytest

import loop_method
from lossyless_jax import config as config_lib
from lossyless_jax import data, methods, train


def test_arg_string_and_override_reach_the_run(tmp_path, python):
  python(["launch/main.py", "--config=tests/configs/contrastive.py:5", "--config.num_steps=4", "--config.eval_every=2",
          "--config.optim.lr.value=0.05", f"--workdir={tmp_path}"])
  import json
  saved = json.loads((tmp_path / "config.json").read_text())
  assert saved["model"]["dim"] == 5 and saved["num_steps"] == 4 and saved["optim"]["lr"]["value"] == 0.05
  assert json.loads((tmp_path / "report.json").read_text())["steps"] == 4


@pytest.mark.parametrize("override, message", [
    ("--config.num_stepz=3", "num_steps"),
    ("--config.num_steps=abc", "config.num_steps"),
])
def test_bad_override_fails_naming_the_field(tmp_path, python, override, message):
  out = python(["launch/main.py", "--config=tests/configs/contrastive.py", override, f"--workdir={tmp_path}"], check=False)
  assert out.returncode != 0 and message in out.stderr
  assert not (tmp_path / "metrics.jsonl").exists()


def test_unknown_field_in_a_config_object_is_rejected():
  c = loop_method.get_config()
  with c.unlocked():
    c.data.bacth_size = 3
  with pytest.raises(config_lib.ConfigError, match=r"config\.data\.bacth_size: unknown field; did you mean batch_size"):
    config_lib.validate(c)


def test_wrong_type_is_rejected():
  c = config_lib.base_config()
  c.method = "x"
  with c.ignore_type():
    c.eval_every = "often"
  with pytest.raises(config_lib.ConfigError, match=r"config\.eval_every: expected int, got str"):
    config_lib.validate(c)


@pytest.mark.parametrize("field, value, message", [("eval_subset.every", -1, r"config\.eval_subset\.every: -1; expected ≥ 0"),
                                                    ("eval_subset.size", 0, r"config\.eval_subset\.size: 0; expected a positive")])
def test_eval_subset_fields_are_checked(field, value, message):
  with pytest.raises(config_lib.ConfigError, match=message):
    config_lib.validate(loop_method.get_config(**{field: value}))


def test_monitor_must_name_an_evaluated_split():
  c = loop_method.get_config(monitor="validation/loss")
  with pytest.raises(config_lib.ConfigError, match="not in config.eval_splits"):
    config_lib.validate(c)


def test_unknown_method_and_dataset_list_the_valid_names(tmp_path):
  with pytest.raises(ValueError, match=r"unknown method 'nope'; valid methods: .*test_contrastive"):
    train.train_and_eval(loop_method.get_config(method="nope"), str(tmp_path))
  with pytest.raises(ValueError, match=r"unknown dataset 'nope'; valid: .*digits, .*gaussian20.*gray_wyner_synthetic.*tfds:<name>"):
    train.train_and_eval(loop_method.get_config(**{"data.name": "nope"}), str(tmp_path))
  assert "test_contrastive" in methods.names() and "digits" in data.names()


def test_load_reads_a_config_file_with_its_arg_and_names_a_missing_one(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # relative paths fall back to the repository root
  c = config_lib.load("configs/digits_vic.py:tiny")
  assert c.method == "vic" and c.num_steps < 10
  assert config_lib.load("configs/digits_vic.py").num_steps > c.num_steps
  with pytest.raises(config_lib.ConfigError, match="nope.py.*digits_vic.py"):
    config_lib.load("configs/nope.py")
