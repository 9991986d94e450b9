"""Proto comments by element full name, for the OpenAPI document's descriptions.

Generated `_pb2` modules drop source info, so the comments come from a FileDescriptorSet built with
`--include_source_info`: the file `descriptor_set_path` when present (a build step can write it), else
compiled from `proto/` in-process with grpcio-tools when that is installed, else none (no descriptions).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2

from services.runtime.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

# Field numbers of FileDescriptorProto/DescriptorProto/ServiceDescriptorProto used in source paths.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2


def load_comments(descriptor_set_path: Path, proto_root: Path = PROJECT_ROOT / "proto") -> dict[str, str]:
    """Leading comments by full name (`avatarchat.tenant.v1.Tenant.slug`), or {} when none can be had."""
    descriptor_set = _read(descriptor_set_path) or _compile(proto_root)
    return comments_of(descriptor_set) if descriptor_set is not None else {}


def _read(path: Path) -> descriptor_pb2.FileDescriptorSet | None:
    if not path.is_file():
        return None
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def _compile(proto_root: Path) -> descriptor_pb2.FileDescriptorSet | None:
    try:
        import grpc_tools  # type: ignore[import-untyped]
        from grpc_tools import protoc
    except ImportError:
        log.info("no descriptor set and no grpcio-tools: the OpenAPI document has no descriptions")
        return None
    files = sorted(str(p.relative_to(proto_root)) for p in proto_root.glob("avatarchat/*/v1/*.proto"))
    if not files:
        return None
    includes = [proto_root, proto_root.parent / "third_party" / "proto", Path(grpc_tools.__file__).parent / "_proto"]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "set.binpb"
        args = ["protoc", *(f"-I{p}" for p in includes), "--include_source_info", f"--descriptor_set_out={out}"]
        if protoc.main([*args, *(str(proto_root / f) for f in files)]) != 0:
            log.warning("could not compile proto/ for descriptions")
            return None
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def comments_of(descriptor_set: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """Maps every message, field, enum, enum value, service and method to its cleaned leading comment."""
    out: dict[str, str] = {}
    for file in descriptor_set.file:
        located = {tuple(loc.path): _clean(loc.leading_comments) for loc in file.source_code_info.location}
        package = f"{file.package}." if file.package else ""

        def note(path: Sequence[int], name: str, located: dict[tuple[int, ...], str] = located) -> None:
            text = located.get(tuple(path), "")
            if text:
                out[name] = text

        def message(msg: descriptor_pb2.DescriptorProto, path: list[int], name: str) -> None:
            note(path, name)
            for i, fld in enumerate(msg.field):
                note([*path, _MESSAGE_FIELD, i], f"{name}.{fld.name}")
            for i, nested in enumerate(msg.nested_type):
                message(nested, [*path, _MESSAGE_NESTED, i], f"{name}.{nested.name}")
            for i, enum in enumerate(msg.enum_type):
                enumeration(enum, [*path, _MESSAGE_ENUM, i], f"{name}.{enum.name}")

        def enumeration(enum: descriptor_pb2.EnumDescriptorProto, path: list[int], name: str) -> None:
            note(path, name)
            # Enum values are scoped like siblings of their enum (`pkg.VALUE`); keyed under the enum here.
            for i, value in enumerate(enum.value):
                note([*path, _ENUM_VALUE, i], f"{name}.{value.name}")

        for i, msg in enumerate(file.message_type):
            message(msg, [_FILE_MESSAGE, i], package + msg.name)
        for i, enum in enumerate(file.enum_type):
            enumeration(enum, [_FILE_ENUM, i], package + enum.name)
        for i, svc in enumerate(file.service):
            note([_FILE_SERVICE, i], package + svc.name)
            for j, method in enumerate(svc.method):
                note([_FILE_SERVICE, i, _SERVICE_METHOD, j], f"{package}{svc.name}.{method.name}")
    return out


def _clean(comment: str) -> str:
    """Drops the one space after `//` on each line and surrounding blank lines."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()
