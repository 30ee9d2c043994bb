"""Test-only: send one keyed API request in this process and SIGKILL the process at a named step of it.

Run as `python -m tests.integration.crash_request SPEC_JSON`, SPEC_JSON holding the database URL, the instance path,
the step, the request (method, path, headers, and a JSON body or a form with one file) and the clock's date. The step
names are those `workflow/store/request_transaction.py` reports ("began", "claimed", "unit of work committed",
"answered", "recorded", "committed"); the hook is given through the app's extensions (web.idempotency.FAULTS), the
one seam production leaves for it. A request that never reaches the step prints its status and exits 0.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Any

from config.bootstrap import bootstrap
from config.settings import load_settings
from tests.conftest import FixedClock
from web import create_app
from web.idempotency import FAULTS


def die_at(step: str) -> Any:
    def reached(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no rollback, no response: as a machine dies

    return reached


def main(spec: dict[str, Any]) -> None:
    settings = load_settings(database_url=spec["database_url"], instance_path=Path(spec["instance_path"]))
    container = bootstrap(settings, clock=FixedClock(date.fromisoformat(spec["today"])), relay_after_commit=False)
    app = create_app(container, {"TESTING": True})
    app.extensions[FAULTS] = die_at(spec["step"])
    response = app.test_client().open(spec["path"], method="POST", headers=spec["headers"], **request_kwargs(spec))
    print(response.status_code, response.get_data(as_text=True))


def request_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """The test client's arguments for the spec's body: JSON, or a form with one file (its content in base64)."""
    if "json" in spec:
        return {"json": spec["json"]}
    name, content = spec["file"]
    data = {**spec["form"], "file": (io.BytesIO(base64.b64decode(content)), name)}
    return {"data": data, "content_type": "multipart/form-data"}


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
