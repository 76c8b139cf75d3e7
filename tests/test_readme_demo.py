"""The README shows what `./run demo` prints, byte for byte.

`tests/golden/demo_output.txt` is the demo's standard output (progress goes to stderr). The fast test
checks that the README quotes it exactly; the slow one (MQ_FULL_DEMO=1, about ten minutes on two
cores) runs the real demo and compares. After an intended change run
`MQ_FULL_DEMO=1 MQ_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_readme_demo.py`: it rewrites the golden
file and the README's block from the demo's output; review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GOLDEN = Path(__file__).parent / "golden" / "demo_output.txt"
UPDATE = os.environ.get("MQ_UPDATE_GOLDEN") == "1"


def _block(text: str) -> str:
    return "```\n" + text + "```\n"


def test_readme_quotes_the_demo_output_exactly():
    assert _block(GOLDEN.read_text()) in README.read_text(), (
        "README's demo block differs from tests/golden/demo_output.txt")


def test_demo_table_header_is_what_the_scoreboard_prints():
    from mq.scoreboard import format_scoreboard

    header = format_scoreboard([], []).splitlines()[0]
    assert header in GOLDEN.read_text().splitlines()


@pytest.mark.skipif(os.environ.get("MQ_FULL_DEMO") != "1",
                    reason="runs the whole demo (about ten minutes on two cores); set MQ_FULL_DEMO=1")
def test_the_demo_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    from mq.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("MQ_STATE_URL", "MQ_RECEIVER", "MQ_DEMO_DIR", "MQ_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    code = main(["demo", "--out", "demo_out"])
    printed = capsys.readouterr().out
    if UPDATE:
        README.write_text(README.read_text().replace(_block(GOLDEN.read_text()), _block(printed)))
        GOLDEN.write_text(printed)
    assert code == 0
    assert printed == GOLDEN.read_text()
