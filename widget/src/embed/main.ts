// embed.js: the one tag a tenant pastes. Tiny and dependency-free: it fetches the public config,
// checks placement, renders the launcher into a shadow root at once, and imports the real widget
// (widget.js, three.js) only when the visitor opens it or the browser is idle.
import { durationMs, type EmbedConfig, type WidgetHandle, type WidgetModule } from "../config";
import { cornerOf, themeOf } from "../theme";
import { launcherCss } from "./launcher-css";
import { isPhone, pathAllowed, withinHours } from "./placement";

declare const __WIDGET_PATH__: string;

interface Controls {
  open(): void;
  close(): void;
}

interface Api {
  open(embedId?: string): void;
  close(embedId?: string): void;
  /** Every mounted bot on the page, by embed id; shared by all copies of embed.js. */
  readonly embeds: Map<string, Controls>;
}

const CHAT_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';

function currentScript(): HTMLScriptElement | null {
  const script = document.currentScript;
  if (script instanceof HTMLScriptElement) return script;
  // document.currentScript is null only in exotic loaders; fall back to the first unclaimed tag.
  return document.querySelector<HTMLScriptElement>('script[src*="embed.js"]:not([data-ac-mounted])');
}

async function boot(script: HTMLScriptElement): Promise<void> {
  script.setAttribute("data-ac-mounted", "");
  const src = new URL(script.src, location.href);
  const edge = src.origin;
  const embedId = script.dataset.embedId || src.searchParams.get("id") || "";
  if (!embedId) return;
  const response = await fetch(`${edge}/v1/embed/${encodeURIComponent(embedId)}/config`, { credentials: "omit" });
  if (!response.ok) return; // unknown, rotated or paused bot: show nothing
  const config = (await response.json()) as EmbedConfig;
  const placement = config.placement ?? {};
  if (!pathAllowed(location.pathname, placement)) return;
  if (isPhone() && !placement.showOnMobile) return;
  const openNow = withinHours(placement.businessHours);
  if (!openNow && placement.businessHours?.hideOutsideHours) return;

  const host = document.createElement("avatarchat-widget");
  host.setAttribute("data-embed-id", embedId);
  host.setAttribute("data-state", "closed");
  host.setAttribute("data-mode", "launcher");
  // Open, not closed: host-page scripts run first-party and could patch attachShadow anyway, so a
  // closed root protects nothing, while an open one lets assistive tech tools and tests see in.
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = launcherCss(themeOf(placement), cornerOf(placement));
  const wrap = document.createElement("div");
  wrap.className = "ac-root";
  const launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "ac-launcher";
  const name = config.botName || "Chat";
  launcher.setAttribute("aria-label", `Open chat with ${name}`);
  launcher.setAttribute("aria-haspopup", "dialog");
  launcher.setAttribute("aria-expanded", "false");
  const launcherStyle = (placement.launcherStyle ?? "").replace(/^LAUNCHER_STYLE_/, "");
  if (launcherStyle === "AVATAR" && config.avatarThumbnailUrl) {
    const img = document.createElement("img");
    img.alt = "";
    img.src = config.avatarThumbnailUrl;
    launcher.append(img);
  } else if (launcherStyle === "TAB") {
    launcher.classList.add("ac-tab");
    launcher.textContent = name;
  } else {
    launcher.innerHTML = CHAT_ICON; // a constant, never config text
  }
  if (launcherStyle === "HIDDEN") launcher.hidden = true;
  wrap.append(launcher);
  root.append(style, wrap);
  (document.body || document.documentElement).append(host);

  let widget: Promise<WidgetHandle> | null = null;
  const load = (): Promise<WidgetHandle> =>
    (widget ??= (import(/* webpackIgnore: true */ `${edge}${__WIDGET_PATH__}`) as Promise<WidgetModule>).then((mod) =>
      mod.mount({
        edge,
        embedId,
        config,
        root,
        host,
        visitorId: script.dataset.visitorId,
        visitorSignature: script.dataset.visitorSignature,
        minFps: Number(script.dataset.minFps) || 12,
        offHoursMessage: openNow ? undefined : placement.businessHours?.offHoursMessage || "We're away right now.",
        onClose: () => {
          wrap.removeAttribute("data-open");
          launcher.setAttribute("aria-expanded", "false");
          launcher.focus();
        },
      }),
    ));
  const open = (): void => {
    wrap.setAttribute("data-open", "");
    launcher.setAttribute("aria-expanded", "true");
    load().then(
      (handle) => handle.open(),
      () => {
        widget = null; // a failed import (offline, blocked) may be retried on the next click
        wrap.removeAttribute("data-open");
      },
    );
  };
  const close = (): void => {
    widget?.then((handle) => handle.close());
  };
  launcher.addEventListener("click", open);
  registry.set(embedId, { open, close });

  const delay = durationMs(placement.openDelay);
  if (delay > 0) setTimeout(open, delay);
  // Warm the widget in idle time after the page has loaded, so opening feels instant without ever
  // competing with the host page's own load.
  const warm = (): void => {
    const idle = (window as { requestIdleCallback?: (cb: () => void, o?: object) => number }).requestIdleCallback;
    if (idle) idle(() => void load().catch(() => (widget = null)), { timeout: 10000 });
  };
  if (script.dataset.preload !== "false") {
    if (document.readyState === "complete") setTimeout(warm, 3000);
    else addEventListener("load", () => setTimeout(warm, 3000), { once: true });
  }
}

const global = window as unknown as { AvatarChat?: Api };
// The one namespaced global: lets a site with launcherStyle HIDDEN open the widget from its own JS.
const api: Api = (global.AvatarChat ??= (() => {
  const embeds = new Map<string, Controls>();
  const pick = (id?: string): Controls | undefined => (id ? embeds.get(id) : embeds.values().next().value);
  return { embeds, open: (id) => pick(id)?.open(), close: (id) => pick(id)?.close() };
})());
const registry = api.embeds;

const script = currentScript();
if (script) boot(script).catch(() => undefined);
