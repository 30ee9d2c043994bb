"""Chinese everywhere: every page each role reaches, with data in every state, holds no stray English word.

Each role of the Xiamen district signs in and follows every same-origin GET link from its home page (bounded); the
visible text of each page, attributes people read included, must hold no Latin-script word beyond a short allow-list
of things that are names in both languages: numbers and their prefixes (certificate, declaration, application),
units, rule ids, file formats, user names and e-mail addresses, and the words users themselves typed in the demo.
Unlike the browser test (tests/e2e/test_languages.py), `translate="no"` exempts nothing: a code marked as data is
still a code shown to a person. Refused forms are pages too, so a few bad posts are checked the same way.
"""

from __future__ import annotations

import re
import shutil
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from config.bootstrap import Container, bootstrap
from config.demo import DEMO_PASSWORD
from config.settings import load_settings
from tests.conftest import FixedClock
from tests.integration.support import declaration_no
from tests.ui.conftest import CSRF
from web import create_app
from workflow.domain import commands as c
from workflow.domain.ledger import Disposal, ReversalReason
from workflow.store.directory import find_user
from workflow.store.tables import CertificateRow, LedgerEntryRow

ROLES = ("applicant", "acceptor", "reviewer", "decider", "head", "expert", "port_officer", "dest_officer", "auditor")
# The other districts' demo files are in the states Xiamen's are not: a correction notice, a review, an acceptance.
PEOPLE = (
    *(f"xiamen.{role}" for role in ROLES),
    "admin",
    "quanzhou.applicant",
    "fuzhou.reviewer",
    "pingtan.acceptor",
)  # xiamen.applicant is its enterprise's admin too
MAX_PAGES = 120  # per person: enough for every kind of page, bounded against endless filter links
SKIP = re.compile(r"\.(pdf|csv|svg|png|jpe?g|css|js)$|/documents/\d+$|/download|/static/", re.I)
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]")
# Names in both languages: file formats, units, lab levels, a hash, a date pattern, the time zone, and the language
# switch, which names English in English.
ALLOWED = {"PDF", "CSV", "JSON", "PNG", "JPEG", "MB", "KB", "SHA", "BSL", "UTC", "YYYY", "MM", "DD",
           "mL", "kg", "g", "mg", "L", "µg", "ug", "USCC", "HS", "IL", "English"}  # fmt: skip
# Identifiers: rule and grade ids (R21, W4, E3, FX10), certificate/declaration/application numbers, user names,
# e-mail addresses, the demo's USCC codes; matched on the whole token so a word inside one is not counted.
IDENTIFIER = re.compile(
    r"\b[A-Z]{1,3}\d+[A-Z\d-]*\b"  # R21, XI2016I000001, DEC0000000001, BSL-2, E3
    r"|\b[A-Z\d]{18}\b"  # a USCC
    r"|[\w.+-]+@[\w-]+(\.[\w-]+)+"  # an e-mail address
    r"|\b(xiamen|fuzhou|quanzhou|pingtan)\.[a-z_]+\d*\b|\badmin\b(?=\s*[·(])"  # user names
    r"|\bDEC-[\w-]+"  # declaration numbers typed in this test
    r"|[\w.-]+\.(pdf|png|jpe?g)\b"  # the name of an uploaded file
    r"|\b[0-9a-f]{16,64}…?"  # a SHA-256, whole or its start
    r"|\b[A-D]\b"  # a risk grade (R27), a legal term in both languages
    r"|^admin$"  # the platform administrator's user name
    r"|\bspecgoods( (audit|verify|demo|simulate))*\b"  # a command of the CLI, typed as written
)
# Words the demo's users typed (goods names, makers, free-text reasons): data in the user's own words, not the UI's.
TYPED_TEXT = (
    "Recombinant human IL PeproTech US ATCC coli strain Human plasma BioIVT HEK cell line TaKaRa JP competent cells "
    "DH the biosafety proof lacks its sealed page not special goods grade needs a risk assessment documents complete "
    "granted P µg E O H Xiamen Haicang Biotech Co Ltd Fuzhou Minjiang Medical Laboratory Quanzhou Citong Clinical "
    "Research Pingtan Strait Cell Bank"
)
TYPED = set(TYPED_TEXT.split())


class VisibleText(HTMLParser):
    """The words a person reads on a page: text outside script/style, and the attributes shown or spoken."""

    SHOWN_ATTRIBUTES = ("placeholder", "aria-label", "title", "alt")
    HIDDEN = ("script", "style", "template")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in self.HIDDEN:
            self._hidden += 1
        if tag == "a" and found.get("href") and "download" not in found:
            self.links.append(str(found["href"]))
        if tag == "form" and (found.get("method") or "get").lower() == "get" and found.get("action"):
            self.links.append(str(found["action"]))  # a GET form without its fields is a page too
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self.parts.append(str(found["value"]))
        self.parts.extend(str(found[name]) for name in self.SHOWN_ATTRIBUTES if found.get(name))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def stray_words(text: str) -> set[str]:
    """Latin-script words of `text` that are neither identifiers nor names every language uses."""
    return {
        word
        for word in LATIN_WORD.findall(IDENTIFIER.sub(" ", text))
        if word not in ALLOWED and word not in TYPED and word.upper() not in ALLOWED
    }


@dataclass
class Crawl:
    """What one person's walk found: the pages seen and, per page, the stray words."""

    seen: list[str] = field(default_factory=list)
    leaks: dict[str, set[str]] = field(default_factory=dict)
    where: dict[str, set[str]] = field(default_factory=dict)  # the text each stray word was found in

    def check(self, path: str, html: str) -> list[str]:
        parser = VisibleText()
        parser.feed(html)
        for part in parser.parts:
            found = stray_words(part)
            if found:
                self.leaks.setdefault(path, set()).update(found)
                self.where.setdefault(path, set()).add(part[:120])
        return parser.links

    def report(self) -> str:
        return "\n".join(f"{path}: {sorted(self.where[path])}" for path in self.leaks)


@dataclass
class Site:
    container: Container
    app: object

    def client(self, username: str) -> FlaskClient:
        client: FlaskClient = self.app.test_client()  # type: ignore[attr-defined]
        token = _csrf(client, "/ui/sign-in")
        response = client.post(
            "/ui/sign-in", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token}
        )
        assert response.status_code in (302, 303), f"{username} could not sign in"
        return client


def _csrf(client: FlaskClient, path: str) -> str:
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def _post(client: FlaskClient, path: str, data: dict[str, str]) -> object:
    return client.post(path, data={**data, "csrf_token": _csrf(client, "/ui/sign-in")})


@pytest.fixture(scope="module")
def site(demo_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo, plus declarations in every port state, a reversal, an opinion and an ended certificate."""
    folder = tmp_path_factory.mktemp("zh-everywhere")
    shutil.copytree(demo_database, folder / "site")
    url = f"sqlite:///{folder / 'site' / 'demo.sqlite3'}"
    from datetime import date

    container = bootstrap(
        load_settings(database_url=url, instance_path=folder / "site" / "instance"), clock=FixedClock(date(2016, 6, 1))
    )
    app = create_app(container, {"TESTING": True})
    made = Site(container, app)
    _every_port_state(made)
    yield made
    container.dispose()


def _officer(container: Container, username: str):  # type: ignore[no-untyped-def]
    with container.sessions() as session:
        account = find_user(session, username)
    assert account is not None
    return account.actor


def _every_port_state(site: Site) -> None:
    container = site.container
    with container.sessions() as session:
        certificate_no = str(session.scalar(select(CertificateRow.certificate_no).where(CertificateRow.id == 1)))
    port = site.client("xiamen.port_officer")

    def declare(number: str, qty: str, key: str) -> str:
        response = _post(
            port,
            "/ui/port/certificates/1/declare",
            {"declaration_no": number, "line_no": "1", "qty": qty, "port": "厦门高崎机场", "idempotency_key": key},
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:500]  # type: ignore[attr-defined]
        return str(response.headers["Location"]).rsplit("/", 1)[1]  # type: ignore[attr-defined]

    released = declare(declaration_no(container, certificate_no, inspected=False, rate=Decimal("0.01")), "10", "a")
    inspected = declare(declaration_no(container, certificate_no, inspected=True, rate=Decimal("0.01")), "5", "b")
    failed = declare(declaration_no(container, certificate_no, inspected=True, rate=Decimal("0.01")), "5", "c")
    sampled = declare(declaration_no(container, certificate_no, inspected=True, rate=Decimal("0.01")), "5", "d")
    declare("DEC-HELD-1", "1000", "e")  # W5: more than remains, held at the port
    _post(port, f"/ui/port/declarations/{inspected}/inspection", {"outcome": "pass", "disposal": ""})
    failing = {"outcome": "fail", "disposal": "destroy", "reason": "包装破损"}
    _post(port, f"/ui/port/declarations/{failed}/inspection", failing)
    _post(port, f"/ui/port/declarations/{sampled}/inspection", {"outcome": "sample", "disposal": ""})
    lab_failed = declare(declaration_no(container, certificate_no, inspected=True, rate=Decimal("0.01")), "1", "f")
    _post(port, f"/ui/port/declarations/{lab_failed}/inspection", {"outcome": "sample", "disposal": ""})
    split = declare("DEC-HELD-2", "1000", "g")
    officer = _officer(container, "xiamen.port_officer")
    bus = container.bus.handle
    bus(c.RecordLabResult(officer, int(lab_failed), "检出污染", passed=False, disposal=Disposal.RETURN))
    bus(
        c.ResolveHold(officer, int(split), "超出部分销毁", split=True, disposal=Disposal.DESTROY)
    )  # W6: in quota released
    assert released
    with container.sessions() as session:
        commit_id = session.scalar(select(LedgerEntryRow.id).where(LedgerEntryRow.kind == "commit"))
    assert commit_id is not None
    first = bus(c.RequestReversal(officer, commit_id, Decimal(1), ReversalReason.CLERICAL_ERROR, "录错"))
    bus(c.DecideReversal(_officer(container, "xiamen.decider"), first["reversal_id"], approve=True, reason="核实"))
    bus(c.RequestReversal(officer, commit_id, Decimal(1), ReversalReason.QUANTITY_CORRECTION, "数量更正"))
    # applications in the states the demo leaves out: denied (with a review opinion) and withdrawn
    bus(c.AcceptApplication(_officer(container, "xiamen.acceptor"), 2))
    bus(c.StartReview(_officer(container, "xiamen.reviewer"), 2))
    bus(c.DenyApplication(_officer(container, "xiamen.decider"), 2, "生物安全证明不足"))
    bus(c.WithdrawApplication(_officer(container, "xiamen.applicant"), 4))
    expert = site.client("xiamen.expert")
    desk = expert.get("/ui/expert/").get_data(as_text=True)
    found = re.search(r'action="/ui/expert/assessments/(\d+)/opinion"', desk)
    assert found, "the demo's grade B application sits on the Xiamen panel"
    _post(expert, f"/ui/expert/assessments/{found.group(1)}/opinion", {"opinion": "pass", "reason": "措施充分"})


# Pages no link of a desk leads to without a choice first: every application, every queue filter, every trail.
SEEDS = (
    *(f"/ui/applications/{number}" for number in range(1, 10)),
    *(f"/ui/review/queue?state={state}" for state in ("submitted", "accepted", "under_review", "risk_assessment")),
    *(f"/ui/audit/trail?object_type=application&object_id={number}" for number in range(1, 7)),
    "/ui/audit/trail?object_type=certificate&object_id=1",
    *(f"/ui/audit/trail?object_type=declaration&object_id={number}" for number in range(1, 6)),
)


def crawl(client: FlaskClient, start: str = "/ui/") -> Crawl:
    """Breadth first from `start`, then from the seeds (a page the person may not see is an error page, checked too)."""
    walk = Crawl()
    queue, queued = deque([start, *SEEDS]), {start, *SEEDS}
    while queue and len(walk.seen) < MAX_PAGES:
        path = queue.popleft()
        response = client.get(path, follow_redirects=True)
        walk.seen.append(path)
        if not response.mimetype.startswith("text/html") or response.status_code >= 500:
            assert response.status_code < 500, f"{path} answered {response.status_code}"
            continue
        for link in walk.check(path, response.get_data(as_text=True)):
            target, _ = urldefrag(link)
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path.startswith("/") or SKIP.search(parts.path):
                continue
            if target not in queued and (parts.path.startswith("/ui") or parts.path == "/"):
                queued.add(target)
                queue.append(target)
    return walk


@pytest.mark.parametrize("username", PEOPLE)
def test_every_page_of_every_role_is_in_chinese(site: Site, username: str) -> None:
    walk = crawl(site.client(username))
    assert len(walk.seen) > 1, "the crawl reached no page beyond the home page"
    assert {path: sorted(words) for path, words in walk.leaks.items()} == {}, walk.report()


def _line(**fields: str) -> dict[str, str]:
    common = {"direction": "entry", "district": "xiamen", "line_count": "1"}
    return common | {f"line-0-{name}": value for name, value in fields.items()}


REFUSED_FORMS = {
    "xiamen.port_officer": [
        ("/ui/port/certificates/1/declare", {"declaration_no": "DEC-BAD", "line_no": "1", "qty": "0", "port": ""}),
        ("/ui/port/certificates/1/declare", {"declaration_no": "", "line_no": "x", "qty": "abc", "port": ""}),
    ],
    "xiamen.applicant": [
        ("/ui/applicant/applications/new", _line(name_zh="重组蛋白", quantity="-1", unit="")),
        ("/ui/applicant/applications/new", _line(name_zh="重组蛋白", quantity="1", unit="支", pathogen_class="9")),
        ("/ui/applicant/precheck", _line(name_zh="", quantity="abc", unit="支", category="blood")),
        ("/ui/applicant/precheck", _line(name_zh="菌株", quantity="1", unit="株", category="microorganism",
                                         bsl_level="7")),
    ],
    "xiamen.reviewer": [("/ui/applications/1/act/claim", {})],  # a granted file is in no queue
    "xiamen.decider": [
        ("/ui/applications/1/act/grant", {"grade": "Z", "reason": ""}),
        ("/ui/applications/3/act/grant", {"grade": "B", "reason": "资料齐全"}),  # R32: the panel has not concluded
        ("/ui/applications/2/act/deny", {"reason": "不符合要求"}),  # a state that allows no decision yet
    ],
}  # fmt: skip
# Goods whose pre-check cites most rules: grades A to C, an assessment, paperless or not, follow-up or not.
PRECHECKED = [
    _line(name_zh="重组人白细胞介素-6", quantity="100", unit="支", category="biological_product",
          protein_purity="purified"),
    _line(name_zh="大肠杆菌O157:H7菌株", quantity="10", unit="株", category="microorganism", pathogen_class="3",
          bsl_level="2"),
    _line(name_zh="人血浆", quantity="200", unit="管", category="blood", may_contain_unknown_agent="y"),
    _line(name_zh="HEK293细胞系", quantity="5", unit="支", category="human_tissue", is_commercial_cell_line="y"),
    _line(name_zh="鼠疫耶尔森菌", quantity="1", unit="株", category="microorganism", pathogen_class="1",
          bsl_level="3"),
    _line(name_zh="粗提蛋白", quantity="1", unit="瓶", category="biological_product", protein_purity="crude"),
    {**_line(name_zh="人血清", quantity="1", unit="管", category="blood"), "direction": "exit"},
]  # fmt: skip


def test_the_pre_check_explains_every_rule_in_chinese(site: Site) -> None:
    client, walk = site.client("xiamen.applicant"), Crawl()
    for number, data in enumerate(PRECHECKED):
        response = _post(client, "/ui/applicant/precheck", data)
        page = response.get_data(as_text=True)  # type: ignore[attr-defined]
        assert response.status_code == 200 and "R27" in page, page[:3000]  # type: ignore[attr-defined]
        walk.check(f"pre-check {number}", page)
    assert {path: sorted(words) for path, words in walk.leaks.items()} == {}, walk.report()


@pytest.mark.parametrize("username", sorted(REFUSED_FORMS))
def test_refused_forms_say_why_in_chinese(site: Site, username: str) -> None:
    client, walk = site.client(username), Crawl()
    for path, data in REFUSED_FORMS[username]:
        response = _post(client, path, data)
        status = response.status_code  # type: ignore[attr-defined]
        assert 400 <= status < 500, f"{path} accepted a bad form ({status})"
        walk.check(f"POST {path}", response.get_data(as_text=True))  # type: ignore[attr-defined]
    assert {path: sorted(words) for path, words in walk.leaks.items()} == {}, walk.report()


def test_each_problem_of_a_goods_line_is_at_its_field_in_chinese(site: Site) -> None:
    client = site.client("xiamen.applicant")
    bad = _line(name_zh="重组蛋白", quantity="-1", unit="", pathogen_class="9")
    page = _post(client, "/ui/applicant/applications/new", bad).get_data(as_text=True)  # type: ignore[attr-defined]
    errors = dict(re.findall(r'<p class="error" id="(line-0-[a-z_]+)-error">\s*([^<]*?)\s*</p>', page))
    assert errors == {
        "line-0-quantity": "须大于 0。",
        "line-0-unit": "此项为必填项。",
        "line-0-pathogen_class": "须不大于 4。",
    }
    assert 'value="重组蛋白"' in page  # the input is kept


def test_the_same_reasons_read_as_the_rules_wrote_them_in_english(site: Site) -> None:
    client = site.client("xiamen.applicant")
    assert _post(client, "/ui/language", {"lang": "en"}).status_code in (302, 303)  # type: ignore[attr-defined]
    page = _post(client, "/ui/applicant/precheck", PRECHECKED[0]).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "grade C: a fully lysed or purified protein (R30)" in page
    assert "R12: Application form; R13: Description of the goods" in page
    assert "一般信用" not in page and "级" not in page
