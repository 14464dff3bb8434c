#!/usr/bin/env python3
"""Writes the calibration rows `yard quantize --mode static` and `yard prune` use on the bundled digits model.

The digits split is the one tools/make_digits_model.py trains on (load_digits, test_size=0.25, random_state=7,
stratified): the calibration rows are the first 512 rows of its *training* part, so the committed test split
(Tests/Fixtures/engine/digits/x_test.npy, y_test.npy) stays unseen by calibration and re-fitting.

    Tests/Fixtures/compression/digits/x_calibration.npy   float32 [512, 64]

    pip install scikit-learn numpy
    python3 tools/make_compression_fixtures.py
"""
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main():
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, _, _, _ = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)
    out = os.path.join(ROOT, "Tests", "Fixtures", "compression", "digits")
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "x_calibration.npy"), np.ascontiguousarray(x_train[:512]))
    print("wrote", os.path.join(out, "x_calibration.npy"), x_train[:512].shape)


if __name__ == "__main__":
    main()
