// What the panel asks of an avatar, whether drawn in 3D or as the 2D fallback.
import type { AnimationEvent, VisemeCue } from "../protocol";

export type BaseState = "idle" | "talk" | "listen" | "think";

export interface AvatarView {
  /** The behaviour loop to return to after gestures. */
  setBase(state: BaseState): void;
  /** Plays a cue from `avatar:animation`. */
  play(cue: AnimationEvent): void;
  /** Lip-sync cues from `avatar:visemes`, relative to the start of the answer. */
  visemes(cues: VisemeCue[]): void;
  /** Text being spoken when the edge sends no visemes: drives the mouth from letters. */
  speak(text: string): void;
  /** Starts (panel open) or pauses (closed) rendering. */
  setActive(active: boolean): void;
  dispose(): void;
}

export interface AvatarHooks {
  /** Publishes the playing clip as the host's data-clip (the read-only debug hook). */
  clip(name: string): void;
  /** Counts the lip-sync cues the 3D avatar took (the host's data-viseme-cues, the read-only debug hook). */
  cues(count: number): void;
  /**
   * Publishes the 3D face and mixer as drawn (read-only debug hooks, tenths): data-mouth and data-blink are the
   * largest mouth and blink morph weights, data-mix the weighted clips ("idle:0.6 talk:0.4" mid-crossfade).
   */
  pose(name: "mouth" | "blink" | "mix", value: string): void;
  /** Asks the panel to swap in the 2D fallback (too slow, or WebGL lost). */
  fallback(reason: string): void;
  fps(value: number): void;
  interaction(kind: "click" | "hover"): void;
}

export function hasWebGL(): boolean {
  try {
    const canvas = document.createElement("canvas");
    return !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}
