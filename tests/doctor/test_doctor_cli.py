"""``initlab doctor`` on the command line, the HTML report and comparison mode."""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from initlab._cli import main
from initlab.doctor import DoctorConfig, ProbeSpec, compare, diagnose, write_html
from initlab.doctor._cli import _add_probe_arguments, _parse_shape, _probe_spec
from initlab.doctor._compare import apply_scheme

MODEL_FILE = """
import torch
from torch import nn

def deep_relu():
    layers = []
    for _ in range(12):
        layers += [nn.Linear(32, 32), nn.ReLU()]
    return nn.Sequential(*layers)

def norm_first():
    return nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8))

def on_meta():
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(8, 8), nn.ReLU())

def eval_bn():
    layers = []
    for _ in range(8):
        conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        nn.init.normal_(conv.weight, 0, 0.02)
        layers += [conv, nn.BatchNorm2d(8), nn.ReLU()]
    return nn.Sequential(*layers).eval()

def must_not_build():
    raise RuntimeError("the model was built before the output path was checked")
"""


@pytest.fixture
def model_file(tmp_path: Path) -> str:
    path = tmp_path / "models.py"
    path.write_text(MODEL_FILE)
    return str(path)


def test_json_output_contract(model_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", f"{model_file}:deep_relu", "--json", "--jacobian-steps", "2"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["layers"]) == 24
    assert {"name", "type", "act_mean", "act_std", "grad_norm"} <= data["layers"][0].keys()
    assert all(f["severity"] in ("ok", "info", "warning", "error") for f in data["findings"])


def test_table_output_and_fail_on(model_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["doctor", f"{model_file}:deep_relu", "--jacobian-steps", "0"]
    assert main([*args, "--threshold", "vanish_warning=0.9", "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "findings" in out and "vanishing" in out


def test_model_mode_flag(model_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Training mode by default: the BatchNorms normalize with the batch's statistics.
    args = ["doctor", f"{model_file}:eval_bn", "--input-shape", "4,8,8,8", "--fail-on", "error"]
    assert main(args) == 0
    capsys.readouterr()
    # --model-mode keeps eval mode: identity BatchNorms, the std-0.02 convs vanish.
    assert main([*args, "--model-mode"]) == 1
    assert "vanishing" in capsys.readouterr().out


def test_cli_errors(model_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", f"{model_file}:norm_first"]) == 2
    assert "--input-shape" in capsys.readouterr().err
    assert main(["doctor", f"{model_file}:deep_relu", "--input-shape", "4,7"]) == 2
    assert "in module '0' (Linear)" in capsys.readouterr().err
    assert main(["doctor", f"{model_file}:deep_relu", "--threshold", "vanish"]) == 2
    assert "NAME=NUMBER" in capsys.readouterr().err
    assert main(["doctor", f"{model_file}:deep_relu", "--compare", "he_normall"]) == 2
    assert "is not 'as-is', an initializer" in capsys.readouterr().err


def test_report_and_compare(model_file: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["doctor", f"{model_file}:deep_relu", "--compare", "as-is,he_normal,xavier_uniform"]
    assert main([*args, "--report", str(out), "--json", "--jacobian-steps", "4"]) == 0
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 5
    assert "http://" not in page and "https://" not in page  # opens offline
    assert (out / "records.csv").read_text().startswith("run,index,layer")
    runs = {r["run"] for r in json.loads((out / "records.json").read_text())}
    assert runs == {"as-is", "he_normal", "xavier_uniform"}


def test_compare_api_orders_candidates_and_he_wins_for_relu() -> None:
    net = nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(32, 32), nn.ReLU())])
    # kaiming_normal: PyTorch's (untruncated) He, the call the doctor's advice names.
    runs = compare(net, ["xavier_normal", "kaiming_normal"], config=DoctorConfig(jacobian_steps=0))
    assert [d.run for d in runs] == ["xavier_normal", "kaiming_normal"]
    assert not runs[0].healthy and runs[1].healthy


def test_preset_comparison_when_rules_are_available() -> None:
    pytest.importorskip("initlab.rules")
    net = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
    runs = compare(net, ["auto", "torch-default"], config=DoctorConfig(jacobian_steps=0))
    assert [d.run for d in runs] == ["auto", "torch-default"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    net = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(16, 16), nn.Tanh())])
    index = write_html(tmp_path / "r", diagnose(net, config=DoctorConfig(jacobian_steps=6)))
    shot = tmp_path / "shot.png"
    command = [
        str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1200,2400", index.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    pixels = _png_colours(shot)
    # Rendered figures bring many distinct colours; a blank or broken page has a handful.
    assert len(pixels) > 200


def _png_colours(path: Path) -> set[tuple[int, ...]]:
    import matplotlib.image as mpimg

    image = mpimg.imread(str(path))
    rows = (image[::4, ::4, :3] * 255).astype("uint8").reshape(-1, 3)
    return {tuple(int(c) for c in px) for px in rows}


@pytest.mark.parametrize(
    ("text", "part"),
    [("4,x", "'x'"), ("4,,3", "''"), ("4,0", "'0'"), ("4,-1", "'-1'"), ("x4", "'x4'"),
     ("4,3.5", "'3.5'"), ("", "''"), ("4x", "'4x'")],
)  # fmt: skip
def test_input_shape_rejects_malformed_parts(text: str, part: str) -> None:
    message = rf"--input-shape '{re.escape(text)}': part {re.escape(part)} is not a positive"
    with pytest.raises(ValueError, match=message + r" integer; expected .*64,3,32,32"):
        _parse_shape(text)


@pytest.mark.parametrize("text", ["64,3,32,32", "64x3x32x32", "64 x 3, 32x32"])
def test_input_shape_accepts_commas_and_x_between_numbers(text: str) -> None:
    assert _parse_shape(text) == (64, 3, 32, 32)


def _probe_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _add_probe_arguments(parser)
    return parser.parse_args(list(argv))


def test_probe_errors_name_the_cli_flags() -> None:
    shape = ("--input-shape", "4,3,8,8")
    with pytest.raises(ValueError, match=r"set --input-high to the vocabulary size"):
        _probe_spec(_probe_args(*shape, "--input-dtype", "int64"))
    with pytest.raises(ValueError, match=r"set --input-high to the vocabulary size"):
        _probe_spec(_probe_args(*shape, "--input-dist", "randint"))
    with pytest.raises(ValueError, match=r"--input-high -3 must be > 0 \(the vocabulary size\)"):
        _probe_spec(_probe_args(*shape, "--input-high", "-3"))
    with pytest.raises(ValueError, match=r"--input-high 5 is for integer .*--input-dtype int64"):
        _probe_spec(_probe_args(*shape, "--input-dtype", "float32", "--input-high", "5"))
    with pytest.raises(ValueError, match=r"--input-dtype int64 does not fit --input-dist normal"):
        _probe_spec(_probe_args(*shape, "--input-dtype", "int64", "--input-dist", "normal",
                                "--input-high", "5"))  # fmt: skip
    spec = _probe_spec(_probe_args("--input-shape", "2x7", "--input-high", "50"))
    assert spec == ProbeSpec(shape=(2, 7), dtype="int64", distribution="randint", high=50)


def test_cli_flag_errors(model_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    model = f"{model_file}:deep_relu"
    assert main(["doctor", model, "--input-shape", "4,x"]) == 2
    assert "--input-shape '4,x'" in capsys.readouterr().err
    assert main(["doctor", model, "--input-dtype", "int64", "--input-shape", "4,32"]) == 2
    assert "--input-high" in capsys.readouterr().err
    assert main(["doctor", model, "--batch-size", "0"]) == 2
    assert "--batch-size 0 must be >= 1" in capsys.readouterr().err
    assert main(["doctor", model, "--jacobian-steps", "-1"]) == 2
    assert "--jacobian-steps -1 must be >= 0" in capsys.readouterr().err
    assert main(["doctor", model, "--threshold", "vanish_warning=-1"]) == 2
    assert "--threshold: vanish_warning=-1.0 must be > 0" in capsys.readouterr().err


def test_unknown_candidate_suggests_the_closest_scheme_or_preset() -> None:
    net = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match=r"candidate='he_norml' .*did you mean 'he_normal'\?"):
        compare(net, ["he_norml"])
    pytest.importorskip("initlab.rules")
    with pytest.raises(ValueError, match=r"candidate='lama' .*did you mean 'llama'\?"):
        compare(net, ["lama"])


def _walker_has_transposed_fans() -> bool:
    from initlab.doctor._compare import scheme_rules
    from initlab.rules import init_model

    probe = nn.Sequential(nn.ConvTranspose2d(64, 16, 3, groups=2))
    plan = init_model(probe, scheme_rules("he_normal"), seed=0, dry_run=True, default="torch")
    return plan["0.weight"].fans["fan_in"] == 32 * 9


# Comparison goes through the one model walker (initlab.rules.init_model); its layout of
# ConvTranspose weights is fixed on the restructure's core branch (issue 9). Until that is
# merged this test is expected to fail here; once merged the condition is false and it runs.
@pytest.mark.xfail(
    not _walker_has_transposed_fans(),
    reason="rules.init_model does not yet lay out ConvTranspose weights (issue 9, core branch)",
    strict=True,
)
@pytest.mark.parametrize("cls", [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d])
def test_compare_initializes_conv_transpose_with_transposed_fans(cls: type[nn.Module]) -> None:
    # Stored (in=64, out/groups=8, *k): He fan_in is in/groups * k, not out/groups * k.
    layer = cls(64, 16, 3, groups=2, bias=True)
    nn.init.constant_(layer.weight, 0.0)
    nn.init.constant_(layer.bias, 1.0)
    model = apply_scheme(nn.Sequential(layer), "he_normal", seed=0)
    weight = model[0].weight
    receptive = weight[0, 0].numel()
    expected = math.sqrt(2.0 / (32 * receptive))
    assert abs(weight.std().item() / expected - 1) < 0.1
    assert torch.count_nonzero(model[0].bias) == 0
    assert torch.all(layer.weight == 0)  # the original is untouched


def test_compare_is_the_one_walker() -> None:
    """An initializer candidate is init_model with scheme_rules: same values, same seed."""
    from initlab.doctor._compare import scheme_rules
    from initlab.rules import init_model

    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 4))
    copied = apply_scheme(net, "orthogonal", seed=7)
    reference = copy.deepcopy(net)
    init_model(reference, scheme_rules("orthogonal"), seed=7, default="torch")
    for (name, a), (_, b) in zip(copied.named_parameters(), reference.named_parameters()):
        assert torch.equal(a, b), name
    assert not torch.equal(copied[0].weight, net[0].weight)


def test_meta_device_model_is_a_clear_error(
    model_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", f"{model_file}:on_meta"]) == 2
    err = capsys.readouterr().err
    assert "meta device" in err and "'0.weight'" in err and "Traceback" not in err
    with torch.device("meta"):
        model = nn.Linear(4, 4)
    with pytest.raises(ValueError, match="on the meta device"):
        compare(model, ["he_normal"])


def test_report_path_is_checked_before_any_work(
    model_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    assert main(["doctor", f"{model_file}:must_not_build", "--report", str(taken)]) == 2
    err = capsys.readouterr().err
    assert "is an existing file; give a folder" in err and "Traceback" not in err
    assert taken.read_text() == "keep me"
    assert main(["doctor", f"{model_file}:must_not_build", "--records", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["doctor", f"{model_file}:must_not_build", "--records", "x.txt"]) == 2
    assert "must end in .json or .csv" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_report_in_a_folder_that_cannot_be_written(
    model_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc refuses new files even for root, like a read-only mount.
    target = "/proc/initlab-doctor-report"
    assert main(["doctor", f"{model_file}:must_not_build", "--report", target]) == 2
    assert "is not writable" in capsys.readouterr().err


# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow


TOKEN_MODEL = """
from torch import nn
class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.fc = nn.Linear(16, 4)
    def forward(self, input_ids, attention_mask=None):
        return self.fc(self.embed(input_ids))
"""


def test_keyword_inputs_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`initlab doctor MODEL --input input_ids=2x8:int64:50`, as `initlab plan` takes it."""
    (tmp_path / "tok.py").write_text(TOKEN_MODEL, encoding="utf-8")
    spec = f"{tmp_path / 'tok.py'}:Tokens"
    code = main(["doctor", spec, "--input", "input_ids=2x8:int64:50", "--json"])
    assert code in (0, 1)
    payload = json.loads(capsys.readouterr().out)
    assert [layer["name"] for layer in payload["layers"]] == ["embed", "fc"]
    assert "(2, 8)" in payload["probe"]
    both = ["--input", "input_ids=2x8:int64:50", "--input-shape", "2,8"]
    assert main(["doctor", spec, *both]) == 2  # one way to give the input, named
    assert "not both" in capsys.readouterr().err
