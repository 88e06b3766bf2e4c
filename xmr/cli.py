"""The `xmr` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

from .spec import SpecError, load_spec

KINDS = ("datasets", "extractors", "granularities", "branches", "losses", "phases", "protocols",
         "distances", "methods")


def _registries() -> dict:
    """Every registry, by the kind name `xmr list` uses (imports torch for branches/losses)."""
    from .branches import BRANCHES
    from .datasets import DATASETS
    from .extractors import EXTRACTORS
    from .granularity import GRANULARITIES
    from .losses import LOSSES
    from .metrics.scorers import SCORERS
    from .phases import PHASES
    from .spec.protocols import PROTOCOLS

    return {"datasets": DATASETS, "extractors": EXTRACTORS, "granularities": GRANULARITIES,
            "branches": BRANCHES, "losses": LOSSES, "phases": PHASES, "protocols": PROTOCOLS,
            "distances": SCORERS}


def shipped_specs(root: Path = Path("specs")) -> list[tuple[str, str]]:
    """The methods: every spec under specs/, with its description."""
    import yaml

    out = []
    from .spec.load import spec_files

    for path in spec_files(root):
        try:
            desc = (yaml.safe_load(path.read_text()) or {}).get("description", "")
        except yaml.YAMLError:
            desc = "(unreadable YAML)"
        out.append((str(path), " ".join(str(desc).split())))
    return out


def cmd_list(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    regs = _registries()
    for kind in kinds:
        rows = shipped_specs() if kind == "methods" else regs[kind].describe()
        print(f"{kind}:")
        width = max((len(n) for n, _ in rows), default=0)
        for name, desc in rows:
            print(f"  {name.ljust(width)}  {desc}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.specs:
        try:
            spec = load_spec(path, sets=args.set)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            failed += 1
        else:
            print(f"ok: {path} ({spec.name})")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run_spec
    from .store import Store, write_json
    from .threads import claim_cores

    claim_cores()
    spec = load_spec(args.spec, sets=args.set)
    metrics = run_spec(spec, Store(args.store))
    if args.metrics_out:
        write_json(args.metrics_out, metrics)
    for task, values in metrics["tasks"].items():
        print(f"{spec.name} {task}: " + "  ".join(f"{k}={v:.4f}" for k, v in values.items()))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .spec.load import apply_sets, validate_spec
    from .store import Store
    from .tune import read_space, tune, write_params

    if (args.spec is None) == (args.experiment is None):
        raise SpecError("xmr tune: give a spec file or --experiment NAME (from params.yaml), not both")
    if args.trials < 1:
        raise SpecError(f"xmr tune: --trials must be at least 1, got {args.trials}")
    if args.write_params and args.experiment is None:
        raise SpecError("xmr tune: --write-params needs --experiment NAME (a params.yaml experiment)")
    space = read_space(args.space)
    from .threads import claim_cores

    claim_cores()
    if args.experiment:
        from .pipeline import PARAMS_FILE, params_experiment, read_params

        source = f"params.yaml: experiments.{args.experiment}"
        spec, _ = params_experiment(read_params(), args.experiment)
        spec = validate_spec(apply_sets(spec.model_dump(mode="json"), args.set), source)
    else:
        source, spec = args.spec, load_spec(args.spec, sets=args.set)
    result = tune(spec.model_dump(mode="json"), source, space, Store(args.store), args.trials,
                  evaluate=not args.no_test)
    print(f"{spec.name}: best of {len(result.trials)} trial(s), validation MAP "
          f"{result.best_value:.4f} with " + ", ".join(f"{k}={json.dumps(v)}"
                                                     for k, v in result.best_params.items()))
    if result.metrics is not None:
        for task, values in result.metrics["tasks"].items():
            print(f"{spec.name} test {task}: " + "  ".join(f"{k}={v:.4f}" for k, v in values.items()))
    if args.write_params:
        write_params(PARAMS_FILE, args.experiment, result.best_params)
        print(f"params.yaml: experiments.{args.experiment}.set updated; `dvc repro` re-runs it")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from .tables import table_command

    print(table_command(args.table, args.store, args.json))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .report import compare_command

    print(compare_command(args.experiments, args.rev, args.store, args.json, args.width))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report.build import report_command
    from .threads import claim_cores

    claim_cores()
    print(report_command(args.experiments, args.out, args.store, args.title, args.queries,
                         args.top, not args.no_tsne))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from .store import Store, format_table, query

    try:
        columns, rows = query(Store(args.store), args.query)
    except duckdb.Error as exc:
        print(f"xmr sql: {exc}", file=sys.stderr)
        return 1
    if not columns:
        print("(the statement returned no result)")
    elif args.json:
        print(json.dumps([dict(zip(columns, r)) for r in rows], default=str, indent=1))
    else:
        print(format_table(columns, rows))
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(f"stages.{args.command}")
    except ModuleNotFoundError:
        print(f"xmr {args.command}: run it from the project root (no stages/ here)", file=sys.stderr)
        return 2
    return module.main([args.key, "--store", args.store])


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="xmr", description="Declarative cross-modal retrieval experiments")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate spec files (non-zero exit on any error)")
    p.add_argument("specs", nargs="+")
    p.add_argument("--set", action="append", default=[], metavar="dotted.key=value")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="prepare, featurize, train and evaluate one spec, outside DVC")
    p.add_argument("spec")
    p.add_argument("--set", action="append", default=[], metavar="dotted.key=value")
    p.add_argument("--store", default="store/scratch", help="scratch store (default: %(default)s)")
    p.add_argument("--metrics-out", help="also write the metrics JSON here")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tune", help="search spec fields on the validation split (Optuna), then "
                       "evaluate the best configuration on the test split once")
    p.add_argument("spec", nargs="?", help="a spec file (or use --experiment)")
    p.add_argument("--experiment", help="a params.yaml experiment as the base instead of a spec file")
    p.add_argument("--space", required=True, help="search-space YAML (see README 'Tuning')")
    p.add_argument("--trials", type=int, required=True, help="trials in all (a re-run resumes)")
    p.add_argument("--set", action="append", default=[], metavar="dotted.key=value")
    p.add_argument("--store", default="store/scratch", help="scratch store (default: %(default)s)")
    p.add_argument("--no-test", action="store_true", help="do not train and test the choice")
    p.add_argument("--write-params", action="store_true",
                   help="write the choice into params.yaml experiments.<name>.set")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("sql", help="read-only SQL over the store's DuckDB catalog")
    p.add_argument("query")
    p.add_argument("--store", default="store")
    p.add_argument("--json", action="store_true", help="print rows as JSON")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("table", help="print a comparison table (specs/compare/tables/*.yaml) "
                       "from the stored metrics")
    p.add_argument("table", help="a table file, e.g. specs/compare/tables/wikipedia_shallow.yaml")
    p.add_argument("--store", default="store")
    p.add_argument("--json", action="store_true", help="the values as JSON")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("compare", help="one line per evaluated experiment: MAP per task, the "
                       "protocol and the settings that differ")
    p.add_argument("experiments", nargs="*", metavar="EXPERIMENT_GLOB",
                   help="names or globs (default: every evaluated experiment)")
    p.add_argument("--rev", action="append", default=[], metavar="REV",
                   help="also at this git revision or DVC experiment (repeatable; read through "
                   "DVC, which takes seconds per call)")
    p.add_argument("--store", default="store")
    p.add_argument("--width", type=int, default=100, help="line width (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="the rows as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="a static HTML report (figures, tables, retrieval "
                       "examples) about evaluated experiments")
    p.add_argument("experiments", nargs="+", metavar="EXPERIMENT_GLOB")
    p.add_argument("--out", required=True, help="the report folder (replaced whole)")
    p.add_argument("--store", default="store")
    p.add_argument("--title")
    p.add_argument("--queries", type=int, default=4, help="gallery queries per task")
    p.add_argument("--top", type=int, default=5, help="results shown per gallery query")
    p.add_argument("--no-tsne", action="store_true", help="leave out the t-SNE maps")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("list", help="registered names with a one-line description")
    p.add_argument("kind", nargs="?", choices=KINDS)
    p.set_defaults(func=cmd_list)

    for name, help_ in [("prepare", "stage prepare@DATASET"), ("featurize", "stage featurize@DATASET"),
                        ("train", "stage train@EXPERIMENT"), ("evaluate", "stage evaluate@EXPERIMENT")]:
        p = sub.add_parser(name, help=help_ + " (reads params.yaml)")
        p.add_argument("key")
        p.add_argument("--store", default="store")
        p.set_defaults(func=cmd_stage)
    return ap


def report_errors(command: str, fn: Callable[[], int]) -> int:
    """Run ``fn``; bad input (spec, files, params, values) or a diverged training run becomes one
    message and exit 1."""
    try:
        return fn()
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (FileNotFoundError, KeyError, ValueError, FloatingPointError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{command}: {msg}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report_errors(f"xmr {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
