"""Invariant compressors of "Lossy Compression for Lossless Prediction" (Dubois et al., 2021).

* ``defaults``: every ``model``/``loss``/``model.eval`` field, its default and its validation;
* ``model``: encoder -> [affine precision] entropy bottleneck -> decoder | projection head, and
  the inputs (augmentations, the supervised-equivalence pool);
* ``objective``: VIC (Eq. 8), VC, BINCE (Eq. 9) and staggered losses, for training and evaluation;
* ``evaluate``: fixed evaluation views, encoding, real bitstreams, reconstructions;
* ``report`` and ``banana_report``: probes, classical codecs, the Banana cells;
* ``method``: the registration (imported by ``methods.get``).
"""
