"""The Chinese catalog covers every string of the pages, and the committed .mo is compiled from the .po."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po
from babel.support import Translations

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "web" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"


def _extracted(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    command = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
               "-k", "lazy_gettext", "-o", str(pot), "."]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def test_every_string_of_the_pages_has_a_chinese_translation(tmp_path: Path) -> None:
    with (CATALOG / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {message.id: message.string for message in catalog if message.id and not message.fuzzy}
    extracted = _extracted(tmp_path)
    assert {"Sign in", "Review queue", "Write-off history"} <= extracted  # the extraction itself found the pages
    missing = sorted(msgid for msgid in extracted if not translated.get(msgid))
    assert missing == [], "run the catalog update in docs/ui.md"


def test_the_compiled_catalog_matches_its_source() -> None:
    with (CATALOG / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    with (CATALOG / "messages.mo").open("rb") as handle:
        compiled = Translations(handle)
    stale = [message.id for message in catalog if message.id and compiled.gettext(message.id) != message.string]
    assert stale == [], "recompile: pybabel compile -d web/translations"
