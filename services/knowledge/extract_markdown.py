"""Markdown to blocks through markdown-it-py's syntax tree (CommonMark plus GFM tables)."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from selectolax.lexbor import LexborHTMLParser

from services.knowledge.document import DocumentBuilder, ListItem

# YAML front matter (Jekyll, Hugo, Docusaurus); CommonMark would read it as a rule and a setext heading.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<body>.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_FRONT_MATTER_TITLE = re.compile(r"""^title:[ \t]*["']?(?P<title>.*?)["']?[ \t]*$""", re.M)
_INLINE_TEXT = frozenset({"text", "text_special", "code_inline", "image"})
_LISTS = frozenset({"bullet_list", "ordered_list"})


def read_markdown(text: str, builder: DocumentBuilder) -> str:
    """Adds the blocks of a Markdown document to `builder`; returns the front-matter title, if any."""
    title = ""
    if front := _FRONT_MATTER.match(text):
        if found := _FRONT_MATTER_TITLE.search(front["body"]):
            title = found["title"]
        text = text[front.end() :]
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    _read_blocks(SyntaxTreeNode(parser.parse(text)), builder)
    return title


def _read_blocks(node: SyntaxTreeNode, builder: DocumentBuilder) -> None:
    """Adds the block-level children of `node` in order."""
    for child in node.children:
        kind = child.type
        if kind == "heading":
            builder.heading(_inline_text(child), int(child.tag[1:]))
        elif kind == "paragraph":
            builder.paragraph(_inline_text(child))
        elif kind in _LISTS:
            builder.list_items(list(_list_items(child, 0)))
        elif kind in {"fence", "code_block"}:
            builder.code(child.content)
        elif kind == "table":
            builder.table([[_inline_text(cell) for cell in row.children] for row in _descendants(child, "tr")])
        elif kind == "html_block":
            builder.paragraph(_html_text(child.content))
        elif kind == "blockquote":
            _read_blocks(child, builder)


def _list_items(node: SyntaxTreeNode, depth: int) -> list[ListItem]:
    """The items of a list and of the lists nested in it, in reading order."""
    items: list[ListItem] = []
    ordered = node.type == "ordered_list"
    for item in node.children:
        texts = [_inline_text(c) for c in item.children if c.type not in _LISTS]
        ordinal = int(item.info) if ordered and item.info.isdigit() else None
        items.append(ListItem(" ".join(t for t in texts if t), depth, ordinal))
        for nested in item.children:
            if nested.type in _LISTS:
                items.extend(_list_items(nested, depth + 1))
    return items


def _inline_text(node: SyntaxTreeNode) -> str:
    """The plain text of a block's inline content, without markup; code blocks inside list items keep content."""
    if node.type in {"fence", "code_block"}:
        return node.content
    tokens: list[Token] = []
    for inline in _descendants(node, "inline"):
        if inline.token is not None and inline.token.children:
            tokens.extend(inline.token.children)
    parts = []
    for token in tokens:
        if token.type in _INLINE_TEXT:
            parts.append(token.content)
        elif token.type in {"softbreak", "hardbreak"}:
            parts.append(" ")
    return "".join(parts)


def _descendants(node: SyntaxTreeNode, kind: str) -> list[SyntaxTreeNode]:
    """The nodes of type `kind` under `node`, in document order."""
    found: list[SyntaxTreeNode] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == kind:
            found.append(current)
        else:
            stack.extend(reversed(current.children))
    return found


def _html_text(html: str) -> str:
    """The visible text of a raw HTML block embedded in Markdown."""
    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, template"):
        node.decompose()
    body = tree.body
    return body.text(separator=" ") if body is not None else ""
