"""Matches an HTTP method and raw path to the binding that serves it, most specific template first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from edge.http_rules import HttpBinding


@dataclass(frozen=True)
class RouteMatch:
    """The binding of a request and the values its path binds, by field path."""

    binding: HttpBinding
    captures: dict[str, str]


def _specificity(binding: HttpBinding) -> tuple[int, int, int, str]:
    """Sort key: templates with a verb, then with more literals, then without `**`, win."""
    template = binding.template
    return (
        0 if template.verb else 1,
        -template.literal_count,
        1 if template.fixed_length is None else 0,
        template.source,
    )


class Router:
    """Bindings indexed by HTTP method and segment count, so a request tries only a handful."""

    def __init__(self, bindings: Sequence[HttpBinding]) -> None:
        self._fixed: dict[tuple[str, int], list[HttpBinding]] = defaultdict(list)
        self._open: dict[str, list[HttpBinding]] = defaultdict(list)
        for binding in sorted(bindings, key=_specificity):
            length = binding.template.fixed_length
            if length is None:
                self._open[binding.http_method].append(binding)
            else:
                self._fixed[(binding.http_method, length)].append(binding)
        self._methods = sorted({b.http_method for b in bindings})

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The binding for `method` and the still percent-encoded `raw_path`, or None."""
        length = raw_path.count("/")
        for binding in (*self._fixed.get((method, length), ()), *self._open.get(method, ())):
            captures = binding.template.match(raw_path)
            if captures is not None:
                return RouteMatch(binding, captures)
        return None

    def allowed_methods(self, raw_path: str) -> list[str]:
        """The HTTP methods some binding accepts for `raw_path` (for 405 and its Allow header)."""
        return [m for m in self._methods if self.match(m, raw_path) is not None]
