"""Handlers that answer as OpenAI, Anthropic and Gemini do on the wire: SSE streams and JSON error bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.services.ai.wire import Exchange, Handler, Responder


def openai_chunk(
    content: str | None = None, finish: str | None = None, model: str = "gpt-4.1-mini-2025-04-14"
) -> dict[str, object]:
    """One `chat.completion.chunk` with a content delta and/or a finish reason."""
    delta: dict[str, object] = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def openai_usage_chunk(prompt: int, completion: int, model: str = "gpt-4.1-mini-2025-04-14") -> dict[str, object]:
    """The final chunk `include_usage` asks for: no choices, only usage."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": model,
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def openai_stream(
    pieces: Sequence[str],
    *,
    prompt_tokens: int = 42,
    completion_tokens: int | None = None,
    finish: str = "stop",
    pace: float = 0.0,
    break_after: int | None = None,
    error_after: int | None = None,
    gate: asyncio.Event | None = None,
) -> Handler:
    """Streams pieces as deltas, then finish, usage and [DONE].

    `break_after` sends a broken JSON line after that many pieces, `error_after` an error object; `gate` holds
    the stream after the first piece until it is set; `pace` sleeps between pieces.
    """

    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        await respond.sse(openai_chunk(""))  # the role-only first chunk carries no text
        for i, piece in enumerate(pieces):
            if break_after is not None and i == break_after:
                await respond.send('data: {"id": "chatcmpl-test", "choices": [{"delta": {"content": "unfinis\n\n')
                await respond.end()
                return
            if error_after is not None and i == error_after:
                await respond.sse({"error": {"message": "The server had an error", "type": "server_error"}})
                await respond.end()
                return
            await respond.sse(openai_chunk(piece))
            if i == 0 and gate is not None:
                await gate.wait()
            if pace:
                await asyncio.sleep(pace)
        await respond.sse(openai_chunk(finish=finish))
        await respond.sse(openai_usage_chunk(prompt_tokens, completion_tokens or len(pieces)))
        await respond.sse("[DONE]")
        await respond.end()

    return handle


def openai_error(status: int, message: str, error_type: str, code: str | None = None) -> Handler:
    """An OpenAI JSON error body: `{"error": {"message", "type", "param", "code"}}`."""

    async def handle(exchange: Exchange, respond: Responder) -> None:
        body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
        await respond.json(status, body)

    return handle


def anthropic_message(input_tokens: int = 25) -> dict[str, object]:
    """The `message` of a Messages stream's message_start event, before any content."""
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }


def anthropic_stream(
    pieces: Sequence[str],
    *,
    input_tokens: int = 25,
    output_tokens: int = 15,
    stop_reason: str = "end_turn",
    error_after: int | None = None,
    pace: float = 0.0,
    gate: asyncio.Event | None = None,
) -> Handler:
    """The Messages SSE sequence; `error_after` sends an overloaded_error event after that many pieces.

    `gate` holds the stream after the first piece until it is set; `pace` sleeps between pieces.
    """

    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        message = anthropic_message(input_tokens)
        await respond.sse({"type": "message_start", "message": message}, event="message_start")
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        await respond.sse(block, event="content_block_start")
        await respond.sse({"type": "ping"}, event="ping")
        for i, piece in enumerate(pieces):
            if error_after is not None and i == error_after:
                error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                await respond.sse(error, event="error")
                await respond.end()
                return
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            await respond.sse(delta, event="content_block_delta")
            if i == 0 and gate is not None:
                await gate.wait()
            if pace:
                await asyncio.sleep(pace)
        await respond.sse({"type": "content_block_stop", "index": 0}, event="content_block_stop")
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
        await respond.sse(end, event="message_delta")
        await respond.sse({"type": "message_stop"}, event="message_stop")
        await respond.end()

    return handle


def anthropic_error(status: int, error_type: str, message: str) -> Handler:
    """An Anthropic JSON error body: `{"type": "error", "error": {"type", "message"}}`."""

    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.json(status, {"type": "error", "error": {"type": error_type, "message": message}})

    return handle


def gemini_stream(
    pieces: Sequence[str],
    *,
    prompt_tokens: int = 30,
    finish: str = "STOP",
    pace: float = 0.0,
    break_after: int | None = None,
) -> Handler:
    """streamGenerateContent?alt=sse: one GenerateContentResponse per event, usageMetadata on each."""

    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.start_stream()
        for i, piece in enumerate(pieces):
            if break_after is not None and i == break_after:
                await respond.send('data: {"candidates": [{"content": \n\n')
                await respond.end()
                return
            last = i == len(pieces) - 1
            candidate: dict[str, object] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if last:
                candidate["finishReason"] = finish
            usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": i + 1}
            usage["totalTokenCount"] = prompt_tokens + i + 1
            chunk = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}
            await respond.sse(chunk)
            if pace:
                await asyncio.sleep(pace)
        await respond.end()

    return handle


def gemini_error(status: int, google_status: str, message: str) -> Handler:
    """A Google API JSON error body: `{"error": {"code", "message", "status"}}`."""

    async def handle(exchange: Exchange, respond: Responder) -> None:
        await respond.json(status, {"error": {"code": status, "message": message, "status": google_status}})

    return handle
