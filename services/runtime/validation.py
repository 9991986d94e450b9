"""Request checks that gather every wrong field before answering INVALID_ARGUMENT once."""

from __future__ import annotations

import re

from services.runtime.errors import FieldViolation, InvalidArgument

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")


class Checks:
    """Collects field violations; `done()` raises them all together."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        """Records a violation."""
        self.violations.append(FieldViolation(field, description))

    def text(self, field: str, value: str, *, required: bool = True, max_len: int = 200, min_len: int = 0) -> str:
        """A trimmed string within bounds, free of control characters."""
        stripped = value.strip()
        if not stripped:
            if required:
                self.fail(field, "required")
            return stripped
        if len(stripped) > max_len:
            self.fail(field, f"at most {max_len} characters (got {len(stripped)})")
        elif len(stripped) < min_len:
            self.fail(field, f"at least {min_len} characters")
        elif any(ord(c) < 32 and c not in "\n\t" for c in stripped):
            self.fail(field, "contains control characters")
        return stripped

    def email(self, field: str, value: str) -> str:
        """A plausible e-mail address, lower-cased."""
        value = value.strip().lower()
        if not value:
            self.fail(field, "required")
        elif len(value) > 320 or not _EMAIL.match(value):
            self.fail(field, "not a valid e-mail address")
        return value

    def slug(self, field: str, value: str) -> str:
        """3-40 characters of a-z, 0-9 and '-', not starting or ending with '-'."""
        if not value:
            self.fail(field, "required")
        elif not _SLUG.match(value):
            self.fail(field, "3-40 characters of a-z, 0-9 and '-', not starting or ending with '-'")
        return value

    def password(self, field: str, value: str) -> str:
        """A password of 10-256 characters."""
        if len(value) < 10:
            self.fail(field, "at least 10 characters")
        elif len(value) > 256:
            self.fail(field, "at most 256 characters")
        return value

    def done(self) -> None:
        """Raises InvalidArgument with every recorded violation, if any."""
        if self.violations:
            raise InvalidArgument(self.violations)
