"""The stages in order: data -> scan -> groups -> splits -> (tune -> train -> evaluate -> report).

A run directory is the contract between stages: the config used, the data summary, one manifest
per split strategy, the Optuna storage, one record per finished outer fold, results.csv and
summary.json, each written atomically.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.atomic import atomic_write_json, atomic_write_text
from benchmark.crossval import RunData, load_fold_records, run_folds
from benchmark.dataset import Dataset, load_dataset, print_summary, summary_lines
from benchmark.demo import GENERATOR_VERSION, generate_demo_data
from benchmark.environment import configure_devices, machine, now, package_versions, redact_url
from benchmark.errors import BenchmarkError
from benchmark.summary import results_frame, summarize
from benchmark.thumbnails import write_thumbnail, write_thumbnails
from benchmark.tune import rdb_storage, study_storage_url
from config import DEFAULT, DEMO_RUN_OVERRIDES, Config
from reports import build_report
from splits import GROUPED, assign_folds, fold_pairs, manifest_csv, manifest_frame, read_manifest

__all__ = ["load", "resolve_data_dir", "run", "summary_lines", "write_split"]

DEMO_STAMP = ".workout-bench-demo.json"
PAIRS_IN_REPORT = 3


def resolve_data_dir(config: Config, data: Path | None) -> Path:
    """`--data` if given; else the real dataset if downloaded; else the embedded demo data."""
    if data is not None:
        if not Path(data).is_dir():
            raise BenchmarkError(f"--data folder not found: {data}")
        return Path(data)
    if config.data_dir.is_dir():
        return config.data_dir
    print(
        f"no dataset at {config.data_dir} (python -m benchmark download fetches it): using the embedded demo data",
        file=sys.stderr,
    )
    return ensure_demo_data(config)


def ensure_demo_data(config: Config) -> Path:
    """Generate the demo dataset once; regenerate only when its seed or scale changed."""
    stamp = {"scale": config.demo_scale, "seed": config.demo_seed, "version": GENERATOR_VERSION}
    stamp_file = config.demo_dir / DEMO_STAMP
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return config.demo_dir
    generate_demo_data(config.demo_dir, config.demo_scale, config.demo_seed)
    atomic_write_json(stamp_file, stamp, indent=None)
    return config.demo_dir


def load(config: Config, data: Path | None) -> Dataset:
    return load_grouped(config, data)[0]


def load_grouped(config: Config, data: Path | None) -> tuple[Dataset, dict[str, Any] | None]:
    """The scanned dataset with its groups: from file names, or (`groups = "infer"`) from the pixels."""
    dataset = load_dataset(resolve_data_dir(config, data), config)
    if config.groups == "names":
        return dataset, None
    from benchmark.audit import with_inferred_groups

    dataset, agreement = with_inferred_groups(dataset, config)
    ari = agreement["adjusted_rand_index"]
    print(
        f"groups inferred from pixels: {agreement['groups']} groups; agreement with file-name videos: "
        + (
            f"adjusted Rand index {ari:.3f} over {agreement['images_compared']} frames"
            if ari is not None
            else "no video ids"
        ),
        file=sys.stderr,
    )
    return dataset, agreement


def fold_assignment(dataset: Dataset, strategy: str, config: Config) -> np.ndarray:
    images = dataset.images
    return assign_folds(images["label"].to_numpy(), images["group"].to_numpy(), strategy, config.folds, config.seed)


def split_manifest(dataset: Dataset, strategy: str, config: Config) -> str:
    return manifest_csv(manifest_frame(dataset.images, fold_assignment(dataset, strategy, config), strategy))


def write_split(config: Config, data: Path, strategy: str, out: Path) -> Path:
    dataset = load(config, data)
    print_summary(dataset.summary())
    _check_writable(out.parent)
    atomic_write_text(out, split_manifest(dataset, strategy, config))
    return out


def folds_from_manifest(dataset: Dataset, manifest: pd.DataFrame, source: Path) -> dict[str, np.ndarray]:
    """Align a manifest's fold column with the dataset's rows; every row must match an image."""
    out = {}
    index = pd.Series(np.arange(len(dataset.images)), index=dataset.images["path"])
    for strategy, part in manifest.groupby("strategy", sort=False):
        unknown = sorted(set(part["path"]) - set(index.index))
        if unknown:
            raise BenchmarkError(f"manifest {source}: {len(unknown)} path(s) not in the data folder, e.g. {unknown[0]}")
        folds = np.full(len(dataset.images), -1, dtype=np.int64)
        folds[index[part["path"]].to_numpy()] = part["fold"].to_numpy()
        if (folds < 0).any():
            missing = dataset.images["path"].to_numpy()[folds < 0][0]
            raise BenchmarkError(f"manifest {source} has no fold for {missing} (made from another data folder?)")
        out[str(strategy)] = folds
    return out


def folds_from_manifests(run_dir: Path, dataset: Dataset, strategies: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A run's folds read back from its manifests: what a worker joining the run trains on."""
    folds: dict[str, np.ndarray] = {}
    for strategy in strategies:
        path = run_dir / "manifests" / f"{strategy}.csv"
        folds.update(folds_from_manifest(dataset, read_manifest(path), path))
    return folds


def run_data_of(dataset: Dataset, folds: dict[str, np.ndarray]) -> RunData:
    """`dataset` with its `key` column (Dataset.with_keys)."""
    images = dataset.images
    return RunData(
        root=dataset.root,
        paths=images["path"].tolist(),
        labels=images["label"].tolist(),
        groups=images["group"].tolist(),
        keys=images["key"].tolist(),
        class_names=dataset.class_names,
        folds={strategy: np.asarray(array).tolist() for strategy, array in folds.items()},
    )


def split_statistics(dataset: Dataset, strategy: str, folds: np.ndarray) -> list[dict[str, Any]]:
    """Per fold: sizes, classes present, and how much of the test fold shares a video with training."""
    images = dataset.images
    labels, groups = images["label"].to_numpy(), images["group"].to_numpy()
    rows = []
    for fold, (train_idx, test_idx) in enumerate(fold_pairs(folds)):
        seen = set(groups[train_idx])
        shared = np.array([g in seen for g in groups[test_idx]])
        rows.append(
            {
                "strategy": strategy,
                "fold": fold,
                "n_train": int(len(train_idx)),
                "n_test": int(len(test_idx)),
                "test_classes": int(len(set(labels[test_idx]))),
                "test_groups": int(len(set(groups[test_idx]))),
                "test_share_with_video_in_train": round(float(shared.mean()), 4),
            }
        )
    return rows


def run(
    config: Config,
    data: Path | None,
    run_id: str | None,
    storage: str | None = None,
    n_jobs: int = 1,
    timeout: float | None = None,
) -> tuple[Path, dict[str, Any]]:
    """scan -> groups -> splits -> (tune -> train -> evaluate per outer fold) -> results and summary."""
    if data is None and not config.data_dir.is_dir():
        config = config.replace(
            **{k: v for k, v in DEMO_RUN_OVERRIDES.items() if getattr(config, k) == getattr(DEFAULT, k)}
        )
        print(f"demo run budget (config.DEMO_RUN_OVERRIDES): {DEMO_RUN_OVERRIDES}", file=sys.stderr)
    clock = StageClock()
    dataset, agreement = load_grouped(config, data)
    summary = dataset.summary()
    print_summary(summary)
    # Folds first: an infeasible split (too few videos for --folds) must not leave a run directory behind.
    folds = {strategy: fold_assignment(dataset, strategy, config) for strategy in config.strategies}
    if storage:
        rdb_storage(storage)  # a wrong URL or a missing driver is one line now, not after a directory is made
    run_dir = config.runs_dir / (run_id or default_run_id(config, dataset.root))
    _claim_run_dir(run_dir, config)
    atomic_write_json(run_dir / "data_summary.json", summary)
    storage = storage or study_storage_url(run_dir / "optuna.db")
    print(configure_devices(config.mixed_precision), file=sys.stderr)
    atomic_write_json(
        run_dir / "environment.json", {"storage": redact_url(storage), **machine(), "versions": package_versions()}
    )
    write_thumbnails(dataset.images, dataset.root, run_dir / "thumbnails")
    clock.lap("scan")
    statistics = []
    for strategy in config.strategies:
        manifest = manifest_frame(dataset.images, folds[strategy], strategy)
        atomic_write_text(run_dir / "manifests" / f"{strategy}.csv", manifest_csv(manifest))
        statistics.extend(split_statistics(dataset, strategy, folds[strategy]))
    atomic_write_json(run_dir / "splits.json", statistics)
    if agreement is not None:
        atomic_write_json(run_dir / "groups.json", {"source": "inferred from pixels", **agreement})
    for strategy in config.strategies:
        rows = [r for r in statistics if r["strategy"] == strategy]
        share = np.mean([r["test_share_with_video_in_train"] for r in rows])
        verdict = "no video on both sides" if strategy == GROUPED else "frames of the same video on both sides"
        print(
            f"{strategy}: {len(rows)} folds, {share:.0%} of test images share a video with training ({verdict})",
            file=sys.stderr,
        )

    clock.lap("splits")
    dataset = dataset.with_keys(config.scan_workers)
    clock.lap("hashing")
    if config.audit_in_run:
        write_audit(run_dir, dataset, config, folds)
        clock.lap("audit")
    run_folds(config, run_data_of(dataset, folds), run_dir, storage, n_jobs, timeout)
    clock.lap("folds")
    results = results_frame(load_fold_records(run_dir))
    atomic_write_text(run_dir / "results.csv", results.to_csv(index=False, lineterminator="\n"))
    run_summary = {
        "run_id": run_dir.name,
        "data_dir": str(dataset.root),
        "folds": config.folds,
        "trials": config.trials,
        "seed": config.seed,
        **summarize(results),
    }
    atomic_write_json(run_dir / "summary.json", run_summary)
    clock.lap("summary")
    _record_invocation(run_dir, clock)
    build_report(run_dir)
    clock.lap("report")
    _record_invocation(run_dir, clock, replace_last=True)
    return run_dir, run_summary


def write_audit(run_dir: Path, dataset: Dataset, config: Config, folds: dict[str, np.ndarray]) -> None:
    """audit.json and side-by-side thumbnails of the worst pairs, for the report's leakage section."""
    from benchmark.audit import audit, audit_lines

    summary, _ = audit(dataset, config, folds)
    for strategy, entry in summary.items():
        for n, pair in enumerate(entry["worst_pairs"][:PAIRS_IN_REPORT]):
            for side in ("test", "train"):
                name = f"{strategy}-{n}-{side}.jpg"
                write_thumbnail(dataset.root / pair[side], run_dir / "audit" / name)
                pair[f"{side}_thumbnail"] = f"audit/{name}"
    atomic_write_json(run_dir / "audit.json", summary)
    for line in audit_lines(summary)[: len(summary) + 1]:
        print(f"audit: {line}", file=sys.stderr)


class StageClock:
    """Wall time per stage of one invocation of `run` (a resumed run has several invocations)."""

    def __init__(self) -> None:
        self.started_at = now()
        self.stages: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        current = time.perf_counter()
        self.stages[stage] = round(current - self._last, 2)
        self._last = current

    def record(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "finished_at": now(),
            "stages_s": dict(self.stages),
            "wall_s": round(sum(self.stages.values()), 2),
        }


def _record_invocation(run_dir: Path, clock: StageClock, replace_last: bool = False) -> None:
    path = run_dir / "timings.json"
    invocations = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    if replace_last and invocations:
        invocations.pop()
    atomic_write_json(path, [*invocations, clock.record()])


def default_run_id(config: Config, data_dir: Path) -> str:
    """Same data and config -> same run id, so re-running a command finds its own run directory."""
    digest = hashlib.sha256((config.to_json() + str(data_dir.resolve())).encode()).hexdigest()[:8]
    return f"{data_dir.name}-k{config.folds}-s{config.seed}-{digest}"


def _claim_run_dir(run_dir: Path, config: Config) -> None:
    """Create the run directory, or accept it back only if it was made with the same config."""
    config_file = run_dir / "config.json"
    if config_file.is_file():
        if config_file.read_text(encoding="utf-8") != config.to_json():
            raise BenchmarkError(
                f"run directory {run_dir} was made with another config; pass a new --run-id or restore the config"
            )
        return
    _check_writable(run_dir)
    atomic_write_text(config_file, config.to_json())


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise BenchmarkError(f"cannot write to {folder}: {error.strerror or error}") from None
