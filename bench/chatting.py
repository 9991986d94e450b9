"""The arrival pattern the benchmarks share: visitors who ask, read the answer, then pause before asking again.

A pause is exponential around its mean (capped at four means, so a run ends). Each visitor's first question
comes after the residual of a cycle already under way, so the load is the steady one from the first second:
a first pause drawn uniformly within one cycle instead lets early visitors' second questions overlap the late
visitors' first ones, and the rate of questions climbs to about 1.6 times the steady rate by the end of the
first cycle.
"""

from __future__ import annotations

import random


def pause(rng: random.Random, think: float) -> float:
    """Seconds a visitor thinks after an answer before the next question."""
    return min(rng.expovariate(1 / think), 4 * think) if think > 0 else 0.0


def first_pause(rng: random.Random, answer: float, think: float) -> float:
    """Seconds until a visitor's first question, seen at a random moment of the steady state.

    The residual of a cycle (`answer` seconds of answer, then a pause): with the share of time spent answering,
    uniform within an answer (the answer under way is replaced by one starting then); otherwise the rest of an
    answer and a pause, whose rest is again exponential with the same mean.
    """
    if think <= 0:
        return rng.uniform(0, answer)
    if rng.random() < answer / (answer + think):
        return rng.uniform(0, answer)
    return answer + pause(rng, think)


def busy_share(answer: float, think: float) -> float:
    """The share of the time a visitor is receiving an answer."""
    return answer / (answer + think) if answer + think > 0 else 1.0
