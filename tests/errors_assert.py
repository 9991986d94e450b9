"""Assertions on gRPC errors: the status code, the ErrorInfo reason and the BadRequest fields."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from services.runtime import status


async def expect_error(
    call: Awaitable[Any], code: grpc.StatusCode, reason: str | None = None, fields: set[str] | None = None
) -> grpc.aio.AioRpcError:
    """Awaits `call`, asserting it fails with `code`, the ErrorInfo `reason` and violations on `fields`."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    exc = caught.value
    assert exc.code() == code, f"expected {code.name}, got {exc.code().name}: {exc.details()}"
    rich = rpc_status.from_call(exc)  # type: ignore[arg-type]
    if reason is not None:
        assert rich is not None, "no google.rpc.Status details"
        info = status.error_info(rich)
        assert info is not None, "no ErrorInfo detail"
        assert info.reason == reason
    if fields is not None:
        assert rich is not None, "no google.rpc.Status details"
        bad = status.bad_request(rich)
        assert bad is not None, "no BadRequest details"
        got = {v.field for v in bad.field_violations}
        assert fields <= got, f"violations on {got}, expected {fields}"
    return exc
