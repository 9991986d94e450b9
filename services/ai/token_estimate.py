"""A rough token count for budgets and for providers (offline) that have no tokenizer."""

from __future__ import annotations

import math
import re

_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """Approximate BPE tokens: about 4 characters or 0.75 words each, whichever is more."""
    if not text:
        return 0
    # English BPE averages ~4 chars/token; punctuation-heavy or short-word text runs closer to one per word piece.
    return max(math.ceil(len(text) / 4), math.ceil(len(_WORDS.findall(text)) * 0.75))
