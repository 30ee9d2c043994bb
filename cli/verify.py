"""`specgoods verify` and `specgoods keys`: check a certificate PDF or QR payload, and manage the signing keys.

Registered on the main group by `cli.main`.
Exit codes: 0 valid, 1 tampered (the failed checks are named), 2 bad input.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from cli import shell
from config.keys import key_ring
from config.settings import load_settings
from workflow.domain.errors import InvalidInput
from workflow.domain.receipts import RECEIPT_TYPE
from workflow.domain.signature import Verdict
from workflow.store.certificate_documents import live_status
from workflow.store.signing import PublicKeys, keys_from_jwks, stored_full_token, verify_pdf, verify_token

EXIT_TAMPERED = 1


@click.command()
@click.argument("target")
@click.option("--online", is_flag=True, help="Also ask the database: current state and remaining quantities.")
@click.option("--jwks", "jwks_file", type=click.Path(dir_okay=False, path_type=Path), help="Trust these keys.")
@click.option(
    "--signature",
    "signature_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A PDF's detached signature (default: FILE.pdf.sig beside it; with --online, the database's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(target: str, online: bool, jwks_file: Path | None, signature_file: Path | None, as_json: bool) -> None:
    """Verify TARGET: a certificate PDF (FILE.pdf) or the compact signed payload of its QR code."""
    keys = _trusted_keys(jwks_file)
    pdf = _pdf_bytes(target)
    if pdf is None:
        verdict = verify_token(target, keys)
    else:
        verdict = verify_pdf(pdf, _full_token(Path(target), pdf, signature_file, online), keys)
    status = _live_status(verdict) if online else None
    _report(verdict, status, as_json)
    if not verdict.valid:
        sys.exit(EXIT_TAMPERED)


def _trusted_keys(jwks_file: Path | None) -> PublicKeys:
    if jwks_file is None:
        return key_ring(load_settings()).public_keys()
    try:
        return keys_from_jwks(json.loads(jwks_file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {jwks_file}", field="--jwks") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as error:
        raise InvalidInput(f"{jwks_file} is not a JWKS document: {error}", field="--jwks") from None


def _pdf_bytes(target: str) -> bytes | None:
    """A PDF file's bytes; None when TARGET is a payload. A path that names no readable PDF is bad input."""
    # os.path.isfile, not Path.exists: a 900-character payload is "file name too long" to the latter.
    if not (target.lower().endswith(".pdf") or os.sep in target or os.path.isfile(target)):
        return None
    try:
        content = Path(target).read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {target}: {error.strerror}", field="FILE") from None
    if not content.startswith(b"%PDF-"):
        raise InvalidInput(f"{target} is not a PDF", field="FILE")
    return content


def _full_token(path: Path, pdf: bytes, signature_file: Path | None, online: bool) -> str:
    sidecar = signature_file or path.with_name(path.name + ".sig")
    if sidecar.exists():
        return sidecar.read_text(encoding="ascii", errors="replace").strip()
    if signature_file is not None:
        raise InvalidInput(f"no such file: {signature_file}", field="--signature")
    token = _stored_token(pdf) if online else None
    if token is None:
        raise InvalidInput(
            f"no detached signature for {path}: put {sidecar.name} beside it, give --signature, or use --online",
            field="--signature",
        )
    return token


def _stored_token(pdf: bytes) -> str | None:

    with shell.container(relay_after_commit=False).sessions() as session:
        return stored_full_token(session, pdf)


def _live_status(verdict: Verdict) -> dict[str, Any] | None:

    if verdict.payload is None:
        return None
    with shell.container(relay_after_commit=False).sessions() as session:
        return live_status(session, str(verdict.payload.get("certificate_no", "")))


def _report(verdict: Verdict, status: Mapping[str, Any] | None, as_json: bool) -> None:
    if as_json:
        document = {"valid": verdict.valid, "failures": list(verdict.failures), "payload": verdict.payload}
        click.echo(json.dumps({**document, "status": status}, ensure_ascii=False, indent=2))
        return
    click.echo("VALID: signature checks out" if verdict.valid else f"TAMPERED: failed {', '.join(verdict.failures)}")
    for line in describe(verdict.payload or {}):
        click.echo(line)
    if status is not None:
        click.echo(f"now: {status['state']}{' (on hold)' if status['hold'] else ''}")
        for line in status["lines"]:
            click.echo(f"  line {line['line_no']} {line['name']}: {line['remaining_qty']} {line['unit']} remaining")


def describe(payload: Mapping[str, Any]) -> list[str]:
    """The signed facts as lines of text; every field comes from the payload, so none is trusted before `valid`."""
    if not payload:
        return []
    if payload.get("type") == RECEIPT_TYPE:
        return _describe_receipt(payload)
    if payload.get("type") == "audit-checkpoint":
        seq, signed_hash = payload.get("seq"), str(payload.get("hash"))
        return [f"audit checkpoint: district {payload.get('district')} at {seq}, hash {signed_hash}"]
    holder = payload.get("holder", {})
    facts = [
        f"certificate {payload.get('certificate_no')} ({payload.get('direction')}, grade {payload.get('grade')})",
        f"holder: {holder.get('name')} [{holder.get('uscc')}]",
        f"valid {payload.get('valid_from')} to {payload.get('valid_until')}, write-off {payload.get('write_off_mode')}",
        f"district {payload.get('district')}, paperless {payload.get('paperless')}, key {payload.get('kid')}",
    ]
    lines = [
        f"  line {line['line_no']} {line['name']}: {line['approved_qty']} {line['unit']}" for line in _lines(payload)
    ]
    return facts + lines


def _describe_receipt(payload: Mapping[str, Any]) -> list[str]:
    movement = "written off" if payload.get("kind") == "commit" else "reversed"
    return [
        f"write-off receipt {payload.get('seq')} of certificate {payload.get('certificate_no')} "
        f"line {payload.get('line_no')}",
        f"{payload.get('qty')} {payload.get('unit')} {movement} at {payload.get('at')} "
        f"(declaration {payload.get('declaration_no')}, ledger entry {payload.get('entry_id')})",
        f"net written off on the line after it: {payload.get('net_committed')} {payload.get('unit')}",
        f"previous receipt's hash: {payload.get('prev')}, key {payload.get('kid')}",
    ]


def _lines(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    lines = payload.get("lines")
    return [line for line in lines if isinstance(line, Mapping)] if isinstance(lines, list) else []


@click.group()
def keys() -> None:
    """Signing keys of paperless certificates (instance/keys/)."""


@keys.command("list")
def keys_list() -> None:
    """Every published key; the active one signs, retired ones still verify what they signed."""
    ring = key_ring(load_settings())
    for info in ring.key_infos():
        role = "active" if info.active else "retired"
        click.echo(f"{info.kid}  {info.created_at:%Y-%m-%d %H:%M:%S}Z  {role}")


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new active key; the old public key stays published in the JWKS."""
    click.echo(f"active key: {key_ring(load_settings()).rotate()}")


@keys.command("jwks")
def keys_jwks() -> None:
    """Print the JWKS document of all public keys (for `specgoods verify --jwks` elsewhere)."""
    click.echo(json.dumps(key_ring(load_settings()).jwks(), indent=2))
