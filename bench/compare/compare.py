#!/usr/bin/env python3
"""Train scikit-learn's RandomForestRegressor on the CSV files written by
`go run ./bench/compare -gen` and print the training time and the held-out
mean squared error, in the same format as the Go side."""
import argparse
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor

p = argparse.ArgumentParser()
p.add_argument("--dir", default="compare-data")
p.add_argument("--trees", type=int, default=100)
p.add_argument("--features", choices=["third", "all"], default="third")
p.add_argument("--jobs", type=int, default=2)
p.add_argument("--repeat", type=int, default=1)
a = p.parse_args()

train = np.loadtxt(f"{a.dir}/train.csv", delimiter=",")
test = np.loadtxt(f"{a.dir}/test.csv", delimiter=",")
X, y = train[:, :-1], train[:, -1]
Xt, yt = test[:, :-1], test[:, -1]
mf = 1.0 / 3.0 if a.features == "third" else 1.0

best = float("inf")
for _ in range(a.repeat):
    m = RandomForestRegressor(n_estimators=a.trees, max_features=mf, n_jobs=a.jobs,
                              oob_score=False, random_state=0)
    t0 = time.perf_counter()
    m.fit(X, y)
    best = min(best, time.perf_counter() - t0)
mse = float(np.mean((m.predict(Xt) - yt) ** 2))
t0 = time.perf_counter()
for i in range(50):
    m.predict(Xt[i:i + 1])
one = (time.perf_counter() - t0) / 50
print(f"sklearn     rows={len(X)} features={a.features:<5} trees={a.trees} n_jobs={a.jobs}   "
      f"train {best:7.2f}s  test MSE {mse:.4f}                   predict 1 row {one * 1e3:.2f}ms")
