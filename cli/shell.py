"""What every command shares: the container, the one-line failure and the group that maps errors to exit codes.

Command modules import this module and `cli.main` imports them, so the package has no import circle.
Every failure is one line on stderr and a non-zero exit (2 for bad input), never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from sqlalchemy.exc import OperationalError

from config.bootstrap import Container, bootstrap
from config.settings import load_settings
from workflow.domain.errors import DomainError, InvalidInput

EXIT_BAD_INPUT = 2


class SpecgoodsGroup(click.Group):
    """Turns domain and infrastructure errors into one clear line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidInput as error:
            fail(f"{error.field}: {error.message}" if error.field else error.message, EXIT_BAD_INPUT)
        except DomainError as error:
            fail(error.message, 1)
        except OperationalError as error:
            fail(f"database unreachable: {str(error.orig).strip().splitlines()[0]}", 1)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001 - a user sees one line; the details belong in the logs
            fail(f"unexpected {type(error).__name__}: {error}", 1)


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr and the exit code."""
    click.echo(f"specgoods: error: {message}", err=True)
    sys.exit(code)


def container(**kwargs: Any) -> Container:
    """The composition root built from the environment's settings; keyword arguments go to `bootstrap`."""
    return bootstrap(load_settings(), **kwargs)
