"""Journeys through the real server in Debian's chromium: one per role, end to end, with screenshots."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import Page, expect

from tests.conftest import wait_for
from tests.e2e.conftest import Person

PDF = b"%PDF-1.4\n% e2e attachment\n%%EOF\n"
CYTOKINE = {  # the demo enterprise already holds a certificate for exactly this product: not first-time (R60)
    "name_zh": "重组人白细胞介素-6",
    "name_en": "Recombinant human IL-6",
    "quantity": "100",
    "unit": "支",
    "specification": "10 µg/支",
    "manufacturer": "PeproTech",
    "origin_country": "US",
    "intended_use": "科研",
    "user_lab": "厦门海沧生物科技有限公司 P2 实验室",
}


def fill_goods(page: Page, line: dict[str, str], selects: dict[str, str], flags: tuple[str, ...] = ()) -> None:
    """The guided form's first goods line, direction and district (Xiamen, entry)."""
    page.select_option("#direction", "entry")
    page.select_option("#district", "xiamen")
    for name, value in line.items():
        page.fill(f"#line-0-{name}", value)
    for name, value in selects.items():
        page.select_option(f"#line-0-{name}", value)
    for name in flags:
        page.check(f"#line-0-{name}")


def file_application(
    applicant: Person, line: dict[str, str], selects: dict[str, str], flags: tuple[str, ...] = ()
) -> str:
    """The guided form, then every required document; returns the application page's path."""
    page = applicant.go("/ui/applicant/applications/new")
    fill_goods(page, line, selects, flags)
    page.click("main form button:not([data-add-line])")
    page.wait_for_url(re.compile(r"/ui/applications/\d+$"))
    attach_required(page)
    return page.url.removeprefix(applicant.site.url)


def attach_required(page: Page) -> None:
    required = [value for value in page.locator("#doc_type option").evaluate_all("os => os.map(o => o.value)")]
    attached = page.locator("#documents td:first-child").all_inner_texts()
    for doc_type in required:
        if doc_type == "other" or doc_type in attached:
            continue
        page.select_option("#doc_type", doc_type)
        page.set_input_files("#file", {"name": f"{doc_type}.pdf", "mimeType": "application/pdf", "buffer": PDF})
        page.click("form[enctype] button[type=submit]")
        expect(page.locator("#documents")).to_contain_text(doc_type)


def act(page: Page, trigger: str, **fields: str) -> None:
    form = page.locator(f'form[data-action="{trigger}"]')
    for name, value in fields.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("[role=alert]")).to_have_count(0)  # an error page, had the engine refused


def wait_screened(page: Page) -> None:
    """Screening runs on the worker: reload until its table is there (with a deadline, never a bare sleep)."""

    def screened() -> bool:
        page.reload()
        return page.locator("#screening").count() > 0

    wait_for(screened, timeout=60, interval=0.5, what="the worker to screen the application")


def screening_answer(page: Page, row: int) -> str:
    return page.locator("#screening tbody tr").nth(row).locator("td").first.inner_text().strip()


def test_paperless_grade_c_from_filing_to_two_write_offs_and_the_auditors_balance(person) -> None:
    applicant = person("xiamen.applicant")
    path = file_application(applicant, CYTOKINE, {"category": "biological_product", "protein_purity": "purified"})
    applicant.shot("applicant-draft")
    act(applicant.page, "submit")
    wait_screened(applicant.page)
    assert screening_answer(applicant.page, 0) == "C"  # grade
    assert screening_answer(applicant.page, 1) == "是"  # paperless: non-first-time grade C (R58)
    applicant.shot("applicant-application")

    for username, trigger in (("xiamen.acceptor", "accept"), ("xiamen.reviewer", "start_review")):
        officer = person(username)
        act(officer.go(path), trigger)
    decider = person("xiamen.decider")
    decider.go(path)
    decider.shot("decider-application")
    act(decider.page, "grant", reason="documents complete")
    expect(decider.page.locator("h1 .state")).to_have_attribute("class", re.compile("s-granted"))
    certificate_no = decider.page.locator("dd a[href*='/ui/certificates/']").inner_text().strip()

    port = person("xiamen.port_officer")
    for number, qty in ((f"E2E{certificate_no[-8:]}A", "30"), (f"E2E{certificate_no[-8:]}B", "20")):
        write_off(port, certificate_no, number, qty)
    port.shot("port-declaration")

    auditor = person("xiamen.auditor")
    page = auditor.go(f"/ui/audit/write-offs?certificate_no={certificate_no}")
    commits = page.locator('table.history tr[data-kind="commit"]')
    expect(commits).to_have_count(2)
    assert commits.first.locator("td.remaining").inner_text() == "50"  # newest first: 100 − 30 − 20
    assert commits.nth(1).locator("td.remaining").inner_text() == "70"
    auditor.shot("auditor-write-offs")


def write_off(port: Person, certificate_no: str, number: str, qty: str) -> None:
    page = port.go(f"/ui/port/?number={certificate_no}")
    before = Decimal(page.locator('#remaining tr[data-line="1"] td.remaining').inner_text())
    port.shot("port-certificate")
    page.fill("#declaration_no", number)
    page.fill("#qty", qty)
    page.click("#declare button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/declarations/\d+$"))
    if page.locator('form[data-action="inspection"]').count():  # drawn for inspection (E1): the check passes
        page.select_option("#outcome", "pass")
        page.click('form[data-action="inspection"] button[type=submit]')
        page.wait_for_load_state()
    expect(page.locator("h1 .state")).to_have_attribute("class", re.compile("s-released"))
    after = Decimal(page.locator('#remaining tr[data-line="1"] td.remaining').inner_text())
    assert after == before - Decimal(qty)


def test_a_correction_round_trip(person) -> None:
    applicant = person("xiamen.applicant")
    line = {**CYTOKINE, "quantity": "40"}
    path = file_application(applicant, line, {"category": "biological_product", "protein_purity": "purified"})
    act(applicant.page, "submit")

    acceptor = person("xiamen.acceptor")
    page = acceptor.go(path)
    act(page, "request_correction", deficiencies="缺少用户实验室盖章页\n货物描述缺少英文名称")
    expect(page.locator("h1 .state")).to_have_attribute("class", re.compile("s-correction_requested"))

    page = applicant.go(path)
    expect(page.locator("#correction-notice li")).to_have_count(2)
    applicant.shot("applicant-correction-notice")
    page.select_option("#doc_type", "other")
    page.set_input_files("#file", {"name": "seal.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.click("form[enctype] button[type=submit]")
    act(page, "resubmit")
    expect(page.locator("h1 .state")).to_have_attribute("class", re.compile("s-submitted"))

    act(acceptor.go(path), "accept")
    expect(acceptor.page.locator("h1 .state")).to_have_attribute("class", re.compile("s-accepted"))
    timeline = acceptor.page.locator(".timeline").inner_text()
    assert timeline.count("缺少用户实验室盖章页") == 1


def test_the_reviewer_queue_filters_and_shows_the_lifecycle(person) -> None:
    reviewer = person("xiamen.reviewer")
    page = reviewer.go("/ui/review/queue")
    reviewer.shot("reviewer-queue")
    page.select_option("#f-state", "submitted")
    page.wait_for_url(re.compile(r"state=submitted"))
    states = page.locator("#queue td .state").all_inner_texts()
    assert states and set(states) == {"已提交"}
    page.locator("#queue a").first.click()
    expect(page.locator("svg.lifecycle g.state.current")).to_have_attribute("data-state", "submitted")


PHONE_PAGES = {
    "xiamen.applicant": ("/ui/applicant/applications/new", "/ui/applicant/certificates", "/ui/applications/1"),
    "xiamen.reviewer": ("/ui/review/queue",),
    "xiamen.port_officer": ("/ui/port/certificates/1",),
    "xiamen.auditor": ("/ui/audit/", "/ui/audit/write-offs"),
}


def test_pages_are_usable_on_a_phone(person) -> None:
    """At 390 px the page itself never scrolls sideways: wide tables and diagrams scroll inside their own box."""
    for username, paths in PHONE_PAGES.items():
        someone = person(username, width=390)
        for path in paths:
            page = someone.go(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at 390px"
            someone.shot("phone-" + re.sub(r"[^a-z0-9]+", "-", path.removeprefix("/ui/")).strip("-"))


PLASMA = {"name_zh": "人血浆", "name_en": "Human plasma", "quantity": "200", "unit": "管", "user_lab": "P2 实验室"}
EXPERTS = ["xiamen.expert", *(f"xiamen.expert{n}" for n in range(2, 6))]


def test_a_grade_a_application_goes_through_the_expert_panel(person) -> None:
    applicant = person("xiamen.applicant")
    lab = {"lab_id": "厦门 P2 实验室 (BSL-2)"}  # R62: the demo's verified BSL-2 lab (config/demo_labs.py)
    path = file_application(applicant, PLASMA, {"category": "blood", **lab}, ("may_contain_unknown_agent",))
    act(applicant.page, "submit")
    wait_screened(applicant.page)
    assert screening_answer(applicant.page, 0) == "A"

    act(person("xiamen.acceptor").go(path), "accept")
    reviewer = person("xiamen.reviewer")
    act(reviewer.go(path), "start_review")
    act(reviewer.page, "refer_assessment", reason="A 级须风险评估")
    expect(reviewer.page.locator("h1 .state")).to_have_attribute("class", re.compile("s-risk_assessment"))

    opinions = 0
    for username in EXPERTS:
        expert = person(username)
        page = expert.go("/ui/expert/")
        form = page.locator(f'section:has(a[href="{path}"]) form')
        if form.count() == 0:
            continue
        if opinions == 0:
            expert.shot("expert-desk")
        form.locator('[name="reason"]').fill("生物安全措施充分")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        opinions += 1
        if "s-under_review" in (reviewer.go(path).locator("h1 .state").get_attribute("class") or ""):
            break
    assert opinions >= 1
    expect(reviewer.go(path).locator("h1 .state")).to_have_attribute("class", re.compile("s-under_review"))

    decider = person("xiamen.decider")
    act(decider.go(path), "grant", reason="专家评估通过")
    certificate = decider.page.locator("dd a[href*='/ui/certificates/']")
    certificate.click()
    expect(decider.page.locator("dl.facts").first).to_contain_text("单次有效")  # grade A: single use (R40)
    decider.shot("certificate")


def test_goods_lines_are_added_in_place_and_blank_ones_are_dropped(person) -> None:
    applicant = person("xiamen.applicant")
    page = applicant.go("/ui/applicant/applications/new")
    with page.expect_response(re.compile(r"/ui/applicant/lines/1$")):
        page.click("[data-add-line]")
    with page.expect_response(re.compile(r"/ui/applicant/lines/2$")):
        page.click("[data-add-line]")  # the button itself moved on to the next index (out-of-band swap)
    expect(page.locator("fieldset.goods-line")).to_have_count(3)
    for index, (name, qty) in enumerate((("HEK293细胞系", "5"), ("重组人IL-6", "10"))):
        page.fill(f"#line-{index}-name_zh", name)
        page.fill(f"#line-{index}-quantity", qty)
        page.fill(f"#line-{index}-unit", "支")
        page.select_option(f"#line-{index}-category", "biological_product")
    page.click("main form button:not([data-add-line])")
    page.wait_for_url(re.compile(r"/ui/applications/\d+$"))
    rows = page.locator("main table").first.locator("tbody tr")
    expect(rows).to_have_count(2)
