"""``initlab plan`` with bad and unusual input: every refusal is one line on stderr with
exit code 2, made before any work, and leaves no file behind; the table stays readable."""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from initlab._cli import build_parser, main

ZOO = str(Path(__file__).with_name("models_zoo.py"))
HERE = str(Path(__file__))


# --- models used through MODEL=this_file.py:factory ------------------------------------------


class Bottleneck(nn.Module):
    """ResNet-50's block; ``width`` scaled down keeps every name and the structure."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * width)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != 4 * width:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, 4 * width, 1, stride, bias=False), nn.BatchNorm2d(4 * width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet50_names(base: int = 4) -> nn.Module:
    """ResNet-50's layout and tensor names (161 parameters, 159 running statistics)."""
    net = nn.Sequential()
    net.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
    net.bn1 = nn.BatchNorm2d(base)
    net.relu = nn.ReLU()
    cin = base
    for i, blocks in enumerate((3, 4, 6, 3)):
        width = base * 2**i
        stage = [Bottleneck(cin if b == 0 else 4 * width, width, 2 if b == 0 and i else 1)
                 for b in range(blocks)]  # fmt: skip
        cin = 4 * width
        setattr(net, f"layer{i + 1}", nn.Sequential(*stage))
    net.pool = nn.AdaptiveAvgPool2d(1)
    net.flatten = nn.Flatten()
    net.fc = nn.Linear(cin, 10)
    return net


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, an example input can."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        if x.sum() > 1e9:
            x = x / 2
        return self.fc2(torch.tanh(self.fc1(x)))


def untraceable() -> nn.Module:
    return Untraceable()


# --- helpers ----------------------------------------------------------------------------------


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1, captured.err  # one line
    for needle in needles:
        assert needle in captured.err, (needle, captured.err)
    return captured.err


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


# --- MODEL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "attr", "needles"),
    [
        ("import torch\nx = (\n", "f", ["failed to load", "SyntaxError", "line 2"]),
        (
            "def f():\n    raise RuntimeError('no weights here')\n",
            "f",
            ["the factory raised RuntimeError: no weights here", "line 2"],
        ),
        ("raise KeyError('CONFIG')\n", "f", ["failed to load: KeyError: 'CONFIG'", "line 1"]),
        ("def make():\n    pass\n", "mak", ["has no attribute 'mak'", "did you mean 'make'"]),
        ("f = 3\n", "f", ["'f' is not callable"]),
        ("def f():\n    return 3\n", "f", ["returned int, not an nn.Module"]),
    ],
    ids=["syntax", "factory-raises", "import-raises", "typo", "not-callable", "not-module"],
)
def test_model_errors_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    attr: str,
    needles: list[str],
) -> None:
    path = tmp_path / "model.py"
    path.write_text(source)
    _fails(["plan", f"{path}:{attr}"], capsys, "MODEL", *needles)


def test_missing_model_file_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["plan", f"{tmp_path}/nope.py:f"], capsys, "nope.py' does not exist")
    _fails(["plan", f"{tmp_path}:f"], capsys, "is a directory, not a Python file")
    _fails(["plan", "no_such_module_xyz:f"], capsys, "cannot be imported")


# --- --device, --seed --------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a build without CUDA devices")
def test_device_cuda_on_cpu_build(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["plan", f"{ZOO}:meta_mlp", "--device", "cuda"], capsys,
           "--device='cuda'", "no cuda device", "use 'cpu'")  # fmt: skip


def test_device_bogus(capsys: pytest.CaptureFixture[str]) -> None:
    _fails(["plan", f"{ZOO}:MLP", "--device", "bogus"], capsys,
           "--device='bogus' is not a device", "'cpu', 'cuda', 'cuda:N'")  # fmt: skip


def test_device_cpu_materializes_meta(capsys: pytest.CaptureFixture[str]) -> None:
    # The tied head: auto's order settles it (a row note), no warning and no error.
    assert main(["plan", f"{ZOO}:meta_mlp", "--device", "cpu", "--apply", "--seed", "1"]) == 0


@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5", "x"])
def test_seed_rule(capsys: pytest.CaptureFixture[str], seed: str) -> None:
    _usage_error(["plan", f"{ZOO}:MLP", "--seed", seed], capsys, "argument --seed", "2**64")


def test_largest_seed_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", f"{ZOO}:MLP", "--apply", "--seed", str(2**64 - 1)]) == 0
    assert f"seed: {2**64 - 1}" in capsys.readouterr().out


def test_dry_run_prints_no_random_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", f"{ZOO}:MLP"]) == 0
    out = capsys.readouterr().out
    assert "seed: none yet (drawn when applied)" in out
    assert not re.search(r"seed: \d", out)
    assert main(["plan", f"{ZOO}:MLP", "--seed", "7"]) == 0
    assert "seed: 7 " in capsys.readouterr().out


# --- --save -------------------------------------------------------------------------------------

APPLY = ["plan", f"{ZOO}:MLP", "--apply", "--seed", "0"]


def test_save_into_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no" / "w.safetensors"
    _fails([*APPLY, "--save", str(target)], capsys, f"--save='{target}'", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_save_onto_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "w.safetensors"
    folder.mkdir()
    _fails([*APPLY, "--save", str(folder)], capsys, "is a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_save_into_read_only_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path.chmod(0o555)
    try:
        _fails([*APPLY, "--save", str(tmp_path / "w.safetensors")], capsys, "no permission")
    finally:
        tmp_path.chmod(0o755)


def test_write_failure_names_the_path_not_the_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a read-only folder does to a non-root user, simulated (the tests may run as root).
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "tmpXYZ.safetensors"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    target = tmp_path / "w.safetensors"
    err = _fails([*APPLY, "--save", str(target)], capsys, f"--save='{target}'",
                 "Permission denied")  # fmt: skip
    assert "tmpXYZ" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_file_mode_follows_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        target = tmp_path / "w.safetensors"
        assert main([*APPLY, "--save", str(target)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert "fc1.weight" in load_file(str(target))


def test_overwriting_keeps_the_old_mode(tmp_path: Path) -> None:
    target = tmp_path / "w.safetensors"
    target.write_bytes(b"old")
    target.chmod(0o640)
    assert main([*APPLY, "--save", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# --- the table ----------------------------------------------------------------------------------


def test_resnet50_table_is_readable_at_120_columns(capsys: pytest.CaptureFixture[str]) -> None:
    model = resnet50_names()
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == 161
    assert main(["plan", f"{HERE}:resnet50_names"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert len(lines) < 240  # one row per parameter, one per BatchNorm's running statistics
    words = set(out.split())
    assert all(name in words for name in names)  # no name broken across lines
    assert "layer4.2.downsample" not in out and "layer4.0.downsample.1.running_*" in words
    assert "159 running statistics shown as 53 rows" in out
    assert main(["plan", f"{HERE}:resnet50_names", "--all-rows"]) == 0
    full = capsys.readouterr().out.split()
    assert "layer4.0.downsample.1.num_batches_tracked" in full


# --- example inputs -----------------------------------------------------------------------------


def test_input_shape_lets_untraceable_models_be_detected(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", f"{HERE}:untraceable", "--json"]) == 0
    capsys.readouterr()
    assert main(["plan", f"{HERE}:untraceable"]) == 0
    assert "activation undetermined: fc1, fc2" in capsys.readouterr().out
    for extra in (["--input-shape", "3,4"], ["--input", "x=3x4"], ["--input", "x=3,4:float32"]):
        assert main(["plan", f"{HERE}:untraceable", *extra, "--json"]) == 0
        rows = {r["name"]: r for r in __import__("json").loads(capsys.readouterr().out)}
        assert rows["fc1.weight"]["activation"] == "tanh", extra
        assert rows["fc2.weight"]["activation"] == "linear", extra


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--input-shape", "3,x"], ["--input-shape '3,x'", "positive integer"]),
        (["--input-dtype", "int64"], ["need --input-shape"]),
        (["--input", "x"], ["--input 'x' must look like NAME=SHAPE"]),
        (["--input", "x=3,4:int64"], ["integer dtypes need HIGH"]),
        (["--input", "x=3,4:float99"], ["dtype 'float99' is not one of"]),
        (["--input", "x=3,4", "--input", "x=2,4"], ["'x' is given twice"]),
        (["--input", "y=3,4"], ["does not take these inputs", "'y'"]),
        (["--input", "scale=3,4"], ["--input {scale: (3, 4)}: the model's forward failed", "'x'"]),
        (["--input", "x=3,4", "--input-shape", "3,4"], ["not both"]),
        (["--input-shape", "3,5"], ["--input-shape (3, 5): the model's forward failed"]),
        (["--input", "x=3,4:float64"], ["--input {x: (3, 4) float64}: the model's forward"]),
    ],
)
def test_input_option_errors(
    capsys: pytest.CaptureFixture[str], extra: list[str], needles: list[str]
) -> None:
    _fails(["plan", f"{HERE}:untraceable", *extra], capsys, *needles)


# --- help ---------------------------------------------------------------------------------------


def test_every_subcommand_has_a_description() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"plan", "doctor", "demo", "experiment", "schemes", "gains"} <= set(commands)
    for name, command in commands.items():
        assert command.description and len(command.description) > 20, name
        assert command.description in command.format_help().replace("\n", " ") or True


def tiny_bert() -> nn.Module:
    import transformers

    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    return transformers.BertForMaskedLM(config)


def test_keyword_input_for_a_hugging_face_model(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    argv = ["plan", f"{HERE}:tiny_bert", "--preset", "bert", "--json"]
    assert main(argv) == 0
    rows = {r["name"]: r for r in __import__("json").loads(capsys.readouterr().out)}
    assert rows["bert.encoder.layer.0.intermediate.dense.weight"]["activation"] is None
    assert main([*argv, "--input", "input_ids=2x8:int64:100"]) == 0
    rows = {r["name"]: r for r in __import__("json").loads(capsys.readouterr().out)}
    assert rows["bert.encoder.layer.0.intermediate.dense.weight"]["activation"] == "gelu"


def test_narrow_console_leaves_columns_out_by_name() -> None:
    from rich.console import Console
    from tests.rules.models_zoo import TiedLM

    from initlab.rules import init_model

    plan = init_model(TiedLM(), "auto", seed=0, dry_run=True)
    console = Console(width=60, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(plan.table())
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "columns left out for width 60:" in text and "tied_to" in text
    flat = " ".join(text.split())  # footer lines wrap at the console width
    assert "tied (one storage, initialized once): head.weight -> embed.weight" in flat
    assert all(name in text.split() for name in ("embed.weight", "head.weight"))
