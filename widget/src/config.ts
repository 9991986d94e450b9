// The public embed config as the edge's REST transcoding renders it (proto JSON: lowerCamelCase
// names, enums by name, Duration as "1.5s", unset fields omitted). Shared by embed.js and widget.js.

export interface ThemeJson {
  primaryColor?: string;
  backgroundColor?: string;
  textColor?: string;
}

export interface BusinessHoursWindowJson {
  day?: string;
  startTime?: string;
  endTime?: string;
}

export interface BusinessHoursJson {
  timeZone?: string;
  windows?: BusinessHoursWindowJson[];
  hideOutsideHours?: boolean;
  offHoursMessage?: string;
}

export interface PlacementJson {
  includePaths?: string[];
  excludePaths?: string[];
  position?: string;
  offsetXPx?: number;
  offsetYPx?: number;
  theme?: ThemeJson;
  launcherStyle?: string;
  openDelay?: string;
  showOnMobile?: boolean;
  businessHours?: BusinessHoursJson;
}

export interface AnimationBindingJson {
  behaviour?: string;
  clip?: string;
}

export interface EmbedConfig {
  embedId?: string;
  botName?: string;
  greeting?: string;
  language?: string;
  avatarModelUrl?: string;
  avatarThumbnailUrl?: string;
  animations?: AnimationBindingJson[];
  visemeMorphs?: Record<string, string>;
  placement?: PlacementJson;
  visitorIdentityEnabled?: boolean;
  configVersion?: string;
}

/** What embed.js hands to widget.js when it mounts the panel. */
export interface MountContext {
  /** The edge origin, e.g. "https://chat.example.com" (from embed.js's own src). */
  edge: string;
  embedId: string;
  config: EmbedConfig;
  /** The shadow root embed.js rendered the launcher into. */
  root: ShadowRoot;
  /** The host element in the page; carries the data-* debug hooks. */
  host: HTMLElement;
  /** Tenant-signed visitor identity from the snippet's data attributes, if any. */
  visitorId?: string;
  visitorSignature?: string;
  /** Below this many frames per second the widget switches to its 2D fallback. */
  minFps: number;
  /** The off-hours notice to show above the chat, if the bot is outside its business hours. */
  offHoursMessage?: string;
  /** Called when the visitor closes the panel (Esc or the close button). */
  onClose: () => void;
}

/** The module interface of widget.js. */
export interface WidgetModule {
  mount(ctx: MountContext): WidgetHandle;
}

export interface WidgetHandle {
  open(): void;
  close(): void;
}

/** "BEHAVIOUR_THUMBS_UP" | "thumbs_up" | "THUMBS_UP" → "thumbs_up". */
export function behaviourKey(value: string | undefined): string {
  return (value ?? "").replace(/^BEHAVIOUR_/i, "").toLowerCase();
}

/** Parses a proto JSON Duration ("3s", "1.500s") to milliseconds; 0 when absent or malformed. */
export function durationMs(value: string | undefined): number {
  const match = /^(-?\d+(?:\.\d+)?)s$/.exec(value ?? "");
  return match ? Math.round(parseFloat(match[1]) * 1000) : 0;
}
