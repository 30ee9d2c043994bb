"""A specgoods API client, standard library only: file an application and follow it to a certificate and a write-off.

    python docs/api/example_client.py --base-url http://127.0.0.1:8000 --password demo-password

Each step signs in the user of the role it needs (the demo's `<district>.<role>` names) for a token, and sends an
Idempotency-Key on every POST, so the whole script can be re-run after a network failure without filing twice.
tests/api/test_client_example.py runs it against a live server.
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

CYTOKINE = {
    "name_zh": "重组人IL-6",
    "name_en": "Recombinant human IL-6",
    "category": "biological_product",
    "quantity": "100",
    "unit": "支",
    "protein_purity": "purified",
    "user_lab": "P2",
}
MINIMAL_PDF = b"%PDF-1.4\n% a scanned document would go here\n%%EOF\n"


class Api:
    """One signed-in user: a bearer token from POST /api/v1/tokens, then JSON in and out."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        issued = self._send("POST", "/api/v1/tokens", {"name": "example client"}, {"Authorization": f"Basic {basic}"})
        self.token = issued["token"]

    def get(self, path: str) -> Any:
        return self._send("GET", path, None, self._auth())

    def post(self, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {**self._auth(), "Idempotency-Key": key or uuid.uuid4().hex}
        return self._send("POST", path, body, headers)

    def upload(self, path: str, fields: dict[str, str], filename: str, content: bytes, key: str) -> Any:
        boundary = uuid.uuid5(uuid.NAMESPACE_URL, key).hex  # a retry must send the very same bytes as the first try
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()
        ]
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        data = "".join(parts).encode() + head.encode() + b"Content-Type: application/pdf\r\n\r\n"
        data += content + f"\r\n--{boundary}--\r\n".encode()
        headers = {**self._auth(), "Idempotency-Key": key, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self._send("POST", path, data, headers)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        if data is not None and not isinstance(body, bytes):
            headers = {**headers, "Content-Type": "application/json"}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:  # a problem+json body says what was wrong, and with which field
            problem = json.loads(error.read() or b"{}")
            raise SystemExit(f"{method} {path}: {error.code} {problem.get('title')}: {problem.get('detail')}") from None


def file_to_certificate(users: dict[str, Api], district: str, run: str) -> dict[str, Any]:
    """Pre-check, file, attach what the pre-check asks for, submit; customs accept, review and grant."""
    applicant = users["applicant"]
    check = applicant.post("/api/v1/precheck", {"direction": "entry", "applicant": {}, "lines": [CYTOKINE]})
    required = check["overall"]["required_documents"]["result"]
    body = {"district": district, "direction": "entry", "lines": [CYTOKINE]}
    application = applicant.post("/api/v1/applications", body, key=f"{run}-file")
    path = f"/api/v1/applications/{application['id']}"
    for doc_type in required:
        applicant.upload(
            f"{path}/documents", {"doc_type": doc_type}, f"{doc_type}.pdf", MINIMAL_PDF, f"{run}-{doc_type}"
        )
    applicant.post(f"{path}/submit", key=f"{run}-submit")
    users["acceptor"].post(f"{path}/accept", key=f"{run}-accept")
    users["reviewer"].post(f"{path}/start-review", key=f"{run}-review")
    granted = users["decider"].post(f"{path}/grant", {"reason": "documents complete"}, key=f"{run}-grant")
    print(f"application {granted['reference']}: {granted['state']}, grade {granted['grade']}")
    return dict(granted["certificate"])


def write_off(users: dict[str, Api], certificate: dict[str, Any], run: str) -> dict[str, Any]:
    """Declare 30 units against the certificate; a port officer passes the inspection if one was drawn."""
    body = {
        "declaration_no": f"DEC{run[:12].upper()}",
        "certificate_no": certificate["certificate_no"],
        "declared_on": certificate["valid_from"],
        "direction": "entry",
        "lines": [{"line_no": 1, "qty": "30"}],
    }
    declaration = users["applicant"].post("/api/v1/declarations", body, key=f"{run}-declare")
    if declaration["state"] == "inspection":
        path = f"/api/v1/declarations/{declaration['id']}/inspection"
        declaration = users["port_officer"].post(path, {"outcome": "pass"}, key=f"{run}-inspect")
    remaining = users["applicant"].get(f"/api/v1/certificates/{certificate['id']}/remaining")
    history = users["applicant"].get(f"/api/v1/certificates/{certificate['id']}/write-offs")
    line = remaining["lines"][0]
    print(f"declaration {declaration['declaration_no']}: {declaration['state']}")
    print(f"certificate {certificate['certificate_no']}: {line['remaining_qty']} of {line['approved_qty']} left")
    print("write-offs: " + ", ".join(f"{entry['kind']} {entry['qty']}" for entry in reversed(history["items"])))
    return {"declaration": declaration, "remaining": remaining, "write_offs": history["items"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--district", default="xiamen")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--run", default=uuid.uuid4().hex, help="names the idempotency keys: reuse it to resume")
    args = parser.parse_args(argv)
    roles = ("applicant", "acceptor", "reviewer", "decider", "port_officer")
    users = {role: Api(args.base_url, f"{args.district}.{role}", args.password) for role in roles}
    certificate = file_to_certificate(users, args.district, args.run)
    result = write_off(users, certificate, args.run)
    print(json.dumps({"certificate": certificate, **result}, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
