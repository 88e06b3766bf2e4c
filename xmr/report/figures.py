"""The report's figures (matplotlib, PNG): curves overlaid across runs, MAP over code length,
per-category precision, a t-SNE map of the common space, training curves.

Each function writes one PNG and returns a `Figure` record naming its series, which the tests
hold against the runs' stored numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .runs import TASK_NAMES, Run  # noqa: E402

DPI = 110


@dataclass
class Figure:
    file: str  # relative to the report folder
    title: str
    kind: str
    series: list[str] = field(default_factory=list)


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return name


def curves(runs: list[Run], out: Path) -> list[Figure]:
    """Per task: precision-recall, precision at N and MAP@R, one line per run (and the hash
    lookup's precision-recall by Hamming radius for the runs that have codes)."""
    figures = []
    kinds = [("pr", "pr", "recall", "precision", "precision-recall"),
             ("p_at_n", "pr", "rank", "precision", "precision at N"),
             ("map_at_r", "map_at_r", "R", "map", "MAP@R"),
             ("radius", "radius", "recall", "precision", "hash lookup by Hamming radius")]
    tasks = list(dict.fromkeys(t for r in runs for t in r.tasks))
    for kind, source, x, y, label in kinds:
        for task in tasks:
            have = [r for r in runs if task in getattr(r, source)]
            if not have:
                continue
            fig, ax = plt.subplots(figsize=(5.2, 3.8))
            for r in have:
                data = getattr(r, source)[task]
                ax.plot(data[x], data[y], marker="o" if kind == "radius" else None,
                        markersize=3, label=r.name)
                if kind == "radius":  # the radius beside each point, for the first run
                    if r is have[0]:
                        for d, (px, py) in enumerate(zip(data[x], data[y])):
                            if d <= 4:
                                ax.annotate(str(d), (px, py), fontsize=7,
                                            textcoords="offset points", xytext=(3, 3))
            ax.set_xlabel("N" if x == "rank" else x)
            ax.set_ylabel(y if y != "map" else "MAP@R")
            title = f"{TASK_NAMES[task]}: {label}"
            ax.set_title(title, fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            figures.append(Figure(_save(fig, out, f"{kind}_{task}.png"), title, kind,
                                  [r.name for r in have]))
    return figures


def _method(name: str) -> str:
    return re.sub(r"_\d+$", "", name)


def map_by_bits(runs: list[Run], out: Path) -> list[Figure]:
    """MAP over code length (dmsfh Fig. 3), for hashing runs of one method at two or more
    lengths: runs named ``<method>_<bits>`` form a line."""
    coded = [r for r in runs if r.bits is not None]
    methods = {}
    for r in coded:
        methods.setdefault(_method(r.name), []).append(r)
    methods = {m: sorted(rs, key=lambda r: r.bits) for m, rs in methods.items()
               if len({r.bits for r in rs}) > 1}
    if not methods:
        return []
    tasks = [t for t in TASK_NAMES if any(t in r.tasks for rs in methods.values() for r in rs)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for m, rs in methods.items():
            rs = [r for r in rs if task in r.tasks]
            ax.plot([r.bits for r in rs], [r.map(task) for r in rs], marker="o", label=m)
        ax.set_title(TASK_NAMES[task], fontsize=10)
        ax.set_xlabel("bits")
        ax.set_ylabel("MAP")
        ax.set_xscale("log", base=2)
        ticks = sorted({r.bits for rs in methods.values() for r in rs})
        ax.set_xticks(ticks, [str(b) for b in ticks])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return [Figure(_save(fig, out, "map_by_bits.png"), "MAP over code length", "bits",
                   list(methods))]


def per_category(runs: list[Run], values: dict[str, dict[str, np.ndarray]],
                 names: list[str], metric: str, out: Path) -> list[Figure]:
    """Per task, one bar per run and category (mgmm Fig. 15): ``values[run][task]`` holds the
    per-category means of ``metric`` over that category's queries."""
    figures = []
    tasks = list(dict.fromkeys(t for r in runs for t in values.get(r.name, {})))
    for task in tasks:
        have = [r for r in runs if task in values.get(r.name, {})]
        fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) * max(1, len(have) / 2)), 3.8))
        width = 0.8 / len(have)
        x = np.arange(len(names))
        for i, r in enumerate(have):
            ax.bar(x + (i - (len(have) - 1) / 2) * width, values[r.name][task], width,
                   label=r.name)
        ax.set_xticks(x, names, rotation=40, ha="right", fontsize=7)
        ax.set_ylabel(metric)
        title = f"{TASK_NAMES[task]}: {metric} per query category"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        figures.append(Figure(_save(fig, out, f"category_{task}.png"), title, "category",
                              [r.name for r in have]))
    return figures


def tsne_map(run: Run, points: dict[str, np.ndarray], category: np.ndarray,
             names: list[str], out: Path, seed: int = 0) -> Figure:
    """Both modalities' test representations in one 2-D t-SNE map, coloured by category
    (mgmm Fig. 14): images as dots, texts as crosses."""
    from sklearn.manifold import TSNE

    stacked = np.concatenate([points["image"], points["text"]]).astype(np.float64)
    n = len(points["image"])
    perplexity = float(min(30, max(2, (len(stacked) - 1) // 3)))
    xy = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(
        stacked)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for c, label in enumerate(names):
        for rows, marker, size in ((slice(0, n), "o", 9), (slice(n, None), "x", 12)):
            mask = category == c
            pts = xy[rows][mask]
            if len(pts):
                ax.scatter(pts[:, 0], pts[:, 1], s=size, marker=marker, color=cmap(c % cmap.N),
                           label=label if marker == "o" else None, linewidths=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    title = f"{run.name}: t-SNE of the test split (• image, × text)"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5))
    return Figure(_save(fig, out, f"tsne_{run.name}.png"), title, "tsne", ["image", "text"])


def training(run: Run, out: Path) -> Figure | None:
    """The loss terms and the validation MAP over epochs, per phase (mgmm Figs. 9-11)."""
    history = run.log.get("history") or []
    if not history:
        return None
    skip = {"phase", "epoch", "val_map"}
    terms = list(dict.fromkeys(k for h in history for k, v in h.items()
                               if k not in skip and isinstance(v, (int, float))))
    phases = list(dict.fromkeys(h["phase"] for h in history))
    fig, (ax_l, ax_v) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    step = np.arange(1, len(history) + 1)
    for term in terms:
        ys = np.array([h.get(term, np.nan) for h in history], dtype=float)
        ax_l.plot(step, ys, label=term)
    val = np.array([h.get("val_map", np.nan) for h in history], dtype=float)
    ax_v.plot(step, val, color="black", label="validation MAP")
    for ax in (ax_l, ax_v):  # phase boundaries
        for p in phases[1:]:
            first = next(i for i, h in enumerate(history) if h["phase"] == p)
            ax.axvline(first + 0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("epoch (all phases in order)")
        ax.grid(alpha=0.3)
    if terms and all(np.nanmin([h.get(t, np.nan) for h in history]) > 0 for t in terms):
        ax_l.set_yscale("log")
    ax_l.set_title("loss terms", fontsize=9)
    ax_v.set_title("validation MAP (" + ", ".join(phases) + ")", fontsize=9)
    if terms:
        ax_l.legend(fontsize=6)
    return Figure(_save(fig, out, f"training_{run.name}.png"), f"{run.name}: training",
                  "training", terms + (["val_map"] if np.isfinite(val).any() else []))


__all__ = ["Figure", "curves", "map_by_bits", "per_category", "training", "tsne_map"]
