"""train@<experiment>: spec + feature sets -> store/experiments/<experiment>.

Reads params.yaml `experiments.<experiment>` (spec file, dataset, `set` overrides).
"""

from __future__ import annotations

import argparse
import sys

from xmr.pipeline import params_experiment, read_params, train_step
from xmr.cli import report_errors
from xmr.threads import claim_cores
from xmr.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stages.train", description=__doc__)
    ap.add_argument("experiment")
    ap.add_argument("--store", default="store")
    args = ap.parse_args(argv)
    claim_cores()  # share the cores with the other stages running (dvc queue -j N)
    spec, key = params_experiment(read_params(), args.experiment)
    log = train_step(Store(args.store), spec, key)
    print(f"trained {args.experiment} in {log['train_seconds']} s on {log['device']}; "
          f"best val MAP {log['best_val_map']}")
    return 0


if __name__ == "__main__":
    sys.exit(report_errors("stages.train", main))
