// The chat panel's DOM: header, avatar stage, message log (role="log", aria-live), typing
// indicator and composer. Text from the model or the visitor only ever becomes text nodes.
import { link, renderMarkdown, safeHref } from "./markdown";
import type { CitationJson } from "./protocol";

const SEND_ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M3 20l18-8L3 4v6l12 2-12 2z"/></svg>';

export interface MessageView {
  element: HTMLElement;
  body: HTMLElement;
  citations: HTMLOListElement;
  text: string;
  cited: Map<number, CitationJson>;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

export class Panel {
  readonly element = el("div", "ac-panel");
  readonly stage = el("div", "ac-stage");
  readonly input = el("textarea", "ac-input");
  private readonly status = el("span", "ac-status");
  private readonly notice = el("div", "ac-notice");
  private readonly log = el("div", "ac-log");
  private readonly typingDots = el("div", "ac-typing");
  private readonly messages = new Map<string, MessageView>();
  private renderQueued = new Set<MessageView>();

  constructor(
    botName: string,
    handlers: { send(text: string): void; close(): void; typing(on: boolean): void },
  ) {
    const p = this.element;
    p.setAttribute("role", "dialog");
    p.setAttribute("aria-modal", "false");
    p.setAttribute("aria-labelledby", "ac-title");

    const header = el("div", "ac-header");
    const title = el("h2", "ac-title");
    title.id = "ac-title";
    title.textContent = botName;
    title.append(el("br"), this.status);
    const close = el("button", "ac-icon-btn");
    close.type = "button";
    close.setAttribute("aria-label", "Close chat");
    close.textContent = "✕";
    close.addEventListener("click", () => handlers.close());
    header.append(title, close);

    this.stage.setAttribute("aria-hidden", "true");
    this.notice.setAttribute("role", "status");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    this.log.setAttribute("aria-label", `Conversation with ${botName}`);
    this.log.tabIndex = 0;
    this.typingDots.setAttribute("aria-hidden", "true");
    this.typingDots.append(el("span"), el("span"), el("span"));

    const form = el("form", "ac-form");
    const label = el("label", "ac-sr");
    label.htmlFor = "ac-input";
    label.textContent = `Message ${botName}`;
    this.input.id = "ac-input";
    this.input.rows = 1;
    this.input.maxLength = 4000;
    this.input.placeholder = "Type a message…";
    this.input.setAttribute("enterkeyhint", "send");
    const send = el("button", "ac-send");
    send.type = "submit";
    send.setAttribute("aria-label", "Send message");
    send.innerHTML = SEND_ICON; // a constant
    form.append(label, this.input, send);
    const submit = (): void => {
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = "";
      handlers.typing(false);
      handlers.send(text);
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    });
    this.input.addEventListener("input", () => handlers.typing(this.input.value.trim() !== ""));
    this.input.addEventListener("blur", () => handlers.typing(false));
    p.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        handlers.close();
      }
    });
    p.append(header, this.stage, this.notice, this.log, form);
    this.log.append(this.typingDots);
  }

  setStatus(text: string): void {
    this.status.textContent = text;
  }

  setNotice(text: string): void {
    this.notice.textContent = text;
  }

  setTyping(on: boolean): void {
    this.typingDots.toggleAttribute("data-on", on);
    if (on) this.scroll();
  }

  hasMessages(): boolean {
    return this.messages.size > 0;
  }

  has(id: string): boolean {
    return this.messages.has(id);
  }

  /** Adds a message bubble (or returns the existing one with this id). */
  add(id: string, role: string, text = ""): MessageView {
    const existing = this.messages.get(id);
    if (existing) return existing;
    const element = el("div", `ac-msg ac-msg-${role === "visitor" ? "visitor" : role === "system" ? "system" : "assistant"}`);
    const body = el("div", "ac-body");
    const citations = el("ol", "ac-citations");
    citations.setAttribute("aria-label", "Sources");
    element.append(body, citations);
    const view: MessageView = { element, body, citations, text: "", cited: new Map() };
    this.messages.set(id, view);
    this.log.insertBefore(element, this.typingDots);
    this.setText(view, text, role === "visitor");
    return view;
  }

  /** Renames a bubble, e.g. from its clientMessageId to the stored message's name. */
  rename(from: string, to: string): void {
    const view = this.messages.get(from);
    if (!view || this.messages.has(to)) return;
    this.messages.delete(from);
    this.messages.set(to, view);
  }

  get(id: string): MessageView | undefined {
    return this.messages.get(id);
  }

  append(view: MessageView, text: string): void {
    view.text += text;
    // Re-render at most once a frame however fast tokens arrive.
    if (this.renderQueued.has(view)) return;
    this.renderQueued.add(view);
    requestAnimationFrame(() => {
      this.renderQueued.delete(view);
      this.setText(view, view.text, false);
    });
  }

  setText(view: MessageView, text: string, plain: boolean): void {
    view.text = text;
    if (plain) view.body.textContent = text;
    else view.body.replaceChildren(renderMarkdown(document, text));
    this.scroll();
  }

  setBusy(view: MessageView, busy: boolean): void {
    if (busy) view.element.setAttribute("aria-busy", "true");
    else view.element.removeAttribute("aria-busy");
  }

  markFailed(view: MessageView, reason: string): void {
    view.element.setAttribute("data-failed", "");
    view.element.title = reason;
    const note = el("div", "ac-sr");
    note.textContent = `Not sent: ${reason}`;
    view.element.append(note);
  }

  addCitation(view: MessageView, citation: CitationJson): void {
    const index = citation.index ?? view.cited.size + 1;
    view.cited.set(index, citation);
    const items = [...view.cited.entries()].sort(([a], [b]) => a - b);
    view.citations.replaceChildren(
      ...items.map(([n, c]) => {
        const li = el("li");
        li.append(document.createTextNode(`[${n}] `));
        const title = c.title || c.url || "Source";
        const href = c.url ? safeHref(c.url) : null;
        li.append(href ? link(document, href, title) : document.createTextNode(title));
        if (c.snippet) {
          const snippet = el("span", "ac-snippet");
          snippet.textContent = c.snippet;
          li.append(snippet);
        }
        return li;
      }),
    );
  }

  private scroll(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }
}
