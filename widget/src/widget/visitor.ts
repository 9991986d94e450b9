// Visitor and conversation ids, persisted per site in localStorage under an "avatarchat:" prefix.

const memory = new Map<string, string>();

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return memory.get(key) ?? null; // storage blocked (third-party context, privacy mode)
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    if (value === null) memory.delete(key);
    else memory.set(key, value);
  }
}

export function randomId(): string {
  // randomUUID needs a secure context; plain-http pages still get 122 random bits.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const VISITOR_KEY = "avatarchat:visitorId";

/** The anonymous visitor id ("anon_" + UUID), created once per browser and site. */
export function anonymousVisitorId(): string {
  let id = read(VISITOR_KEY);
  if (!id || !id.startsWith("anon_")) {
    id = `anon_${randomId()}`;
    write(VISITOR_KEY, id);
  }
  return id;
}

export function rememberVisitorId(id: string): void {
  if (id.startsWith("anon_")) write(VISITOR_KEY, id);
}

export function conversationOf(embedId: string): string | null {
  return read(`avatarchat:${embedId}:conversation`);
}

export function rememberConversation(embedId: string, name: string | null): void {
  write(`avatarchat:${embedId}:conversation`, name);
}
