"""`xmr report RUN_OR_EXPERIMENT...`: a self-contained static folder (index.html, PNG figures,
thumbnails, report.json) about any set of evaluated runs of one store.

Everything is read from the store: metrics, curves, per-query results, representations and
training logs. Only the gallery scores anything, and only a few sampled queries."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import zarr
from tqdm import tqdm

from ..featurize import Prepared
from ..spec.models import ProtocolSpec
from ..store import Store
from ..store.files import atomic_dir, read_table
from . import figures
from .gallery import ItemView, examples
from .runs import TASK_NAMES, Run, load_run, resolve_experiments
from .targets import target_rows

TEMPLATE = "report.html.j2"


def representations(store: Store, name: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(embeddings, codes) per modality of every item, as the train stage stored them."""
    group = zarr.open_group(store.experiment_dir(name) / "embeddings.zarr", mode="r")
    emb, codes = {}, {}
    for key in group.array_keys():
        kind, _, modality = key.partition("_")
        (emb if kind == "embeddings" else codes)[modality] = group[key][:]
    return emb, codes


def _metric_network(store: Store, run: Run):
    """The trained metric network, for runs ranked by it (uncsm)."""
    from ..spec.models import ExperimentSpec
    from ..train import load_model  # the checkpoint's reader; nothing is trained

    spec = ExperimentSpec.model_validate(run.spec)
    return load_model(store.experiment_dir(run.name), spec).metric_network


def per_category(store: Store, run: Run, view: ItemView, metric: str) -> dict[str, np.ndarray]:
    """Per task, the mean of ``metric`` over the test queries of each category (NaN values, a
    query without a relevant item, are left out)."""
    table = read_table(store.results_dir(run.name) / "per_query.parquet")
    if metric not in table.column_names:
        raise ValueError(f"{store.results_dir(run.name)}/per_query.parquet has no {metric!r}")
    row_of = {item: i for i, item in enumerate(view.ids)}
    tasks = np.asarray(table.column("task").to_pylist())
    rows = np.array([row_of[i] for i in table.column("query_item_id").to_pylist()])
    values = np.asarray(table.column(metric).to_numpy(zero_copy_only=False), dtype=float)
    out = {}
    for task in dict.fromkeys(tasks):
        sel = tasks == task
        cats = view.category[rows[sel]]
        v = values[sel]
        out[task] = np.array([np.nanmean(v[cats == c]) if np.isfinite(v[cats == c]).any()
                              else np.nan for c in range(len(view.names))])
    return out


def _common_metric(runs: list[Run]) -> str:
    """A precision at N that every run reports (mgmm Fig. 15 plots precision), else MAP."""
    shared = set.intersection(*(set(r.spec["evaluation"]["metrics"]) for r in runs))
    ps = sorted((m for m in shared if m.startswith("p@")), key=lambda m: int(m[2:]))
    return ps[0] if ps else "map"


def metrics_rows(runs: list[Run]) -> list[dict]:
    """The report's metrics table: per run, MAP per task and their average, as stored."""
    return [{"experiment": r.name, "dataset": r.dataset, "protocol": r.protocol,
             "map": {t: r.map(t) for t in r.tasks},
             "average": r.metrics.get("average", {}).get("map"),
             "metrics": r.metrics["tasks"], "queries": r.metrics["queries"],
             "database": r.metrics["database"]} for r in runs]


def build_report(store: Store, patterns: list[str], out: Path, title: str | None = None,
                 n_queries: int = 4, k: int = 5, tsne: bool = True, tsne_points: int = 1000,
                 seed: int = 0) -> Path:
    """Write the report for the experiments ``patterns`` name (names or globs) to ``out``,
    replacing it whole once complete."""
    names = resolve_experiments(store, patterns)
    runs = [load_run(store, n) for n in names]
    metric = _common_metric(runs)
    with atomic_dir(out) as tmp:
        figs = figures.curves(runs, tmp) + figures.map_by_bits(runs, tmp)
        per_cat, galleries, maps, trainings, views, datasets = {}, {}, [], [], {}, {}
        for run in tqdm(runs, desc="report", unit="run", disable=None):
            if run.dataset not in datasets:  # read once per dataset, shared by its runs
                prepared = Prepared.open(store, run.dataset)
                datasets[run.dataset] = prepared, prepared.targets()
                views[run.dataset] = ItemView(prepared, tmp)
            prepared, (category, labels) = datasets[run.dataset]
            view = views[run.dataset]
            protocol = ProtocolSpec.model_validate(run.metrics["protocol"])
            test = prepared.split_indices("test")
            database = (test if protocol.database == "test" else
                        np.setdiff1d(np.arange(prepared.items.num_rows), test))
            emb, codes = representations(store, run.name)
            per_cat[run.name] = per_category(store, run, view, metric)
            network = _metric_network(store, run) if protocol.distance == "learned" else None
            reps = codes if protocol.distance == "hamming" else emb
            galleries[run.name] = examples(run, reps, category, labels, test, database, view,
                                           protocol, n_queries, k, seed, network)
            if tsne:
                rng = np.random.default_rng(seed)
                pick = np.sort(rng.choice(test, size=min(tsne_points, len(test)), replace=False))
                maps.append(figures.tsne_map(run, {m: emb[m][pick] for m in ("image", "text")},
                                             view.category[pick], view.names, tmp, seed))
            fig = figures.training(run, tmp)
            if fig is not None:
                trainings.append(fig)
        # Runs whose datasets share their categories (one dataset under several splits) share
        # the per-category figures; each such group has a folder when there are several.
        groups: dict[tuple, list[Run]] = {}
        for r in runs:
            groups.setdefault(tuple(views[r.dataset].names), []).append(r)
        cat_figs = []
        for cat_names, group in groups.items():
            sub = tmp / group[0].dataset if len(groups) > 1 else tmp
            sub.mkdir(exist_ok=True)
            for f in figures.per_category(group, per_cat, list(cat_names), metric, sub):
                if sub != tmp:
                    f.file = f"{group[0].dataset}/{f.file}"
                cat_figs.append(f)
        data = {
            "title": title or "xmr report: " + ", ".join(names),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "store": str(store.root),
            "experiments": names,
            "metrics": metrics_rows(runs),
            "protocols": {r.protocol: r.metrics["protocol"] for r in runs},
            "category_metric": metric,
            "per_category": {n: {t: [None if x != x else x for x in v.tolist()]  # NaN: no query
                                     for t, v in d.items()} for n, d in per_cat.items()},
            "figures": [asdict(f) for f in figs + cat_figs + maps + trainings],
            "gallery": {n: [asdict(e) for e in ex] for n, ex in galleries.items()},
            "targets": target_rows(runs),
        }
        (tmp / "report.json").write_text(json.dumps(data, indent=1, default=_jsonable))
        (tmp / "index.html").write_text(render_html(data))
    return out


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v)} is not JSON serialisable")


def render_html(data: dict) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("xmr.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda v, d=3: "—" if v is None or v != v else f"{v:.{d}f}"
    env.globals["arrow"] = TASK_NAMES
    return env.get_template(TEMPLATE).render(**data)


def report_command(patterns: list[str], out: str, store_root: str = "store",
                   title: str | None = None, queries: int = 4, k: int = 5,
                   tsne: bool = True) -> str:
    path = build_report(Store(store_root), patterns, Path(out), title, queries, k, tsne)
    return f"report: {path / 'index.html'}"


__all__ = ["build_report", "metrics_rows", "render_html", "report_command", "representations"]
