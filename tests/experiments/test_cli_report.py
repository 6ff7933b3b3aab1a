"""``initlab demo`` / ``initlab experiment`` inputs, checked before any work; reports and extras."""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys

import pytest

from initlab._cli import main
from initlab.experiments import run_experiment, write_results

pytestmark = pytest.mark.xdist_group("experiments")


def test_bad_set_value_is_a_cli_error_naming_the_field(capsys):
    assert main(["experiment", "circles", "--set", "data.noise=-5"]) == 2
    assert "noise=-5.0 must be >= 0" in capsys.readouterr().err


def test_set_reaches_nested_fields(tmp_path, capsys):
    out = tmp_path / "r"
    args = [
        "experiment",
        "shared",
        "--quiet",
        "--seeds",
        "1",
        "--out",
        str(out),
        "--set",
        "width=3",
    ]
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["shared"]["config"]["width"] == 3
    assert main(["experiment", "circles", "--set", "train.stepz=3"]) == 2
    assert "TrainSpec field='stepz'" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", ["1e9", "0", "100000", "two"])
def test_seeds_out_of_range_are_refused_by_the_parser(seeds, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--seeds", seeds])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and "from 1 to 256" in err and "Traceback" not in err


def test_out_at_an_existing_file_fails_before_any_work(tmp_path, capsys, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("keep me")
    ran = []
    monkeypatch.setattr("initlab.experiments._cli.run_demo", lambda *a, **k: ran.append(1))
    assert main(["demo", "--quiet", "--out", str(target)]) == 2
    assert "--out=" in capsys.readouterr().err and not ran
    assert target.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder_fails_before_any_work(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert main(["experiment", "shared", "--quiet", "--out", str(folder / "x")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)


def _without(monkeypatch, *missing):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.split(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    for name in list(sys.modules):
        if name.split(".")[0] in missing:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize("missing", ["matplotlib", "sklearn"])
def test_commands_without_the_report_extra_say_what_to_install(
    missing, tmp_path, capsys, monkeypatch
):
    _without(monkeypatch, missing)
    for argv in (["demo", "--quiet"], ["experiment", "depth", "--quiet"]):
        assert main([*argv, "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert missing in err and "pip install 'initlab[report]'" in err
    assert not (tmp_path / "r").exists()


def test_pyplot_without_matplotlib_names_the_extra(monkeypatch):
    from initlab._report import MissingDependencyError, pyplot

    _without(monkeypatch, "matplotlib")
    with pytest.raises(MissingDependencyError, match=r"pip install 'initlab\[report\]'"):
        pyplot()


def test_import_initlab_loads_neither_matplotlib_nor_sklearn():
    code = (
        "import sys, initlab, initlab.rules, initlab.experiments, initlab.doctor\n"
        "import torch\n"
        "initlab.rules.init_model(torch.nn.Linear(3, 2), 'auto', seed=0)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'sklearn'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_results_json_and_html(tmp_path):
    r = run_experiment("orthogonal", width=16, depths=[1, 4])
    html_path, json_path = write_results([r], tmp_path, title="t")
    data = json.loads(json_path.read_text())
    assert data["orthogonal"]["config"]["width"] == 16
    assert set(data["orthogonal"]["per_seed"]["orthogonal"]) == {"0", "1", "2"}
    page = html_path.read_text()
    assert "data:image/png;base64," in page
    assert "seed article" not in page and "https://arxiv.org/abs/1312.6120" in page
    assert data["orthogonal"]["findings"][0]["source"]["url"] == "https://arxiv.org/abs/1312.6120"


def test_adding_an_experiment_is_one_registration(tmp_path):
    from dataclasses import dataclass

    from initlab.experiments import (
        EXPERIMENTS,
        Experiment,
        ExperimentConfig,
        Record,
        SourceCheck,
        register_experiment,
    )

    @dataclass(kw_only=True)
    class Config(ExperimentConfig):
        value: float = 2.0

    def run(cfg, tick):
        tick(1, 1)
        return [Record(setting="s", seed=s, metric="v", value=cfg.value) for s in cfg.seed_list]

    def check(result, cfg):
        return [SourceCheck(claim="v is 2", ours=str(cfg.value), agrees=cfg.value == 2.0)]

    register_experiment(
        Experiment(name="t-extra", title="T", config=Config, run=run, check=check,
                   render=lambda r: ["<p>extra</p>"])
    )  # fmt: skip
    try:
        ticks = []
        r = run_experiment("t-extra", seeds=2, progress=lambda *a: ticks.append(a))
        assert [x.value for x in r.records] == [2.0, 2.0] and r.findings[0].agrees
        assert ticks == [("t-extra", 1, 1)]
        html_path, _ = write_results([r], tmp_path, title="t")
        assert "<p>extra</p>" in html_path.read_text()
        with pytest.raises(ValueError, match="already registered"):
            register_experiment(EXPERIMENTS["t-extra"])
    finally:
        del EXPERIMENTS["t-extra"]
