// The Socket.io side of PROTOCOL.md: connects with the embed and visitor ids, resumes a streaming
// answer with lastChunk after a reconnect, and resends unacknowledged messages under the same
// clientMessageId so the edge stores each once.
import { io, type Socket } from "socket.io-client";
import type {
  AnimationEvent,
  CitationEvent,
  ErrorEvent,
  MessageJson,
  SendAck,
  SessionEvent,
  StreamChunk,
  StreamEnd,
  StreamStart,
  VisemesEvent,
} from "./protocol";
import { refName } from "./protocol";
import { anonymousVisitorId, conversationOf, randomId, rememberConversation, rememberVisitorId } from "./visitor";

export interface ChatHandlers {
  session(event: SessionEvent): void;
  receive(message: MessageJson): void;
  streamStart(event: StreamStart): void;
  /** Chunks arrive here exactly once each and in index order. */
  streamChunk(event: StreamChunk): void;
  streamEnd(event: StreamEnd): void;
  citation(event: CitationEvent): void;
  animation(event: AnimationEvent): void;
  visemes(event: VisemesEvent): void;
  typing(from: string, on: boolean): void;
  conversationEnded(): void;
  error(event: ErrorEvent): void;
  connection(state: "connecting" | "online" | "offline" | "refused", detail?: string): void;
  sendFailed(clientMessageId: string, error: ErrorEvent): void;
}

export interface ChatOptions {
  edge: string;
  embedId: string;
  visitorId?: string;
  visitorSignature?: string;
}

interface Pending {
  text: string;
  clientMessageId: string;
}

const ACK_TIMEOUT_MS = 10000;

export class ChatClient {
  private readonly socket: Socket;
  private conversation: string | null;
  private lastChunk: { messageId: string; index: number } | null = null;
  /** Out-of-order chunks waiting for the gap before them to fill, per message. */
  private readonly early = new Map<string, Map<number, StreamChunk>>();
  private readonly pending = new Map<string, Pending>();
  /** Pending messages emitted on the current connection and not yet acknowledged. */
  private readonly inflight = new Set<string>();
  private visitorId: string;

  constructor(
    private readonly options: ChatOptions,
    private readonly on: ChatHandlers,
  ) {
    // An unsigned id from the page is anonymous to the edge (it answers with a fresh anon_ id), so only a signed
    // one is presented; otherwise this browser's own anonymous id keeps the visitor's conversation across pages.
    this.visitorId = (options.visitorSignature && options.visitorId) || anonymousVisitorId();
    this.conversation = conversationOf(options.embedId);
    this.socket = io(`${options.edge}/widget`, {
      transports: ["websocket", "polling"],
      autoConnect: false,
      // A function, so every reconnect presents the current conversation and resume point.
      auth: (cb) => cb(this.auth()),
    });
    this.wire();
  }

  connect(): void {
    this.on.connection("connecting");
    this.socket.connect();
  }

  disconnect(): void {
    this.socket.disconnect();
  }

  /** Sends a visitor message; returns its clientMessageId (the idempotency key). */
  send(text: string): string {
    const clientMessageId = randomId();
    this.pending.set(clientMessageId, { text, clientMessageId });
    if (this.socket.connected) this.emitSend(clientMessageId);
    return clientMessageId;
  }

  typing(on: boolean): void {
    if (this.socket.connected) this.socket.emit(on ? "typing:start" : "typing:stop", {});
  }

  interaction(kind: "click" | "hover" | "wave"): void {
    if (this.socket.connected) this.socket.emit("avatar:interaction", { kind });
  }

  async end(): Promise<void> {
    if (this.socket.connected) await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("conversation:end", {});
    this.forgetConversation();
  }

  private auth(): Record<string, unknown> {
    const auth: Record<string, unknown> = {
      embedId: this.options.embedId,
      visitorId: this.visitorId,
      pageUrl: location.href,
    };
    if (this.options.visitorSignature) auth.visitorSignature = this.options.visitorSignature;
    if (this.conversation) auth.conversationId = this.conversation;
    if (this.conversation && this.lastChunk) auth.lastChunk = this.lastChunk;
    return auth;
  }

  private emitSend(clientMessageId: string): void {
    const item = this.pending.get(clientMessageId);
    if (!item || this.inflight.has(clientMessageId)) return;
    this.inflight.add(clientMessageId);
    this.socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck("message:send", { text: item.text, clientMessageId })
      .then(
        (ack: SendAck) => {
          this.inflight.delete(clientMessageId);
          if (ack?.ok) {
            this.pending.delete(clientMessageId);
            return;
          }
          this.pending.delete(clientMessageId);
          const error = typeof ack?.error === "string" ? { message: ack.error } : (ack?.error ?? {});
          this.on.sendFailed(clientMessageId, error);
        },
        // No ack (timeout or disconnect): keep it pending; the next session resends it under the
        // same clientMessageId, which the edge stores once.
        () => this.inflight.delete(clientMessageId),
      );
  }

  private forgetConversation(): void {
    this.conversation = null;
    this.lastChunk = null;
    rememberConversation(this.options.embedId, null);
  }

  private setConversation(name: string | null): void {
    if (!name || name === this.conversation) return;
    this.conversation = name;
    rememberConversation(this.options.embedId, name);
  }

  private wire(): void {
    const s = this.socket;
    const on = this.on;
    s.on("connect", () => on.connection("online"));
    s.on("disconnect", (reason) => {
      this.inflight.clear();
      on.connection("offline", reason);
    });
    s.on("connect_error", (err: Error & { data?: ErrorEvent }) => {
      // A refusal by the edge (origin, embed id, signature) is final; transport errors retry.
      if (err.data?.code || !s.active) on.connection("refused", err.data?.message || err.message);
      else on.connection("offline", err.message);
    });
    s.on("session", (event: SessionEvent) => {
      if (event.visitorId && event.visitorId !== this.visitorId && !event.verified) {
        this.visitorId = event.visitorId;
        rememberVisitorId(event.visitorId);
      }
      if (event.conversation === null || event.conversation === "") {
        if (!event.resumed) this.forgetConversation();
      } else this.setConversation(refName(event.conversation));
      on.session(event);
      for (const id of this.pending.keys()) this.emitSend(id);
    });
    s.on("message:receive", (event: { message: MessageJson }) => on.receive(event.message));
    s.on("stream:start", (event: StreamStart) => {
      this.setConversation(refName(event.conversation));
      if (this.lastChunk?.messageId !== event.messageId) this.lastChunk = { messageId: event.messageId, index: -1 };
      on.streamStart(event);
    });
    s.on("stream:chunk", (event: StreamChunk) => this.chunk(event));
    s.on("stream:end", (event: StreamEnd) => {
      this.early.delete(event.messageId);
      on.streamEnd(event);
    });
    s.on("message:citation", (event: CitationEvent) => on.citation(event));
    s.on("avatar:animation", (event: AnimationEvent) => on.animation(event));
    s.on("avatar:visemes", (event: VisemesEvent) => on.visemes(event));
    s.on("typing:start", (event: { from?: string }) => on.typing(event?.from ?? "", true));
    s.on("typing:stop", (event: { from?: string }) => on.typing(event?.from ?? "", false));
    s.on("conversation:end", () => {
      this.forgetConversation();
      on.conversationEnded();
    });
    s.on("error", (event: ErrorEvent) => on.error(event ?? {}));
  }

  /** Delivers chunks once each, in order: drops duplicates, holds early ones until the gap fills. */
  private chunk(event: StreamChunk): void {
    if (this.lastChunk?.messageId !== event.messageId) this.lastChunk = { messageId: event.messageId, index: -1 };
    // The first chunk of an answer may be numbered 0 or 1; after that every gap is real.
    const fresh = this.lastChunk.index === -1 && event.index <= 1;
    const expected = fresh ? event.index : this.lastChunk.index + 1;
    if (event.index < expected) return;
    let early = this.early.get(event.messageId);
    if (!early) this.early.set(event.messageId, (early = new Map()));
    early.set(event.index, event);
    for (let i = expected; early.has(i); i++) {
      const chunk = early.get(i) as StreamChunk;
      early.delete(i);
      this.lastChunk = { messageId: event.messageId, index: i };
      // Mouth shapes first: a cued answer's text must not also drive the mouth from its letters.
      if (chunk.visemes?.length) this.on.visemes({ messageId: event.messageId, cues: chunk.visemes });
      this.on.streamChunk({ messageId: event.messageId, index: i, text: chunk.text });
    }
  }
}
