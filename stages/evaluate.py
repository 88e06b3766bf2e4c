"""evaluate@<experiment>: store/experiments/<experiment> -> store/metrics/<experiment>.json,
store/plots/<experiment>/pr_<task>.csv, store/results/<experiment>/per_query.parquet."""

from __future__ import annotations

import argparse
import sys

from xmr.pipeline import evaluate_step
from xmr.cli import report_errors
from xmr.threads import claim_cores
from xmr.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stages.evaluate", description=__doc__)
    ap.add_argument("experiment")
    ap.add_argument("--store", default="store")
    args = ap.parse_args(argv)
    claim_cores()  # share the cores with the other stages running (dvc queue -j N)
    metrics = evaluate_step(Store(args.store), args.experiment)
    for task, values in metrics["tasks"].items():
        print(f"{args.experiment} {task}: " + "  ".join(f"{k}={v:.4f}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(report_errors("stages.evaluate", main))
