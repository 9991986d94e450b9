"""`avatarchat avatar validate|map FILE [--json]`: check a .glb file and show which clips play which behaviours.

Exit status: 0 when the file is valid, 1 when it is not, 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from services.avatar.inspection import inspect_glb
from services.avatar.mapping import auto_map
from services.avatar.report import DEFAULT_LIMITS, ValidationIssue, ValidationReport
from services.avatar.validation import validate_glb

EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
#: Issues printed in human output; --json prints every issue the report kept.
_HUMAN_ISSUES = 50


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `avatar` command group (validate, map) to the `avatarchat` command line."""
    group = subparsers.add_parser("avatar", help="check avatar models (.glb) and map their clips to behaviours")
    _add_commands(group.add_subparsers(dest="avatar_command", required=True))


def _add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `validate` and `map`, each with its `handler`."""
    validate = commands.add_parser("validate", help="validate a .glb file (exit 1 if invalid, 2 if unreadable)")
    validate.add_argument("file", type=Path, help="the .glb file")
    validate.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    validate.set_defaults(handler=run_validate)
    mapping = commands.add_parser("map", help="show which clip or morph target plays each behaviour")
    mapping.add_argument("file", type=Path, help="the .glb file")
    mapping.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    mapping.set_defaults(handler=run_map)


def _write(stream: TextIO, text: str) -> None:
    """Write a line, escaping what the stream's encoding cannot show (names in a model may be in any script)."""
    encoding = stream.encoding or "utf-8"
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")


def _read(path: Path) -> tuple[bytes, int] | None:
    """The file's bytes (at most one past the size limit, so a huge file is not loaded) and its real size."""
    try:
        with path.open("rb") as file:
            data = file.read(DEFAULT_LIMITS.max_file_size + 1)
            size = max(len(data), path.stat().st_size)
    except OSError as exc:
        _write(sys.stderr, f"cannot read {path}: {exc.strerror or exc}")
        return None
    return data, size


def _validated(path: Path) -> tuple[bytes, ValidationReport] | None:
    """The file and its report, or None if it cannot be read."""
    read = _read(path)
    if read is None:
        return None
    data, size = read
    report = validate_glb(data)
    if size != report.stats.file_size:
        report = dataclasses.replace(report, stats=dataclasses.replace(report.stats, file_size=size))
    return data, report


def _issue_dict(issue: ValidationIssue) -> dict[str, str]:
    """An issue as JSON."""
    return {"severity": issue.severity.value, "code": issue.code, "message": issue.message, "pointer": issue.pointer}


def report_json(report: ValidationReport) -> dict[str, object]:
    """The report as the --json object: valid, errors, warnings, stats."""
    return {
        "valid": report.valid,
        "errors": [_issue_dict(issue) for issue in report.errors],
        "warnings": [_issue_dict(issue) for issue in report.warnings],
        "stats": dataclasses.asdict(report.stats),
    }


def _print_report(path: Path, report: ValidationReport) -> None:
    """The report as text."""
    stats = report.stats
    verdict = "valid" if report.valid else "INVALID"
    _write(sys.stdout, f"{path}: {verdict} ({report.error_count} errors, {report.warning_count} warnings)")
    _write(
        sys.stdout,
        f"  {stats.file_size:,} bytes, {stats.meshes} meshes, {stats.triangles:,} triangles, "
        f"{stats.vertices:,} vertices, {stats.materials} materials, {stats.textures} textures"
        + (f" (largest {stats.max_texture_width}x{stats.max_texture_height})" if stats.textures else ""),
    )
    _write(
        sys.stdout,
        f"  {stats.skins} skins ({stats.joints} joints), {stats.animations} animations, "
        f"{stats.morph_targets} morph targets",
    )
    if stats.extensions_used:
        _write(sys.stdout, f"  extensions used: {', '.join(stats.extensions_used)}")
    shown = report.issues[:_HUMAN_ISSUES]
    for issue in shown:
        where = f" at {issue.pointer}" if issue.pointer else ""
        _write(sys.stdout, f"  {issue.severity.value.upper():7} {issue.code}{where}: {issue.message}")
    hidden = report.error_count + report.warning_count - len(shown)
    if hidden > 0:
        _write(
            sys.stdout, f"  ... and {hidden} more issues" + (" (validation stopped early)" if report.truncated else "")
        )


def run_validate(args: argparse.Namespace) -> int:
    """`avatar validate FILE [--json]`."""
    validated = _validated(args.file)
    if validated is None:
        return EXIT_UNREADABLE
    _, report = validated
    if args.json:
        _write(sys.stdout, json.dumps(report_json(report), indent=2))
    else:
        _print_report(args.file, report)
    return EXIT_VALID if report.valid else EXIT_INVALID


def run_map(args: argparse.Namespace) -> int:
    """`avatar map FILE [--json]`; the mapping is shown even for an invalid file, with its errors on stderr."""
    validated = _validated(args.file)
    if validated is None:
        return EXIT_UNREADABLE
    data, report = validated
    inspection = inspect_glb(data)
    behaviour_map = auto_map(inspection.clip_names, inspection.morph_targets)
    if not report.valid:
        _write(sys.stderr, f"{args.file}: INVALID ({report.error_count} errors); run `avatar validate` for details")
        for issue in report.errors[:5]:
            _write(sys.stderr, f"  ERROR {issue.code} at {issue.pointer or 'file'}: {issue.message}")
    if args.json:
        mapped = {behaviour: name for behaviour, (_, name) in behaviour_map.mapped.items()}
        _write(sys.stdout, json.dumps({"mapped": mapped, "unmapped": list(behaviour_map.unmapped)}, indent=2))
    else:
        for behaviour, (kind, name) in behaviour_map.mapped.items():
            _write(sys.stdout, f"{behaviour:<10} {kind:<5} {name}")
        if not behaviour_map.mapped:
            _write(sys.stdout, "no clip or morph target matches a behaviour")
        _write(sys.stdout, f"unmapped clips: {', '.join(behaviour_map.unmapped) or 'none'}")
        visemes = ", ".join(f"{viseme}={morph}" for viseme, morph in behaviour_map.visemes.items())
        _write(sys.stdout, f"lip sync: {visemes or 'no viseme or mouth-open morph target'}")
    return EXIT_VALID if report.valid else EXIT_INVALID


def main(argv: Sequence[str] | None = None) -> int:
    """Run `validate` or `map` on their own (`python -m services.avatar.cli validate FILE --json`)."""
    parser = argparse.ArgumentParser(prog="python -m services.avatar.cli", description=__doc__)
    _add_commands(parser.add_subparsers(dest="avatar_command", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
