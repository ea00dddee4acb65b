#!/bin/sh
# Reproduce the README's comparison with scikit-learn: generate Friedman #1
# once (10 features, noise 1; ROWS training rows, 10,000 test rows), train
# forestream's regressor and scikit-learn's RandomForestRegressor with the
# same settings (100 trees, bootstrap, min leaf 1, unlimited depth, a third
# or all of the features per split, 2 workers / n_jobs=2), and print both
# training times and held-out errors.
#
# Needs Go and a Python 3 with scikit-learn (Debian: apt install
# python3-sklearn, used through /usr/bin/python3 unless PYTHON is set).
# Usage: bench/compare/run.sh [ROWS...]      (default: 10000 50000)
# REPEAT (default 3) and SKREPEAT (default 1) set how many times each side
# trains; the fastest time is reported.
set -eu
if [ -z "${PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/compare" ./bench/compare
for rows in ${@:-10000 50000}; do
	"$dir/compare" -dir "$dir/$rows" -gen -n "$rows" -test 10000
	for features in third all; do
		GOMAXPROCS=2 "$dir/compare" -dir "$dir/$rows" -features "$features" -repeat "${REPEAT:-3}"
		"$PYTHON" bench/compare/compare.py --dir "$dir/$rows" --features "$features" --jobs 2 --repeat "${SKREPEAT:-1}"
	done
done
