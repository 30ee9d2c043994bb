"""Attachment bytes on disk, named by their SHA-256 under the instance folder: no user input ever forms a path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from workflow.domain.errors import NotFound


class FileDocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".part")
            temporary.write_bytes(content)
            os.replace(temporary, path)  # atomic: a reader never sees half a file
        return digest

    def get(self, sha256: str) -> bytes:
        path = self._path(sha256)
        if not path.exists():
            raise NotFound(f"no document {sha256}")
        return path.read_bytes()

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise NotFound("not a document hash")
        return self.root / digest[:2] / digest
