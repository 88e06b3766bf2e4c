"""featurize@<dataset>: store/datasets/<dataset> -> store/features/<dataset>/<feature set>.

Reads params.yaml `datasets.<dataset>.features`; sets already built are reused.
"""

from __future__ import annotations

import argparse
import sys

from xmr.pipeline import featurize_step, params_dataset, read_params
from xmr.cli import report_errors
from xmr.threads import claim_cores
from xmr.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stages.featurize", description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("--store", default="store")
    args = ap.parse_args(argv)
    claim_cores()  # share the cores with the other stages running (dvc queue -j N)
    _, feats = params_dataset(read_params(), args.dataset)
    for name in featurize_step(Store(args.store), args.dataset, feats):
        print(f"feature set {args.dataset}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(report_errors("stages.featurize", main))
