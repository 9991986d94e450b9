// Lip sync: Oculus visemes onto whatever mouth morphs the model has — the config's viseme map,
// else `viseme_*` morphs (Ready Player Me / ARKit-style rigs), else one open-mouth morph
// (mouthOpen / jawOpen) driven by a per-viseme amplitude.
import type { VisemeCue } from "../protocol";

/** How far each viseme opens a single jaw/mouth morph. */
export const OPENNESS: Record<string, number> = {
  sil: 0, PP: 0.05, FF: 0.2, TH: 0.25, DD: 0.3, kk: 0.35, CH: 0.35, SS: 0.2,
  nn: 0.25, RR: 0.35, aa: 0.9, E: 0.6, I: 0.45, O: 0.75, U: 0.5,
};

const LETTER: Record<string, string> = {
  a: "aa", e: "E", i: "I", o: "O", u: "U", y: "I", b: "PP", m: "PP", p: "PP", f: "FF", v: "FF",
  d: "DD", t: "DD", l: "nn", n: "nn", k: "kk", g: "kk", c: "kk", q: "kk", x: "kk", s: "SS",
  z: "SS", j: "CH", r: "RR", w: "U", h: "sil",
};

/** Rough cues from text at a speaking pace (~14 letters a second), for edges that send none. */
export function cuesFromText(text: string, startMs: number): VisemeCue[] {
  const cues: VisemeCue[] = [];
  let t = startMs;
  for (const ch of text.toLowerCase()) {
    if (/\s/.test(ch)) {
      t += 40;
      continue;
    }
    if (/[.,;:!?]/.test(ch)) {
      cues.push({ viseme: "sil", startMs: t, durationMs: 160 });
      t += 160;
      continue;
    }
    const viseme = LETTER[ch];
    if (!viseme) continue;
    cues.push({ viseme, startMs: t, durationMs: 70 });
    t += 70;
  }
  return cues;
}

export interface MorphSlot {
  influences: number[];
  index: number;
}

/** Where each viseme lands: a dedicated morph per viseme, or the jaw with an amplitude. */
export interface VisemeRig {
  perViseme: Map<string, MorphSlot[]>;
  jaw: MorphSlot[];
}

/** Plays scheduled cues; `weights(now)` gives each viseme's smoothed weight for this frame. */
export class VisemeTrack {
  private cues: { viseme: string; at: number; end: number }[] = [];
  private origin = 0;
  private readonly current = new Map<string, number>();

  /** Starts a new answer: cue times count from now. */
  reset(now: number): void {
    this.cues = [];
    this.origin = now;
  }

  /** Adds cues; ones already in the past are shifted to play from now, so none is skipped. */
  add(cues: VisemeCue[], now: number): void {
    if (!cues.length) return;
    const end = this.cues.length ? this.cues[this.cues.length - 1].end : now;
    const first = this.origin + cues[0].startMs;
    const shift = Math.max(0, Math.max(now, end) - first);
    for (const c of cues) {
      const at = this.origin + c.startMs + shift;
      this.cues.push({ viseme: c.viseme, at, end: at + Math.max(30, c.durationMs) });
    }
  }

  /** Time the queued cues end (ms, performance clock). */
  endsAt(): number {
    return this.cues.length ? this.cues[this.cues.length - 1].end : 0;
  }

  weights(now: number, dt: number): Map<string, number> {
    while (this.cues.length && this.cues[0].end < now) this.cues.shift();
    const active = this.cues.length && this.cues[0].at <= now ? this.cues[0].viseme : "sil";
    const k = Math.min(1, dt * 18); // ~55 ms to settle: quick but not jittery
    for (const name of new Set([...this.current.keys(), active])) {
      const target = name === active && name !== "sil" ? 1 : 0;
      const value = (this.current.get(name) ?? 0) + (target - (this.current.get(name) ?? 0)) * k;
      if (value < 0.001 && target === 0) this.current.delete(name);
      else this.current.set(name, value);
    }
    return this.current;
  }
}

/** Writes this frame's viseme weights into the rig (after the mixer, so lip sync wins). */
export function applyVisemes(rig: VisemeRig, weights: Map<string, number>): void {
  let jaw = 0;
  for (const [viseme, w] of weights) {
    const slots = rig.perViseme.get(viseme);
    if (slots) for (const s of slots) s.influences[s.index] = Math.max(s.influences[s.index], w);
    else jaw = Math.max(jaw, (OPENNESS[viseme] ?? 0.3) * w);
  }
  if (jaw > 0) for (const s of rig.jaw) s.influences[s.index] = Math.max(s.influences[s.index] * 0.3, jaw);
}
