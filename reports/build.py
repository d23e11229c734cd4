"""Run directory -> report.html (self-contained: figures and thumbnails embedded) and summary.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.core import interrupt
from benchmark.core.atomic import atomic_write_text
from benchmark.core.rundir import CURVE, ISSUE_THUMBNAILS, MISTAKES, REPORT_HTML, REPORT_MARKDOWN
from benchmark.core.secrets import redact
from benchmark.core.timing import FINISHED, INTERRUPTED, RUNNING, invocation_totals, invocations_phrase
from benchmark.core.words import count_of
from reports import figures
from reports.render import data_uri, templates
from reports.rundir import RunDirectory, read_run_directory
from reports.text import comparison_sentence, format_p, inflation_sentence, interval_text, tuning_sentence
from splits.names import GROUPED, LEAKY
from splits.names import STRATEGIES as STRATEGY_ORDER


def build_report(run_dir: Path, storage: str | None = None) -> tuple[Path, Path]:
    if (Path(run_dir) / CURVE).is_file():
        from reports.curve import build_curve_report

        return build_curve_report(Path(run_dir))
    run = read_run_directory(run_dir, storage)
    html_path, markdown_path = run.path / REPORT_HTML, run.path / REPORT_MARKDOWN
    atomic_write_text(html_path, render_html(run))
    interrupt.checkpoint("report")
    interrupt.check()
    atomic_write_text(markdown_path, render_markdown(run))
    return html_path, markdown_path


def render_html(run: RunDirectory) -> str:
    return templates().get_template("report.html.j2").render(**report_context(run))


def report_context(run: RunDirectory) -> dict[str, Any]:
    results = run.results
    return {
        "run": run,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "headline": headline_rows(run),
        "comparisons": comparisons_section(run),
        "tuning_gains": tuning_lines(run),
        "glyph_note": glyph_note(run.class_names),
        "fold_figure": data_uri(figures.fold_accuracy(results, run.summary, run.models)),
        "models": [model_section(run, model) for model in run.models],
        "mistakes": mistakes_section(run),
        "issues": issues_section(run),
        "data": data_section(run),
        "audit": audit_section(run),
        "reproducibility": reproducibility_section(run),
    }


def glyph_note(class_names: list[str]) -> str:
    """One note, not a warning per glyph, when a class name has characters no installed font draws."""
    missing = figures.undrawable("".join(class_names))
    if not missing:
        return ""
    return (
        f"The figures show {figures.MISSING_GLYPH} for {missing[:12]}{'...' if len(missing) > 12 else ''}: no "
        "font installed on the machine that built this report draws them (the tables have the names in full). "
        "Install one that does (e.g. Debian's fonts-noto-cjk) and rebuild with `report RUN_DIR`."
    )


def headline_rows(run: RunDirectory) -> list[dict[str, Any]]:
    rows = []
    for model in run.models:
        entry = run.summary["models"][model]
        inflation = entry.get("inflation")
        rows.append(
            {
                "model": model,
                "grouped": entry.get(GROUPED, {}).get("accuracy"),
                "leaky": entry.get(LEAKY, {}).get("accuracy"),
                "grouped_video": entry.get(GROUPED, {}).get("video_accuracy"),
                "leaky_video": entry.get(LEAKY, {}).get("video_accuracy"),
                "inflation": inflation,
                "p_text": format_p(inflation["p_value"]) if inflation else "",
                "sentence": inflation_sentence(model, entry),
            }
        )
    return rows


def comparisons_section(run: RunDirectory) -> dict[str, Any] | None:
    """Model against model on the same outer folds: a forest plot of the paired differences with the ROPE
    shaded, and one sentence per pair and strategy. None with a single model."""
    entries = run.summary.get("comparisons", [])
    if not entries:
        return None
    rope = run.summary.get("rope", 0.01)
    rows = [
        {"label": f"{e['a']} - {e['b']}, {e['strategy']}" + (", per clip" if e["metric"] != "accuracy" else ""),
         "mean": e["mean_difference"], "ci95": e["ci95"], "strategy": e["strategy"]}
        for e in entries
    ]  # fmt: skip
    figure = figures.forest(rows, rope, "Paired differences over the same outer folds")
    return {
        "figure": data_uri(figure),
        "sentences": [comparison_sentence(e) for e in entries if e["metric"] == "accuracy"],
        "entries": entries,
        "rope": rope,
        "holm": any("p_value_holm" in e for e in entries),
    }


def tuning_lines(run: RunDirectory) -> list[str]:
    """What tuning bought over each model's defaults, per strategy (grouped first), from summary.json."""
    lines = []
    for model, arms in run.summary.get("tuning_gain", {}).items():
        for strategy in STRATEGY_ORDER:
            if strategy in arms:
                lines.append(tuning_sentence(model, strategy, arms[strategy]["accuracy"], run.summary["trials"]))
    return lines


def model_section(run: RunDirectory, model: str) -> dict[str, Any]:
    records = [r for r in run.records if r["model"] == model]
    class_names = records[0]["per_class_f1"].keys() if records else run.class_names
    class_names = list(class_names)
    section: dict[str, Any] = {"name": model, "anchor": model.lower()}
    grouped = [r for r in records if r["strategy"] == GROUPED] or records
    matrix = np.sum([np.asarray(r["confusion_matrix"]) for r in grouped], axis=0)
    strategy = grouped[0]["strategy"] if grouped else GROUPED
    section["confusion"] = data_uri(
        figures.confusion_matrix(matrix, class_names, f"{model}: {strategy} folds, summed over {len(grouped)} folds")
    )
    f1 = pd.DataFrame(
        {
            s: pd.DataFrame([r["per_class_f1"] for r in records if r["strategy"] == s]).mean()
            for s in STRATEGY_ORDER
            if any(r["strategy"] == s for r in records)
        }
    ).reindex(class_names)
    section["f1"] = data_uri(figures.per_class_f1(f1, f"{model}: per-class F1"))
    trials = run.trials[run.trials.model == model]
    section["history"] = (
        data_uri(figures.optimization_history(trials, f"{model}: Optuna trials per outer fold"))
        if (trials.state == "COMPLETE").any()
        else None
    )
    importances = run.importances[run.importances.model == model]
    if not importances.empty:
        table = importances.pivot_table(index="parameter", columns="strategy", values="importance", aggfunc="mean")
        table = table[[s for s in STRATEGY_ORDER if s in table.columns]].fillna(0.0)
        section["importances"] = data_uri(figures.importances(table, f"{model}: hyperparameter importance"))
    else:
        section["importances"] = None
    section["trial_counts"] = trials.state.value_counts().to_dict()
    section["best_params"] = best_params_table(records)
    return section


def mistakes_section(run: RunDirectory) -> dict[str, Any] | None:
    """Per model: the most confident mistakes on held-out videos as pictures, and how each held-out video
    fared (the share of its frames classified right); frame next to video accuracy. None for a run
    made before predictions were recorded."""
    if run.predictions.empty:
        return None
    models = []
    for model in run.models:
        rows = run.predictions[(run.predictions.model == model) & (run.predictions.strategy == GROUPED)]
        per_video = (
            rows.assign(correct=rows.correct.astype(str).str.lower() == "true")
            .groupby(["strategy", "fold", "group"]).correct.mean().rename("frame_accuracy").reset_index()
        )  # fmt: skip
        gallery = []
        for item in run.mistakes:
            thumbnail = run.path / MISTAKES / item["thumbnail"]
            if item["model"] == model and thumbnail.is_file():
                gallery.append({**item, "image": data_uri(thumbnail.read_bytes(), "image/jpeg")})
        models.append(
            {
                "name": model,
                "gallery": gallery,
                "videos": int(len(per_video)),
                "all_wrong": int((per_video.frame_accuracy == 0).sum()),
                "all_right": int((per_video.frame_accuracy == 1).sum()),
                "distribution": data_uri(
                    figures.video_accuracy_distribution(per_video, f"{model}: held-out videos (grouped folds)")
                )
                if len(per_video)
                else None,
            }
        )
    return {"models": models, "frame_vs_video": data_uri(figures.frame_vs_video(run.results, run.models))}


def issues_section(run: RunDirectory) -> dict[str, Any] | None:
    """Label issues per model: counts per given class and the strongest as pictures. None for a run made
    before label issues were computed."""
    if run.issues is None:
        return None
    models = []
    for model in run.models:
        rows = run.issues[run.issues.model == model]
        gallery = [
            {**item, "image": data_uri((run.path / ISSUE_THUMBNAILS / item["thumbnail"]).read_bytes(), "image/jpeg")}
            for item in run.issue_thumbnails
            if item["model"] == model and (run.path / ISSUE_THUMBNAILS / item["thumbnail"]).is_file()
        ]
        videos = rows[rows.video_flagged.astype(str) == "True"].group.nunique()
        per_class = rows.groupby("given_label").size().sort_values(ascending=False).to_dict()
        models.append({"name": model, "count": len(rows), "videos": int(videos), "gallery": gallery,
                       "per_class": per_class})  # fmt: skip
    return {"models": models}


def best_params_table(records: list[dict[str, Any]]) -> dict[str, Any]:
    names = sorted({k for r in records for k in r["best_params"]})
    rows = [
        {
            "strategy": r["strategy"],
            "fold": r["fold"],
            "accuracy": r["accuracy"],
            "inner": r.get("best_inner_accuracy"),
            "trials": f"{r['n_trials']} ({r['n_pruned']} pruned)",
            "values": [_short(r["best_params"].get(name)) for name in names],
        }
        for r in records
    ]
    return {"names": names, "rows": rows}


def data_section(run: RunDirectory) -> dict[str, Any]:
    data = run.data
    thumbnails = {
        label: [data_uri(p.read_bytes(), "image/jpeg") for p in paths] for label, paths in run.thumbnails.items()
    }
    return {
        "summary": data,
        "counts_figure": data_uri(figures.class_counts(data["images_per_class"], data["groups_per_class"])),
        "frames_figure": (
            data_uri(figures.frames_per_video(data["videos_by_frame_count"]))
            if data.get("videos_by_frame_count")
            else None
        ),
        "thumbnails": thumbnails,
        "manifests": [p.relative_to(run.path).as_posix() for p in run.manifests()],
        "splits": run.splits,
    }


def audit_section(run: RunDirectory) -> dict[str, Any] | None:
    """Shares per strategy and the worst pairs as thumbnails; None when the run had no audit."""
    if not run.audit:
        return None
    strategies = []
    for strategy, entry in run.audit.items():
        if not isinstance(entry, dict):  # cross_class_duplicates: a list, shown apart below
            continue
        pairs = []
        for pair in entry["worst_pairs"]:
            images = {}
            for side in ("test", "train"):
                thumbnail = run.path / pair.get(f"{side}_thumbnail", "missing")
                images[side] = data_uri(thumbnail.read_bytes(), "image/jpeg") if thumbnail.is_file() else None
            if images["test"] and images["train"]:
                pairs.append({**pair, "images": images})
        strategies.append({"name": strategy, **entry, "pairs": pairs})
    return {"strategies": strategies, "groups": run.groups, "cross_class": run.audit.get("cross_class_duplicates", [])}


# What a timings.json entry's state means once the run is over: a "running" one was killed mid-beat.
ENDED = {FINISHED: "finished", INTERRUPTED: "interrupted", RUNNING: "killed (counted to its last beat)"}


def reproducibility_section(run: RunDirectory) -> dict[str, Any]:
    durations = (
        run.results.groupby(["model", "strategy"], sort=False)[["tune_s", "train_s", "evaluate_s"]].sum().reset_index()
    )
    environment = dict(run.environment)
    if environment.get("storage"):  # run folders written before the one redaction: never shown in full
        environment["storage"] = redact(str(environment["storage"]))
    versions = environment.pop("versions", {})
    totals = invocation_totals(run.timings) if run.timings else None
    return {
        "config": {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in sorted(run.config.items())},
        "seed": run.config.get("seed"),
        "versions": versions,
        "machine": environment,
        "durations": durations.to_dict("records"),
        "invocations": [{**entry, "ended": ENDED[entry.get("state", FINISHED)]} for entry in run.timings],
        "invocation_totals": totals,
        "invocations_phrase": invocations_phrase(totals) if totals else "",
    }


def render_markdown(run: RunDirectory) -> str:
    """The headline for terminals and CI logs: one table and the plain sentences."""
    lines = [
        f"# workout-bench: {run.run_id}",
        "",
        f"Data: `{run.data['data_dir']}`: {count_of(run.data['n_images'], 'image')}, "
        f"{count_of(run.data['n_classes'], 'class')}, {count_of(run.data['n_groups'], 'group')}. "
        f"{run.summary['folds']} outer folds, {count_of(run.summary['trials'], 'Optuna trial')} per fold, "
        f"seed {run.summary['seed']}.",
        "",
        "| model | grouped accuracy (95% CI) | leaky accuracy (95% CI) | inflation, points (95% CI) | p |",
        "|---|---|---|---|---|",
    ]
    headline = headline_rows(run)
    for row in headline:
        inflation = row["inflation"]
        lines.append(
            f"| {row['model']} | {_interval(row['grouped'])} | {_interval(row['leaky'])} | "
            + (
                f"{100 * inflation['mean']:+.1f} [{100 * inflation['ci95'][0]:+.1f}, {100 * inflation['ci95'][1]:+.1f}]"
                f" | {row['p_text']} |"
                if inflation
                else "– | – |"
            )
        )
    lines += ["", *[f"- {row['sentence']}" for row in headline], ""]
    comparisons = [e for e in run.summary.get("comparisons", []) if e["metric"] == "accuracy"]
    if comparisons:
        lines += ["Model against model, on the same outer folds:", ""]
        lines += [f"- {comparison_sentence(entry)}" for entry in comparisons] + [""]
    gains = tuning_lines(run)
    if gains:
        lines += ["Tuned against the defaults, on the same outer folds:", ""] + [f"- {line}" for line in gains] + [""]
    lines.append(
        "CIs and p use the Nadeau-Bengio corrected variance of a k-fold mean (folds share training data; with "
        "repeats, Bouckaert & Frank's corrected repeated k-fold variance); paired comparisons add the Bayesian "
        "correlated t-test (Corani & Benavoli 2015) against a region of practical equivalence of "
        f"{100 * run.summary.get('rope', 0.01):g} point(s). Full report: `report.html`."
    )
    return "\n".join(lines) + "\n"


def _interval(accuracy: dict[str, Any] | None) -> str:
    if not accuracy:
        return "–"
    return f"{100 * accuracy['mean']:.1f}% {interval_text(accuracy['ci95'], 100, 1)}"


def _short(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
