"""The command line as a package: its plain progress lines off a terminal, its entry point, and nothing imports it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from cli.progress import Reporter


def test_a_plain_counter_writes_its_start_each_tenth_and_its_end(capsys: object) -> None:
    advance = Reporter(None, quiet=False).counter("walking", 100)
    for _ in range(100):
        advance(1)
    lines = capsys.readouterr().err.splitlines()  # type: ignore[attr-defined]
    assert lines == [f"specgoods: walking: {done}/100" for done in range(0, 101, 10)]


def test_a_counter_that_jumps_past_several_tenths_writes_one_line(capsys: object) -> None:
    advance = Reporter(None, quiet=False).counter("walking", 10)
    advance(7)
    advance(3)
    assert capsys.readouterr().err.splitlines() == [  # type: ignore[attr-defined]
        "specgoods: walking: 0/10",
        "specgoods: walking: 7/10",
        "specgoods: walking: 10/10",
    ]


def test_quiet_holds_back_every_plain_line(capsys: object) -> None:
    reporter = Reporter(None, quiet=True)
    reporter.phase("a phase")
    reporter.counter("walking", 3)(3)
    assert capsys.readouterr().err == ""  # type: ignore[attr-defined]


def test_importing_every_config_module_loads_no_module_of_the_command_line() -> None:
    probe = (
        "import pkgutil, sys, config\n"
        "for module in pkgutil.walk_packages(config.__path__, 'config.'):\n"
        "    __import__(module.name)\n"
        "print(sorted(name for name in sys.modules if name == 'cli' or name.startswith('cli.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_the_specgoods_console_script_runs_the_main_group_of_the_cli_package() -> None:
    (script,) = entry_points(group="console_scripts", name="specgoods")
    assert script.value == "cli.main:main"
    from cli.main import main

    assert script.load() is main
