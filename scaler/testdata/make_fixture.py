#!/usr/bin/python3
"""Make sklearn_fixture.json: scikit-learn's answers for the scaler tests.

The Go tests read the JSON and need no Python. To remake it (only when the
cases below change), with Debian's python3-sklearn installed, from the
repository root:

    /usr/bin/python3 scaler/testdata/make_fixture.py > scaler/testdata/sklearn_fixture.json

The data come from a seeded generator, so the output is the same on every run
with the same numpy and scikit-learn (it was made with scikit-learn 1.2.1 and
numpy 1.24.2). NaN is written as null, since JSON has no NaN.
"""
import json
import math
import sys

import numpy as np
import sklearn
from sklearn.preprocessing import MinMaxScaler, StandardScaler

rng = np.random.default_rng(20261129)

# Features: ordinary; large mean and spread; tiny values; a constant (zero
# variance, scale 1); ordinary with missing values (NaN).
SIZES = [1, 17, 64, 5, 200]


def make_batch(n, first):
    x = np.empty((n, 5))
    x[:, 0] = rng.normal(10.0, 3.0, n)
    x[:, 1] = rng.normal(-1000.0, 50.0, n)
    x[:, 2] = rng.uniform(0.0, 1e-3, n)
    x[:, 3] = 4.25
    x[:, 4] = rng.normal(0.0, 1.0, n)
    if not first:
        # Never a whole column of NaN in one batch: scikit-learn's
        # incremental update turns that into NaN statistics.
        miss = rng.random(n) < 0.1
        miss[0] = False
        x[miss, 4] = np.nan
    return x


batches = [make_batch(n, i == 0) for i, n in enumerate(SIZES)]
probe = make_batch(8, False)
probe[3, 4] = np.nan
probe[5, 0] = 100.0  # far outside what was learned

def enc(a):
    if a is None:
        return None
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return None if math.isnan(a) else float(a)
    return [enc(v) for v in a]


def counts(upto):
    data = np.vstack(batches[: upto + 1])
    return [int(c) for c in (~np.isnan(data)).sum(axis=0)]


cases = []
for name, kw in [
    ("standard", {}),
    ("standard_no_mean", {"with_mean": False}),
    ("standard_no_std", {"with_std": False}),
]:
    sc = StandardScaler(**kw)
    steps = []
    for i, b in enumerate(batches):
        sc.partial_fit(b)
        steps.append({
            "count": counts(i),
            "mean": enc(sc.mean_),
            "var": enc(sc.var_),
            "scale": enc(sc.scale_),
            "transformed": enc(sc.transform(probe)),
        })
    cases.append({"name": name, "kind": "standard", "with_mean": kw.get("with_mean", True),
                  "with_std": kw.get("with_std", True), "steps": steps})

for name, rng_ in [("minmax", (0.0, 1.0)), ("minmax_range", (-1.0, 2.0))]:
    sc = MinMaxScaler(feature_range=rng_)
    steps = []
    for i, b in enumerate(batches):
        sc.partial_fit(b)
        steps.append({
            "count": counts(i),
            "min": enc(sc.data_min_),
            "max": enc(sc.data_max_),
            "scale": enc(sc.scale_),
            "offset": enc(sc.min_),
            "transformed": enc(sc.transform(probe)),
        })
    cases.append({"name": name, "kind": "minmax", "range": list(rng_), "steps": steps})

json.dump({
    "sklearn": sklearn.__version__,
    "numpy": np.__version__,
    "batches": [enc(b) for b in batches],
    "probe": enc(probe),
    "cases": cases,
}, sys.stdout, indent=1, allow_nan=False)
sys.stdout.write("\n")
