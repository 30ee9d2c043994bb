"""Uploaded documents: size-limited, typed by their bytes, named safely; stored by content hash outside `static/`.

The document store (config/documents.py) names files by SHA-256 under the instance folder, so no part of a path ever
comes from the client; the original name is kept only as metadata, reduced to a safe basename.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from workflow.domain.errors import InvalidInput

ALLOWED = {"application/pdf": b"%PDF-", "image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


def read_upload(upload: FileStorage | None) -> Upload:
    if upload is None:
        raise InvalidInput("a multipart upload needs a 'file' part", field="file")
    limit = int(current_app.config["SPECGOODS_MAX_UPLOAD_BYTES"])
    content = upload.stream.read(limit + 1)  # never more than the limit in memory, whatever the client claims
    if not content:
        raise InvalidInput("the file is empty", field="file")
    if len(content) > limit:
        raise InvalidInput(f"the file is larger than {limit} bytes", field="file")
    content_type = sniff(content)
    return Upload(safe_name(upload.filename or "", content_type), content_type, content)


def sniff(content: bytes) -> str:
    """Trust the bytes, not the client's declared type."""
    for content_type, magic in ALLOWED.items():
        if content.startswith(magic):
            return content_type
    raise InvalidInput("only PDF, PNG and JPEG documents are accepted", field="file")


def safe_name(filename: str, content_type: str) -> str:
    """A basename with no directory part, no leading dot and the extension the bytes call for."""
    stem = secure_filename(filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).rsplit(".", 1)[0][:120] or "document"
    return stem + EXTENSIONS[content_type]
