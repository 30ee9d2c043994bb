"""Issue #16 as each audience meets it in Debian's chromium, once in Chinese and once in English.

One journey per audience (applicant; acceptor, reviewer and decider; expert; port officer; auditor). Every step
asserts what the issue promises on the page the person sees: words from the catalog in the person's language and no
word of the other one, refused forms that come back with the input kept and the message at the field, documents
that download with their names. Each step leaves `artifacts/screenshots/<journey>-<lang>-<step>.png`.

The server is the session's one (`site`): the journeys file their own applications, so they do not depend on the
demo's files or on one another, and their numbers never meet those of the other e2e tests.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from babel.support import Translations
from playwright.sync_api import Download, Locator, Page, expect

from tests.conftest import wait_for
from tests.e2e.conftest import ROOT, Person
from tests.e2e.test_journeys import CYTOKINE, PDF, PLASMA, act, fill_goods, wait_screened
from tests.e2e.test_languages import CHINESE, KEEP_LATIN, LATIN_WORD, VISIBLE_TEXT

LANGUAGES = ("zh", "en")
# What a person typed (a textarea's kept input) is not the page's words; nor is `exclude` (other people's data, such
# as the demo's notices with reasons typed in both languages).
TYPED = "textarea"
# Beside test_languages' list: a format named in a button, and identifiers written into sentences (application,
# certificate and declaration numbers such as XI20260000010, rule ids): capitals and digits with a digit in them.
KEEP_IDENTIFIERS = re.compile(r"\b(JSON|[A-Z0-9]*\d[A-Z0-9]*)\b")
# In English, a quantity keeps the certificate's own unit, which is data in Chinese (W1: "1000 支").
KEEP_UNITS = re.compile(r"(?<=\d )(管|支|瓶|盒|人份|株)")
CHINESE_FILE = "申请表-中文名.pdf"  # the issue's own example: it used to come back as `-.pdf`
EXPERTS = ["xiamen.expert", *(f"xiamen.expert{n}" for n in range(2, 6))]
BOM = b"\xef\xbb\xbf"
DECLARE = "#declare button[type=submit]:not([name])"  # not "Add a line" / "Remove line", which only reshape the form


@cache
def _catalog() -> Translations:
    return Translations.load(str(ROOT / "web" / "translations"), ["zh_Hans_CN"])


def words(lang: str) -> Callable[[str], str]:
    """The catalog's text for `msgid` in `lang`; a Chinese text the catalog lacks fails here, not silently later."""

    def zh(msgid: str) -> str:
        text = _catalog().gettext(msgid)
        assert CHINESE.search(text), f"the catalog has no Chinese for {msgid!r}"
        return text

    return zh if lang == "zh" else (lambda msgid: msgid)


@dataclass
class Journey:
    """One audience's journey in one language: who signs in how, and the checks and screenshot of every step."""

    name: str
    lang: str
    person: Callable[..., Person]

    @property
    def t(self) -> Callable[[str], str]:
        return words(self.lang)

    def sign_in(self, username: str) -> Person:
        """Signed in, then switched to the journey's language (signing in starts a new session, in Chinese)."""
        someone = self.person(username)
        if self.lang == "en":
            someone.page.click("[data-switch-language]")
            expect(someone.page.locator("html")).to_have_attribute("lang", "en")
        return someone

    def step(self, someone: Person, step: str, exclude: str = "") -> Page:
        """The page in front of `someone` reads in the journey's language only; then its screenshot is kept."""
        page = someone.page
        page.wait_for_load_state()
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if self.lang == "zh" else "en")
        texts = page.evaluate(VISIBLE_TEXT, f"{TYPED}, {exclude}" if exclude else TYPED)
        if self.lang == "zh":
            leaks = [text for text in texts if LATIN_WORD.search(KEEP_IDENTIFIERS.sub("", KEEP_LATIN.sub("", text)))]
        else:
            leaks = [text for text in texts if CHINESE.search(KEEP_UNITS.sub("", text))]
        assert leaks == [], f"{self.name}/{step} ({self.lang}) at {page.url}: {leaks}"
        someone.shot(f"{self.name}-{self.lang}-{step}")
        return page


def local_times(page: Page, scope: str, t: Callable[[str], str]) -> None:
    """Times under `scope` are Beijing time, labelled so: the shown clock is the UTC instant kept for machines + 8 h.

    The journeys' own events happened minutes ago, so the machine's instant must be near the real UTC now: a local
    time passed off as UTC (the issue's mismatch) is eight hours off.
    """
    times = page.locator(f"{scope} time[datetime]")
    expect(times.first).to_be_visible()
    for index in range(min(times.count(), 3)):
        shown = times.nth(index)
        instant = datetime.fromisoformat((shown.get_attribute("datetime") or "").replace("Z", "+00:00"))
        assert abs(datetime.now(UTC) - instant) < timedelta(hours=4), f"{instant} is no UTC instant of today"
        local = (instant + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
        assert " ".join(shown.inner_text().split()) == f"{local} {t('Beijing time')} (UTC+8)"


def unread(page: Page) -> int:
    """The header's unread count (no badge: none unread)."""
    badge = page.locator("header .inbox-link .badge")
    return int(badge.get_attribute("data-unread") or 0) if badge.count() else 0


def mail_subject(kind: str, lang: str, **params: str) -> str:
    """The first line of the notice's zh/en template (the inbox shows the mail's subject as the title)."""
    subject = (ROOT / "tasks" / "templates" / "mail" / f"{kind}.{lang}.txt").read_text(encoding="utf-8").split("\n")[0]
    for name, value in params.items():
        subject = subject.replace(f"{{{{ {name} }}}}", value)
    return subject


def notice_of(page: Page, lang: str, kind: str, **params: str) -> Locator:
    """The inbox's notice titled as the mail `kind` with `params` (the whole title: XI…01 is a prefix of XI…010)."""
    title = re.compile(re.escape(mail_subject(kind, lang, **params)) + "$")
    return page.locator("section.notice").filter(has=page.get_by_role("heading", name=title))


def told(someone: Person, lang: str, kind: str, **params: str) -> Locator:
    """The person's inbox, once it holds the notice `kind` with `params` (some are fanned out by the worker)."""
    page = someone.go("/ui/inbox/")
    notice = notice_of(page, lang, kind, **params)

    def arrived() -> bool:
        if notice.count():
            return True
        page.reload()
        return False

    wait_for(arrived, timeout=60, interval=0.5, what=f"the {kind} notice with {params}")
    expect(page.locator("h1")).to_have_text(words(lang)("Notifications"))
    return notice


def others_than(*notices: Locator) -> str:
    """The inbox's other notices, left out of a language check: the demo's hold reasons typed in both languages."""
    ids = [notice.get_attribute("data-notification") for notice in notices]
    return "section.notice" + "".join(f':not([data-notification="{id_}"])' for id_ in ids)


def reference_of(page: Page) -> str:
    return page.locator("h1 span[translate=no]").first.inner_text().strip()


def state_of(page: Page) -> str:
    classes = page.locator("h1 .state").first.get_attribute("class") or ""
    found = re.search(r"\bs-([a-z_]+)", classes)
    return found.group(1) if found else ""


def expect_state(page: Page, code: str) -> None:
    expect(page.locator("h1 .state").first).to_have_attribute("class", re.compile(rf"\bs-{code}\b"))


# -- setting the scene (other people's steps, in the default language, without screenshots) ----------------------


def draft(
    applicant: Person, line: dict[str, str], selects: dict[str, str], flags: tuple[str, ...] = (), *more: dict[str, str]
) -> Page:
    """The guided form filled and saved: the application's page, its draft not yet documented.

    `more` are further lines of the same kind (`selects`), each added in place as a person adds one.
    """
    page = applicant.go("/ui/applicant/applications/new")
    fill_goods(page, line, selects, flags)
    for index, extra in enumerate(more, start=1):
        with page.expect_response(re.compile(rf"/ui/applicant/lines/{index}$")):
            page.click("[data-add-line]")
        for name, value in extra.items():
            page.fill(f"#line-{index}-{name}", value)
        for name, value in selects.items():
            page.select_option(f"#line-{index}-{name}", value)
    page.click("main form button:not([data-add-line])")
    page.wait_for_url(re.compile(r"/ui/applications/\d+$"))
    return page


def attach_missing(page: Page) -> None:
    """Each required document the page marks missing (its chip), attached as a small PDF named for its type."""
    missing = page.locator("span.state.s-correction_requested[data-doc]")
    for doc_type in missing.evaluate_all("chips => chips.map(chip => chip.dataset.doc)"):
        page.select_option("#doc_type", doc_type)
        page.set_input_files("#file", {"name": f"{doc_type}.pdf", "mimeType": "application/pdf", "buffer": PDF})
        page.click("form[enctype] button[type=submit]")
        expect(page.locator(f'span.state.s-granted[data-doc="{doc_type}"]')).to_have_count(1)


def submitted(
    person: Callable[..., Person],
    line: dict[str, str],
    selects: dict[str, str],
    flags: tuple[str, ...] = (),
    more: tuple[dict[str, str], ...] = (),
) -> str:
    """An application filed and submitted by the demo applicant, screened by the worker: its page's path."""
    applicant = person("xiamen.applicant")
    page = draft(applicant, line, selects, flags, *more)
    attach_missing(page)
    act(page, "submit")
    wait_screened(page)
    return page.url.removeprefix(applicant.site.url)


def moved(person: Callable[..., Person], path: str, *steps: tuple[str, str]) -> None:
    """Each (officer, trigger) in turn, on the application's page."""
    for username, trigger in steps:
        act(person(username).go(path), trigger, **({"reason": "资料齐全"} if trigger == "grant" else {}))


def certificate_path(page: Page) -> str:
    return page.locator("dd a[href*='/ui/certificates/']").get_attribute("href") or ""


def pdf_offered(someone: Person) -> Page:
    """The certificate's page once the documents worker has rendered its PDF (reloaded with a deadline)."""
    page = someone.page

    def rendered() -> bool:
        page.reload()
        return page.locator("[data-download=certificate-pdf]").count() > 0

    wait_for(rendered, timeout=60, interval=0.5, what="the certificate PDF to be rendered")
    return page


def downloaded(page: Page, link: str) -> tuple[Download, bytes]:
    with page.expect_download() as info:
        page.click(link)
    download = info.value
    return download, Path(download.path()).read_bytes()


# -- the journeys ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_applicant_files_submits_and_gets_the_certificate(person, lang: str) -> None:
    journey = Journey("applicant", lang, person)
    t = journey.t
    applicant = journey.sign_in("xiamen.applicant")

    # A refused draft comes back with what was typed and the message under the quantity.
    page = applicant.go("/ui/applicant/applications/new")
    fill_goods(page, {**CYTOKINE, "quantity": "-5"}, {"category": "biological_product", "protein_purity": "purified"})
    page.click("main form button:not([data-add-line])")
    expect(page.locator("#line-0-quantity-error")).to_be_visible()
    expect(page.locator("#line-0-quantity")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#line-0-name_zh")).to_have_value(CYTOKINE["name_zh"])
    expect(page.locator("#line-0-quantity")).to_have_value("-5")
    journey.step(applicant, "refused-draft")

    page.fill("#line-0-quantity", "60")
    page.click("main form button:not([data-add-line])")
    page.wait_for_url(re.compile(r"/ui/applications/\d+$"))
    expect_state(page, "draft")
    expect(page.locator("h1 .state")).to_have_text(t("Draft"))
    path = page.url.removeprefix(applicant.site.url)
    reference = reference_of(page)

    # Submit is offered only once the required documents are there; until then the page says what is missing.
    expect(page.locator("#submit-waits")).to_be_visible()
    expect(page.locator('form[data-action="submit"]')).to_have_count(0)

    # The draft's goods are edited in place.
    page.click("#edit-goods")
    page.wait_for_url(re.compile(r"/edit$"))
    expect(page.locator("#line-0-quantity")).to_have_value("60")
    page.fill("#line-0-quantity", "50")
    journey.step(applicant, "edit-goods")
    page.click("main form button[type=submit]:not([data-add-line])")
    page.wait_for_url(re.compile(rf"{re.escape(path)}$"))
    expect(page.locator('#goods tr[data-line="1"] td.num')).to_have_text("50")

    # The application form under a Chinese file name keeps it; the other required documents follow.
    page.select_option("#doc_type", "application_form")
    page.set_input_files("#file", {"name": CHINESE_FILE, "mimeType": "application/pdf", "buffer": PDF})
    page.click("form[enctype] button[type=submit]")
    expect(page.locator("#documents")).to_contain_text(CHINESE_FILE)
    expect(page.locator("#documents")).to_contain_text(t("Application form"))  # the type in words, not its code
    attach_missing(page)
    expect(page.locator("#submit-waits")).to_have_count(0)
    journey.step(applicant, "documents")

    act(page, "submit")
    expect_state(page, "submitted")
    wait_screened(page)
    expect(page.locator("#screening")).to_contain_text(t("Risk grade"))
    journey.step(applicant, "submitted")
    before = unread(page)

    moved(person, path, ("xiamen.acceptor", "accept"), ("xiamen.reviewer", "start_review"), ("xiamen.decider", "grant"))
    page = applicant.go(path)
    expect_state(page, "granted")
    expect(page.locator("h1 .state")).to_have_text(t("Granted"))
    local_times(page, ".timeline", t)
    assert unread(page) >= before + 2  # accepted, granted
    journey.step(applicant, "granted")

    # The inbox tells of the grant, in the reader's language and local time; reading it lowers the header's count.
    granted = told(applicant, lang, "application_granted", reference=reference)
    page = applicant.page
    accepted = notice_of(page, lang, "application_accepted", reference=reference)
    expect(accepted).to_have_count(1)
    expect(granted).to_have_class(re.compile(r"\bunread\b"))
    local_times(page, "section.notice.unread", t)
    journey.step(applicant, "inbox", exclude=others_than(granted, accepted))
    count = unread(page)
    granted.locator("form button[type=submit]").click()
    expect(granted).not_to_have_class(re.compile(r"\bunread\b"))
    assert unread(page) == count - 1

    # The kept file name comes back as it was uploaded (RFC 5987 `filename*`).
    page = applicant.go(path)
    document, content = downloaded(page, f"#documents a:has-text('{CHINESE_FILE}')")
    assert document.suggested_filename == CHINESE_FILE
    assert content == PDF

    # The certificate: its PDF downloads, with the verification link beside it.
    applicant.go(certificate_path(page))
    page = pdf_offered(applicant)
    expect(page.locator("[data-download=certificate-pdf]")).to_have_text(t("Download the certificate PDF"))
    expect(page.locator("[data-verify-link]")).to_have_text(t("Verify this certificate"))
    journey.step(applicant, "certificate")
    certificate_no = page.locator("h1 span[translate=no]").first.inner_text().strip()
    pdf, content = downloaded(page, "[data-download=certificate-pdf]")
    assert content.startswith(b"%PDF-")
    assert pdf.suggested_filename.endswith(".pdf") and certificate_no in pdf.suggested_filename

    # Its verification link opens a page for people (not JSON) that finds the signature good.
    page.click("[data-verify-link]")
    page.wait_for_url(re.compile(r"/verify\?payload="))
    expect(page.locator("section.verdict h2")).to_contain_text("✔")
    expect(page.locator("section.verdict table").first).to_contain_text(certificate_no)
    applicant.shot(f"applicant-{lang}-verified")  # the public page is bilingual by design: no language check here

    # A port officer writes off against it: the applicant sees the declaration among its own.
    declaration_no = f"E2EA{certificate_no[-8:]}{lang.upper()}"
    declare(person("xiamen.port_officer"), certificate_no, declaration_no, "10")
    page = applicant.go("/ui/applicant/declarations")
    row = page.locator("#declarations tbody tr").filter(has_text=declaration_no)
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_text(t("Released"))
    journey.step(applicant, "declarations")


def declare(port: Person, certificate_no: str, declaration_no: str, qty: str) -> Page:
    """One line declared at the desk and released (a drawn inspection passes): the declaration's page."""
    page = port.go(f"/ui/port/?number={certificate_no}")
    page.fill("#declaration_no", declaration_no)
    page.fill("#qty", qty)
    page.click(DECLARE)
    page.wait_for_url(re.compile(r"/ui/declarations/\d+$"))
    if page.locator('form[data-action="inspection"]').count():  # drawn for inspection (E1): the check passes
        page.select_option("#outcome", "pass")
        page.click('form[data-action="inspection"] button[type=submit]')
        page.wait_for_load_state()
    expect_state(page, "released")
    return page


@pytest.mark.parametrize("lang", LANGUAGES)
def test_officers_work_the_queue_and_a_refused_action_keeps_the_form(person, lang: str) -> None:
    journey = Journey("officers", lang, person)
    t = journey.t
    path = submitted(person, {**CYTOKINE, "quantity": "20"}, {"category": "biological_product"})

    # New work reaches the queue and the acceptor is told of it.
    acceptor = journey.sign_in("xiamen.acceptor")
    page = acceptor.go("/ui/review/queue")
    expect(page.locator("h1")).to_have_text(t("Review queue"))
    row = page.locator("#queue tbody tr").filter(has=page.locator(f'a[href="{path}"]'))
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_text(t("Submitted"))
    reference = row.locator("a").first.inner_text().strip()
    journey.step(acceptor, "acceptor-queue")
    told(acceptor, lang, "work_to_accept", reference=reference)
    assert unread(acceptor.page) >= 1
    journey.step(acceptor, "acceptor-inbox")
    page = acceptor.go(path)
    act(page, "claim")
    expect(page.locator("#claim")).to_contain_text(t("Give back"))
    journey.step(acceptor, "acceptor-claimed")
    act(page, "accept")
    expect(page.locator("h1 .state")).to_have_text(t("Accepted"))

    # The acceptor's claim ended with the stage: the reviewer finds the file free to claim.
    reviewer = journey.sign_in("xiamen.reviewer")
    told(reviewer, lang, "work_to_review", reference=reference)
    page = reviewer.go(path)
    expect(page.locator('#claim form[data-action="claim"] button')).to_have_text(t("Claim"))
    act(page, "claim")
    act(page, "start_review")
    expect(page.locator("h1 .state")).to_have_text(t("Under review"))
    # An opinion without reasons is refused at the reason field; the recommendation chosen stays chosen.
    form = page.locator('form[data-action="review_opinion"]')
    form.locator('[name="recommendation"]').select_option("deny")
    form.locator('[name="reason"]').fill("  ")  # blank, past the browser's own `required` check
    form.locator("button[type=submit]").click()
    refused = page.locator("form#refused")
    expect(refused).to_have_attribute("data-action", "review_opinion")
    expect(refused.locator(".field.invalid .error")).to_be_visible()
    expect(refused.locator('[name="recommendation"]')).to_have_value("deny")
    journey.step(reviewer, "reviewer-refused")
    form.locator('[name="recommendation"]').select_option("grant")
    form.locator('[name="reason"]').fill("资料齐全，建议准予")
    form.locator("button[type=submit]").click()
    expect(page.locator("#review-opinion")).to_contain_text("资料齐全，建议准予")
    expect(page.locator("#review-opinion")).to_contain_text(t("Recommendation"))
    local_times(page, "#review-opinion", t)
    journey.step(reviewer, "reviewer-opinion")

    # A denial without its reasons (R25) is refused at the reason field; the box ticked stays ticked.
    decider = journey.sign_in("xiamen.decider")
    told(decider, lang, "work_to_decide", reference=reference)
    page = decider.go(path)
    expect(page.locator("#review-opinion")).to_contain_text("资料齐全，建议准予")
    form = page.locator('form[data-action="deny"]')
    form.locator('[name="false_information"]').check()
    form.locator('[name="reason"]').fill("   ")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    refused = page.locator("form#refused")
    expect(refused).to_have_attribute("data-action", "deny")
    expect(refused.locator(".field.invalid .error")).to_be_visible()
    expect(refused.locator('[name="false_information"]')).to_be_checked()
    expect_state(page, "under_review")  # nothing was decided
    journey.step(decider, "decider-refused")

    act(page, "grant", reason="资料齐全，准予许可")
    expect(page.locator("h1 .state")).to_have_text(t("Granted"))
    journey.step(decider, "decider-granted")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_expert_gives_an_opinion_on_a_grade_a_file(person, lang: str) -> None:
    journey = Journey("expert", lang, person)
    t = journey.t
    # Goods of their own: a second panel for the same goods would reuse the first one's assessment (R63).
    plasma = {
        **PLASMA,
        "name_zh": f"人血清（{'中文' if lang == 'zh' else '英文'}旅程）",
        "name_en": f"Human serum {lang}",
    }
    lab = {"lab_id": "厦门 P2 实验室 (BSL-2)"}  # R62: the demo's verified BSL-2 lab (config/demo_labs.py)
    path = submitted(person, plasma, {"category": "blood", **lab}, ("may_contain_unknown_agent",))
    moved(person, path, ("xiamen.acceptor", "accept"), ("xiamen.reviewer", "start_review"))

    # Grade A may not be granted before its risk assessment (R32): the reason typed stays in the refused form.
    decider = journey.sign_in("xiamen.decider")
    page = decider.go(path)
    reference = reference_of(page)
    form = page.locator('form[data-action="grant"]')
    form.locator('[name="reason"]').fill("资料齐全，准予许可")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    refused = page.locator("form#refused")
    expect(refused).to_have_attribute("data-action", "grant")
    expect(refused.locator("[role=alert]")).to_contain_text("R32")
    expect(refused.locator('[name="reason"]')).to_have_value("资料齐全，准予许可")
    journey.step(decider, "decider-refused")

    reviewer = person("xiamen.reviewer")
    act(reviewer.go(path), "refer_assessment", reason="A 级须风险评估")
    opinions = 0
    for username in EXPERTS:
        expert = journey.sign_in(username)
        page = expert.go("/ui/expert/")
        seat = page.locator("section.card").filter(has=page.locator(f'a[href="{path}"]'))
        if seat.locator("form").count() == 0:
            continue
        expect(page.locator("h1")).to_have_text(t("My assessments"))
        expect(seat.locator("form button[type=submit]")).to_have_text(t("Submit opinion"))
        if opinions == 0:
            journey.step(expert, "desk")
            told(expert, lang, "assessment_assigned", reference=reference)  # the panel seat, in the expert's language
            local_times(expert.page, "section.notice", t)
            journey.step(expert, "inbox")
            page = expert.go("/ui/expert/")
        seat.locator('[name="reason"]').fill("生物安全措施充分")
        seat.locator("button[type=submit]").click()
        page.wait_for_load_state()
        expect(seat).to_contain_text(t("Your opinion"))
        if opinions == 0:
            journey.step(expert, "opinion")
        opinions += 1
        if state_of(reviewer.go(path)) == "under_review":  # the panel has its quorum
            break
    assert opinions >= 1

    page = decider.go(path)
    expect_state(page, "under_review")
    given = page.locator("#panel-opinions tbody tr").filter(has_text="生物安全措施充分")
    expect(given).to_have_count(opinions)
    expect(given.first).to_contain_text(t("Pass"))
    journey.step(decider, "decider-opinions")
    act(page, "grant", reason="专家评估通过")
    expect(page.locator("h1 .state")).to_have_text(t("Granted"))
    journey.step(decider, "decider-granted")


IL2 = {**CYTOKINE, "name_zh": "重组人白细胞介素-2", "name_en": "Recombinant human IL-2"}


def granted_certificate(person: Callable[..., Person], quantity: str, *more: dict[str, str]) -> str:
    """A fresh grade C certificate (the journeys write off against their own, never the demo's): its number."""
    path = submitted(person, {**CYTOKINE, "quantity": quantity}, {"category": "biological_product"}, (), more)
    moved(person, path, ("xiamen.acceptor", "accept"), ("xiamen.reviewer", "start_review"), ("xiamen.decider", "grant"))
    page = person("xiamen.decider").go(path)
    return page.locator("dd a[href*='/ui/certificates/']").inner_text().strip()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_port_officer_declares_against_the_remaining_quantity(person, lang: str) -> None:
    journey = Journey("port", lang, person)
    t = journey.t
    certificate_no = granted_certificate(person, "100", {**IL2, "quantity": "40"})

    port = journey.sign_in("xiamen.port_officer")
    # The desk lists the active certificates; a search by number finds this one.
    page = port.go("/ui/port/")
    expect(page.locator("h1")).to_have_text(t("Port desk"))
    expect(page.locator("#active-certificates h2")).to_have_text(t("Active certificates"))
    page.fill("#q", certificate_no)
    page.click("#active-certificates button[type=submit]")
    listed = page.locator("#active-certificates tbody tr")
    expect(listed).to_have_count(1)
    expect(listed.locator("a")).to_have_text(certificate_no)
    journey.step(port, "desk")
    listed.locator("a").click()
    page.wait_for_url(re.compile(r"/ui/port/certificates/\d+$"))
    expect(page.locator('#remaining tr[data-line="1"] td.remaining')).to_have_text("100")
    journey.step(port, "certificate")

    # A quantity that is no quantity is refused at its field; the declaration number typed stays.
    declaration_no = f"E2E{certificate_no[-8:]}{lang.upper()}"
    page.fill("#declaration_no", declaration_no)
    page.fill("#qty", "0")
    page.click(DECLARE)
    expect(page.locator("#qty")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#qty-error")).to_be_visible()
    expect(page.locator("#declaration_no")).to_have_value(declaration_no)
    expect(page.locator('#remaining tr[data-line="1"] td.remaining')).to_have_text("100")  # nothing reserved
    journey.step(port, "refused-quantity")

    # One declaration of two lines: a line is added in place, what was typed stays.
    page.fill("#qty", "30")
    page.click("#declare button[name=add_line]")
    second = page.locator('#declare fieldset.declare-line[data-line="2"]')
    expect(second).to_have_count(1)
    expect(page.locator("#qty")).to_have_value("30")
    expect(page.locator("#declaration_no")).to_have_value(declaration_no)
    second.locator("select").select_option("2")
    second.locator("input").fill("15")
    journey.step(port, "two-lines")
    page.click(DECLARE)
    page.wait_for_url(re.compile(r"/ui/declarations/\d+$"))
    if page.locator('form[data-action="inspection"]').count():  # drawn for inspection (E1): the check passes
        page.select_option("#outcome", "pass")
        page.click('form[data-action="inspection"] button[type=submit]')
        page.wait_for_load_state()
    expect(page.locator("h1 .state")).to_have_text(t("Released"))
    expect(page.locator('#remaining tr[data-line="1"] td.remaining')).to_have_text("70")
    expect(page.locator('#remaining tr[data-line="2"] td.remaining')).to_have_text("25")
    local_times(page, "table.history", t)
    journey.step(port, "released")

    # More than remains is no release (D2, W5): the declaration waits for the officer, nothing is written off.
    page = port.go(f"/ui/port/?number={certificate_no}")
    page.fill("#declaration_no", f"{declaration_no}X")
    page.fill("#qty", "1000")
    page.click(DECLARE)
    page.wait_for_url(re.compile(r"/ui/declarations/\d+$"))
    expect(page.locator("h1 .state")).to_have_text(t("Held at the port"))
    expect(page.locator('#remaining tr[data-line="1"] td.remaining')).to_have_text("70")
    journey.step(port, "held-over-quota")
    applicant = journey.sign_in("xiamen.applicant")  # the holder is told, in its language
    held = told(applicant, lang, "declaration_held", declaration_no=f"{declaration_no}X")
    local_times(applicant.page, "section.notice", t)
    journey.step(applicant, "applicant-told-held", exclude=others_than(held))

    # The officer's decision on it: a split without its reason is refused at the field, the disposal chosen kept;
    # then the whole consignment is rejected, and it leaves the desk's waiting list.
    split = page.locator('form[data-action="split"]')
    split.locator("#disposal-s").select_option("destroy")
    split.locator("button[type=submit]").click()
    refused = page.locator("form#refused")
    expect(refused).to_have_attribute("data-action", "split")
    expect(refused.locator("#reason-s")).to_have_attribute("aria-invalid", "true")
    expect(refused.locator("#reason-s-error")).to_be_visible()
    expect(refused.locator("#disposal-s")).to_have_value("destroy")
    journey.step(port, "refused-split")
    reject = page.locator('form[data-action="reject"]')
    reject.locator("#reason-r").fill("超出余量，整批退运")
    reject.locator("button[type=submit]").click()
    expect(page.locator("h1 .state")).to_have_text(t("Rejected"))
    expect(page.locator('#remaining tr[data-line="1"] td.remaining')).to_have_text("70")
    page = port.go("/ui/port/")
    expect(page.locator("main table").first).not_to_contain_text(f"{declaration_no}X")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_auditor_reads_the_trail_checks_the_ledger_and_exports(person, lang: str) -> None:
    journey = Journey("auditor", lang, person)
    t = journey.t
    certificate_no = granted_certificate(person, "40")  # decided today, and written off once below
    declaration_no = f"E2EU{certificate_no[-8:]}{lang.upper()}"
    declaration = declare(person("xiamen.port_officer"), certificate_no, declaration_no, "15").url
    auditor = journey.sign_in("xiamen.auditor")

    # The dashboard counts by the district's local dates: this month holds today's decisions (it used to show 0).
    page = auditor.go("/ui/audit/")
    expect(page.locator("h1")).to_have_text(t("Dashboard"))
    expect(page.locator("#period-choice")).to_have_value("this_month")
    expect(page.locator("#decided")).to_contain_text(t("Decisions in the period"))
    assert int(page.locator("#decided span[translate=no]").first.inner_text()) >= 1
    journey.step(auditor, "dashboard")

    # A custom period without its start is refused at that field; the end typed stays.
    page.select_option("#period-choice", "custom")
    page.fill("#until", "2026-01-31")
    page.click("#period button[type=submit]")
    expect(page.locator("#since")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#since-error")).to_have_text(t("Write the date as YYYY-MM-DD."))
    expect(page.locator("#until")).to_have_value("2026-01-31")
    expect(page.locator("#period-choice")).to_have_value("custom")
    journey.step(auditor, "dashboard-refused-period")

    # The write-off in local time, and the same row in the CSV: BOM, words in the reader's language, the unit kept.
    page = auditor.go(f"/ui/audit/write-offs?certificate_no={certificate_no}")
    expect(page.locator("h1")).to_have_text(t("Write-off history"))
    commits = page.locator('table.history tr[data-kind="commit"]')
    expect(commits).to_have_count(1)
    expect(commits.locator("td.remaining")).to_have_text("25")
    local_times(page, "table.history", t)
    journey.step(auditor, "write-offs")
    shown_at = " ".join(commits.locator("time").inner_text().split()[:2])

    export, content = downloaded(page, "main a[download]")
    assert export.suggested_filename.endswith(".csv")
    assert content.startswith(BOM)  # without it Excel garbles 支 and 瓶
    rows = list(csv.reader(io.StringIO(content[len(BOM) :].decode("utf-8"))))
    time_header = t("Time (%(zone)s)") % {"zone": t("Beijing time")}  # local times, the zone named
    assert rows[0][:3] == [t("Entry no."), time_header, t("Certificate number")]
    written_off = [row for row in rows[1:] if row[4] == t("Written off")]
    assert len(written_off) == 1 and written_off[0][1] == shown_at and written_off[0][2] == certificate_no
    assert written_off[0][6] == CYTOKINE["unit"]  # 支 survives the trip

    # The declaration's trail in local time, its JSON export (UTC for machines), and the chain verified.
    page = auditor.go(f"/ui/audit/trail?object_type=declaration&object_id={declaration.rsplit('/', 1)[-1]}")
    expect(page.locator("h1")).to_have_text(t("Audit trail"))
    local_times(page, ".timeline", t)
    journey.step(auditor, "trail")
    trail, content = downloaded(page, f"#audit-tools button:has-text('{t('Export this trail (JSON)')}')")
    assert trail.suggested_filename.endswith(".json")
    events = json.loads(content)["events"]
    assert events and all(event["at"].endswith("Z") for event in events)  # machines get UTC

    page.click(f"#audit-tools button:has-text('{t('Verify the audit chain')}')")
    expect(page.locator("#chain-verdict")).to_have_attribute("data-ok", "yes")
    expect(page.locator("#chain-verdict")).to_have_text(t("The audit trail is intact."))
    journey.step(auditor, "chain-verified")

    page = auditor.go(f"/ui/audit/ledger-check?certificate_no={certificate_no}")
    expect(page.locator("#ledger-verdict")).to_have_text(t("No violations: every balance matches its ledger."))
    journey.step(auditor, "ledger-check")
    pack, content = downloaded(page, "#evidence-pack button[type=submit]")
    assert pack.suggested_filename == f"{certificate_no}.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as evidence:
        assert evidence.testzip() is None and evidence.namelist()
