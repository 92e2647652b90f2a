"""The README's console examples are what the commands print.

Every ```console block whose first line is `$ stackyard ARGS` is run (in-process,
on the session's cached plans) and every line it shows, other than `...`, must be
a line of the real output, compared word by word (column widths follow the
terminal, so spacing is not compared).
"""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import REPO, SHIPPED_ENVIRONMENTS, plan_for
from stacks import cli
from stacks import plan as offline_plan

BLOCK = re.compile(r"^```console\n(?P<body>.*?)^```", re.M | re.S)


def _examples() -> list[tuple[str, list[str]]]:
    examples = []
    for match in BLOCK.finditer((REPO / "README.md").read_text()):
        first, *shown = match["body"].splitlines()
        if first.startswith("$ stackyard "):
            command = first[2:].split("#", 1)[0].strip()
            examples.append((command, [line for line in shown if line.strip() and line.strip() != "..."]))
    return examples


EXAMPLES = _examples()


def test_the_readme_has_console_examples():
    assert EXAMPLES, "README.md shows no `$ stackyard ...` console example"


@pytest.mark.parametrize("command, shown", EXAMPLES, ids=[command for command, _ in EXAMPLES])
def test_a_readme_example_prints_what_the_readme_shows(command, shown, monkeypatch, capsys):
    # The shipped environments' plans are cached for the session (built first, before `build` is replaced);
    # the command's output is what is tested.
    arguments = shlex.split(command)[1:]
    plans = {name: plan_for(name) for name in arguments if name in SHIPPED_ENVIRONMENTS}
    monkeypatch.setattr(offline_plan, "build", lambda spec, spec_file: plans[spec.name])
    monkeypatch.setenv("COLUMNS", "400")  # one line per row, as the README shows it
    cli.main(arguments)
    printed = {tuple(line.split()) for line in capsys.readouterr().out.splitlines()}
    missing = [line for line in shown if tuple(line.split()) not in printed]
    assert not missing, f"`{command}` no longer prints these README lines: {missing}"
