"""prepare@<dataset>: dataset source -> store/datasets/<dataset> (items, units, split).

Reads params.yaml `datasets.<dataset>.spec`.
"""

from __future__ import annotations

import argparse
import sys

from xmr.pipeline import params_dataset, prepare_step, read_params
from xmr.cli import report_errors
from xmr.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stages.prepare", description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("--store", default="store")
    args = ap.parse_args(argv)
    spec, _ = params_dataset(read_params(), args.dataset)
    meta = prepare_step(Store(args.store), args.dataset, spec)
    print(f"prepared {args.dataset}: {meta['n_items']} items, splits {meta['split_counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(report_errors("stages.prepare", main))
