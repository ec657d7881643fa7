"""One error type carries the message and the exit code of the command-line contract."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_REFUSED = 3

STATUS_BY_EXIT = {EXIT_OK: "ok", EXIT_FAILED: "failed", EXIT_INVALID: "invalid", EXIT_REFUSED: "refused"}


@dataclass(frozen=True)
class FieldError:
    """A problem with one field, named by its dotted path (``hosting.subdomain``)."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProvisionerError(Exception):
    """A failure the user must act on; ``exit_code`` follows CASE-FORMAT.md."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors or [])


class InvalidInput(ProvisionerError):
    """The case file or the command line is invalid: nothing was changed."""

    exit_code = EXIT_INVALID


class Refused(ProvisionerError):
    """Not approved, a conflict with something live, or the lock is held: nothing was changed."""

    exit_code = EXIT_REFUSED


class RunFailed(ProvisionerError):
    """The run or a trial check failed."""

    exit_code = EXIT_FAILED
