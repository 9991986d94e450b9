"""HTML to blocks with selectolax (the Lexbor HTML5 parser), after dropping scripts, styles and page chrome.

The main content is `<main>` or the only `<article>` when the page has one, else `<body>`. Navigation, sidebars,
footers, forms and elements whose class or id names them as chrome (`navheader`, `breadcrumb`, `cookie-banner`,
...) are removed before the walk, so menus and link lists do not end up in the knowledge base.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.knowledge.document import DocumentBuilder, ListItem

# Elements that never hold readable content, or hold only page chrome.
_DROP_SELECTOR = ", ".join(
    (
        "script, style, noscript, template, svg, math, canvas, iframe, object, embed, video, audio, map",
        "form, button, select, input, textarea, dialog, nav, aside, footer",
        "[hidden], [aria-hidden=true]",
        "[role=navigation], [role=banner], [role=contentinfo], [role=complementary], [role=search]",
    )
)
# Class or id words that mark navigation and other chrome; matched as whole dash/underscore-separated words.
_CHROME_NAME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navheader|navfooter|menu|breadcrumbs?|sidebar|footer|cookies?|consent|skip-link"
    r"|skiplink|toc|share|social|advert|advertisement)(?:$|[\s_-])",
    re.I,
)
_NEVER_DROPPED = frozenset({"html", "body", "main", "article"})
# Call-out boxes (DocBook, Sphinx, Bootstrap) whose "Note"/"Warning" headings label the box, not a new section.
_CALLOUT_HEADINGS = ", ".join(
    f".{box} h{level}"
    for box in ("note", "tip", "hint", "warning", "caution", "important", "admonition", "callout", "alert")
    for level in range(1, 7)
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_LISTS = frozenset({"ul", "ol", "menu"})
# Elements that start and end a block; anything else is inline and continues the current paragraph.
_BLOCK_CONTAINERS = frozenset(
    {
        "div", "section", "article", "main", "body", "header", "blockquote", "figure", "figcaption", "details",
        "summary", "address", "center", "fieldset", "dl", "dt", "dd", "li", "hgroup", "caption", "legend", "hr",
    }
)  # fmt: skip
# Deeper nesting than this is read as flat text, so hostile markup cannot exhaust the Python stack.
_MAX_DEPTH = 200


def read_html(html: str, builder: DocumentBuilder) -> str:
    """Adds the blocks of an HTML page's main content to `builder`; returns the page's own title."""
    tree = LexborHTMLParser(html)
    root = _content_root(tree)
    if root is not None:
        # Chrome is skipped during the walk rather than removed: decomposing nested matches one by one would
        # leave dangling nodes behind in selectolax.
        callout_headings = frozenset(node.mem_id for node in tree.css(_CALLOUT_HEADINGS))
        _HtmlWalker(builder, _chrome(tree), callout_headings).read(root)
    return _page_title(tree)


def _chrome(tree: LexborHTMLParser) -> frozenset[int]:
    """Ids (`mem_id`) of the elements to leave out with everything under them."""
    chrome = {node.mem_id for node in tree.css(_DROP_SELECTOR)}
    for node in tree.css("[class], [id]"):
        if node.tag not in _NEVER_DROPPED and _CHROME_NAME.search(f"{node.attrs.sget('class')} {node.id or ''}"):
            chrome.add(node.mem_id)
    for node in tree.css("header"):
        # A page header holds the logo and menus; an article's header holds its title, which is kept.
        if node.css_first("h1, h2") is None:
            chrome.add(node.mem_id)
    return frozenset(chrome)


def _page_title(tree: LexborHTMLParser) -> str:
    """The `<title>`, else the Open Graph title, else an empty string."""
    node = tree.css_first("title")
    if node is not None and (text := node.text(deep=True).strip()):
        return text
    meta = tree.css_first('meta[property="og:title"]')
    return meta.attrs.sget("content").strip() if meta is not None else ""


def _content_root(tree: LexborHTMLParser) -> LexborNode | None:
    """The element holding the page's main content."""
    for selector in ("main", "[role=main]", "article"):
        found = tree.css(selector)
        if len(found) == 1:
            return found[0]
    return tree.body


class _HtmlWalker:
    """Walks the content tree in order, collecting inline text into paragraphs between blocks."""

    def __init__(self, builder: DocumentBuilder, chrome: frozenset[int], callout_headings: frozenset[int]) -> None:
        self._builder = builder
        self._chrome = chrome
        self._callout_headings = callout_headings
        self._inline: list[str] = []

    def read(self, root: LexborNode) -> None:
        """Adds every block under `root`."""
        self._walk(root, 0)
        self._flush()

    def _walk(self, node: LexborNode, depth: int) -> None:
        """Adds the content of `node`'s children."""
        for child in node.iter(include_text=True):
            if child.is_text_node:
                self._inline.append(child.text_content or "")
                continue
            tag = child.tag or ""
            if not child.is_element_node or tag == "img" or child.mem_id in self._chrome:
                continue
            if tag == "br":
                self._inline.append(" ")
            elif depth >= _MAX_DEPTH:
                self._inline.append(f" {self._text(child)} ")
            elif tag in _HEADINGS and child.mem_id in self._callout_headings:
                self._flush()
                self._builder.paragraph(self._text(child))
            elif tag in _HEADINGS:
                self._flush()
                self._builder.heading(self._text(child), _HEADINGS[tag])
            elif tag in _LISTS:
                self._flush()
                self._builder.list_items(self._list_items(child, 0))
            elif tag == "pre":
                self._flush()
                self._builder.code(child.text(deep=True))
            elif tag == "table":
                self._flush()
                self._builder.table(self._table_rows(child))
            elif tag == "p" or tag in _BLOCK_CONTAINERS:
                self._flush()
                self._walk(child, depth + 1)
                self._flush()
            else:
                self._walk(child, depth + 1)

    def _flush(self) -> None:
        """Ends the current paragraph, if it has any text."""
        if self._inline:
            self._builder.paragraph("".join(self._inline))
            self._inline.clear()

    def _text(self, node: LexborNode, skip_tags: frozenset[str] = frozenset()) -> str:
        """The text under `node` without chrome, with line breaks and nested blocks read as spaces."""
        parts: list[str] = []
        stack = [node]
        while stack:
            current = stack.pop()
            if current.is_text_node:
                parts.append(current.text_content or "")
                continue
            tag = current.tag or ""
            if not current.is_element_node or current.mem_id in self._chrome or tag in skip_tags:
                continue
            if tag == "br" or tag in _BLOCK_CONTAINERS or tag in _SPACED:
                parts.append(" ")
            stack.extend(reversed(list(current.iter(include_text=True))))
        return "".join(parts)

    def _list_items(self, node: LexborNode, depth: int) -> list[ListItem]:
        """The items of a `<ul>`/`<ol>` and of the lists nested in its items."""
        items: list[ListItem] = []
        ordered = node.tag == "ol"
        number = int(start) if (start := node.attrs.sget("start")).isdigit() else 1
        for item in node.iter():
            if item.tag != "li" or item.mem_id in self._chrome:
                continue
            items.append(ListItem(self._text(item, _LISTS), depth, number if ordered else None))
            number += 1
            for nested in item.css("ul, ol, menu"):
                # Only lists directly nested in this item; deeper ones come with their own parent list.
                if depth < _MAX_DEPTH and _closest(nested.parent, "li") == item and nested.mem_id not in self._chrome:
                    items.extend(self._list_items(nested, depth + 1))
        return items

    def _table_rows(self, table: LexborNode) -> list[list[str]]:
        """The rows of a table (not of tables nested in it), each a list of cell texts."""
        rows: list[list[str]] = []
        for row in table.css("tr"):
            if _closest(row.parent, "table") == table and row.mem_id not in self._chrome:
                rows.append([self._text(cell) for cell in row.iter() if cell.tag in {"td", "th"}])
        return rows


# Inline-level in the DOM but separate words when read.
_SPACED = frozenset({"p", "pre", "td", "th", "ul", "ol"})


def _closest(node: LexborNode | None, tag: str) -> LexborNode | None:
    """`node` or its nearest ancestor with `tag`."""
    while node is not None and node.tag != tag:
        node = node.parent
    return node
