// widget.js: the chat panel, the Socket.io client and the avatar. embed.js imports it on open (or in
// idle time) and calls mount(); three.js arrives in a further chunk only when WebGL is usable.
import { behaviourKey, type MountContext, type WidgetHandle } from "../config";
import { cornerOf, themeOf } from "../theme";
import { ChatClient } from "./chat-client";
import { Fallback2D } from "./avatar/fallback2d";
import { type AvatarHooks, type AvatarView, type BaseState, hasWebGL } from "./avatar/view";
import { Panel } from "./panel";
import { panelCss } from "./panel-css";
import { type MessageJson, roleOf } from "./protocol";

declare const __WIDGET_BASE__: string;

export function mount(ctx: MountContext): WidgetHandle {
  return new Widget(ctx);
}

class Widget implements WidgetHandle {
  private readonly panel: Panel;
  private readonly wrap: HTMLElement;
  private client: ChatClient | null = null;
  private avatar: AvatarView | null = null;
  private avatarLoading = false;
  private greeting: string;
  private greeted = false;
  private streaming = new Set<string>();
  /** Messages whose answer got lip-sync cues from the edge (no letter-driven mouth then). */
  private cued = new Set<string>();
  /** Lip-sync cues the 3D avatar has taken, published as data-viseme-cues. */
  private visemeCues = 0;
  private typingTimer = 0;
  private typingOn = false;
  private readonly botName: string;

  constructor(private readonly ctx: MountContext) {
    const { config } = ctx;
    this.botName = config.botName || "Assistant";
    this.greeting = config.greeting || "";
    const style = document.createElement("style");
    style.textContent = panelCss(themeOf(config.placement), cornerOf(config.placement));
    this.wrap = ctx.root.querySelector<HTMLElement>(".ac-root") ?? ctx.root.appendChild(document.createElement("div"));
    this.panel = new Panel(this.botName, {
      send: (text) => this.send(text),
      close: () => this.close(),
      typing: (on) => this.typing(on),
    });
    if (ctx.offHoursMessage) this.panel.setNotice(ctx.offHoursMessage);
    ctx.root.append(style);
    this.wrap.append(this.panel.element);
  }

  open(): void {
    this.wrap.setAttribute("data-open", "");
    this.ctx.host.setAttribute("data-state", "open");
    if (!this.client) {
      this.client = new ChatClient(
        {
          edge: this.ctx.edge,
          embedId: this.ctx.embedId,
          visitorId: this.ctx.visitorId,
          visitorSignature: this.ctx.visitorSignature,
        },
        this.handlers(),
      );
      this.client.connect();
    }
    this.ensureAvatar();
    this.avatar?.setActive(true);
    this.showGreeting();
    this.panel.input.focus();
  }

  close(): void {
    this.wrap.removeAttribute("data-open");
    this.ctx.host.setAttribute("data-state", "closed");
    this.avatar?.setActive(false);
    this.typing(false);
    this.ctx.onClose();
  }

  private showGreeting(): void {
    if (this.greeted || !this.greeting || this.panel.hasMessages()) return;
    this.greeted = true;
    this.panel.add("greeting", "assistant", this.greeting);
    this.avatar?.play({ behaviour: "greet" });
  }

  private hooks(): AvatarHooks {
    const host = this.ctx.host;
    return {
      clip: (name) => host.setAttribute("data-clip", name),
      cues: (count) => host.setAttribute("data-viseme-cues", String((this.visemeCues += count))),
      pose: (name, value) => host.setAttribute(`data-${name}`, value),
      fps: (value) => host.setAttribute("data-fps", String(value)),
      fallback: (reason) => this.useFallback(reason),
      interaction: (kind) => {
        this.client?.interaction(kind);
        // A click on the avatar is answered at once with a wave (its greet clip); never over an answer's talking.
        if (kind === "click" && !this.streaming.size) this.avatar?.play({ behaviour: "greet" });
      },
    };
  }

  private ensureAvatar(): void {
    if (this.avatar || this.avatarLoading) return;
    const modelUrl = this.ctx.config.avatarModelUrl;
    if (!modelUrl || !hasWebGL()) return this.useFallback(modelUrl ? "no webgl" : "no model");
    this.avatarLoading = true;
    this.ctx.host.setAttribute("data-mode", "loading");
    import("./avatar/stage3d")
      .then(({ createStage3D }) =>
        createStage3D({
          stage: this.panel.stage,
          config: this.ctx.config,
          modelUrl: new URL(modelUrl, this.ctx.edge).href,
          dracoPath: `${this.ctx.edge}${__WIDGET_BASE__}draco/`,
          minFps: this.ctx.minFps,
          hooks: this.hooks(),
        }),
      )
      .then(
        (view) => {
          this.avatarLoading = false;
          if (this.avatar) return view.dispose(); // fell back meanwhile
          this.avatar = view;
          this.ctx.host.setAttribute("data-mode", "3d");
          view.setActive(this.wrap.hasAttribute("data-open"));
          view.setBase(this.streaming.size ? "talk" : "idle");
        },
        (error: unknown) => {
          this.avatarLoading = false;
          this.useFallback(`model failed: ${String(error)}`);
        },
      );
  }

  private useFallback(reason: string): void {
    this.avatar?.dispose();
    this.avatar = new Fallback2D(this.panel.stage, this.botName, this.ctx.config.avatarThumbnailUrl, this.hooks());
    this.ctx.host.setAttribute("data-mode", "2d");
    this.ctx.host.setAttribute("data-fallback-reason", reason);
    this.avatar.setBase(this.streaming.size ? "talk" : "idle");
  }

  private base(state: BaseState): void {
    this.avatar?.setBase(state);
  }

  private send(text: string): void {
    if (!this.client) return;
    const id = this.client.send(text.slice(0, 4000));
    this.panel.add(id, "visitor", text);
    this.panel.setTyping(true);
    this.base("think");
  }

  private typing(on: boolean): void {
    clearTimeout(this.typingTimer);
    if (on) this.typingTimer = window.setTimeout(() => this.typing(false), 4000);
    if (on === this.typingOn) return;
    this.typingOn = on;
    this.client?.typing(on);
    if (on && !this.streaming.size) this.base("listen");
    else if (!on && !this.streaming.size) this.base("idle");
  }

  private showStored(message: MessageJson): void {
    const role = roleOf(message);
    const id = message.name || message.requestId || `m${Math.random()}`;
    if (role === "visitor" && message.requestId && this.panel.has(message.requestId)) {
      this.panel.rename(message.requestId, id); // our own echo
      return;
    }
    const view = this.panel.get(id) ?? this.panel.add(id, role);
    this.panel.setText(view, message.text ?? "", role === "visitor");
    for (const c of message.citations ?? []) this.panel.addCitation(view, c);
  }

  private handlers(): ConstructorParameters<typeof ChatClient>[1] {
    const panel = this.panel;
    return {
      connection: (state, detail) => {
        const label = { connecting: "Connecting…", online: "Online", offline: "Reconnecting…", refused: "Unavailable" };
        panel.setStatus(label[state]);
        if (state === "refused") panel.setNotice(detail || "The chat is unavailable on this page.");
        else if (state === "online") panel.setNotice(this.ctx.offHoursMessage ?? "");
      },
      session: (event) => {
        if (event.greeting && !this.greeted) this.greeting = event.greeting;
        this.showGreeting();
      },
      receive: (message) => this.showStored(message),
      streamStart: (event) => {
        panel.setTyping(false);
        this.streaming.add(event.messageId);
        const view = panel.add(event.messageId, "assistant");
        panel.setBusy(view, true);
        this.base("talk");
      },
      streamChunk: (event) => {
        const view = panel.get(event.messageId) ?? panel.add(event.messageId, "assistant");
        panel.append(view, event.text);
        if (!this.cued.has(event.messageId)) this.avatar?.speak(event.text);
      },
      streamEnd: (event) => {
        this.streaming.delete(event.messageId);
        this.cued.delete(event.messageId);
        const view = panel.get(event.messageId) ?? panel.add(event.messageId, "assistant");
        if (event.message?.text !== undefined) panel.setText(view, event.message.text, false);
        for (const c of event.message?.citations ?? []) panel.addCitation(view, c);
        panel.setBusy(view, false);
        panel.setTyping(false);
        if (!this.streaming.size) this.base("idle");
      },
      citation: (event) => {
        const view = panel.get(event.messageId) ?? panel.add(event.messageId, "assistant");
        panel.addCitation(view, event.citation);
      },
      animation: (event) => {
        const key = behaviourKey(event.behaviour);
        // Base states follow the stream itself; only gestures and expressions come from cues.
        if (key === "idle" && this.streaming.size) return;
        this.avatar?.play(event);
      },
      visemes: (event) => {
        this.cued.add(event.messageId);
        this.avatar?.visemes(event.cues ?? []);
      },
      typing: (from, on) => {
        if (roleOf({ role: from }) !== "visitor") panel.setTyping(on);
      },
      conversationEnded: () => {
        panel.add(`end${Date.now()}`, "system", "Conversation ended.");
        this.streaming.clear();
        this.base("idle");
      },
      error: (event) => {
        panel.setTyping(false);
        // A stream that failed part-way: what arrived stays, the answer is no longer in progress.
        const failed = (event as { messageId?: string }).messageId;
        const view = failed ? panel.get(failed) : undefined;
        if (failed) this.streaming.delete(failed);
        if (view) panel.setBusy(view, false);
        panel.setNotice(event.message || event.code || "Something went wrong.");
        if (!this.streaming.size) this.base("idle");
      },
      sendFailed: (id, error) => {
        const view = panel.get(id);
        if (view) panel.markFailed(view, error.message || error.code || "not sent");
        panel.setTyping(false);
        panel.setNotice(error.message || "Your message could not be sent.");
        this.base("idle");
      },
    };
  }
}
