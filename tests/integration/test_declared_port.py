"""D2's port check: a declaration at a port the application did not list is not released (held, nothing drawn)."""

from __future__ import annotations

from decimal import Decimal

from config.bootstrap import Container
from tests.conftest import Cast
from tests.integration.support import balances, declare, fx10_cytokine, grant

D = Decimal
PORTS = ("Xiamen Gaoqi Airport", "Xiamen Port")


def test_d2_a_declaration_at_a_port_the_application_does_not_list_is_held_with_nothing_drawn(
    container: Container, cast: Cast
) -> None:
    number = grant(container, cast, fx10_cytokine(100), ports=PORTS)
    held = declare(container, cast, number, 10, port="Shanghai Pudong Airport")
    assert held["state"] == "port_review"
    assert "Shanghai Pudong Airport" in held["hold_reason"] and "Xiamen Port" in held["hold_reason"]
    assert balances(container, number) == {1: (D(100), D(0), D(0))}


def test_d2_a_listed_port_is_released_whatever_its_case_and_spaces(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100), ports=PORTS)
    released = declare(container, cast, number, 10, port="  xiamen port ")
    assert released["state"] == "released"
    assert balances(container, number) == {1: (D(100), D(10), D(0))}


def test_d2_an_application_listing_no_port_takes_a_declaration_at_any_port(container: Container, cast: Cast) -> None:
    number = grant(container, cast, fx10_cytokine(100))
    assert declare(container, cast, number, 10, port="Anywhere")["state"] == "released"
