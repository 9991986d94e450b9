// The 2D avatar: the thumbnail (or the bot's initials) that pulses while talking. Used when WebGL is
// missing, the model fails to load, or frames are too slow.
import { behaviourKey } from "../../config";
import type { AnimationEvent, VisemeCue } from "../protocol";
import type { AvatarHooks, AvatarView, BaseState } from "./view";

export class Fallback2D implements AvatarView {
  private readonly root = document.createElement("div");
  private base: BaseState = "idle";
  private timer = 0;

  constructor(
    stage: HTMLElement,
    botName: string,
    thumbnailUrl: string | undefined,
    private readonly hooks: AvatarHooks,
  ) {
    this.root.className = "ac-2d";
    const face = document.createElement("div");
    face.className = "ac-2d-face";
    if (thumbnailUrl) {
      const img = document.createElement("img");
      img.alt = "";
      img.src = thumbnailUrl;
      img.addEventListener("error", () => face.replaceChildren(initials(botName)));
      face.append(img);
    } else face.append(initials(botName));
    face.addEventListener("click", () => hooks.interaction("click"));
    this.root.append(face);
    stage.replaceChildren(this.root);
    hooks.clip(this.base);
  }

  setBase(state: BaseState): void {
    this.base = state;
    this.root.toggleAttribute("data-talking", state === "talk");
    if (!this.timer) this.hooks.clip(state);
  }

  play(cue: AnimationEvent): void {
    const name = cue.clip || behaviourKey(cue.behaviour);
    if (["idle", "talk", "listen", "think"].includes(name)) return this.setBase(name as BaseState);
    this.hooks.clip(name);
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      this.timer = 0;
      this.hooks.clip(this.base);
    }, cue.durationMs || 1500);
  }

  visemes(_cues: VisemeCue[]): void {}

  speak(_text: string): void {}

  setActive(_active: boolean): void {}

  dispose(): void {
    clearTimeout(this.timer);
    this.root.remove();
  }
}

function initials(name: string): Text {
  const letters = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase() ?? "")
    .join("");
  return document.createTextNode(letters || "?");
}
