"""Tests for lossyless_jax.data.augment_spec."""
import jax
import ml_collections
import pytest

from lossyless_jax.data import augment_spec as S


def test_spec_forms_are_equivalent():
  as_tuple = (("rotation", {"degrees": 45}), "hflip", ("gray", {"p": 0.2}))
  as_str = "rotation(degrees=45); hflip; gray(p=0.2)"
  as_dicts = [{"name": "rotation", "degrees": 45}, {"name": "hflip"}, {"name": "gray", "p": 0.2}]
  cfg = ml_collections.ConfigDict({"spec": as_dicts})
  expected = (("rotation", {"degrees": 45}), ("hflip", {}), ("gray", {"p": 0.2}))
  for s in (as_tuple, as_str, as_dicts, cfg.spec):
    assert S.parse_spec(s) == expected
  assert S.parse_spec("none") == () and S.parse_spec(None) == ()
  assert S.parse_spec("mnist_small") == S.parse_spec(S.PRESETS["mnist_small"])
  with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
    S.parse_spec(["rotate"])
  with pytest.raises(ValueError, match="keyword arguments only"):
    S.parse_spec("rotation(45)")
  with pytest.raises(ValueError, match="without a 'name' key"):
    S.parse_spec([{"degrees": 45}])


def test_presets_name_known_ops_with_valid_arguments():
  for name, spec in S.PRESETS.items():
    for op_name, kwargs in S.parse_spec(spec):
      kind, fn = S.OPS[op_name]
      assert kind in ("geometric", "pixel"), name
      if kind == "geometric":  # draws a 3x3 forward matrix from the given arguments
        assert fn(jax.random.key(0), (8, 8, 3), **kwargs).shape == (3, 3), (name, op_name)
