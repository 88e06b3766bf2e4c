"""idcmr's loss ablation (J1; J1 + J2; J1 + J2 + J3; learned vs closed-form C) and the retrieval
side of its vectorisation comparison (Fig. 4: the text as bag of words, CBOW, skip-gram, GloVe),
each row over several seeds, beside the deep baseline under the same split and protocol and the
paper's own settings (sigmoid units, SGD with step 0.1, Eq. 19 divided by n).

    python benchmarks/idcmr_tables.py wikipedia [--seeds 0 1 2] [--store store/scratch/idcmr]
    python benchmarks/idcmr_tables.py scenes --rows full j1 deep

Runs `idcmr_<dataset>[_<row>]` (or the baseline) from params.yaml with ``training.seed`` set to
each seed (the split stays the one in params.yaml) in a scratch store, outside DVC; some rows add
--set items (below). Prints the whole-list MAP of I->T, T->I and their average as mean +- std.
Every run's figures go to <store>/tables_<dataset>.json (runs already there are re-used); a run
whose loss diverges is recorded with the error. ``--sets`` adds --set items to every run (a
probe), recorded under ``--tag``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from seeded import fmt, row_runs, run_seeded, table_arguments
from xmr.pipeline import read_params
from xmr.store.layout import Store

SIGMOID = [f"architecture.{p}.activation=sigmoid" for p in ("image", "text", "shared")]
PAPER = SIGMOID + ["training.phases.0.optimizer={type: sgd, lr: 0.1, momentum: 0.0}"]
ROWS = {  # row -> (params.yaml experiment, extra --set items, what it is)
    "full": ("idcmr_{}", [], "J1 + 0.1 J2 + 0.1 J3, closed-form C, GloVe (the spec)"),
    "j1": ("idcmr_{}_j1", [], "J1 alone"),
    "j12": ("idcmr_{}_j12", [], "J1 + 0.1 J2"),
    "learned": ("idcmr_{}_learned", [], "J1 + 0.1 J2 + 0.1 J3, learned C"),
    "bow": ("idcmr_{}_bow", [], "text: bag of words (1,000 words, l2)"),
    "cbow": ("idcmr_{}_cbow", [], "text: word2vec CBOW mean (trained on the corpus)"),
    "skipgram": ("idcmr_{}_skipgram", [], "text: word2vec skip-gram mean (trained on the corpus)"),
    "glove_corpus": ("idcmr_{}_glove_corpus", [], "text: GloVe trained on the corpus, mean"),
    "matrix": ("idcmr_{}_matrix", [], "text: the first 100 GloVe word vectors, flattened"),
    "paper": ("idcmr_{}", PAPER + ["losses.1.params.reduction=n"],
              "the paper's settings: sigmoid, SGD step 0.1, Eq. 19 / n"),
    "paper_pairs": ("idcmr_{}", PAPER, "the paper's settings, Eq. 19 / n^2"),
    "deep": ("{}_deep", [], "deep baseline (README's `{}_deep`), same split and protocol"),
}


def main() -> None:
    args = table_arguments(__doc__, list(ROWS), [r for r in ROWS if r != "matrix"],
                           "store/scratch/idcmr")
    params, store = read_params(), Store(Path(args.store))
    out_path = store.root / f"tables_{args.dataset}.json"
    runs = json.loads(out_path.read_text()) if out_path.is_file() else {}
    suffix = f"_{args.tag}" if args.tag else ""
    for row in args.rows:
        experiment = ROWS[row][0].format(args.dataset)
        if experiment not in params["experiments"]:
            print(f"{row}: no experiment {experiment} in params.yaml; skipped")
            continue
        for seed in args.seeds:
            run = f"idcmr_{args.dataset}_{row}{suffix}_s{seed}"
            if run in runs:
                continue
            sets = ROWS[row][1] + args.sets
            try:
                m, log = run_seeded(params, store, experiment, run, seed, sets)
            except FloatingPointError as exc:
                runs[run] = {"row": row + suffix, "seed": seed, "sets": sets, "error": str(exc)}
                print(f"{run}: {exc}", flush=True)
            else:
                runs[run] = {"row": row + suffix, "seed": seed, "sets": sets,
                             "tasks": m["tasks"], "seconds": log["train_seconds"],
                             "best_val_map": log.get("best_val_map")}
                print(f"{run}: " + "  ".join(f"{t} {m['tasks'][t]['map']:.4f}"
                                             for t in ("i2t", "t2i"))
                      + f"  val {log.get('best_val_map') or 0:.4f}  {log['train_seconds']:.0f} s",
                      flush=True)
            store.root.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(runs, indent=1))
    print(f"\n{args.dataset}, seeds {args.seeds}: MAP over the whole ranked list")
    print("| row | I→T | T→I | average | val MAP | train s |")
    print("|---" * 6 + "|")
    for row in args.rows:
        rs = row_runs(runs, row, suffix, args.seeds)
        name = ROWS[row][2].format(args.dataset) + (f" {args.tag}" if suffix else "")
        failed = [r for r in rs if "error" in r]
        if failed:
            print(f"| {name} | diverged in {len(failed)} of {len(rs)} runs: "
                  f"{failed[0]['error'].split(';')[0]} | | | | |")
            continue
        if not rs:
            continue

        def values(t):
            return [r["tasks"][t]["map"] for r in rs]
        avg = [statistics.mean(pair) for pair in zip(values("i2t"), values("t2i"))]
        val = [r["best_val_map"] for r in rs if r.get("best_val_map") is not None]
        cells = [fmt(values("i2t")), fmt(values("t2i")), fmt(avg), fmt(val) if val else "—"]
        secs = statistics.mean(r["seconds"] for r in rs)
        print(f"| {name} | {' | '.join(cells)} | {secs:.0f} |")


if __name__ == "__main__":
    main()
