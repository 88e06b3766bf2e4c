"""`xmr compare` and `xmr report`: their numbers are the stored ones, their figures hold the
expected series, the gallery's rankings and marks are the protocol's, the paper targets say
why a setting differs, and the HTML renders in headless Chromium where it is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from xmr.cli import main
from xmr.featurize import Prepared
from xmr.report.build import build_report, representations
from xmr.report.compare import Row, render, revision_rows
from xmr.report.runs import load_run, resolve_experiments
from xmr.report.targets import differences, load_targets, target_rows
from xmr.spec.targets import Target
from xmr.store import Store
from xmr.store.files import read_table

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    """Four evaluated runs on tiny scenes: CCA, the deep baseline at two epoch counts, and dmsfh
    at 16 and 32 bits (Hamming ranking and hash lookup)."""
    root = tmp_path_factory.mktemp("report_store")
    runs = [("specs/scenes/cca.yaml", ["--set", "training.phases.0.pca=16"]),
            ("specs/scenes/deep.yaml", ["--set", "training.phases.0.epochs=3"]),
            ("specs/scenes/deep.yaml", ["--set", "training.phases.0.epochs=2",
                                        "--set", "name=scenes_deep_short"]),
            ("specs/dmsfh/scenes.yaml", ["--set", "training.phases.0.epochs=2", "--set",
                                         "name=dmsfh_scenes_16", "--set",
                                         "architecture.hash_head.bits=16", "--set",
                                         "architecture.image.out=24", "--set",
                                         "architecture.text.out=24"]),
            ("specs/dmsfh/scenes.yaml", ["--set", "training.phases.0.epochs=2", "--set",
                                         "name=dmsfh_scenes_32"])]
    for spec, sets in runs:
        assert main(["run", spec, "--store", str(root), *TINY, *sets]) == 0
    return Store(root)


def _metrics(store: Store, name: str) -> dict:
    return json.loads(store.metrics_path(name).read_text())


# ------------------------------------------------------------------------------ xmr compare


def test_compare_prints_the_stored_map_within_100_columns(store, capsys):
    assert main(["compare", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    names = resolve_experiments(store, [])
    assert len(names) == 5
    for name in names:
        row = next(line for line in lines if line.startswith(name + " "))
        m = _metrics(store, name)
        cells = re.findall(r"\d\.\d{3}", row)
        want = [f"{m['tasks'][t]['map']:.3f}" for t in ("i2t", "t2i", "i2i", "t2t")]
        assert cells == want + [f"{m['average']['map']:.3f}"]
        assert m["protocol"]["name"] in row


def test_compare_names_the_setting_that_differs(store, capsys):
    assert main(["compare", "scenes_deep*", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^scenes_deep .*phases\.0\.epochs=3$", out, re.M), out
    assert re.search(r"^scenes_deep_short .*phases\.0\.epochs=2$", out, re.M), out
    assert main(["compare", "dmsfh_scenes_*", "--json", "--store", str(store.root)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["differs"]["architecture.hash_head.bits"] for r in rows] == [16, 32]
    assert {r["experiment"] for r in rows} == {"dmsfh_scenes_16", "dmsfh_scenes_32"}


def test_compare_refuses_unknown_and_unsafe_names(store, capsys):
    assert main(["compare", "nothing_*", "--store", str(store.root)]) == 1
    err = capsys.readouterr().err
    assert "no evaluated experiment matches 'nothing_*'" in err and "scenes_cca" in err
    assert main(["compare", "../x", "--store", str(store.root)]) == 1
    assert "experiment" in capsys.readouterr().err


def test_revision_rows_read_dvc_metrics_and_params(store, monkeypatch):
    """The DVC side, with DVC's answers stubbed: one row per experiment and revision, the
    experiment's params.yaml section as its settings, a missing file as an error row."""
    target = str(store.metrics_path("scenes_cca"))
    good = _metrics(store, "scenes_cca")

    class FakeRepo:
        def __init__(self, root):
            self.metrics = self.params = self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def show(self, targets, revs):
            if targets == ["params.yaml"]:
                section = lambda lr: {"data": {"params.yaml": {"data": {"experiments": {
                    "scenes_cca": {"spec": "specs/scenes/cca.yaml", "set": {"lr": lr}}}}}}}
                return {"workspace": section(1), "HEAD~1": section(2), "exp-a": section(3)}
            return {"workspace": {"data": {target: {"data": good}}},
                    "HEAD~1": {"data": {target: {"data": {**good, "average": {"map": 0.5}}}}},
                    "exp-a": {"data": {target: {"error": "No storage files available"}}}}

    monkeypatch.setattr("dvc.repo.Repo", FakeRepo)
    rows = revision_rows(store, ["scenes_cca"], ["HEAD~1", "exp-a"])
    assert [(r.experiment, r.rev) for r in rows] == [("scenes_cca", "workspace"),
                                                     ("scenes_cca", "HEAD~1"),
                                                     ("scenes_cca", "exp-a")]
    assert rows[1].average == 0.5 and rows[0].maps["i2t"] == good["tasks"]["i2t"]["map"]
    assert rows[2].error.startswith("no metrics at this revision (No storage files")
    text = render(rows)
    assert re.search(r"HEAD~1 .*set\.lr=2$", text, re.M), text
    with pytest.raises(ValueError, match="no revision 'nope'"):
        revision_rows(store, ["scenes_cca"], ["nope"])


def test_render_wraps_long_differences_under_the_row():
    rows = [Row("a", None, "category_cosine", {"i2t": 0.5}, 0.5, {"x": {"y": "v" * 150}}),
            Row("b", None, "category_cosine", {"i2t": 0.4}, 0.4, {"x": {"y": "w"}})]
    lines = render(rows, width=80).splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[2].startswith("    x.y=vvv") and lines[3].endswith("(and more)")
    assert lines[4].startswith("b ") and lines[4].endswith("x.y=w")


# ------------------------------------------------------------------------------ xmr report


@pytest.fixture(scope="module")
def report(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "r"
    build_report(store, ["scenes_*", "dmsfh_*"], out, title="test report", n_queries=3, k=4)
    return out


def test_report_tables_are_the_metrics_files(store, report):
    data = json.loads((report / "report.json").read_text())
    assert data["experiments"] == ["scenes_cca", "scenes_deep", "scenes_deep_short",
                                   "dmsfh_scenes_16", "dmsfh_scenes_32"]
    html = (report / "index.html").read_text()
    for row in data["metrics"]:
        m = _metrics(store, row["experiment"])
        assert row["metrics"] == m["tasks"] and row["average"] == m["average"]["map"]
        cells = re.search(rf'<tr data-experiment="{row["experiment"]}">(.*?)</tr>', html, re.S)
        shown = dict(re.findall(r'data-task="(\w+)">([\d.—]+)<', cells.group(1)))
        for task, values in m["tasks"].items():
            assert shown[task] == f"{values['map']:.3f}"
        assert shown["average"] == f"{m['average']['map']:.3f}"
    assert "category_cosine" in html and "multilabel_hamming_retrieval" in html


def _png_is_drawn(path: Path) -> bool:
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"), dtype=float)
    return a.size > 0 and a.std() > 5


def test_every_figure_exists_with_its_series(report):
    data = json.loads((report / "report.json").read_text())
    figs = {f["file"]: f for f in data["figures"]}
    every = ["scenes_cca", "scenes_deep", "scenes_deep_short", "dmsfh_scenes_16",
             "dmsfh_scenes_32"]
    for task in ("i2t", "t2i", "i2i", "t2t"):
        for kind in ("pr", "p_at_n", "map_at_r", "category"):
            assert figs[f"{kind}_{task}.png"]["series"] == every
        assert figs[f"radius_{task}.png"]["series"] == ["dmsfh_scenes_16", "dmsfh_scenes_32"]
    assert figs["map_by_bits.png"]["series"] == ["dmsfh_scenes"]
    for name in every:
        assert figs[f"tsne_{name}.png"]["series"] == ["image", "text"]
    assert figs["training_scenes_deep.png"]["series"] == ["triplet", "label_ce", "val_map"]
    assert "training_scenes_cca.png" not in figs  # CCA has no epochs
    for f in figs:
        assert _png_is_drawn(report / f), f
        assert f'src="{f}"' in (report / "index.html").read_text()


def test_per_category_values_against_a_loop_over_queries(store, report):
    data = json.loads((report / "report.json").read_text())
    assert data["category_metric"] == "p@50"
    prepared = Prepared.open(store, load_run(store, "scenes_deep").dataset)
    category = dict(zip(prepared.items.column("item_id").to_pylist(),
                        prepared.items.column("category").to_pylist()))
    table = read_table(store.results_dir("scenes_deep") / "per_query.parquet").to_pylist()
    for task in ("i2t", "t2t"):
        for c, got in enumerate(data["per_category"]["scenes_deep"][task]):
            vals = [r["p@50"] for r in table if r["task"] == task
                    and category[r["query_item_id"]] == c and r["p@50"] == r["p@50"]]
            if vals:
                assert got == pytest.approx(sum(vals) / len(vals))
            else:
                assert got is None


def test_gallery_ranks_and_marks_as_the_protocol(store, report):
    """Each example's top k against a direct cosine ranking of the stored embeddings (Hamming
    distances of the stored codes for dmsfh), and each mark against the categories."""
    data = json.loads((report / "report.json").read_text())
    for name in ("scenes_deep", "dmsfh_scenes_32"):
        run = load_run(store, name)
        prepared = Prepared.open(store, run.dataset)
        ids = prepared.items.column("item_id").to_pylist()
        row_of = {i: r for r, i in enumerate(ids)}
        cats = prepared.items.column("category").to_pylist()
        labels = [set(x) for x in prepared.items.column("labels").to_pylist()]
        test = prepared.split_indices("test")
        protocol = run.metrics["protocol"]
        database = (test if protocol["database"] == "test"
                    else np.setdiff1d(np.arange(len(ids)), test))
        emb, codes = representations(store, name)
        examples = data["gallery"][name]
        assert len(examples) == 6 and [e["task"] for e in examples] == ["i2t"] * 3 + ["t2i"] * 3
        for ex in examples:
            q_mod, db_mod = ("image", "text") if ex["task"] == "i2t" else ("text", "image")
            q = row_of[ex["query"]["item_id"]]
            if name.startswith("dmsfh"):
                bits = np.unpackbits(codes[q_mod][q])
                db_bits = np.unpackbits(codes[db_mod][database], axis=1)
                score = -(db_bits != bits).sum(1)
            else:
                a = emb[q_mod][q] / np.linalg.norm(emb[q_mod][q])
                b = emb[db_mod][database] / np.linalg.norm(emb[db_mod][database], axis=1,
                                                           keepdims=True)
                score = b @ a
            order = sorted(range(len(database)), key=lambda j: (-round(float(score[j]), 5), j))
            want = [ids[database[j]] for j in order[:4]]
            got = [r["item_id"] for r in ex["results"]]
            if name.startswith("dmsfh"):  # integer distances: the order, ties included
                assert got == want
            else:  # float scores: equal up to rounding near ties
                assert got[0] == want[0] and set(got) <= {ids[database[j]] for j in order[:8]}
            for r in ex["results"]:
                d = row_of[r["item_id"]]
                same = (cats[d] == cats[q] if protocol["relevance"] == "category"
                        else bool(labels[d] & labels[q]))
                assert r["relevant"] == same
            if q_mod == "image":
                assert ex["query"]["thumb"].startswith("thumbs/")
                assert (report / ex["query"]["thumb"]).is_file()
            else:
                assert ex["query"]["text"] and ex["query"]["thumb"] is None


def test_report_replaces_its_folder_whole(store, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "old.png").write_bytes(b"x")
    build_report(store, ["scenes_cca"], out, n_queries=1, k=2, tsne=False)
    assert not (out / "old.png").exists() and (out / "index.html").is_file()
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1200,2000", f"--screenshot={shot}",
                    (report / "index.html").as_uri()], capture_output=True, timeout=120,
                   check=True)
    with Image.open(shot) as im:
        a = np.asarray(im.convert("L"), dtype=float)
    assert (a < 200).mean() > 0.02, "the screenshot is blank"


# ------------------------------------------------------------------------------ targets


def _target(**setting) -> Target:
    base = {"dataset": "scenes", "queries": 16, "database": 16,
            "features": {"image": "efficientnet_lite0", "text": "bow:1000"},
            "relevance": "category", "distance": "cosine", "metric": "map"}
    return Target.model_validate({"paper": "p", "source": "Table 1", "method": "m",
                                  "experiments": ["scenes_deep"], "setting": {**base, **setting},
                                  "values": {"i2t": 0.5, "t2i": 0.4}})


def test_a_target_is_comparable_only_in_the_same_setting(store):
    run = load_run(store, "scenes_deep")
    n = run.metrics["queries"]["count"]
    assert differences(_target(queries=n, database=n), run) == []
    reasons = differences(_target(queries=n, database=n, distance="hamming", metric="map@7",
                                  features={"image": "resnet101", "text": "bow:1000"}), run)
    assert reasons == ["distance: paper hamming, run cosine",
                       "image features: paper resnet101, run efficientnet_lite0",
                       "metric: the run does not report map@7"]
    rows = target_rows([run, load_run(store, "scenes_cca")], [_target(queries=n, database=n)])
    assert len(rows) == 1 and rows[0]["comparable"]
    assert rows[0]["run_values"] == {t: run.metrics["tasks"][t]["map"] for t in ("i2t", "t2i")}


def test_shipped_targets_load_and_name_params_experiments():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    targets = load_targets(ROOT / "specs/targets/papers.yaml")
    assert targets
    for t in targets:
        assert set(t.experiments) <= set(params["experiments"]), t.method


# ------------------------------------------------------------------------------ dvc.yaml


def test_dvc_yaml_plots_and_reports_are_wired():
    """Every template named exists, every overlaid file belongs to a params.yaml experiment,
    and each report stage depends on every output of the experiments its command names."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    builtin = {"simple", "linear"}
    templates = [p["template"] for s in ("evaluate",) for entry in dvc["stages"][s]["do"]["plots"]
                 for p in entry.values()]
    for top in dvc["plots"]:
        (pid, props), = top.items()
        templates.append(props["template"])
        for path in props["y"]:
            assert path.split("/")[2] in params["experiments"], (pid, path)
    for name in templates:
        assert name in builtin or (ROOT / ".dvc/plots" / f"{name}.json").is_file(), name
    for key, stage in dvc["stages"].items():
        if not key.startswith("report_"):
            continue
        words = stage["cmd"].split()
        exps = words[2:words.index("--out")]
        for e in exps:
            assert e in params["experiments"]
            for dep in (f"store/experiments/{e}", f"store/metrics/{e}.json", f"store/plots/{e}",
                        f"store/curves/{e}", f"store/results/{e}"):
                assert dep in stage["deps"], (key, dep)
            dataset = params["experiments"][e]["dataset"]
            assert f"store/datasets/{dataset}" in stage["deps"], (key, dataset)
        assert stage["outs"] == [words[words.index("--out") + 1]]
