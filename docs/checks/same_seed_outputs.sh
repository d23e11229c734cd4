#!/usr/bin/env bash
# The same seed on the tiny demo with 87a4c92 and with HEAD: which outputs are byte-identical.
set -u
ROOT=${ROOT:-$(pwd)}  # run from the project root; BASE: a worktree of the old commit (git worktree add)
PY=${PY:-$ROOT/.venv/bin/python}
rm -rf /tmp/ident; mkdir -p /tmp/ident
$PY -c "from benchmark.data.demo import generate_demo_data; generate_demo_data('/tmp/ident/tiny', 'tiny', seed=7)"
for side in base head; do
  src=$([ $side = base ] && echo ${BASE:-/tmp/base} || echo $ROOT)
  cd $src
  start=$(date +%s)
  WORKOUT_BENCH_CACHE_DIR=/tmp/ident/cache-$side WORKOUT_BENCH_STATE_DIR=/tmp/ident/state WORKOUT_BENCH_PROGRESS=0 \
    $PY -m benchmark run --data /tmp/ident/tiny --folds 2 --trials 2 --out /tmp/ident/$side --run-id r \
    --set 'CustomCNN.input_sizes=[32]' --set 'EfficientNetLite0.train_positions=["center"]' \
    --set EfficientNetLite0.max_unfrozen_blocks=1 --set inner_folds=2 > /tmp/ident/$side.log 2>&1
  echo "$side rc=$? $(( $(date +%s) - start )) s"
done
cd /tmp/ident
for f in manifests/grouped.csv manifests/leaky.csv results.csv predictions.csv label_issues.csv summary.json splits.json; do
  cmp -s base/r/$f head/r/$f && echo "identical  $f" || echo "DIFFERENT  $f"
done
for f in $(cd base/r/folds && find . -name "*.predictions.csv" -o -name "*.npy" | sort); do cmp -s base/r/folds/$f head/r/folds/$f || echo "DIFFERENT folds/$f"; done
echo "fold files compared: $(cd base/r/folds && find . -name '*.npy' | wc -l) probability files"
