"""Demo data: the four Fujian districts' enterprises, one user per role, and sample applications in every stage.

Everything goes through the message bus, so the demo's applications carry real audit trails. Loading twice changes
nothing: enterprises and users are keyed by code and name, and sample applications are made only once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from config.bootstrap import Container
from config.demo_certificate_changes import amend_a_certificate, replace_a_certificate
from config.demo_credit import record_demo_credit
from config.demo_labs import P2, TEACHING, mismatched_strain, naming, register_demo_labs
from workflow.domain import commands as c
from workflow.domain import rules
from workflow.domain.actors import Actor, Role
from workflow.domain.goods import Direction, Exclusion, GoodsCategory, GoodsLine, ProteinPurity
from workflow.domain.policy import CreditRegime, CreditTier
from workflow.domain.uscc import check_digit
from workflow.store.directory import create_user, ensure_credit, ensure_enterprise, find_user
from workflow.store.enterprise_admin import make_admin
from workflow.store.tables import ApplicationRow

DEMO_PASSWORD = "demo-password"
DEMO_MAIL_DOMAIN = "specgoods.example"  # RFC 2606: a domain that never receives mail
DISTRICTS = ("xiamen", "fuzhou", "quanzhou", "pingtan")
PANEL_EXPERTS = 5
CUSTOMS_ROLES = (
    Role.ACCEPTOR,
    Role.REVIEWER,
    Role.DECIDER,
    Role.HEAD,
    Role.EXPERT,
    Role.PORT_OFFICER,
    Role.DEST_OFFICER,
    Role.AUDITOR,
)


@dataclass(frozen=True)
class DemoEnterprise:
    district: str
    name: str
    name_en: str
    uscc_body: str
    tier: CreditTier

    @property
    def uscc(self) -> str:
        return self.uscc_body + check_digit(self.uscc_body)


ENTERPRISES = (
    DemoEnterprise(
        "xiamen",
        "厦门海沧生物科技有限公司",
        "Xiamen Haicang Biotech Co., Ltd.",
        "91350205MA2Y8K3N0",
        CreditTier.ADVANCED_CERTIFIED,
    ),
    DemoEnterprise(
        "fuzhou",
        "福州闽江医学检验实验室有限公司",
        "Fuzhou Minjiang Medical Laboratory Co., Ltd.",
        "91350100MA31P7QX2",
        CreditTier.REGULAR,
    ),
    DemoEnterprise(
        "quanzhou",
        "泉州刺桐临床研究有限公司",
        "Quanzhou Citong Clinical Research Co., Ltd.",
        "91350500MA33C5LD4",
        CreditTier.DISCREDITED,
    ),
    DemoEnterprise(
        "pingtan",
        "平潭海峡细胞资源库有限公司",
        "Pingtan Strait Cell Bank Co., Ltd.",
        "91350128MA34H2RW6",
        CreditTier.CERTIFIED,
    ),
)

PDF_PLACEHOLDER = b"%PDF-1.4\n% specgoods demo attachment\n%%EOF\n"


def cytokine() -> GoodsLine:
    """FX10: purified recombinant human IL-6, grade C."""
    return GoodsLine(
        name_zh="重组人白细胞介素-6",
        name_en="Recombinant human IL-6",
        category=GoodsCategory.BIOLOGICAL_PRODUCT,
        quantity=Decimal(100),
        unit="支",
        specification="10 µg/支",
        manufacturer="PeproTech",
        origin_country="US",
        intended_use="科研",
        user_lab="厦门海沧生物科技有限公司 P2 实验室",
        protein_purity=ProteinPurity.PURIFIED,
    )


def ecoli_o157() -> GoodsLine:
    """FX04: enterohaemorrhagic E. coli O157:H7, class 3, grade B."""
    return GoodsLine(
        name_zh="肠出血性大肠杆菌O157:H7菌株",
        name_en="E. coli O157:H7 strain",
        category=GoodsCategory.MICROORGANISM,
        quantity=Decimal(10),
        unit="株",
        pathogen_class=3,
        manufacturer="ATCC",
        origin_country="US",
        intended_use="检测方法研究",
        user_lab="P2 实验室",
        bsl_level=2,
    )


def plasma() -> GoodsLine:
    """FX02: human plasma for assay development, entry, grade A."""
    return GoodsLine(
        name_zh="人血浆",
        name_en="Human plasma",
        category=GoodsCategory.BLOOD,
        quantity=Decimal(200),
        unit="管",
        manufacturer="BioIVT",
        origin_country="US",
        intended_use="试剂开发",
        user_lab="P2 实验室",
        may_contain_unknown_agent=True,
    )


def hek293() -> GoodsLine:
    """FX09: HEK293 from ATCC, grade C."""
    return GoodsLine(
        name_zh="HEK293细胞系",
        name_en="HEK293 cell line",
        category=GoodsCategory.HUMAN_TISSUE,
        quantity=Decimal(5),
        unit="支",
        manufacturer="ATCC",
        origin_country="US",
        intended_use="科研",
        user_lab="细胞库",
        is_commercial_cell_line=True,
    )


def competent_cells() -> GoodsLine:
    """FX05: E. coli DH5α competent cells, not special goods (R4)."""
    return GoodsLine(
        name_zh="DH5α感受态细胞",
        name_en="E. coli DH5α competent cells",
        category=None,
        quantity=Decimal(20),
        unit="支",
        manufacturer="TaKaRa",
        origin_country="JP",
        exclusion=Exclusion.NON_PATHOGENIC_MEDICAL_MICROBE,
    )


def load_demo(container: Container) -> Iterator[str]:
    """Yield one line per thing done, for the CLI to print."""
    with container.sessions() as session, session.begin():
        yield from _directory(container, session)
    if _already_loaded(container):
        yield "sample applications already loaded"
    else:
        yield from _sample_applications(container)
    yield from record_demo_credit(container, _actor)  # R68–R74: a violation case and a downgrade (docs/credit.md)
    yield f"demo users' password: {DEMO_PASSWORD} (e.g. xiamen.applicant, xiamen.acceptor, xiamen.reviewer, ...)"


def _directory(container: Container, session: Session) -> Iterator[str]:
    now = container.deps.clock.now()
    password = generate_password_hash(DEMO_PASSWORD)
    for demo in ENTERPRISES:
        row = ensure_enterprise(
            session, name=demo.name, name_en=demo.name_en, uscc=demo.uscc, district=demo.district, now=now
        )
        ensure_credit(
            session,
            enterprise_id=row.id,
            tier=demo.tier.value,
            regime=CreditRegime.ORDER_282.value,
            effective_from=date(2026, 4, 1),
        )
        ensure_credit(
            session,
            enterprise_id=row.id,
            tier=CreditTier.GENERAL.value,
            regime=CreditRegime.ORDER_251.value,
            effective_from=date(2021, 11, 1),
            effective_to=date(2026, 3, 31),
        )
        yield from _ensure_user(
            session, f"{demo.district}.applicant", Role.APPLICANT, password, now, enterprise_id=row.id
        )
        if make_admin(session, f"{demo.district}.applicant"):  # the enterprise's admin keeps its profile and users
            yield f"user {demo.district}.applicant is the admin of {demo.name_en}"
        for role in CUSTOMS_ROLES:
            yield from _ensure_user(
                session, f"{demo.district}.{role.value}", role, password, now, district=demo.district
            )
        for n in range(2, PANEL_EXPERTS + 1):  # R61: enough experts for a panel of five
            yield from _ensure_user(
                session, f"{demo.district}.expert{n}", Role.EXPERT, password, now, district=demo.district
            )
    yield from _ensure_user(session, "admin", Role.ADMIN, password, now)


def _ensure_user(
    session: Session,
    username: str,
    role: Role,
    password: str,
    now: datetime,
    enterprise_id: int | None = None,
    district: str | None = None,
) -> Iterator[str]:
    if find_user(session, username) is None:
        user = create_user(
            session,
            username=username,
            role=role,
            password_hash=password,
            now=now,
            enterprise_id=enterprise_id,
            district=district,
        )
        user.email = f"{username}@{DEMO_MAIL_DOMAIN}"  # so the demo's notifications are written as .eml files too
        yield f"user {username} ({role.value})"


def _already_loaded(container: Container) -> bool:
    with container.sessions() as session:
        return bool(session.scalar(select(func.count()).select_from(ApplicationRow)))


def _actor(container: Container, username: str) -> Actor:
    with container.sessions() as session:
        account = find_user(session, username)
    assert account is not None
    return account.actor


def _sample_applications(container: Container) -> Iterator[str]:
    labs = yield from register_demo_labs(container, _actor, DISTRICTS)  # R9(b), R14, R62 (config/demo_labs.py)
    flows = [
        ("xiamen", [cytokine()], "granted"),
        ("xiamen", [cytokine()], "submitted"),
        ("xiamen", [naming(ecoli_o157(), labs["xiamen"][P2])], "risk_assessment"),
        ("xiamen", [naming(plasma(), labs["xiamen"][P2])], "submitted"),
        ("xiamen", [hek293()], "draft"),
        ("xiamen", [competent_cells()], "not_accepted"),
        ("fuzhou", [hek293()], "under_review"),
        ("quanzhou", [cytokine()], "correction_requested"),
        ("pingtan", [hek293(), cytokine()], "accepted"),
        ("xiamen", [mismatched_strain(labs["xiamen"][TEACHING])], "under_review"),  # R62 refuses its grant
    ]
    for district, lines, target in flows:
        application_id = _file(container, district, lines)
        _advance(container, district, application_id, target)
        yield f"application {application_id} ({district}, {lines[0].name_zh}) -> {target}"
    yield from amend_a_certificate(container, _actor)  # R43: config/demo_certificate_changes.py
    yield from replace_a_certificate(container, _actor, partial(_granted, container, "fuzhou", [cytokine()]))


def _granted(container: Container, district: str, lines: list[GoodsLine]) -> int:
    application_id = _file(container, district, lines)
    _advance(container, district, application_id, "granted")
    return application_id


def _file(container: Container, district: str, lines: list[GoodsLine]) -> int:
    applicant = _actor(container, f"{district}.applicant")
    assert applicant.enterprise_id is not None
    application_id: int = container.bus.handle(
        c.CreateApplication(applicant, applicant.enterprise_id, district, Direction.ENTRY, tuple(lines))
    )
    required = rules.required_documents(lines, Direction.ENTRY, True, False).result
    for doc_type in required:
        container.bus.handle(
            c.AttachDocument(applicant, application_id, doc_type, f"{doc_type}.pdf", "application/pdf", PDF_PLACEHOLDER)
        )
    return application_id


def _advance(container: Container, district: str, application_id: int, target: str) -> None:
    """Walk the application along its path to `target`, each step by the officer whose post it is (R11)."""
    for command in _plan(container, district, application_id)[target]:
        container.bus.handle(command)


def _plan(container: Container, district: str, application_id: int) -> dict[str, list[c.Command]]:
    officer = {role: _actor(container, f"{district}.{role.value}") for role in CUSTOMS_ROLES}
    submit = c.SubmitApplication(_actor(container, f"{district}.applicant"), application_id)
    accepted = [submit, c.AcceptApplication(officer[Role.ACCEPTOR], application_id)]
    reviewed = [*accepted, c.StartReview(officer[Role.REVIEWER], application_id)]
    return {
        "draft": [],
        "submitted": [submit],
        "correction_requested": [
            submit,
            c.RequestCorrection(
                officer[Role.ACCEPTOR],
                application_id,
                deficiencies=("用户实验室生物安全证明缺少盖章页 the biosafety proof lacks its sealed page",),
            ),
        ],
        "not_accepted": [
            submit,
            c.NotAcceptApplication(
                officer[Role.ACCEPTOR],
                application_id,
                "不属于特殊物品 not special goods: competent E. coli",
                ("R4", "R18"),
            ),
        ],
        "accepted": accepted,
        "under_review": reviewed,
        "risk_assessment": [
            *reviewed,
            c.ReferAssessment(
                officer[Role.REVIEWER], application_id, "B 级须风险评估 grade B needs a risk assessment (R32)"
            ),
        ],
        "granted": [
            *reviewed,
            c.GrantApplication(officer[Role.DECIDER], application_id, "资料齐全，准予许可 documents complete, granted"),
        ],
    }
