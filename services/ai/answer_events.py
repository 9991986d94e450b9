"""Builds the ai.v1 StreamResponse events of one answer: text, citations, visemes, cues, usage."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from avatarchat.ai.v1 import ai_pb2
from services.ai.animation import AnimationChoice
from services.ai.citations import CitationTracker, citation_proto
from services.ai.visemes import VisemeStream

Event = ai_pb2.StreamResponseResponse


class AnswerEvents:
    """Turns an answer's deltas into events; citations and visemes are tracked across delta boundaries."""

    def __init__(self, citations: CitationTracker, *, text_only: bool) -> None:
        self._citations = citations
        self._visemes = None if text_only else VisemeStream()
        self.text_only = text_only
        self.parts: list[str] = []
        self.cited: list[ai_pb2.Citation] = []

    @property
    def text(self) -> str:
        """The answer so far."""
        return "".join(self.parts)

    def delta(self, text: str) -> list[Event]:
        """The text delta with the mouth shapes of the words it completes, then the citations it completes."""
        index = len(self.parts)
        self.parts.append(text)
        delta = ai_pb2.TextDelta(text=text, index=index)
        if self._visemes is not None:
            # One message for the text and its lip-sync: every event is a write on each hop to the browser.
            for cue in self._visemes.feed(text):
                cue.add_to(delta.visemes)
        events = [Event(text_delta=delta)]
        for ref in self._citations.feed(text):
            citation = citation_proto(ref)
            self.cited.append(citation)
            events.append(Event(citation=citation))
        return events

    def finish(self) -> list[Event]:
        """The mouth shapes of the last words, closing with silence."""
        if self._visemes is None:
            return []
        cues = self._visemes.finish()
        if not cues:
            return []
        index = max(len(self.parts) - 1, 0)
        closing = ai_pb2.VisemeCues(index=index)
        for cue in cues:
            cue.add_to(closing.cues)
        return [Event(viseme_cues=closing)]

    def cue(self, choice: AnimationChoice, text_offset: int = 0, seconds: float | None = None) -> list[Event]:
        """An animation cue, unless the caller asked for text only."""
        if self.text_only:
            return []
        cue = ai_pb2.AnimationCue(
            behaviour=choice.behaviour.to_proto(), clip=choice.clip, intensity=choice.intensity, text_offset=text_offset
        )
        if seconds is not None:
            cue.duration.CopyFrom(duration(seconds))
        return [Event(animation_cue=cue)]


def duration(seconds: float) -> Duration:
    """A Duration of `seconds`."""
    value = Duration()
    value.FromNanoseconds(int(seconds * 1e9))
    return value
