#!/usr/bin/env bash
# Issue 26 item 5: the full real-size run (13,853 generated images, run --folds 5 --trials 10) timed
# from a cold cache. Resumable: the same command on the same folder continues the run; its
# timings.json sums every invocation, listed in FOLDER/invocations.txt.
# Usage: bash docs/full_run_timed.sh FOLDER   (a new folder, or one this script made)
set -u
cd "$(dirname "$0")/.."
W=${1:?usage: full_run_timed.sh FOLDER}
# Only a new folder, or one this script made (it holds invocations.txt): never into someone else's.
if [ -e "$W" ] && ! [ -f "$W/invocations.txt" ]; then
    echo "error: $W exists and was not made by this script (no invocations.txt): give a new folder" >&2
    exit 2
fi
mkdir -p "$W" && W=$(cd "$W" && pwd) && touch "$W/invocations.txt"
if ! [ -f "$W/data/.workout-bench-demo.json" ]; then
    s=$(date +%s)
    .venv/bin/python -m benchmark demo-data --scale real --jobs 2 --out "$W/data" >> "$W/data.log" 2>&1
    rc=$?
    echo "data generated in $(( $(date +%s) - s )) s rc=$rc" >> "$W/invocations.txt"
    [ $rc -eq 0 ] || exit $rc
fi
echo "invocation started $(date -Is) on $(lscpu | sed -n "s/^Model name: *//p"), $(nproc) cores" >> "$W/invocations.txt"
.venv/bin/python -m benchmark run --data "$W/data" --folds 5 --trials 10 --out "$W/runs" \
    --run-id real-full --set cache_dir="\"$W/cache\"" >> "$W/run.out" 2>> "$W/run.err"
rc=$?
echo "invocation ended $(date -Is) rc=$rc" >> "$W/invocations.txt"
