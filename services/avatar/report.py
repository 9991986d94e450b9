"""The result of validating a model: issues, statistics, the limits applied, and a bounded issue collector."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

MIB = 1024 * 1024


class Severity(enum.StrEnum):
    """Whether an issue blocks the avatar (the `IssueSeverity` of avatar.v1)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a model."""

    severity: Severity
    """Whether it blocks the avatar."""
    code: str
    """Stable UPPER_SNAKE identifier, e.g. "ACCESSOR_OUT_OF_BOUNDS"."""
    message: str
    """Human-readable English explanation."""
    pointer: str
    """A JSON pointer ("/accessors/3") or a binary location ("glb.chunk[1]"); empty for whole-file issues."""


@dataclass(frozen=True)
class ModelStats:
    """What a model contains; partly filled when the file could not be fully parsed."""

    file_size: int = 0
    """Size of the file in bytes."""
    triangles: int = 0
    """Triangles as drawn: each node that instances a mesh counts it, meshes no node uses count once."""
    vertices: int = 0
    """Vertices (POSITION elements) over all mesh primitives."""
    meshes: int = 0
    """Meshes."""
    materials: int = 0
    """Materials."""
    textures: int = 0
    """Textures."""
    max_texture_width: int = 0
    """The widest image in pixels."""
    max_texture_height: int = 0
    """The tallest image in pixels."""
    skins: int = 0
    """Skins."""
    joints: int = 0
    """Joints over all skins."""
    animations: int = 0
    """Animation clips."""
    morph_targets: int = 0
    """Distinct morph target names (unnamed targets are called "target_{index}")."""
    extensions_used: tuple[str, ...] = ()
    """The file's `extensionsUsed`."""
    extensions_required: tuple[str, ...] = ()
    """The file's `extensionsRequired`."""

    @property
    def max_texture_size(self) -> int:
        """The largest texture side in pixels, as `ModelStats.max_texture_size` of avatar.v1."""
        return max(self.max_texture_width, self.max_texture_height)


@dataclass(frozen=True)
class ValidationReport:
    """The result of checking a model against the glTF 2.0 spec and the platform's rules."""

    valid: bool
    """True when there is no error."""
    errors: tuple[ValidationIssue, ...]
    """The errors kept (all of them unless truncated)."""
    warnings: tuple[ValidationIssue, ...]
    """The warnings kept (all of them unless truncated)."""
    stats: ModelStats
    """What the model contains."""
    truncated: bool = False
    """True when more issues were found than the limit and the rest were left out."""
    error_count: int = 0
    """Errors found in total, including left-out ones (a lower bound when validation stopped early)."""
    warning_count: int = 0
    """Warnings found in total, including left-out ones (a lower bound when validation stopped early)."""
    elapsed_seconds: float = field(default=0.0, compare=False)
    """How long validation took; bounded for any input, so services can log and alert on it."""

    @property
    def issues(self) -> tuple[ValidationIssue, ...]:
        """Errors first, then warnings, as `ValidationReport.issues` of avatar.v1."""
        return self.errors + self.warnings


@dataclass(frozen=True)
class ValidationLimits:
    """What the platform accepts; every bound that keeps validation of hostile files cheap lives here."""

    max_file_size: int = 50 * MIB
    """Largest file accepted, the upload limit of AvatarService."""
    max_json_size: int = 16 * MIB
    """Largest JSON chunk parsed; bounds the memory and time json.loads may take."""
    max_array_items: int = 100_000
    """Longest JSON array checked (accessors, nodes, joints, ...); longer ones are an error."""
    max_issues: int = 200
    """Issues kept per severity; the report keeps at most this many in total, errors first."""
    stop_after_issues: int = 2000
    """Issues found before validation stops: the file is broken anyway, and more would only cost time."""
    max_chunks: int = 16
    """GLB chunks read before giving up (real files have two)."""
    max_triangles: int = 1_000_000
    """More triangles than this is an error: the widget could not draw it on ordinary devices."""
    warn_triangles: int = 200_000
    """More triangles than this is a warning: slow on phones."""
    max_texture_size: int = 4096
    """Images with a side larger than this get a warning."""
    hard_max_texture_size: int = 16384
    """Images with a side larger than this are an error: beyond every GPU's texture limit."""
    max_decoded_bytes: int = 256 * MIB
    """Largest data a viewer must allocate for one accessor or compressed buffer view."""
    index_scan_bytes: int = 32 * MIB
    """Index data read to check index ranges; beyond this budget indices are not read."""


DEFAULT_LIMITS = ValidationLimits()

#: Longest piece of file content (names, values) echoed into a message.
_MAX_ECHO = 64


def echo(value: object) -> str:
    """A short printable form of a value from the file, safe to put in a message."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _MAX_ECHO:
        text = text[:_MAX_ECHO] + "..."
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


class IssueLimitReached(Exception):
    """Raised by an IssueCollector when it has seen enough issues to stop validating."""


class IssueCollector:
    """Collects issues, counting all of them but keeping at most `limit` per severity."""

    def __init__(self, limit: int, *, stop_after: int | None = None) -> None:
        self._limit = limit
        self._stop_after = stop_after
        self._errors: list[ValidationIssue] = []
        self._warnings: list[ValidationIssue] = []
        self.error_count = 0
        self.warning_count = 0

    def error(self, code: str, message: str, pointer: str = "") -> None:
        """Record an error."""
        self.error_count += 1
        if len(self._errors) < self._limit:
            self._errors.append(ValidationIssue(Severity.ERROR, code, message, pointer))
        self._check_stop()

    def warning(self, code: str, message: str, pointer: str = "") -> None:
        """Record a warning."""
        self.warning_count += 1
        if len(self._warnings) < self._limit:
            self._warnings.append(ValidationIssue(Severity.WARNING, code, message, pointer))
        self._check_stop()

    def _check_stop(self) -> None:
        """Stop the run once `stop_after` issues were found."""
        if self._stop_after is not None and self.error_count + self.warning_count >= self._stop_after:
            raise IssueLimitReached

    def report(self, stats: ModelStats, elapsed_seconds: float = 0.0) -> ValidationReport:
        """The report of everything collected, with at most `limit` issues, errors first."""
        errors = tuple(self._errors)
        warnings = tuple(self._warnings[: max(0, self._limit - len(errors))])
        return ValidationReport(
            valid=self.error_count == 0,
            errors=errors,
            warnings=warnings,
            stats=stats,
            truncated=len(errors) + len(warnings) < self.error_count + self.warning_count,
            error_count=self.error_count,
            warning_count=self.warning_count,
            elapsed_seconds=elapsed_seconds,
        )
