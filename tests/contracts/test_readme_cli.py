"""Every ``initlab`` command the README shows parses with today's options (a documented
flag that the CLI lacks, like ``--rng`` once, fails here rather than on a user)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from initlab._cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if line.startswith("initlab ")]
    return [line.split("#")[0].strip() for line in lines]


@pytest.mark.parametrize("command", _commands())
def test_readme_command_parses(command: str) -> None:
    argv = shlex.split(command)[1:]
    build_parser().parse_args(argv)  # argparse exits 2 on an unknown option


def test_the_readme_shows_commands() -> None:
    assert len(_commands()) >= 10
    with pytest.raises(SystemExit):  # negative control: an unknown flag is caught
        build_parser().parse_args(["plan", "m.py:f", "--no-such-flag"])
