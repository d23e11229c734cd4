#!/usr/bin/env bash
# Issue 26 item 5 across sittings on machines that keep nothing but the repository: the run of
# docs/full_run_timed.sh carried from one to the next, committed as it goes.
#   save FOLDER      copies the run directory and invocations.txt into docs/full-run/state/, file by file
#                    (git then stores a fold's files once, not again in every snapshot), the SQLite storage
#                    through its backup API, gzipped. After `stop` (the invocation is then recorded as
#                    interrupted), or while it runs: a snapshot is then what a kill -9 would leave. Not the
#                    data (429 MB, made again by the same seed) nor the cache (cold again: the time to fill
#                    it again is counted in the next invocation).
#   restore FOLDER   on the next machine, into the same FOLDER (the run's config names the data and cache
#                    folders under it): copies the state back; then `bash docs/full_run_timed.sh FOLDER`
#                    generates the data again and resumes. The run refuses data whose content fingerprint
#                    differs from the one it recorded, so a generation that is not the same is caught.
#   watch FOLDER     while the invocation runs: save every 10 min and commit the state whenever a fold
#                    record is added (amending its own previous snapshot commit while that is the head),
#                    because a sitting can end without warning; once more when the invocation has ended.
#   record FOLDER    once the run has finished: `perf --from-run` of it into docs/perf.json as
#                    "full_run_measured" (with the CPUs invocations.txt names), which the speed page tables.
#   stop FOLDER      SIGTERM to the running invocation (it stops at the next safe point and records it).
set -u
cd "$(dirname "$0")/.."
STATE=docs/full-run/state
RUN=runs/real-full
action=${1:?usage: full_run_state.sh save|restore|stop|watch|record FOLDER}
W=${2:?usage: full_run_state.sh save|restore|stop|watch|record FOLDER}
case $action in
save)
    [ -f "$W/invocations.txt" ] || { echo "error: $W was not made by docs/full_run_timed.sh" >&2; exit 2; }
    snap=$STATE.partial && rm -rf "$snap" && mkdir -p "$snap/runs" && cp "$W/invocations.txt" "$snap/" &&
        cp -r "$W/$RUN" "$snap/runs/" && rm -f "$snap/$RUN/.lock" "$snap/$RUN/optuna.db" &&
        find "$snap" -name '*.tmp' -delete &&
        .venv/bin/python -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))" \
            "$W/$RUN/optuna.db" "$snap/$RUN/optuna.db" && gzip -n -9 "$snap/$RUN/optuna.db" &&
        { [ ! -e "$STATE" ] || mv "$STATE" "$STATE.old"; } && mv "$snap" "$STATE" && rm -rf "$STATE.old" || exit 1
    echo "saved $(du -sh "$STATE" | cut -f1) to $STATE" ;;
restore)
    [ -e "$W" ] && { echo "error: $W exists: restore only into a new folder" >&2; exit 2; }
    mkdir -p "$W" && cp -r "$STATE/." "$W/" && gunzip "$W/$RUN/optuna.db.gz" &&
        echo "restored into $W: resume with bash docs/full_run_timed.sh $W" ;;
watch)
    committed=-1 mine=none
    while :; do
        pgrep -f -- "--out $W/runs --run-id real-full" > /dev/null && running=1 || running=0
        bash "$0" save "$W" > /dev/null || true
        n=$(find "$W/$RUN/folds" -name 'fold*.json' 2>/dev/null | wc -l)
        if [ "$n" != "$committed" ] || [ $running = 0 ]; then
            amend=; [ "$(git rev-parse HEAD)" = "$mine" ] && amend=--amend  # only a commit this watch made
            git add -A "$STATE" && git commit -q $amend -m "Full real-size run: state snapshot ($n of 20 fold tasks \
recorded, $(date -u +%H:%M) UTC)" -- "$STATE" && committed=$n && mine=$(git rev-parse HEAD)
        fi
        [ $running = 1 ] || break
        sleep 600
    done ;;
record)
    [ -f "$W/invocations.txt" ] || { echo "error: $W was not made by docs/full_run_timed.sh" >&2; exit 2; }
    .venv/bin/python -m benchmark perf --from-run "$W/$RUN" --json "$W/measured.json" || exit 1
    .venv/bin/python - "$W" <<'PY' || exit 1
import json, re, sys
from pathlib import Path

from benchmark.core.atomic import atomic_write_json
from benchmark.cv.perf import targets_met

folder = Path(sys.argv[1])
measured = json.loads((folder / "measured.json").read_text())
if measured["tasks_recorded"] != measured["tasks_expected"] or measured["last_running"]:
    sys.exit(f"error: {folder} is not finished ({measured['tasks_recorded']} of {measured['tasks_expected']} tasks)")
cpus = re.findall(r" on (.+), \d+ cores", (folder / "invocations.txt").read_text())
measured["cpus"] = list(dict.fromkeys(cpus))
perf = Path("docs/perf.json")
results = json.loads(perf.read_text())
results["full_run_measured"] = {k: v for k, v in measured.items() if k != "run_dir"}
results["targets"] = targets_met(results)
atomic_write_json(perf, results)
print(f"docs/perf.json: full_run_measured {measured['wall_s'] / 3600:.2f} h in {measured['invocations']} invocations")
PY
    ;;
stop)
    pkill -TERM -f -- "--out $W/runs --run-id real-full" && echo "stopping: wait for $W/invocations.txt to say it ended" ;;
*)
    echo "usage: full_run_state.sh save|restore|stop|watch|record FOLDER" >&2; exit 2 ;;
esac
