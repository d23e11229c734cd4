#!/usr/bin/env bash
# Two one-core "machines" on this 2-core machine: one process pinned to core 0 against a coordinator on
# core 0 and a worker on core 1 (README command 1's demo data and budget, cold caches, SQLite). The
# worker's cache is its own, at the same path, through a private mount namespace: run as root. Figures:
# docs/scale-out.json ("two_one_core_machines"). Usage: bash docs/scale_out_pinned.sh NEW_FOLDER
set -u
cd "$(dirname "$0")/.."
W=${1:?usage: scale_out_pinned.sh NEW_FOLDER}
mkdir "$W" || { echo "give a folder that does not exist yet: $W" >&2; exit 2; }
W=$(cd "$W" && pwd)
t0=$(date +%s.%N)
taskset -c 0 .venv/bin/python -m benchmark run --folds 5 --out $W/runs --run-id single --set cache_dir="\"$W/cache-single\"" \
  > $W/single.out 2> $W/single.err
rc=$?
t1=$(date +%s.%N)
echo "pinned single (core 0): $(echo "$t1 - $t0" | bc) s rc=$rc" | tee -a $W/times.txt
DB=sqlite:///$W/pair.db
t2=$(date +%s.%N)
taskset -c 0 .venv/bin/python -m benchmark run --folds 5 --out $W/runs --run-id pair --set cache_dir="\"$W/cache-pair\"" \
  --storage $DB > $W/coord.out 2> $W/coord.err &
c=$!
# The worker's "machine" has its own cache at the same path (a private mount namespace), as a second
# machine's local disk would.
mkdir -p $W/cache-pair $W/cache-worker
unshare -m bash -c "mount --bind $W/cache-worker $W/cache-pair && exec taskset -c 1 .venv/bin/python -m benchmark worker --storage $DB --run-id pair --out $W/runs" > $W/worker.out 2> $W/worker.err &
w=$!
wait $c; rc_c=$?; wait $w; rc_w=$?
t3=$(date +%s.%N)
echo "pinned pair (core 0 + core 1): $(echo "$t3 - $t2" | bc) s rc coord=$rc_c worker=$rc_w" | tee -a $W/times.txt
