"""google.api.http path templates: parsing, matching request paths and rendering OpenAPI paths.

Grammar (google/api/http.proto):
    Template = "/" Segments [ Verb ] ;  Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;  Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_LITERAL = re.compile(r"^[A-Za-z0-9._~\-]+$")
_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: One path segment; a `*` never spans a `/` (a `%2F` inside a segment stays one segment).
_ONE = "[^/]+"
_MANY = "[^/]+(?:/[^/]+)*"


class TemplateError(ValueError):
    """A path template does not follow the google.api.http grammar."""


@dataclass(frozen=True)
class Segment:
    """One segment of a template: a literal, `*` or `**`, and the variable it belongs to, if any."""

    kind: str
    """`literal`, `*` or `**`."""
    text: str = ""
    """The literal text."""
    variable: str | None = None
    """Field path of the enclosing variable."""


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template with a compiled matcher."""

    source: str
    segments: tuple[Segment, ...]
    verb: str
    variables: tuple[str, ...]
    """Field paths bound by the path, in order."""
    pattern: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        """Values of the variables (percent-decoded) if the raw request path matches, else None."""
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {field: unquote(found.group(f"v{i}")) for i, field in enumerate(self.variables)}

    @property
    def literal_count(self) -> int:
        """How many literal segments the template has (more literals match more specifically)."""
        return sum(1 for s in self.segments if s.kind == "literal")

    @property
    def fixed_length(self) -> int | None:
        """Number of segments every matching path has, or None when a `**` makes it vary."""
        return None if any(s.kind == "**" for s in self.segments) else len(self.segments)

    def openapi_path(self) -> tuple[str, list[tuple[str, str]]]:
        """The OpenAPI path, one parameter per wildcard segment, and each parameter's (name, field path)."""
        parts: list[str] = []
        params: list[tuple[str, str]] = []
        used: set[str] = set()
        previous = ""
        for seg in self.segments:
            if seg.kind == "literal":
                parts.append(seg.text)
                previous = seg.text
                continue
            field = seg.variable or "path"
            whole = _whole_variable(self.segments, seg)
            name = field.rsplit(".", 1)[-1] if whole or not previous else _singular(previous)
            base, n = name, 2
            while name in used:
                name, n = f"{base}{n}", n + 1
            used.add(name)
            parts.append("{" + name + "}")
            params.append((name, field))
            previous = ""
        return "/" + "/".join(parts) + (f":{self.verb}" if self.verb else ""), params


def _whole_variable(segments: tuple[Segment, ...], seg: Segment) -> bool:
    """Whether `seg` is the only segment of its variable (`{embed_id}`), so the field name fits."""
    return seg.variable is not None and sum(1 for s in segments if s.variable == seg.variable) == 1


def _singular(collection: str) -> str:
    """`chatbots` → `chatbot`, `knowledgeBases` → `knowledgeBase` (our collection ids are regular plurals)."""
    return collection[:-1] if collection.endswith("s") and len(collection) > 1 else collection


def parse(template: str) -> PathTemplate:
    """Parses and compiles `template`, e.g. `/v1/{name=tenants/*/chatbots/*}:sendMessage`."""
    if not template.startswith("/"):
        raise TemplateError(f"template must start with '/': {template!r}")
    body, verb = _split_verb(template[1:], template)
    segments: list[Segment] = []
    variables: list[str] = []
    for token in _split_top(body, template):
        if token.startswith("{"):
            if not token.endswith("}"):
                raise TemplateError(f"unclosed variable in {template!r}")
            field, _, inner = token[1:-1].partition("=")
            if not _FIELD_PATH.match(field) or field in variables:
                raise TemplateError(f"bad or repeated variable {field!r} in {template!r}")
            variables.append(field)
            for part in (inner or "*").split("/"):
                segments.append(_segment(part, template, field))
        else:
            segments.append(_segment(token, template, None))
    deep = [i for i, s in enumerate(segments) if s.kind == "**"]
    if deep and deep != [len(segments) - 1]:
        raise TemplateError(f"'**' must be the last segment in {template!r}")
    pattern = re.compile(_regex(segments, variables) + (re.escape(":" + verb) if verb else ""))
    return PathTemplate(template, tuple(segments), verb, tuple(variables), pattern)


def _split_verb(body: str, template: str) -> tuple[str, str]:
    depth = 0
    for i in range(len(body) - 1, -1, -1):
        ch = body[i]
        if ch == "}":
            depth += 1
        elif ch == "{":
            depth -= 1
        elif depth == 0 and ch == "/":
            break
        elif depth == 0 and ch == ":":
            verb = body[i + 1 :]
            if not _LITERAL.match(verb):
                raise TemplateError(f"bad verb {verb!r} in {template!r}")
            return body[:i], verb
    return body, ""


def _split_top(body: str, template: str) -> list[str]:
    """Splits on `/` outside braces."""
    tokens, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "/" and depth == 0:
            tokens.append(body[start:i])
            start = i + 1
        if depth not in (0, 1):
            raise TemplateError(f"nested braces in {template!r}")
    tokens.append(body[start:])
    if any(not t for t in tokens):
        raise TemplateError(f"empty segment in {template!r}")
    return tokens


def _segment(text: str, template: str, variable: str | None) -> Segment:
    if text in ("*", "**"):
        return Segment(text, variable=variable)
    if not _LITERAL.match(text):
        raise TemplateError(f"bad segment {text!r} in {template!r}")
    return Segment("literal", text, variable)


def _regex(segments: list[Segment], variables: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(segments):
        seg = segments[i]
        if seg.variable is None:
            out.append(_piece(seg))
            i += 1
            continue
        j = i
        while j < len(segments) and segments[j].variable == seg.variable:
            j += 1
        inner = "/".join(_piece(s) for s in segments[i:j])
        out.append(f"(?P<v{variables.index(seg.variable)}>{inner})")
        i = j
    return "/" + "/".join(out)


def _piece(seg: Segment) -> str:
    if seg.kind == "literal":
        return re.escape(seg.text)
    return _ONE if seg.kind == "*" else _MANY
