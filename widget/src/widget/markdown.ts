// A tiny, safe Markdown subset rendered straight to DOM nodes: model output and visitor text only
// ever become text nodes, so no HTML in them can run. Supported: paragraphs, line breaks, "-"/"1."
// lists, **bold**, *italic*/_italic_, `code`, [text](http(s) links), bare http(s) URLs, and [n]
// citation markers.

const INLINE =
  /\*\*([^*\n]+)\*\*|\*([^*\s][^*\n]*)\*|(?<![\w])_([^_\s][^_\n]*)_(?![\w])|`([^`\n]+)`|\[([^\]\n]+)\]\(([^)\s]+)\)|\[(\d{1,3})\]|(https?:\/\/[^\s<>()\]]+[^\s<>()\].,;:!?'"])/g;

/** An absolute http(s) URL, or null for anything else (javascript:, data:, relative, garbage). */
export function safeHref(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function link(doc: Document, href: string, label: string): HTMLAnchorElement {
  const a = doc.createElement("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  a.textContent = label;
  return a;
}

function inline(doc: Document, text: string, parent: Node, depth = 0): void {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    if (at > last) parent.appendChild(doc.createTextNode(text.slice(last, at)));
    last = at + m[0].length;
    const [, bold, star, under, code, label, url, cite, bare] = m;
    const wrap = (tag: string, inner: string): void => {
      const el = doc.createElement(tag);
      if (depth < 3) inline(doc, inner, el, depth + 1);
      else el.textContent = inner;
      parent.appendChild(el);
    };
    if (bold !== undefined) wrap("strong", bold);
    else if (star !== undefined) wrap("em", star);
    else if (under !== undefined) wrap("em", under);
    else if (code !== undefined) {
      const el = doc.createElement("code");
      el.textContent = code;
      parent.appendChild(el);
    } else if (label !== undefined) {
      const href = safeHref(url);
      parent.appendChild(href ? link(doc, href, label) : doc.createTextNode(m[0]));
    } else if (cite !== undefined) {
      const sup = doc.createElement("sup");
      sup.className = "ac-cite-ref";
      sup.textContent = `[${cite}]`;
      parent.appendChild(sup);
    } else if (bare !== undefined) {
      const href = safeHref(bare);
      parent.appendChild(href ? link(doc, href, bare) : doc.createTextNode(bare));
    }
  }
  if (last < text.length) parent.appendChild(doc.createTextNode(text.slice(last)));
}

const BULLET = /^\s*[-*•]\s+/;
const NUMBERED = /^\s*\d{1,3}[.)]\s+/;

/** Renders `text` as a fragment of <p>, <ul>, <ol> with safe inline markup. */
export function renderMarkdown(doc: Document, text: string): DocumentFragment {
  const fragment = doc.createDocumentFragment();
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n{2,}/)) {
    const lines = block.split("\n").filter((line) => line.trim() !== "");
    if (!lines.length) continue;
    const listKind = lines.every((l) => BULLET.test(l)) ? "ul" : lines.every((l) => NUMBERED.test(l)) ? "ol" : null;
    if (listKind) {
      const list = doc.createElement(listKind);
      for (const line of lines) {
        const item = doc.createElement("li");
        inline(doc, line.replace(listKind === "ul" ? BULLET : NUMBERED, ""), item);
        list.appendChild(item);
      }
      fragment.appendChild(list);
      continue;
    }
    const p = doc.createElement("p");
    lines.forEach((line, i) => {
      if (i) p.appendChild(doc.createElement("br"));
      inline(doc, line, p);
    });
    fragment.appendChild(p);
  }
  return fragment;
}
