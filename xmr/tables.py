"""`xmr table FILE`: a comparison table (specs/compare/tables/*.yaml) from the stored metrics.

Rows are methods (one experiment, or several seeds: mean +- std), columns the table's tasks and
their average, each cell the metric of `store/metrics/<experiment>.json`. A paper's published
figures sit beside a row, marked when their setting is not this row's. Nothing is trained here:
a missing experiment is named with the DVC stage that makes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from .spec.load import SpecError, format_validation_error, read_yaml
from .spec.tables import TableRow, TableSpec
from .store import Store

ARROWS = {"i2t": "I→T", "t2i": "T→I", "i2i": "I→I", "t2t": "T→T"}


def load_table(path: str | Path) -> TableSpec:
    data = read_yaml(path)
    try:
        return TableSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(str(path), exc, data)) from None


def _cell(store: Store, experiment: str, table: TableSpec, row: TableRow) -> dict[str, float]:
    """The row's metric per task (and the average) of one experiment's stored metrics."""
    path = store.metrics_path(experiment)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics for experiment {experiment!r} at {path}: run "
                                f"`dvc repro evaluate@{experiment}`")
    metrics = json.loads(path.read_text())
    tasks = metrics["tasks"]
    if row.distance is not None:
        tasks = (metrics.get("distances") or {}).get(row.distance)
        if tasks is None:
            raise ValueError(f"{path}: no MAP under distance {row.distance!r} (the experiment's "
                             "evaluation.also_distances)")
    out = {}
    metric = "map" if row.distance is not None else table.metric
    for task in table.tasks:
        if task not in tasks or metric not in tasks[task]:
            raise ValueError(f"{path}: no {metric} for task {task}")
        out[task] = float(tasks[task][metric])
    return out


def table_values(table: TableSpec, store: Store) -> list[dict]:
    """Per row: the method, the mean and std per column (std 0 for one experiment), the number
    of experiments and the published figures."""
    rows = []
    for row in table.rows:
        cells = [_cell(store, e, table, row) for e in row.experiments]
        cols = list(table.tasks) + (["avg"] if table.average else [])
        values = {c: [cell[c] if c != "avg" else float(np.mean([cell[t] for t in table.tasks]))
                      for cell in cells] for c in cols}
        rows.append({"method": row.method,
                     "mean": {c: float(np.mean(v)) for c, v in values.items()},
                     "std": {c: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
                             for c, v in values.items()},
                     "n": len(cells), "experiments": row.experiments,
                     "published": row.published})
    return rows


def render_markdown(table: TableSpec, rows: list[dict]) -> str:
    cols = list(table.tasks) + (["avg"] if table.average else [])
    head = [ARROWS.get(c, "average") for c in cols]
    published = any(r["published"] for r in rows)
    header = ["method", *head, "stage"] + (["published " + " / ".join(head), "source"]
                                           if published else [])
    lines = [f"**{table.title}** ({table.metric})", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = []
    for r in rows:
        cells = [f"{r['mean'][c]:.3f}" + (f" ± {r['std'][c]:.3f}" if r["n"] > 1 else "")
                 for c in cols]
        stage = ", ".join(f"`evaluate@{e}`" for e in r["experiments"][:1]) + (
            f" (+{r['n'] - 1} seeds)" if r["n"] > 1 else "")
        line = [r["method"], *cells, stage]
        if published:
            p = r["published"]
            if p is None:
                line += ["—", ""]
            else:
                vals = [p.values.get(c) if c != "avg" else (
                    float(np.mean([p.values[t] for t in table.tasks]))
                    if all(t in p.values for t in table.tasks) else None) for c in cols]
                mark = ""
                if not p.comparable:  # one footnote per distinct reason
                    text = f"{p.source}: not comparable: {p.note}"
                    if text not in notes:
                        notes.append(text)
                    mark = f" [{notes.index(text) + 1}]"
                line += [" / ".join("—" if v is None else f"{v:.3f}" for v in vals),
                         p.source + mark]
        lines.append("| " + " | ".join(line) + " |")
    if notes:
        lines += [""] + [f"[{i}] {text}" for i, text in enumerate(notes, 1)]
    return "\n".join(lines)


def table_command(path: str, store_root: str = "store", as_json: bool = False) -> str:
    table = load_table(path)
    rows = table_values(table, Store(Path(store_root)))
    if as_json:
        return json.dumps([{**r, "published": r["published"].model_dump()
                            if r["published"] else None} for r in rows], indent=1)
    return render_markdown(table, rows)
