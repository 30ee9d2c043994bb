"""The laboratories pages and the lab check on the application's pages (R9(b), R14, R62), in Chinese by default."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.ui.conftest import Pages
from workflow.domain import commands as c
from workflow.domain.actors import SYSTEM_ACTOR
from workflow.store.tables import ApplicationLineRow, ApplicationRow, LaboratoryRow

LAB = {"name": "新建 P2 实验室", "address": "园区 5 号楼", "bsl_level": "2", "valid_from": "2016-01-01",
       "valid_until": "2018-12-31"}  # fmt: skip
CODES = re.compile(
    r"lab_not_\w+|lab_level_too_low|register_lab|verify_lab|change_lab|biosafety_(lapsed|restored)|laboratory\.\w+"
)


def _labs(pages: Pages) -> list[LaboratoryRow]:
    with pages.container.sessions() as session:
        return list(session.scalars(select(LaboratoryRow).order_by(LaboratoryRow.id)))


def _mismatched_application(pages: Pages) -> int:
    """The demo's class 4 strain sent to the BSL-1 teaching lab (config/demo_labs.py)."""
    with pages.container.sessions() as session:
        found = session.scalar(
            select(ApplicationRow.id)
            .join(ApplicationLineRow, ApplicationLineRow.application_id == ApplicationRow.id)
            .where(ApplicationLineRow.name_zh == "表皮葡萄球菌标准菌株")
        )
    assert found is not None
    return found


def test_the_admin_sees_the_labs_in_chinese_with_no_codes(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/labs")
    assert "登记实验室" in page and "厦门教学实验室" in page and "生物安全等级" in page
    assert not CODES.search(page)
    assert "Laboratory name" not in page and "Register a laboratory" not in page


def test_a_refused_lab_comes_back_to_the_form_with_the_message_at_its_field_and_the_input_kept(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    before = len(_labs(pages))
    refused = pages.post("/ui/labs", {**LAB, "accreditation_body": "中国合格评定国家认可委员会"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "认可信息须同时填写认可机构和认可证书编号。" in page  # at accreditation_no, in Chinese
    assert re.search(r'id="accreditation_no-error"', page) and 'value="新建 P2 实验室"' in page
    assert len(_labs(pages)) == before


def test_the_admin_registers_a_lab_and_the_districts_acceptor_verifies_it_from_the_page(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    registered = pages.post("/ui/labs", LAB)
    assert registered.status_code == 303, registered.get_data(as_text=True)[:2000]
    lab = _labs(pages)[-1]
    assert lab.name == LAB["name"] and lab.verified_on is None

    officer = Pages(pages.container, pages.client.application.test_client())
    officer.sign_in("xiamen.acceptor")
    assert f'data-action="verify-{lab.id}"' in officer.text("/ui/labs")
    refused = officer.post(f"/ui/labs/{lab.id}/verify", {"version": str(lab.version)})
    assert refused.status_code == 422  # no evidence document yet: the refusal is on the lab's row
    assert "请先上传证明材料" in refused.get_data(as_text=True)


def test_r62_the_screening_and_the_refused_grant_name_the_mismatch_in_chinese(pages: Pages) -> None:
    application_id = _mismatched_application(pages)
    pages.container.bus.handle(c.ScreenApplication(SYSTEM_ACTOR, application_id))  # what the worker does
    pages.sign_in("xiamen.decider")
    page = pages.text(f"/ui/applications/{application_id}")
    assert "生物安全控制能力" in page and "低于该物品所需的 BSL-2" in page
    assert "厦门教学实验室 (BSL-1)" in page  # the goods table names the registered lab
    refused = pages.post(f"/ui/applications/{application_id}/act/grant", {"reason": "资料齐全"})
    shown = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "使用实验室与物品不匹配" in shown and not CODES.search(shown)


def test_the_goods_form_offers_the_enterprises_own_labs(pages: Pages) -> None:
    pages.sign_in("xiamen.applicant")
    page = pages.text("/ui/applicant/precheck")
    assert "生物安全控制能力" not in page  # asked only once goods are entered
    assert 'name="line-0-lab_id"' in page and "厦门 P3 实验室 (BSL-3)" in page and "福州 P2 实验室" not in page


def test_r62_the_precheck_page_judges_the_applicants_own_lab_in_chinese(pages: Pages) -> None:
    teaching = next(lab for lab in _labs(pages) if lab.name == "厦门教学实验室")
    pages.sign_in("xiamen.applicant")
    strain = {"line_count": "1", "line-0-name_zh": "表皮葡萄球菌", "line-0-quantity": "2", "line-0-unit": "株",
              "line-0-category": "microorganism", "line-0-pathogen_class": "4"}  # fmt: skip
    strain["line-0-lab_id"] = str(teaching.id)
    response = pages.post("/ui/applicant/precheck", {"direction": "entry", "district": "xiamen", **strain})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "生物安全控制能力" in page and f"实验室 #{teaching.id}（厦门教学实验室）低于该物品所需的 BSL-2" in page
    assert not CODES.search(page)
