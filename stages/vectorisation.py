"""vectorisation@<dataset>: idcmr's word-pair study (Fig. 4) on a prepared dataset's training
texts -> store/studies/vectorisation_<dataset>.json (`xmr/vectorisation.py`).

Reads params.yaml `studies.vectorisation.<dataset>` (per_category, min_df, min_purity, seed).
"""

from __future__ import annotations

import argparse
import sys

from xmr.cli import report_errors
from xmr.threads import claim_cores
from xmr.featurize import Prepared
from xmr.pipeline import read_params
from xmr.store import Store
from xmr.store.files import check_component, write_json
from xmr.vectorisation import METHODS, study


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stages.vectorisation", description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("--store", default="store")
    args = ap.parse_args(argv)
    claim_cores()  # share the cores with the other stages running (dvc queue -j N)
    check_component(args.dataset, "stages.vectorisation: dataset")
    settings = ((read_params().get("studies") or {}).get("vectorisation") or {}).get(args.dataset)
    if settings is None:
        raise KeyError(f"params.yaml: no studies.vectorisation.{args.dataset}")
    unknown = set(settings) - {"per_category", "min_df", "min_purity", "seed"}
    if unknown:
        raise KeyError(f"params.yaml: studies.vectorisation.{args.dataset}: unknown keys "
                       f"{sorted(unknown)} (per_category, min_df, min_purity, seed)")
    store = Store(args.store)
    prepared = Prepared.open(store, args.dataset)
    rows = prepared.split_indices("train")
    texts = prepared.items.column("text").to_pylist()
    cats = prepared.items.column("category").to_pylist()
    if any(cats[i] < 0 for i in rows):
        raise ValueError(f"dataset {args.dataset}: the word-pair study needs a category for "
                         "every training item")
    result = study([texts[i] for i in rows], [cats[i] for i in rows], **settings)
    result = {"dataset": args.dataset, **result}
    write_json(store.root / "studies" / f"vectorisation_{args.dataset}.json", result)
    print(f"{args.dataset}: {result['pairs']['similar']} similar / "
          f"{result['pairs']['dissimilar']} dissimilar pairs")
    for m in METHODS:
        s = result["methods"][m]
        print(f"  {m:12s} similar {s['similar']:.3f}  dissimilar {s['dissimilar']:.3f}  "
              f"gap {s['gap']:.3f}  AUC {s['auc']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(report_errors("stages.vectorisation", main))
