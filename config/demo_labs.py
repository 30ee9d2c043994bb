"""Demo data of the biosafety capability (R9(b), R14, R62): each demo enterprise's labs, verified by its district.

Through the message bus, like the rest of the demo: the enterprise's admin registers each lab with its evidence and
an acceptor of the district verifies it, so every lab carries its audit trail. The Xiamen enterprise also keeps a
BSL-1 teaching lab, which the demo's mismatched application names (a class 4 strain needs BSL-2 under the profile).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from datetime import date
from decimal import Decimal

from config.bootstrap import Container
from workflow.domain import commands as c
from workflow.domain.actors import Actor
from workflow.domain.biosafety import LabDetails
from workflow.domain.goods import GoodsCategory, GoodsLine

EVIDENCE = b"%PDF-1.4\n% specgoods demo lab accreditation\n%%EOF\n"
VALID = (date(2015, 1, 1), date(2030, 12, 31))  # covers the demo's 2016 pages and today's demo alike
P2 = "P2"
TEACHING = "teaching"
NAMES = {"xiamen": "厦门", "fuzhou": "福州", "quanzhou": "泉州", "pingtan": "平潭"}


def _labs(district: str) -> dict[str, LabDetails]:
    p2 = LabDetails(f"{NAMES[district]} P2 实验室", "园区 2 号楼", 2, "", "", *VALID)
    if district != "xiamen":
        return {P2: p2}
    p3 = LabDetails("厦门 P3 实验室", "园区 3 号楼", 3, "中国合格评定国家认可委员会", "BL0123", *VALID)
    teaching = LabDetails("厦门教学实验室", "园区 1 号楼", 1, "", "", *VALID)
    return {P2: p2, "P3": p3, TEACHING: teaching}


def register_demo_labs(
    container: Container, actor: Callable[[Container, str], Actor], districts: tuple[str, ...]
) -> Generator[str, None, dict[str, dict[str, int]]]:
    """Every district's enterprise gets its labs, verified; returns their ids by district and key."""
    sha256 = container.deps.documents.put(EVIDENCE)
    found: dict[str, dict[str, int]] = {}
    for district in districts:
        admin, acceptor = actor(container, f"{district}.applicant"), actor(container, f"{district}.acceptor")
        assert admin.enterprise_id is not None
        found[district] = {}
        for key, details in _labs(district).items():
            command = c.RegisterLaboratory(admin, admin.enterprise_id, details, (sha256, "认可证书.pdf"))
            lab_id: int = container.bus.handle(command)
            container.bus.handle(c.VerifyLaboratory(acceptor, lab_id))
            found[district][key] = lab_id
            yield f"laboratory {lab_id} ({district}, BSL-{details.bsl_level}) registered and verified"
    return found


def naming(line: GoodsLine, lab_id: int) -> GoodsLine:
    return replace(line, lab_id=lab_id)


def mismatched_strain(lab_id: int) -> GoodsLine:
    """A class 4 reference strain (grade C) sent to a BSL-1 lab: the profile asks BSL-2 for microorganisms (R62)."""
    return GoodsLine(
        name_zh="表皮葡萄球菌标准菌株",
        name_en="",
        category=GoodsCategory.MICROORGANISM,
        quantity=Decimal(2),
        unit="株",
        pathogen_class=4,
        manufacturer="ATCC",
        origin_country="US",
        intended_use="教学",
        user_lab="厦门教学实验室",
        lab_id=lab_id,
    )
