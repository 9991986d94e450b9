"""The contracts themselves: generated code is fresh, every RPC states who may call it, REST rules are consistent."""

from __future__ import annotations

import filecmp
import importlib
import subprocess
from pathlib import Path

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor

from avatarchat.policy.v1 import policy_pb2

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "tenant", "chatbot", "conversation", "ai", "analytics", "avatar", "knowledge", "billing")


def _descriptors() -> list[descriptor.ServiceDescriptor]:
    found = []
    for name in SERVICES:
        module = importlib.import_module(f"avatarchat.{name}.v1.{name}_pb2")
        found += list(module.DESCRIPTOR.services_by_name.values())
    return found


def _diff(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b)
    out = [str(a / n) for n in cmp.left_only + cmp.right_only + cmp.diff_files]
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub)
    return out


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run([str(ROOT / "tools/gen_protos.sh"), str(tmp_path)], check=True, cwd=ROOT, capture_output=True)
    stale = _diff(ROOT / "gen/avatarchat", tmp_path / "avatarchat")
    assert not stale, f"gen/ is stale (run `make gen`): {stale[:10]}"


def test_all_nine_services_exist() -> None:
    assert len(_descriptors()) == 9


@pytest.mark.parametrize("service", _descriptors(), ids=lambda s: s.full_name)
def test_every_rpc_has_a_policy_and_consistent_rest_rule(service: descriptor.ServiceDescriptor) -> None:
    for method in service.methods:
        options = method.GetOptions()
        where = f"{service.full_name}.{method.name}"
        assert options.HasExtension(policy_pb2.policy), f"{where} has no access policy"
        policy = options.Extensions[policy_pb2.policy]
        has_http = options.HasExtension(annotations_pb2.http)
        if policy.internal:
            assert not has_http, f"{where} is internal but has a REST route"
            assert not policy.public, f"{where} cannot be both internal and public"
        else:
            assert has_http, f"{where} is callable by browsers or API users but has no google.api.http rule"
            assert policy.public or policy.min_role != policy_pb2.ROLE_UNSPECIFIED or policy.visitor, (
                f"{where}: a non-internal, non-public RPC needs a min_role or visitor access"
            )
        assert method.input_type.name == f"{method.name}Request", where
        assert method.output_type.name == f"{method.name}Response", where
