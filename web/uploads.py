"""Uploaded documents: size-limited, typed by their bytes, named safely; stored by content hash outside `static/`.

The document store (config/documents.py) names files by SHA-256 under the instance folder, so no part of a path ever
comes from the client; the original name is kept only as metadata, reduced to a safe basename that keeps its
Chinese (or any other script's) letters. Downloads carry that name the RFC 6266 way: an ASCII `filename` for old
clients and the exact name as UTF-8 in RFC 5987's `filename*`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app
from werkzeug.datastructures import FileStorage

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


UNSAFE = frozenset('/\\:*?"<>|;%')  # path separators, Windows' reserved set, and the header's own delimiters
MAX_STEM = 120


def safe_name(filename: str, content_type: str) -> str:
    """A basename with no directory part, no leading dot and the extension the bytes call for; letters kept."""
    base = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    kept = "".join(" " if char.isspace() else char for char in stem if _allowed(char))
    stem = " ".join(kept.split()).strip(". ")[:MAX_STEM].strip(". ")
    return (stem if any(char.isalnum() for char in stem) else "document") + EXTENSIONS[content_type]


def _allowed(char: str) -> bool:
    """Letters, digits and punctuation of any script; no control or format characters, nothing a path could use."""
    return char not in UNSAFE and (char.isspace() or not unicodedata.category(char).startswith("C"))


def attachment(filename: str) -> str:
    """`Content-Disposition` for a download named `filename` (RFC 6266), with an ASCII fallback name for old clients.

    The fallback keeps what ASCII can say of the name (é → e); a name with nothing left, such as 申请表.pdf, falls
    back to `document.pdf`. Clients that read `filename*` (every current browser) save the exact name.
    """
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = "".join(char for char in ascii_stem if char.isprintable() and char not in UNSAFE | {"'"})
    has_word = any(char.isalnum() for char in ascii_stem)  # "申请表-中文名" leaves a bare "-": no name at all
    fallback = (ascii_stem.strip(" .") if has_word else "document") + (dot + extension if extension.isascii() else "")
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
