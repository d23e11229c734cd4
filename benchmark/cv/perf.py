"""What the harness costs at the real dataset's size, measured here (`python -m benchmark perf`).

Generates the demo dataset at the real frame size for each fraction of `--images`, then times the
expensive steps (decoding, one Optuna trial of every model in `config.models`, and any figures a
learner offers about itself, such as LiteRT vs Keras feature extraction), each the median of
`--repeats` runs with its spread, because these machines are noisy; and (unless `--no-run`) whole
`run`s in a subprocess from a cold cache, projected to the full size. Figures, not assertions:
targets are reported as met or not, and the JSON keeps every number.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.core.environment import configure_devices, machine, now, package_versions
from benchmark.core.errors import BenchmarkError
from benchmark.core.outputs import PERF_STAMP, stamp_folder
from benchmark.core.rundir import CONFIG, DATA_SUMMARY, TIMINGS, load_run_records, part_folders, remove_run_dir
from benchmark.core.timing import invocation_totals, invocations_phrase
from benchmark.core.words import count_of
from benchmark.cv.folds import tuning_folds
from benchmark.cv.splitting import fold_assignment
from benchmark.cv.storage import open_study
from benchmark.cv.train import ModelPlan
from benchmark.cv.tune import tune
from benchmark.data.cache import clear_cache
from benchmark.data.dataset import Dataset, load_dataset
from benchmark.data.demo import generate_demo_data
from benchmark.data.source import DatasetSource
from config import Config
from models.learner import MeasuresItsSpeed
from splits.names import GROUPED, STRATEGIES
from splits.strategies import fold_pairs

MIN_IMAGES = 506  # the real scale's 22 classes x (21 videos of one frame + 2 web images)
TARGETS = {"full_run_hours": ("<=", 8.0), "peak_rss_gb": ("<=", 4.0)}


def _rss_gb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20  # Linux reports KiB


def repeated(measure: Callable[[], float], repeats: int) -> dict[str, Any]:
    """The median of `repeats` calls of `measure` (each returns seconds, or a rate), with its spread."""
    values = [float(measure()) for _ in range(repeats)]
    return {"median": float(np.median(values)), "min": min(values), "max": max(values), "values": values}


def demo_at(work: Path, images: int, seed: int) -> Path:
    """The real-size demo with exactly `images` images, generated once per size."""
    folder = work / f"data-{images}"
    if not (folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == images):
        generate_demo_data(folder, "real", seed, total_images=images, n_jobs=2)
    return folder


def measure_decode(dataset: Dataset, config: Config, plans: list[ModelPlan], cache: Path, repeats: int) -> dict:
    """Decode + resize + cache of every image at each model's input size, from an empty cache each time."""
    figures = {}
    for preprocess in sorted({plan.learner(plan.spec.defaults).preprocess for plan in plans}, key=lambda s: s.key()):

        def once(preprocess=preprocess) -> float:
            folder = cache / "decode-repeat"
            clear_cache(folder)
            source = DatasetSource.of(dataset, dataset.class_names, config.replace(cache_dir=folder))
            started = time.perf_counter()
            for chunk in np.array_split(np.arange(len(source.paths)), max(1, len(source.paths) // 1024)):
                source.pixels_of(chunk, preprocess)  # never all pixels in memory
            seconds = time.perf_counter() - started
            clear_cache(folder)
            return len(source.paths) / seconds

        figures[f"decode_{preprocess.size}px_images_per_s"] = repeated(once, repeats)
    return figures


def measure_trials(
    dataset: Dataset, config: Config, plan: ModelPlan, source: DatasetSource, repeats: int
) -> dict[str, Any]:
    """One trial at the model's defaults on outer fold 0's training part, as a run tunes it: the first
    from a cold cache (it fills the model's caches), then `repeats` warm ones."""
    images = dataset.images
    labels, groups = images["label"].tolist(), images["group"].tolist()
    train_idx, _ = fold_pairs(fold_assignment(dataset, GROUPED, config))[0]
    inner = tuning_folds(config, labels, groups, train_idx, GROUPED, 0, config.seed)

    def trial() -> float:
        study = open_study(None, "perf", "perf", plan.default_params())
        started = time.perf_counter()
        tune(plan, source, inner, study, 1, config.tuning_subsample, seed=config.seed,
             min_per_class=config.tuning_min_per_class)  # fmt: skip
        return time.perf_counter() - started

    cold = trial()
    figures: dict[str, Any] = {"trial_cold_s": cold, "trial_s": repeated(trial, repeats)}
    learner = plan.learner(plan.spec.defaults)
    if isinstance(learner, MeasuresItsSpeed):  # what a learner measures about itself (e.g. its feature runtime)
        sample = np.arange(min(256, len(source.paths)))
        figures |= {name: repeated(fn, repeats) for name, fn in learner.speed_figures(source, sample).items()}
    figures["tuning_images"] = int(len(train_idx))
    figures["inner_fits"] = len(inner)  # one when the training part is above `holdout_above`
    return figures


def measure_run(data: Path, work: Path, folds: int, trials: int, extra: list[str]) -> dict[str, Any]:
    """The whole `run` in a fresh interpreter with a cold cache: wall time, stages, peak RSS."""
    cache = work / f"run-cache-{data.name}"
    clear_cache(cache)
    runs = work / "runs"
    run_id = f"perf-{data.name}-f{folds}-t{trials}"
    remove_run_dir(runs / run_id)
    command = [
        sys.executable, "-m", "benchmark", "run", "--data", str(data), "--folds", str(folds),
        "--trials", str(trials), "--out", str(runs), "--run-id", run_id, "--set", f"cache_dir={json.dumps(str(cache))}",
        *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"perf: the timed run failed (exit {done.returncode}): {tail}")
    run_dir = runs / run_id
    stages = json.loads((run_dir / TIMINGS).read_text())[-1]["stages_s"]
    records = load_run_records(run_dir)
    return {
        "run_wall_s": wall,
        "run_stages_s": stages,
        "run_per_model_s": model_seconds(records),
        "run_task_s": task_seconds(records),
        "run_peak_rss_gb": _rss_gb(resource.RUSAGE_CHILDREN),
        "run_dir": str(run_dir),
    }


def estimate_from_steps(figures: dict[str, Any], config: Config, folds: int, trials: int) -> dict[str, Any]:
    """A whole run's time from the step figures, when no run was timed: every trial costs what the
    measured default one did (no pruning), and a final fit what one inner fit of it did, scaled to
    the whole training part and every view (a trial's fit sees (k-1)/k of it, subsampled)."""
    units = len(config.strategies) * folds
    train_images = figures["images"] * (folds - 1) / folds
    scale = train_images / figures["models"][next(iter(figures["models"]))]["tuning_images"]
    share = (config.inner_folds - 1) / config.inner_folds * config.tuning_subsample
    per_model = {}
    seconds = sum(figures["decode_s"].values())
    for model, entry in figures["models"].items():
        trial = entry["trial_s"]["median"] * scale
        final = trial / entry["inner_fits"] / share
        prepare = (
            max(0.0, entry["trial_cold_s"] - entry["trial_s"]["median"]) * figures["images"] / entry["tuning_images"]
        )
        per_model[model] = {"trial_s": trial, "final_s": final, "prepare_s": prepare}
        seconds += prepare + units * (trials * trial + final)
    return {"hours": seconds / 3600, "per_model": per_model}


def project_full_run(by_images: dict[str, dict[str, Any]], images: int) -> dict[str, Any]:
    """Measured when a run used every image; else a least-squares line through the measured runs;
    else the estimate from the steps at the largest size measured at full size."""
    points = sorted((int(n), f["run_wall_s"]) for n, f in by_images.items() if "run_wall_s" in f)
    if not points:
        largest = by_images[max(by_images, key=int)]
        if "full_run_estimate" not in largest or int(max(by_images, key=int)) < images:
            return {"hours": None, "how": "not measured (--no-run) and no step figures at full size"}
        how = "estimated from the measured trials, no run timed (no pruning)"
        return {**largest["full_run_estimate"], "how": how}
    if points[-1][0] >= images:
        return {"hours": points[-1][1] / 3600, "how": f"measured on {points[-1][0]} images"}
    if len(points) < 2:
        return {"hours": None, "how": f"one run ({points[0][0]} images): two sizes are needed to project"}
    counts, seconds = np.array(points, dtype=float).T
    slope, intercept = np.polyfit(counts, seconds, 1)
    exponent = float(np.polyfit(np.log(counts), np.log(seconds), 1)[0])
    return {
        "hours": float(slope * images + intercept) / 3600,
        "how": f"projected linearly from runs on {', '.join(str(int(c)) for c in counts)} images",
        "seconds_per_image": float(slope),
        "growth_exponent": exponent,  # 1.0 = linear in images
        "power_law_hours": float(seconds[-1] * (images / counts[-1]) ** exponent) / 3600,
    }


MACHINES = (1, 2, 5, 10, 20)
TASK_PARTS = ("tune_s", "train_s", "evaluate_s", "defaults_s")  # a fold record's seconds; defaults_s may be absent


def model_seconds(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each model's tuning, final fits, evaluation and defaults fits (the untuned comparison), summed over
    its fold tasks."""
    per_model: dict[str, dict[str, float]] = {}
    for record in records:
        entry = per_model.setdefault(record["model"], dict.fromkeys(TASK_PARTS, 0.0))
        for key in TASK_PARTS:
            entry[key] += record.get(key, 0.0)
    return per_model


def task_seconds(records: list[dict[str, Any]]) -> dict[str, float]:
    """Each outer fold task's duration, from its record: tuning, final fit, evaluation, defaults."""
    return {
        f"{r['model']}/{r['strategy']}/fold{r['fold']}" + (f"/repeat{r['repeat']}" if r.get("repeat") else ""):
        sum(r.get(part, 0.0) for part in TASK_PARTS)
        for r in records
    }  # fmt: skip


def longest_first(durations: list[float], machines: int) -> float:
    """The makespan of `durations` on `machines` (Graham 1969, LPT: each task, longest first, to the
    least-loaded machine; at most 4/3 of the optimum). Never below the longest task."""
    loads = [0.0] * machines
    for duration in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += duration
    return max(loads)


def machines_projection(
    tasks_s: dict[str, float], serial_s: float, scale: float = 1.0, machines: tuple[int, ...] = MACHINES
) -> dict[str, Any]:
    """Wall hours of a run on N machines: the serial stages (scan, audit, summary, report: the
    coordinator's) plus the fold tasks scheduled longest first, each scaled by `scale` (the full size
    over the timed size); the floor is the longest task."""
    durations = [seconds * scale for seconds in tasks_s.values()]
    return {
        "hours": {str(n): (serial_s * scale + longest_first(durations, n)) / 3600 for n in machines},
        "longest_task_hours": max(durations) / 3600,
        "tasks": len(durations),
    }


def project_machines(
    by_images: dict[str, dict[str, Any]], full_run: dict[str, Any], tasks_per_model: int
) -> dict[str, Any] | None:
    """The full-size projection for N machines, from the largest timed run's tasks, scaled so that one
    machine gives `full_run`'s hours. A run timed before the records' per-task durations were kept
    (docs/perf.json before issue 26) has per-model sums only: each model's `tasks_per_model` tasks are
    then taken as equal (its mean), which understates the floor by the spread between folds."""
    timed = [n for n, f in by_images.items() if "run_wall_s" in f]
    if not timed or full_run.get("hours") is None:
        return None
    size = max(timed, key=int)
    largest = by_images[size]
    tasks_s, how = largest.get("run_task_s"), "the timed run's fold tasks, longest first"
    if not tasks_s:
        tasks_s = {
            f"{model}/{k}": sum(sums.values()) / tasks_per_model
            for model, sums in largest["run_per_model_s"].items()
            for k in range(tasks_per_model)
        }
        how = "each model's fold tasks at that model's mean (the timed run kept per-model sums only), longest first"
    serial_s = max(0.0, largest["run_wall_s"] - sum(tasks_s.values()))
    scale = full_run["hours"] * 3600 / largest["run_wall_s"]
    return {**machines_projection(tasks_s, serial_s, scale), "from_images": int(size), "how": how}


def timed_run(run_dir: Path) -> dict[str, Any]:
    """What a run already made took (`perf --from-run`): every invocation of it summed (a resumed run has
    several), each recorded fold task, and from those the wall time on N machines. Measures nothing."""
    paths = {name: Path(run_dir) / name for name in (TIMINGS, CONFIG, DATA_SUMMARY)}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise BenchmarkError(f"perf --from-run: {missing[0]} not found: give a run directory that has run")
    config = json.loads(paths[CONFIG].read_text(encoding="utf-8"))
    records = load_run_records(run_dir)
    tasks_s = task_seconds(records)
    totals = invocation_totals(json.loads(paths[TIMINGS].read_text(encoding="utf-8")))
    # Beside the fold tasks: scan, audit, summary and report, and any work an interruption lost.
    serial_s = max(0.0, totals["wall_s"] - sum(tasks_s.values()))
    images = json.loads(paths[DATA_SUMMARY].read_text(encoding="utf-8"))["n_images"]
    return {
        "run_dir": str(run_dir),
        "images": images,
        "folds": config["folds"],
        "trials": config["trials"],
        **totals,
        "tasks_recorded": len(records),
        "tasks_expected": len(part_folders(run_dir)) * len(config["models"]) * len(config["strategies"])
        * config["folds"],
        "run_per_model_s": model_seconds(records),
        "run_task_s": tasks_s,
        "machines": {**machines_projection(tasks_s, serial_s), "from_images": images,
                     "how": "this run's fold tasks, longest first"} if tasks_s else None,
    }  # fmt: skip


def timed_run_lines(figures: dict[str, Any]) -> list[str]:
    stopped = invocations_phrase(figures)
    stages = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in figures["stages_s"].items())
    lines = [
        f"run {figures['run_dir']}: {figures['images']} images, --folds {figures['folds']} --trials "
        f"{figures['trials']}: {figures['wall_s']:.0f} s = {figures['wall_s'] / 3600:.2f} h in "
        f"{count_of(figures['invocations'], 'invocation')}{stopped}",
        f"stages, all invocations: {stages}",
        f"fold tasks recorded: {figures['tasks_recorded']} of {figures['tasks_expected']}"
        + ("" if figures["tasks_recorded"] == figures["tasks_expected"] else " (the run is not finished)"),
    ]
    for model, parts in figures["run_per_model_s"].items():
        lines.append(f"{model}: " + ", ".join(f"{part[:-2]} {seconds:.0f} s" for part, seconds in parts.items()))
    return lines + machines_lines(figures["machines"])


def measure(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    fractions = sorted(set(args.fractions))
    run_fractions = [] if args.no_run else sorted(set(args.run_fractions))
    work = args.work or config.cache_dir.parent / "perf"
    stamp_folder(work, PERF_STAMP)  # the output guard then knows the folder as perf's own next time
    run_extra = [arg for pair in args.set for arg in ("--set", pair)]
    results: dict[str, Any] = {
        "device": configure_devices(config.mixed_precision),  # a GPU, if any, with mixed precision if asked
        "when": now(),
        "machine": machine(),
        "versions": package_versions(),
        "images": args.images,
        "folds": args.folds,
        "trials": args.trials,
        "repeats": args.repeats,
        "config": {
            k: config.to_dict()[k]
            for k in ("models", "strategies", "tuning_subsample", "feature_runtime", "inner_folds", "model_options")
        },  # fmt: skip
        "by_images": {},
    }
    for fraction in sorted(set(fractions) | set(run_fractions)):
        count = max(MIN_IMAGES, round(args.images * fraction))
        data = demo_at(work, count, config.demo_seed)
        figures: dict[str, Any] = {"fraction": fraction, "images": count}
        if fraction in fractions:
            cache = work / f"cache-{count}"
            clear_cache(cache)  # cold: decoding and extraction measured from scratch
            local = config.replace(cache_dir=cache)
            dataset = load_dataset(data, local).with_keys(config.scan_workers)
            plans = [ModelPlan.of(local, model, len(dataset.class_names)) for model in config.models]
            figures["decode"] = measure_decode(dataset, local, plans, cache, args.repeats)
            figures["decode_s"] = {k: count / v["median"] for k, v in figures["decode"].items()}
            _print_progress(count, figures)
            source = DatasetSource.of(dataset, dataset.class_names, local)
            figures["models"] = {}
            for plan in plans:
                figures["models"][plan.name] = measure_trials(dataset, local, plan, source, args.repeats)
                _print_progress(count, figures)
            figures["peak_rss_gb"] = _rss_gb(resource.RUSAGE_SELF)
            figures["full_run_estimate"] = estimate_from_steps(figures, config, args.folds, args.trials)
        if fraction in run_fractions:
            figures |= measure_run(data, work, args.folds, args.trials, run_extra)
        results["by_images"][str(count)] = figures
        _print_progress(count, figures)
    results["full_run"] = project_full_run(results["by_images"], args.images)
    results["machines"] = project_machines(
        results["by_images"], results["full_run"], args.folds * len(config.strategies)
    )
    results["targets"] = targets_met(results)
    return results


def _print_progress(count: int, figures: dict[str, Any]) -> None:
    flat = {k: v for k, v in _flatten(figures).items() if not k.endswith(("values", ".min", ".max"))}
    print(f"perf {count} images: " + ", ".join(f"{k}={_fmt(v)}" for k, v in flat.items()), file=sys.stderr)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def targets_met(results: dict[str, Any]) -> dict[str, Any]:
    """Each target's verdict; the full run's from the run timed outright once there is one (`perf
    --from-run` recorded as `full_run_measured`), from the projection until then."""
    measured = results.get("full_run_measured")
    values = {
        "full_run_hours": measured["wall_s"] / 3600 if measured else results["full_run"]["hours"],
        "peak_rss_gb": max(
            (f.get(k, 0.0) for f in results["by_images"].values() for k in ("peak_rss_gb", "run_peak_rss_gb")),
            default=None,
        ),
    }
    verdict = {}
    for key, (sense, limit) in TARGETS.items():
        value = values[key]
        met = None if value is None else (value >= limit if sense == ">=" else value <= limit)
        verdict[key] = {"value": value, "target": f"{sense} {limit:g}", "met": met}
    verdict["full_run_hours"]["how"] = "measured" if measured else "projected"
    return verdict


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _cell(value: Any) -> str:
    """A repeated figure as `median (min-max)`, a plain one as itself."""
    if isinstance(value, dict) and "median" in value:
        return f"{_fmt(value['median'])} ({_fmt(value['min'])}-{_fmt(value['max'])})"
    return "" if value is None else _fmt(value)


def machines_lines(machines: dict[str, Any] | None) -> list[str]:
    """`perf`'s lines for N machines (each a coordinator or a worker on its own machine)."""
    if not machines:
        return []
    spread = ", ".join(f"{n} machine{'s' if n != '1' else ''} {h:.2f} h" for n, h in machines["hours"].items())
    return [f"on N machines: {spread} (floor: the longest fold task, {machines['longest_task_hours']:.2f} h; "
            f"{machines['tasks']} tasks from the {machines['from_images']}-image run: {machines['how']})"]  # fmt: skip


def table(results: dict[str, Any]) -> list[str]:
    sizes = sorted(results["by_images"], key=int)
    rows: dict[str, list[Any]] = {}
    for index, n in enumerate(sizes):
        figures = results["by_images"][n]
        entries = {f"{k} (img/s)": v for k, v in figures.get("decode", {}).items()}
        for model, entry in figures.get("models", {}).items():
            entries[f"{model} trial, cold cache (s)"] = entry["trial_cold_s"]
            entries[f"{model} trial (s)"] = entry["trial_s"]
            entries |= {
                f"{model} {k}": v for k, v in entry.items() if k not in ("trial_cold_s", "trial_s", "tuning_images")
            }
        for key in ("peak_rss_gb", "run_wall_s", "run_peak_rss_gb"):
            if key in figures:
                entries[key] = figures[key]
        for stage, seconds in figures.get("run_stages_s", {}).items():
            entries[f"run stage {stage} (s)"] = float(seconds)
        for model, parts in figures.get("run_per_model_s", {}).items():
            entries |= {f"run {model} {part[:-2]}, all folds (s)": seconds for part, seconds in parts.items()}
        for key, value in entries.items():
            rows.setdefault(key, [None] * len(sizes))[index] = value
    lines = [f"| figure (median of {results['repeats']}, min-max) | {' | '.join(f'{n} images' for n in sizes)} |",
             "|---" * (len(sizes) + 1) + "|"]  # fmt: skip
    lines += [f"| {key} | {' | '.join(_cell(v) for v in values)} |" for key, values in rows.items()]
    full = results["full_run"]
    hours = "n/a" if full["hours"] is None else f"{full['hours']:.2f} h"
    lines.append(f"\nfull run at {results['images']} images, --folds {results['folds']} --trials {results['trials']}: "
                 f"{hours} ({full['how']})")  # fmt: skip
    # A perf.json written before issue 26 has no "machines": projected here from its run, the same way.
    machines = results.get("machines") or project_machines(
        results["by_images"], full, results["folds"] * len(results.get("config", {}).get("strategies", STRATEGIES))
    )
    lines += machines_lines(machines)
    # The full size timed outright (docs/full_run_state.sh record: `perf --from-run` of that run).
    measured = results.get("full_run_measured")
    if measured:
        lines.append(f"full run measured at {measured['images']} images, --folds {measured['folds']} --trials "
                     f"{measured['trials']}: {measured['wall_s'] / 3600:.2f} h in "
                     f"{count_of(measured['invocations'], 'invocation')}{invocations_phrase(measured)}, "
                     f"on {'; '.join(measured.get('cpus', [])) or 'this machine'}")  # fmt: skip
        lines += machines_lines(measured["machines"])
    for key, verdict in targets_met(results).items():
        state = {True: "met", False: "NOT met", None: "not measured"}[verdict["met"]]
        value = "n/a" if verdict["value"] is None else _fmt(float(verdict["value"]))
        how = f" ({verdict['how']})" if "how" in verdict else ""
        lines.append(f"target {key} {verdict['target']}: {value}{how} -> {state}")
    machine_info = results["machine"]
    lines.append(f"machine: {machine_info['processor']}, {machine_info['usable_cpus']} cores, "
                 f"{machine_info['memory_gb']} GB, GPUs: {', '.join(machine_info['gpus']) or 'none'}")  # fmt: skip
    return lines
