// Payload shapes of widget/PROTOCOL.md (Socket.io namespace /widget). Stored messages and citations
// are proto JSON (lowerCamelCase, enums by name).

export interface CitationJson {
  index?: number;
  title?: string;
  url?: string;
  snippet?: string;
  document?: string;
}

export interface MessageJson {
  name?: string;
  role?: string;
  text?: string;
  state?: string;
  citations?: CitationJson[];
  requestId?: string;
}

export type ResourceRef = string | { name?: string } | null | undefined;

export interface SessionEvent {
  visitorId?: string;
  verified?: boolean;
  conversation?: ResourceRef;
  chatbot?: ResourceRef;
  greeting?: string;
  resumed?: boolean;
}

export interface StreamStart {
  conversation?: ResourceRef;
  messageId: string;
  requestId?: string;
}

export interface StreamChunk {
  messageId: string;
  index: number;
  text: string;
  /** Mouth shapes of the words this chunk completes. */
  visemes?: VisemeCue[];
}

export interface StreamEnd {
  messageId: string;
  message?: MessageJson;
}

export interface CitationEvent {
  messageId: string;
  citation: CitationJson;
}

export interface AnimationEvent {
  behaviour?: string;
  clip?: string;
  intensity?: number;
  durationMs?: number;
  changed?: boolean;
}

export interface VisemeCue {
  viseme: string;
  startMs: number;
  durationMs: number;
}

export interface VisemesEvent {
  messageId: string;
  cues: VisemeCue[];
}

export interface ErrorEvent {
  code?: string;
  message?: string;
  requestId?: string;
}

export interface SendAck {
  ok: boolean;
  messageId?: string;
  error?: ErrorEvent | string;
}

export function refName(ref: ResourceRef): string | null {
  if (!ref) return null;
  return typeof ref === "string" ? ref : (ref.name ?? null);
}

/** "MESSAGE_ROLE_VISITOR" | "visitor" → "visitor". */
export function roleOf(message: MessageJson): string {
  return (message.role ?? "").replace(/^MESSAGE_ROLE_/i, "").toLowerCase();
}
