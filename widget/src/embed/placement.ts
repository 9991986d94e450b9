// Client-side placement checks: path globs, phones and business hours. The edge repeats the path and
// hours checks in ResolveEmbed; these only decide whether to show the launcher at all.
import type { BusinessHoursJson, PlacementJson } from "../config";

/** Compiles a path glob: "*" matches within one segment, "**" across segments. */
export function globToRegExp(glob: string): RegExp {
  const escape = (text: string): string => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  const source = glob
    .split(/(\/\*\*$|\*\*\/|\*\*|\*)/)
    .map((token) => {
      if (token === "/**") return "(?:/.*)?"; // "/shop/**" also matches "/shop"
      if (token === "**/") return "(?:.*/)?";
      if (token === "**") return ".*";
      if (token === "*") return "[^/]*";
      return escape(token);
    })
    .join("");
  return new RegExp(`^${source}$`);
}

export function pathAllowed(path: string, placement: PlacementJson): boolean {
  const matches = (globs: string[] | undefined): boolean => (globs ?? []).some((g) => globToRegExp(g).test(path));
  if (matches(placement.excludePaths)) return false;
  return !placement.includePaths?.length || matches(placement.includePaths);
}

export function isPhone(): boolean {
  return window.matchMedia("(max-width: 480px)").matches;
}

const DAYS = ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_NAMES = ["", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];

function minutes(hhmm: string | undefined): number {
  const [h, m] = (hhmm ?? "0:0").split(":").map(Number);
  return (h || 0) * 60 + (m || 0);
}

/** Whether `now` falls in one of the open windows (no windows: always open). */
export function withinHours(hours: BusinessHoursJson | undefined, now: Date = new Date()): boolean {
  if (!hours?.windows?.length) return true;
  let weekday: string;
  let clock: number;
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: hours.timeZone || undefined,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).formatToParts(now);
    const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? "";
    weekday = part("weekday");
    clock = minutes(`${part("hour")}:${part("minute")}`);
  } catch {
    return true; // An unknown time zone must not hide the widget; the edge decides for real.
  }
  const day = DAYS.indexOf(weekday);
  return hours.windows.some((w) => {
    const wd = DAY_NAMES.indexOf((w.day ?? "").replace(/^DAY_OF_WEEK_/, ""));
    return wd === day && clock >= minutes(w.startTime) && clock < minutes(w.endTime);
  });
}
