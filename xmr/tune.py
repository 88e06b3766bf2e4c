"""`xmr tune`: search spec fields on the validation split (Optuna), then evaluate the chosen
configuration on the test split once.

Each trial trains the spec with the sampled values applied (as `--set` would) and scores the
validation split only: the trainer reads the train and val splits, writes nothing, and reports
each epoch's validation MAP, on which the median pruner may stop the trial. The study lives in
``<store>/tuning/<experiment>/study.db`` (Optuna's SQLite storage, transactional), so an
interrupted search resumes where it stopped: ``--trials N`` is the total wanted. A trial that
fails (an invalid value, a run error) is recorded with its error and the search goes on. The
record (space, every trial with its validation MAP, state and error, the choice, and the test
metrics of the choice) is written to ``trials.parquet`` and ``tuning.json`` beside the study and
indexed by the catalog's ``trials`` table.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from .spec.load import SpecError, apply_values, load_yaml, read_text, validate_spec
from .spec.tuning import SearchSpace
from .store.files import stable_hash, write_json, write_table
from .store.layout import Store


def read_space(path: str | Path) -> SearchSpace:
    """A search-space file, validated; errors name the file and the field."""
    from pydantic import ValidationError

    from .spec.load import format_validation_error

    data = load_yaml(read_text(path, "search-space file"), str(path))
    try:
        return SearchSpace.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(str(path), exc, data)) from None


@dataclass
class TuneResult:
    study: str
    best_value: float
    best_params: dict[str, Any]
    trials: list[dict]
    metrics: dict | None  # the test metrics of the chosen configuration (None: not evaluated)


def check_space(base: dict, space: SearchSpace, source: str) -> None:
    """Every searched key must exist in the spec model: the first candidate of each must give a
    valid spec (errors name the key)."""
    first = {k: (p.values[0] if p.type == "choice" else
                 (int(p.low) if p.type == "int" else p.low)) for k, p in space.params.items()}
    validate_spec(apply_values(base, first, "search space"), f"{source} (search space)")


def _suggest(trial, space: SearchSpace) -> dict[str, Any]:
    values = {}
    for key, p in space.params.items():
        if space.sampler == "grid" or p.type == "choice":
            choices = [json.dumps(v) for v in p.grid()]
            values[key] = json.loads(trial.suggest_categorical(key, choices))
        elif p.type == "int":
            values[key] = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1),
                                            log=p.log)
        else:
            values[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
    return values


def _study(store: Store, name: str, space: SearchSpace, base: dict):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # xmr prints one line per trial
    folder = store.tuning_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    if space.sampler == "grid":
        grid = {k: [json.dumps(v) for v in p.grid()] for k, p in space.params.items()}
        sampler = optuna.samplers.GridSampler(grid, seed=space.seed)
    elif space.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=space.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=space.seed, n_startup_trials=space.startup_trials)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials,
                                          n_warmup_steps=space.warmup_epochs)
              if space.pruner == "median" else optuna.pruners.NopPruner())
    study_name = f"{name}-{stable_hash({'space': space.model_dump(mode='json'), 'base': base})}"
    study = optuna.create_study(study_name=study_name, storage=f"sqlite:///{folder / 'study.db'}",
                                sampler=sampler, pruner=pruner, direction="maximize",
                                load_if_exists=True)
    # a trial left running by an interrupted search will never finish: count it as failed
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    return study


def _record(trial) -> dict:
    state = trial.state.name.lower()
    error = trial.user_attrs.get("error")
    if state == "fail" and error is None:
        error = "interrupted: the search stopped during this trial"
    seconds = ((trial.datetime_complete - trial.datetime_start).total_seconds()
               if trial.datetime_complete and trial.datetime_start else None)
    params = {k: json.loads(v) if isinstance(v, str) else v for k, v in trial.params.items()}
    return {"number": trial.number, "state": state, "val_map": trial.value,
            "params": json.dumps(params), "epochs": len(trial.intermediate_values),
            "error": error, "seconds": seconds}


def tune(base: dict, source: str, space: SearchSpace, store: Store, trials: int,
         evaluate: bool = True, echo: Callable[[str], None] | None = None) -> TuneResult:
    """Search ``space`` over the spec ``base`` (a spec mapping; ``source`` names it in errors) for
    ``trials`` trials in all (resuming a study with the same base and space), then train the best
    configuration and, when ``evaluate``, score it on the test split once."""
    import optuna
    from tqdm import tqdm

    from .pipeline import ensure_dataset, evaluate_step, train_step

    echo = echo or (lambda line: print(line, file=sys.stderr))
    base_spec = validate_spec(base, source)
    name = base_spec.name
    check_space(base, space, source)
    study = _study(store, name, space, base)
    done = [t for t in study.trials if t.state.is_finished()]
    remaining = max(trials - len(done), 0)
    if space.sampler == "grid":
        size = math.prod(len(p.grid()) for p in space.params.values())
        remaining = min(remaining, max(size - len(done), 0))

    def objective(trial) -> float:
        values = _suggest(trial, space)
        started = time.perf_counter()
        try:
            spec = validate_spec(apply_values(base, values, "tuning"), f"{source} (trial {trial.number})")
            key = ensure_dataset(store, spec.dataset)
            step = 0

            def report(entry: dict) -> None:
                nonlocal step
                if "val_map" in entry and math.isfinite(entry["val_map"]):
                    step += 1
                    trial.report(entry["val_map"], step)
                    if trial.should_prune():
                        raise optuna.TrialPruned(f"pruned at epoch {step}")

            log = train_step(store, spec, key, build_features=True, write=False, on_epoch=report)
            value = log["best_val_map"]
            if value is None or not math.isfinite(value):
                raise ValueError("the dataset has no validation split: nothing to select on")
            return float(value)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # recorded with the trial; the search goes on
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))

    bar = tqdm(total=remaining, desc=f"tune {name}", unit="trial", disable=None)

    def summary(study_, trial) -> None:
        bar.update(1)
        rec = _record(trial)
        lines = [ln.strip() for ln in (rec["error"] or "").splitlines() if ln.strip()]
        what = (f"val MAP {rec['val_map']:.4f}" if rec["state"] == "complete" else
                f"{rec['state']} after {rec['epochs']} epoch(s)" +
                (f": {' / '.join(lines[1:] or lines)}" if lines else ""))
        echo(f"trial {trial.number}: {what}  {rec['params']}")

    if remaining:
        study.optimize(objective, n_trials=remaining, catch=(Exception,), callbacks=[summary])
    bar.close()
    records = [_record(t) for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ValueError(f"xmr tune {name}: no trial completed; see "
                         f"{store.tuning_dir(name) / 'trials.parquet'} for their errors")
    best = study.best_trial
    best_params = {k: json.loads(v) if isinstance(v, str) else v for k, v in best.params.items()}
    metrics = None
    final = validate_spec(apply_values(base, best_params, "tuning"), f"{source} (chosen)")
    if evaluate:
        key = ensure_dataset(store, final.dataset)
        train_step(store, final, key, build_features=True)
        metrics = evaluate_step(store, final.name)
    _write_record(store, name, study.study_name, source, space, records, best.number,
                  best.value, best_params, metrics)
    return TuneResult(study.study_name, best.value, best_params, records, metrics)


def _write_record(store: Store, name: str, study: str, source: str, space: SearchSpace,
                  records: list[dict], best_number: int, best_value: float,
                  best_params: dict, metrics: dict | None) -> None:
    folder = store.tuning_dir(name)
    rows = [{"experiment": name, "study": study, **r} for r in records]
    schema = pa.schema([("experiment", pa.string()), ("study", pa.string()),
                        ("number", pa.int64()), ("state", pa.string()), ("val_map", pa.float64()),
                        ("params", pa.string()), ("epochs", pa.int64()), ("error", pa.string()),
                        ("seconds", pa.float64())])
    write_table(folder / "trials.parquet", pa.Table.from_pylist(rows, schema=schema))
    write_json(folder / "tuning.json", {
        "experiment": name, "source": source, "study": study,
        "space": space.model_dump(mode="json", exclude_none=True), "n_trials": len(records),
        "states": {s: sum(r["state"] == s for r in records) for s in {r["state"] for r in records}},
        "best": {"number": best_number, "val_map": best_value, "params": best_params,
                 "set": [f"{k}={json.dumps(v)}" for k, v in best_params.items()]},
        "test": None if metrics is None else {"tasks": metrics["tasks"],
                                              "average": metrics["average"]},
    })


def write_params(params_path: Path, experiment: str, values: dict[str, Any]) -> None:
    """Write ``values`` (dotted spec keys) into ``experiments.<experiment>.set`` of params.yaml,
    keeping its comments and order (ruamel.yaml); list positions become string keys, as
    `dvc exp run -S` needs."""
    from ruamel.yaml import YAML

    from .store.files import atomic_file

    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(params_path.read_text(encoding="utf-8"))
    section = doc["experiments"][experiment]
    if section.get("set") is None:
        section["set"] = {}
    for key, value in values.items():
        node = section["set"]
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    with atomic_file(params_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)


__all__ = ["TuneResult", "check_space", "read_space", "tune", "write_params"]

