import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xmr.spec import SpecError, load_spec, parse_set
from xmr.spec.load import spec_files
from xmr.spec.models import ExperimentSpec

ROOT = Path(__file__).resolve().parents[1]
SPECS = spec_files(ROOT / "specs")


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(ROOT / "specs")) for p in SPECS])
def test_every_shipped_spec_validates(path):
    spec = load_spec(path)
    assert isinstance(spec, ExperimentSpec)
    assert spec.name


def _bad(tmp_path, edit) -> str:
    data = yaml.safe_load((ROOT / "specs/scenes/deep.yaml").read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


def test_unknown_key_names_file_and_path(tmp_path):
    msg = _bad(tmp_path, lambda d: d["training"].update(epochz=3))
    assert "bad.yaml" in msg and "training.epochz" in msg and "unknown key" in msg


def test_unknown_loss_lists_allowed_names(tmp_path):
    msg = _bad(tmp_path, lambda d: d["losses"].append({"name": "tripletz"}))
    assert "losses.2" in msg and "tripletz" in msg and "'triplet'" in msg and "'label_ce'" in msg


def test_bad_value_is_shown(tmp_path):
    msg = _bad(tmp_path, lambda d: d["architecture"]["image"].update(dropout=1.5))
    assert "architecture.image.dropout" in msg and "1.5" in msg


def test_unknown_extractor_and_dataset(tmp_path):
    msg = _bad(tmp_path, lambda d: (d["features"]["image"].update(extractor="vgg99"),
                                    d["dataset"].update(name="nope")))
    assert "features.image.extractor" in msg and "vgg99" in msg and "efficientnet_lite0" in msg
    assert "dataset.name" in msg and "scenes" in msg


def test_bad_metric_name(tmp_path):
    msg = _bad(tmp_path, lambda d: d["evaluation"].update(metrics=["map@x"]))
    assert "map@x" in msg


def test_branch_input_must_exist(tmp_path):
    msg = _bad(tmp_path, lambda d: d["architecture"]["text"].update(input="sentences"))
    assert "architecture.text.input" in msg and "sentences" in msg


def test_set_overrides_and_list_indices():
    spec = load_spec(ROOT / "specs/scenes/deep.yaml",
                     sets=["training.phases.0.epochs=2", "losses.0.params.margin=0.5"])
    assert spec.training.phases[0].epochs == 2
    assert spec.losses[0].params.margin == 0.5
    assert parse_set(["a.b=[1, 2]", "c=false"]) == {"a": {"b": [1, 2]}, "c": False}
    with pytest.raises(SpecError, match="no such list element"):
        load_spec(ROOT / "specs/scenes/deep.yaml", sets=["losses.7.weight=1"])


def test_validate_cli_exit_codes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfoo: 1\n")
    ok = subprocess.run([sys.executable, "-m", "xmr.cli", "validate", str(ROOT / "specs/scenes/cca.yaml")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "ok:" in ok.stdout
    res = subprocess.run([sys.executable, "-m", "xmr.cli", "validate", str(bad)],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "bad.yaml" in res.stderr and "foo" in res.stderr and "dataset" in res.stderr


def test_spec_package_imports_without_torch():
    code = ("import sys; from xmr.spec import load_spec; "
            "load_spec('specs/scenes/deep.yaml'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_params_experiments_resolve():
    from xmr.pipeline import params_experiment, read_params

    params = read_params(ROOT / "params.yaml")
    for name in params["experiments"]:
        spec, key = params_experiment(params, name)
        assert spec.name == name and spec.dataset.name == key.split("-")[0]
