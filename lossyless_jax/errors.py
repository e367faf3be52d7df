"""The exceptions bad user input raises: a config field, a file, a bitstream, a dataset, a checkpoint.

Every one is an :class:`InputError` (a ``ValueError``) whose message names the field, file or
value and what was expected. The launch scripts print such an error as one line on stderr and
exit with status 2 (the traceback only with ``--verbose`` or ``LOSSYLESS_VERBOSE=1``).
"""
from __future__ import annotations


class InputError(ValueError):
  """Bad user input; the message names what was wrong and what was expected."""


class DataError(InputError):
  """A dataset's files or arrays are missing, malformed or inconsistent (shape, labels, NaN)."""


class CheckpointError(InputError):
  """No checkpoint of a run can be restored: every one failed verification (each is named)."""


class RunMismatchError(InputError):
  """A workdir holds a run of another config; rerunning it there would damage that run."""


class WeightsError(InputError):
  """A weights file of a frozen network is missing, unreadable, or does not fit its network (the
  message names the file, the first mismatching key and shape, or the command that produces it)."""
