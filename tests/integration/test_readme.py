"""The README's commands, run as a newcomer pastes them: the first curl example against a real
`clickstream dev`, and every `clickstream …` command of the command table exists."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from clickstream.cli import main
from clickstream.target import ROOT
from tests.devserver_helpers import DevServer
from tests.readback import rows

README = (ROOT / "README.md").read_text()


def first_block_after(marker: str) -> str:
    after = README[README.index(marker) :]
    return re.search(r"```sh\n(.*?)```", after, re.DOTALL).group(1)  # type: ignore[union-attr]


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path / ".data").start()  # what `make run` makes in the checkout: ./.data
    yield server
    server.stop()
    server.wait_until_stack_gone()


def test_the_first_curl_example_works_when_pasted(dev: DevServer) -> None:
    script = first_block_after("Send an event").replace("127.0.0.1:8000", f"127.0.0.1:{dev.port}")
    assert "<" not in script and "…" not in script, "nothing to fill in by hand"

    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=dev.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert '{"accepted":1,"rejected":[]}' in done.stdout, done.stdout + done.stderr
    (row,) = rows(dev.settings)
    assert row["event_name"] == "LIKE_WOOD"
    # the documented answer is the real one
    assert '# {"accepted":1,"rejected":[]}' in script


def commands_in_the_table() -> list[list[str]]:
    found = []
    for line in README.splitlines():
        for cell in re.findall(r"`clickstream ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", line):
            words = cell.split()
            found.append(words)
    return found


@pytest.mark.parametrize("words", commands_in_the_table(), ids=" ".join)
def test_every_command_the_readme_names_exists(words: list[str]) -> None:
    result = CliRunner().invoke(main, [*words, "--help"])
    if result.exit_code != 0 and len(words) == 2:  # `clickstream query "SQL"`: the second word is an argument
        result = CliRunner().invoke(main, [words[0], "--help"])
    assert result.exit_code == 0, result.output
