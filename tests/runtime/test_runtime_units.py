"""Runtime pieces that need no server: names, page tokens, field checks, rich status round trip, policies."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import status_pb2

from avatarchat.policy.v1 import policy_pb2
from services.runtime import errors, names, status
from services.runtime.context import Principal
from services.runtime.pagination import PageTokens, page_size
from services.runtime.policy import authorize
from services.runtime.tokens import ServiceTokens
from services.runtime.validation import Checks


def test_names_parse_and_reject() -> None:
    t, c = uuid.uuid4(), uuid.uuid4()
    ids = names.parse(f"tenants/{t}/chatbots/{c}", "tenants/{tenant}/chatbots/{chatbot}")
    assert ids == {"tenant": t, "chatbot": c}
    for bad in ("", f"tenants/{t}", f"tenants/{t}/chatbots/x", f"tenants/{str(t).upper()}/chatbots/{c}"):
        with pytest.raises(errors.InvalidArgument) as caught:
            names.parse(bad, "tenants/{tenant}/chatbots/{chatbot}", "chatbot.name")
        assert caught.value.violations[0].field == "chatbot.name"


def test_page_tokens_are_bound_to_their_scope_and_tamper_proof() -> None:
    tokens = PageTokens("s" * 40)
    token = tokens.encode(["2026-01-01T00:00:00", "abc"], "tenants/1")
    assert tokens.decode(token, "tenants/1") == ["2026-01-01T00:00:00", "abc"]
    assert tokens.decode("", "tenants/1") is None
    with pytest.raises(errors.InvalidArgument):
        tokens.decode(token, "tenants/2")
    with pytest.raises(errors.InvalidArgument):
        tokens.decode(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], "tenants/1")
    with pytest.raises(errors.InvalidArgument):
        PageTokens("t" * 40).decode(token, "tenants/1")
    assert page_size(0) == 50
    assert page_size(5000) == 1000
    with pytest.raises(errors.InvalidArgument):
        page_size(-1)


def test_checks_collect_every_violation() -> None:
    checks = Checks()
    checks.text("a", "")
    checks.email("b", "nope")
    checks.slug("c", "UPPER")
    checks.password("d", "short")
    checks.text("e", "x\x00y")
    with pytest.raises(errors.InvalidArgument) as caught:
        checks.done()
    assert [v.field for v in caught.value.violations] == ["a", "b", "c", "d", "e"]


def test_rich_status_carries_reason_and_field_violations() -> None:
    err = errors.InvalidArgument([errors.FieldViolation("x.y", "required")])
    rich = status.to_status(err, "avatarchat.test")
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    carried = status_pb2.Status.FromString(dict(rich.trailing_metadata)["grpc-status-details-bin"])
    info = status.error_info(carried)
    assert info is not None
    assert (info.reason, info.domain) == ("INVALID_FIELD", "avatarchat.test")
    request = status.bad_request(carried)
    assert request is not None
    assert [(v.field, v.description) for v in request.field_violations] == [("x.y", "required")]
    internal = status.internal_status("avatarchat.test")
    assert internal.details == status.INTERNAL_MESSAGE


def _principal(kind: str, role: int = policy_pb2.ROLE_UNSPECIFIED, scopes: frozenset[str] = frozenset()) -> Principal:
    return Principal(kind=kind, subject="s", tenant_id=uuid.uuid4(), role=role, scopes=scopes)


def test_policy_decisions() -> None:
    member = _principal("user", policy_pb2.ROLE_MEMBER)
    owner = _principal("user", policy_pb2.ROLE_OWNER)
    admin_only = policy_pb2.MethodPolicy(min_role=policy_pb2.ROLE_ADMIN, api_key_scope="x.write")
    authorize(admin_only, owner)
    with pytest.raises(errors.PermissionDenied):
        authorize(admin_only, member)
    authorize(admin_only, _principal("api_key", scopes=frozenset({"x.write"})))
    with pytest.raises(errors.PermissionDenied):
        authorize(admin_only, _principal("api_key", scopes=frozenset({"x.read"})))
    with pytest.raises(errors.PermissionDenied):
        authorize(admin_only, _principal("visitor", policy_pb2.ROLE_VISITOR))
    with pytest.raises(errors.Unauthenticated):
        authorize(admin_only, Principal(kind="anonymous", subject="", tenant_id=None))
    internal = policy_pb2.MethodPolicy(internal=True)
    authorize(internal, _principal("service", policy_pb2.ROLE_SERVICE))
    with pytest.raises(errors.PermissionDenied):
        authorize(internal, _principal("user", policy_pb2.ROLE_PLATFORM_ADMIN))
    with pytest.raises(errors.PermissionDenied):
        authorize(None, owner)


def test_service_tokens_verify_and_reject_foreign_secrets() -> None:
    tenant = uuid.uuid4()
    tokens = ServiceTokens("a" * 40, "chatbot")
    principal = tokens.verify(tokens.mint(tenant))
    assert principal.kind == "service"
    assert principal.tenant_id == tenant
    assert principal.role == policy_pb2.ROLE_SERVICE
    with pytest.raises(errors.Unauthenticated):
        ServiceTokens("b" * 40, "chatbot").verify(tokens.mint(tenant))


def test_with_request_id_adds_the_current_request_id_only_when_there_is_one() -> None:
    from services.runtime.clients import with_request_id
    from services.runtime.context import request_id_var

    given = (("authorization", "Bearer t"),)
    assert with_request_id(given) == given
    token = request_id_var.set("req-42")
    try:
        assert with_request_id(given) == (("authorization", "Bearer t"), ("x-request-id", "req-42"))
        carried = (("x-request-id", "req-from-caller"),)
        assert with_request_id(carried) == carried
    finally:
        request_id_var.reset(token)


def test_freeze_startup_heap_hides_live_objects_from_the_collector_and_frees_garbage_first() -> None:
    import gc
    import weakref

    from services.runtime.server import freeze_startup_heap

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = weakref.ref(Cycle())  # unreachable but alive until a collection breaks the cycle
    kept = Cycle()
    assert garbage() is not None
    try:
        freeze_startup_heap()
        assert garbage() is None, "garbage is collected before the freeze"
        assert gc.get_freeze_count() > 1000
        assert all(o is not kept for o in gc.get_objects()), "live objects leave the collector's generations"
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_run_event_loop_runs_on_the_configured_loop(event_loop: str) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import uvloop

    from services.runtime.server import run_event_loop
    from services.runtime.settings import RuntimeSettings

    async def loop_kind() -> bool:
        await asyncio.sleep(0)
        return isinstance(asyncio.get_running_loop(), uvloop.Loop)

    settings = RuntimeSettings(event_loop=event_loop)  # type: ignore[arg-type]
    # In a thread of its own: running a loop in the main thread would leave it without a current loop afterwards,
    # which later synchronous fixtures that make channels rely on.
    with ThreadPoolExecutor(1) as thread:
        on_uvloop = thread.submit(run_event_loop, loop_kind(), settings).result()
    assert on_uvloop is (event_loop == "uvloop")
