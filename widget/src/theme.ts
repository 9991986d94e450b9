// Theme colours and the host element's corner, shared by the launcher and the panel.
import type { PlacementJson } from "./config";

export interface Theme {
  primary: string;
  background: string;
  text: string;
}

const HEX = /^#[0-9a-fA-F]{6}$/;

/** Only "#RRGGBB" reaches CSS, so a config value can never inject style text. */
export function themeOf(placement: PlacementJson | undefined): Theme {
  const pick = (value: string | undefined, fallback: string): string => (value && HEX.test(value) ? value : fallback);
  const theme = placement?.theme ?? {};
  return {
    primary: pick(theme.primaryColor, "#4f46e5"),
    background: pick(theme.backgroundColor, "#ffffff"),
    text: pick(theme.textColor, "#1f2937"),
  };
}

/** Whether white text reads on `hex` (WCAG relative luminance). */
export function onColor(hex: string): string {
  const channel = (i: number): number => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return l > 0.4 ? "#111827" : "#ffffff";
}

export interface Corner {
  vertical: "top" | "bottom";
  horizontal: "left" | "right";
  x: number;
  y: number;
}

export function cornerOf(placement: PlacementJson | undefined): Corner {
  const position = (placement?.position ?? "").replace(/^POSITION_/, "");
  const clamp = (v: number | undefined): number => Math.min(500, Math.max(0, Math.round(v ?? 0))) || 20;
  return {
    vertical: position.startsWith("TOP") ? "top" : "bottom",
    horizontal: position.endsWith("LEFT") ? "left" : "right",
    x: clamp(placement?.offsetXPx),
    y: clamp(placement?.offsetYPx),
  };
}
