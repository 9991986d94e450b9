"""SendMessage's domain: store the visitor's message, relay the AI stream as it arrives, store the answer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc

from avatarchat.ai.v1 import ai_pb2
from avatarchat.conversation.v1 import conversation_pb2 as pb
from services.conversation import access
from services.conversation.access import ConversationRef
from services.conversation.convert import message_message, proto_json
from services.conversation.dependencies import AnswerCall, Dependencies, events_of
from services.conversation.recent import Key, Known, RecentTurns
from services.conversation.store import ConversationStore, DuplicateRequest, NewMessage, QuestionAnalysis, Turn
from services.runtime import errors, status
from services.runtime.status import INTERNAL_MESSAGE

log = logging.getLogger(__name__)
Event = pb.SendMessageResponse
_TURN_ROLES: dict[int, ai_pb2.TurnRole.ValueType] = {
    pb.MESSAGE_ROLE_VISITOR: ai_pb2.TURN_ROLE_VISITOR,
    pb.MESSAGE_ROLE_ASSISTANT: ai_pb2.TURN_ROLE_ASSISTANT,
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A validated SendMessage."""

    ref: ConversationRef
    text: str
    request_id: str
    text_only: bool


@dataclass
class _Answer:
    """What arrived of the answer so far."""

    received: float
    question_id: uuid.UUID
    parts: list[str] = field(default_factory=list)
    citations: list[ai_pb2.Citation] = field(default_factory=list)
    usage: ai_pb2.Usage | None = None
    finish_reason: int = 0
    error: ai_pb2.StreamError | None = None
    first_token_ms: float | None = None
    analysis: ai_pb2.QuestionAnalysis | None = None
    sentiment: ai_pb2.Sentiment | None = None
    """How the whole answer reads, from the AI service's done event."""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def take(self, event: ai_pb2.StreamResponseResponse) -> Event | None:
        """Records an AI event; returns what the caller sees of it (usage and done are kept back)."""
        kind = event.WhichOneof("event")
        if kind == "text_delta":
            if self.first_token_ms is None:
                self.first_token_ms = (time.monotonic() - self.received) * 1000
            self.parts.append(event.text_delta.text)
            return Event(text_delta=event.text_delta)
        if kind == "citation":
            self.citations.append(event.citation)
            return Event(citation=event.citation)
        if kind == "animation_cue":
            return Event(animation_cue=event.animation_cue)
        if kind == "viseme_cues":
            return Event(viseme_cues=event.viseme_cues)
        if kind == "question_analysis":
            self.analysis = event.question_analysis
        elif kind == "usage":
            self.usage = event.usage
        elif kind == "done":
            self.finish_reason = event.done.finish_reason
            if event.done.HasField("sentiment"):
                self.sentiment = event.done.sentiment
        elif kind == "error":
            self.error = event.error
        return None

    def failed(self, exc: grpc.aio.AioRpcError) -> None:
        """Records a broken AI stream."""
        err = status.from_rpc_error(exc)
        message = INTERNAL_MESSAGE if err.code == grpc.StatusCode.INTERNAL else err.message
        self.error = ai_pb2.StreamError(
            code=exc.code().name, reason=err.reason, message=message, partial_text=self.text
        )

    def message(self, message_id: uuid.UUID, request_id: str) -> NewMessage:
        """The assistant message to store: complete, incomplete (some text) or failed (none)."""
        state = pb.MESSAGE_STATE_COMPLETE
        if self.error is not None or self.usage is None:
            state = pb.MESSAGE_STATE_INCOMPLETE if self.parts else pb.MESSAGE_STATE_FAILED
        usage = self.usage or ai_pb2.Usage()
        return NewMessage(
            id=message_id,
            role=pb.MESSAGE_ROLE_ASSISTANT,
            state=state,
            text=self.text,
            request_id=request_id,
            citations=[proto_json(c) for c in self.citations],
            provider=usage.provider,
            model=usage.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_micros=usage.cost_micros,
            currency_code=usage.currency_code,
            cached=usage.cached,
            first_token_ms=self.first_token_ms,
            finish_reason=self.finish_reason,
            sentiment=proto_json(self.sentiment) if self.sentiment is not None else None,
        )


class MessageRelay:
    """Runs one SendMessage from the stored question to the stored answer."""

    def __init__(
        self,
        store: ConversationStore,
        deps: Dependencies,
        *,
        history_turns: int,
        remembered_conversations: int,
        remembered_chars: int,
    ) -> None:
        self._store = store
        self._deps = deps
        self._history_turns = history_turns
        self._recent = RecentTurns(remembered_conversations, history_turns, remembered_chars)
        # Work that must outlive a cancelled call (storing a partial answer, analysing the question).
        self._background: set[asyncio.Task[None]] = set()

    async def send(self, out: Outgoing) -> AsyncGenerator[Event, None]:
        """The SendMessage stream: started, the relayed answer events, then the stored answer or an error."""
        received = time.monotonic()
        ref = out.ref
        known = self._recent.get(_key(ref), out.request_id)
        if known is None:
            admitted, replayed = await self._admit(out)
            if replayed:
                for event in replayed:
                    yield event
                return
        else:
            admitted = await self._admit_known(out, known)
        chatbot = ref.name.rsplit("/conversations/", 1)[0]
        asked = await self._ask(out, chatbot, admitted)
        if isinstance(asked, list):
            for event in asked:
                yield event
            return
        call, question = asked
        answer_id = uuid.uuid4()
        yield Event(
            started=pb.StreamStarted(
                visitor_message=f"{ref.name}/messages/{question.id}",
                assistant_message=f"{ref.name}/messages/{answer_id}",
                request_id=out.request_id,
            )
        )
        answer = _Answer(received, question.id)
        async for relayed in self._relay(out, call, answer, answer_id):
            yield relayed
        row = await self._store_answer(out, answer, answer_id)
        if answer.analysis is None:
            # The stream broke before the AI service sent the question's analysis: ask for it separately.
            self._later(self._analyze(out, chatbot, question.id))
        if answer.error is not None:
            yield Event(error=answer.error)
        elif row is not None:
            yield Event(message=message_message(ref.name, row, for_visitor=ref.bot.is_visitor))

    async def _ask(
        self, out: Outgoing, chatbot: str, admitted: _Admitted
    ) -> tuple[AnswerCall, NewMessage] | list[Event]:
        """Stores the question with the answer already requested: the call to relay, or an earlier call's replay.

        The provider's time to first token then overlaps the commit; the call's events wait in it until `started`
        has gone out.
        """
        ref = out.ref
        tenant_id = ref.bot.tenant_id
        call = self._call(out, chatbot, admitted.history)
        question = NewMessage(
            uuid.uuid4(), pb.MESSAGE_ROLE_VISITOR, pb.MESSAGE_STATE_COMPLETE, out.text, request_id=out.request_id
        )
        try:
            # Only to an active conversation: one answered from memory may have ended in another process.
            stored = await self._store.append(
                tenant_id, ref.conversation_id, question, self._event(ref, "visitor"), only_active=True
            )
        except DuplicateRequest:
            await self._abandon(call, out, admitted)
            return await self._replay(out)
        except BaseException:
            call.cancel()
            raise
        if stored is None:
            await self._abandon(call, out, admitted)
            raise await self._refusal(ref)
        position = stored["position"]
        self._recent.appended(_key(ref), position, Turn(pb.MESSAGE_ROLE_VISITOR, out.text), out.request_id)
        if position != admitted.count + 1:
            # Another process wrote to the conversation after its history was read: answer from what is stored.
            call.cancel()
            history = await self._store.history_before(tenant_id, ref.conversation_id, position, self._history_turns)
            call = self._call(out, chatbot, history)
        return call, question

    def _call(self, out: Outgoing, chatbot: str, history: Sequence[Turn]) -> AnswerCall:
        ref = out.ref
        return self._deps.stream_answer(
            ref.bot.tenant_id,
            chatbot,
            ref.name,
            out.text,
            _turns(history),
            request_id=out.request_id,
            text_only=out.text_only,
        )

    async def _admit(self, out: Outgoing) -> tuple[_Admitted, list[Event]]:
        """The conversation's recent messages once the message may be answered, and the replay of an earlier call.

        The plan's message is taken while the conversation is read: both must finish before the provider is
        called and neither needs the other, so they cost one round trip instead of two. A message that turns out
        not to count (no such conversation, an ended one, a preview, a replay) is given back.
        """
        ref = out.ref
        tenant_id = ref.bot.tenant_id
        read, reservation = await asyncio.gather(
            self._store.with_recent(
                tenant_id, ref.bot.chatbot_id, ref.conversation_id, self._history_turns, out.request_id
            ),
            self._deps.reserve_message(tenant_id),
            return_exceptions=True,
        )
        counted = False
        try:
            if isinstance(read, BaseException):
                raise read
            found, history = read
            conversation = access.visible(ref, found)
            count = conversation["message_count"]
            if conversation["request_seen"]:
                replayed = await self._replay(out)
                if replayed:
                    return _Admitted(history, count, counted=False), replayed
            if conversation["state"] != "active":
                raise errors.FailedPrecondition(f"{ref.name} has ended")
            self._recent.remember(
                _key(ref),
                visitor_id=conversation["visitor_id"],
                channel=conversation["channel"],
                count=count,
                turns=history,
            )
            if conversation["channel"] == pb.CHANNEL_PREVIEW:
                return _Admitted(history, count, counted=False), []
            if isinstance(reservation, BaseException):
                raise reservation
            counted = True
            return _Admitted(history, count, counted=True), []
        finally:
            if not counted and not isinstance(reservation, BaseException):
                await self._deps.release_message(tenant_id)

    async def _admit_known(self, out: Outgoing, known: Known) -> _Admitted:
        """The same for a conversation held in memory: only the plan's message is taken before the AI call.

        Whether the conversation is still active, and still at `known.count` messages, is settled by the
        question's own append.
        """
        ref = out.ref
        if not access.may_see(ref, known.visitor_id):
            raise errors.NotFound(ref.name)
        if known.channel == pb.CHANNEL_PREVIEW:
            return _Admitted(known.turns, known.count, counted=False)
        await self._deps.reserve_message(ref.bot.tenant_id)
        return _Admitted(known.turns, known.count, counted=True)

    async def _abandon(self, call: AnswerCall, out: Outgoing, admitted: _Admitted) -> None:
        """For a question that was not stored: cancels its answer, forgets the conversation, returns the message."""
        call.cancel()
        self._recent.forget(_key(out.ref))
        if admitted.counted:
            await self._deps.release_message(out.ref.bot.tenant_id)

    async def _refusal(self, ref: ConversationRef) -> Exception:
        """Why a question found no active conversation to be appended to: it ended, or it is gone."""
        row = await self._store.get(ref.bot.tenant_id, ref.bot.chatbot_id, ref.conversation_id)
        if row is not None and row["state"] != "active":
            return errors.FailedPrecondition(f"{ref.name} has ended")
        return errors.NotFound(ref.name)

    async def _relay(
        self, out: Outgoing, call: AnswerCall, answer: _Answer, answer_id: uuid.UUID
    ) -> AsyncGenerator[Event, None]:
        """Each AI event as it arrives; a caller that goes away closes the AI stream, and the answer is kept."""
        try:
            async for incoming in events_of(call):
                relayed = answer.take(incoming)
                if relayed is not None:
                    yield relayed
        except grpc.aio.AioRpcError as exc:
            answer.failed(exc)
        except (asyncio.CancelledError, GeneratorExit):
            # The caller went away: close the provider stream and keep what was said, marked incomplete.
            call.cancel()
            self._later(self._store_answer(out, answer, answer_id))
            raise
        finally:
            call.cancel()

    async def _store_answer(self, out: Outgoing, answer: _Answer, answer_id: uuid.UUID) -> asyncpg.Record | None:
        ref = out.ref
        key = _key(ref)
        message = answer.message(answer_id, out.request_id)
        try:
            row = await self._store.append(
                ref.bot.tenant_id,
                ref.conversation_id,
                message,
                self._event(ref, "assistant"),
                analysis=None if answer.analysis is None else _stored(answer.question_id, answer.analysis),
            )
        except DuplicateRequest:
            self._recent.forget(key)
            return None
        if row is None:
            self._recent.forget(key)
        else:
            self._recent.appended(key, row["position"], Turn(message.role, message.text), out.request_id)
        return row

    async def _analyze(self, out: Outgoing, chatbot: str, message_id: uuid.UUID) -> None:
        analysis = await self._deps.analyze(out.ref.bot.tenant_id, chatbot, out.text)
        await self._store.set_analysis(out.ref.bot.tenant_id, _stored(message_id, analysis))

    async def _replay(self, out: Outgoing) -> list[Event]:
        """The stored result of an earlier call with the same request id: started, then the answer."""
        ref = out.ref
        rows = await self._store.by_request(ref.bot.tenant_id, ref.conversation_id, out.request_id)
        question = next((r for r in rows if r["role"] == pb.MESSAGE_ROLE_VISITOR), None)
        if question is None:
            return []
        answer = next((r for r in rows if r["role"] == pb.MESSAGE_ROLE_ASSISTANT), None)
        started = pb.StreamStarted(
            visitor_message=f"{ref.name}/messages/{question['id']}",
            assistant_message=f"{ref.name}/messages/{answer['id']}" if answer else "",
            request_id=out.request_id,
        )
        if answer is None:
            raise errors.FailedPrecondition(f"request {out.request_id} is still being answered")
        return [
            Event(started=started),
            Event(message=message_message(ref.name, answer, for_visitor=ref.bot.is_visitor)),
        ]

    def _later(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._logged(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _logged(work: Any) -> None:
        try:
            await work
        except Exception:
            log.warning("background work failed", exc_info=True)

    def created(self, tenant_id: uuid.UUID, row: asyncpg.Record) -> None:
        """Holds a new conversation, so even its first question needs no read before the AI call."""
        self._recent.remember(
            (tenant_id, row["chatbot_id"], row["id"]),
            visitor_id=row["visitor_id"],
            channel=row["channel"],
            count=row["message_count"],
            turns=[],
        )

    def ended(self, ref: ConversationRef) -> None:
        """Drops an ended conversation from memory."""
        self._recent.forget(_key(ref))

    async def close(self) -> None:
        """Waits for background work (partial answers being stored) to finish."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    @staticmethod
    def _event(ref: ConversationRef, role: str) -> dict[str, Any]:
        return {
            "tenant": f"tenants/{ref.bot.tenant_id}",
            "chatbot": ref.name.rsplit("/conversations/", 1)[0],
            "conversation": ref.name,
            "role": role,
        }


@dataclass(frozen=True, slots=True)
class _Admitted:
    """A question that may be answered: the history it is answered with, as of `count` messages."""

    history: Sequence[Turn]
    count: int
    counted: bool
    """Whether the plan's message was taken (not for previews)."""


def _key(ref: ConversationRef) -> Key:
    return (ref.bot.tenant_id, ref.bot.chatbot_id, ref.conversation_id)


def _stored(question_id: uuid.UUID, given: ai_pb2.QuestionAnalysis) -> QuestionAnalysis:
    """The question's sentiment and intent as the store keeps them."""
    return QuestionAnalysis(question_id, proto_json(given.sentiment), given.intent, given.confidence)


def _turns(history: Sequence[Turn]) -> list[ai_pb2.Turn]:
    return [
        ai_pb2.Turn(role=_TURN_ROLES[t.role], text=t.text) for t in history if t.role in _TURN_ROLES and t.text.strip()
    ]
