#!/usr/bin/env bash
# Issue 46's measurements: the small demo (seed 7) clean, with 5% of frames moved, with 5% of videos moved;
# run --folds 5 --models EfficientNetLite0 --trials 0 on each (label issues need out-of-fold probabilities).
cd "${ROOT:-$(pwd)}"
export WORKOUT_BENCH_CACHE_DIR=/tmp/t46/cache WORKOUT_BENCH_STATE_DIR=/tmp/t46/state WORKOUT_BENCH_PROGRESS=0
PY=.venv/bin/python
$PY -m benchmark demo-data --out /tmp/t46/clean --seed 7
$PY -m benchmark demo-data --out /tmp/t46/frames --seed 7 --mislabel 0.05
$PY -m benchmark demo-data --out /tmp/t46/videos --seed 7 --mislabel 0.05 --mislabel-videos
for d in clean frames videos; do
  /usr/bin/time -f "$d %e s" $PY -m benchmark run --data /tmp/t46/$d --folds 5 --models EfficientNetLite0 --trials 0 \
    --set audit_in_run=false --out /tmp/t46/runs --run-id $d > /tmp/t46/$d.log 2>&1
  tail -3 /tmp/t46/$d.log
done
