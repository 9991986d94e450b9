// The 3D avatar (its own chunk, with three.js): GLTF with Meshopt and Draco, an AnimationMixer whose clip weights
// this module blends (a base loop, idle/talk/listen/think, under cued gestures), blinking, lip sync, and a
// frame-rate probe that hands over to the 2D fallback on slow machines.
import {
  AnimationAction,
  AnimationClip,
  AnimationMixer,
  Box3,
  DirectionalLight,
  HemisphereLight,
  LoopOnce,
  LoopRepeat,
  Mesh,
  type Object3D,
  PerspectiveCamera,
  Scene,
  SRGBColorSpace,
  Vector3,
  WebGLRenderer,
} from "three";
import { DRACOLoader } from "three/examples/jsm/loaders/DRACOLoader.js";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { MeshoptDecoder } from "three/examples/jsm/libs/meshopt_decoder.module.js";
import { behaviourKey, type EmbedConfig } from "../../config";
import type { AnimationEvent, VisemeCue } from "../protocol";
import type { AvatarHooks, AvatarView, BaseState } from "./view";
import { applyVisemes, cuesFromText, type MorphSlot, type VisemeRig, VisemeTrack } from "./visemes";

const FADE_S = 0.35;
const GESTURE_FADE_S = 0.25;
const FPS_WINDOW_MS = 3000;

export interface Stage3DOptions {
  stage: HTMLElement;
  config: EmbedConfig;
  modelUrl: string;
  dracoPath: string;
  minFps: number;
  hooks: AvatarHooks;
}

export async function createStage3D(options: Stage3DOptions): Promise<AvatarView> {
  const renderer = new WebGLRenderer({ antialias: true, alpha: true, powerPreference: "low-power" });
  try {
    const draco = new DRACOLoader().setDecoderPath(options.dracoPath);
    const loader = new GLTFLoader().setDRACOLoader(draco).setMeshoptDecoder(MeshoptDecoder);
    const gltf = await loader.loadAsync(options.modelUrl);
    draco.dispose();
    return new Stage3D(renderer, gltf.scene, gltf.animations, options);
  } catch (error) {
    renderer.dispose();
    throw error;
  }
}

class Stage3D implements AvatarView {
  private readonly scene = new Scene();
  private readonly camera = new PerspectiveCamera(30, 1, 0.05, 100);
  private readonly mixer: AnimationMixer;
  private readonly actions = new Map<string, AnimationAction>();
  private readonly clipsByLower = new Map<string, string>();
  private readonly behaviourClips = new Map<string, string>();
  private readonly rig: VisemeRig = { perViseme: new Map(), jaw: [] };
  private readonly blinkSlots: MorphSlot[] = [];
  /** The jaw and per-viseme morphs: what lip sync moves. */
  private readonly mouthSlots: MorphSlot[] = [];
  /** The pose last published through hooks.pose, by hook name. */
  private readonly published = new Map<"mouth" | "blink" | "mix", string>();
  private readonly controlled: MorphSlot[] = [];
  private readonly track = new VisemeTrack();
  private readonly resize: ResizeObserver;
  private baseAction: AnimationAction | null = null;
  private gesture: AnimationAction | null = null;
  /** Each base loop's share of the base layer: the others fade out and the current one holds the rest (sum 1). */
  private readonly baseShares = new Map<AnimationAction, number>();
  /** The same for gestures, within the gesture layer. */
  private readonly gestureShares = new Map<AnimationAction, number>();
  /** How much of the pose the gesture layer holds (the base layer has the rest), and where it is heading. */
  private gestureMix = 0;
  private gestureTarget = 0;
  private gestureTimer = 0;
  private active = false;
  private frame = 0;
  private last = 0;
  private nextBlink = 0;
  private blinkStart = -1;
  private probe: { start: number; frames: number } | null = null;
  private probed = false;

  constructor(
    private readonly renderer: WebGLRenderer,
    model: Object3D,
    clips: AnimationClip[],
    private readonly options: Stage3DOptions,
  ) {
    renderer.outputColorSpace = SRGBColorSpace;
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const canvas = renderer.domElement;
    canvas.addEventListener("click", () => options.hooks.interaction("click"));
    canvas.addEventListener("pointerenter", () => options.hooks.interaction("hover"));
    canvas.addEventListener("webglcontextlost", (e) => {
      e.preventDefault();
      options.hooks.fallback("webgl context lost");
    });
    options.stage.replaceChildren(canvas);

    this.scene.add(new HemisphereLight(0xffffff, 0x8899aa, 2.2));
    const key = new DirectionalLight(0xffffff, 2.2);
    key.position.set(1.5, 2.5, 3);
    this.scene.add(key, model);
    this.frameModel(model);

    this.mixer = new AnimationMixer(model);
    for (const clip of clips) {
      this.actions.set(clip.name, this.mixer.clipAction(clip));
      this.clipsByLower.set(clip.name.toLowerCase(), clip.name);
    }
    for (const binding of options.config.animations ?? [])
      if (binding.clip && this.actions.has(binding.clip)) this.behaviourClips.set(behaviourKey(binding.behaviour), binding.clip);
    this.mixer.addEventListener("finished", (e) => {
      if ((e as unknown as { action: AnimationAction }).action === this.gesture) this.endGesture();
    });
    this.findMorphs(model);

    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(options.stage);
    this.fit();
    this.setBase("idle");
  }

  setBase(state: BaseState): void {
    const name = this.clipFor(state) ?? this.clipFor("idle");
    const action = name ? this.actions.get(name) : undefined;
    if (!action || action === this.baseAction) return;
    // A clip still fading out keeps its place in the loop and its share, so its pose does not jump.
    if (!this.baseShares.has(action)) {
      action.reset().setLoop(LoopRepeat, Infinity).setEffectiveWeight(0).play();
      this.baseShares.set(action, 0);
    }
    this.baseAction = action;
    if (!this.gesture) this.options.hooks.clip(action.getClip().name);
  }

  play(cue: AnimationEvent): void {
    const behaviour = behaviourKey(cue.behaviour);
    if (behaviour === "idle" || behaviour === "talk" || behaviour === "listen" || behaviour === "think")
      return this.setBase(behaviour);
    const name = (cue.clip && this.resolve(cue.clip)) || this.clipFor(behaviour);
    const action = name ? this.actions.get(name) : undefined;
    // A base loop, even one still fading out, is not also played as a gesture: the two layers would fight over it.
    if (!action || this.baseShares.has(action)) return;
    clearTimeout(this.gestureTimer);
    const duration = action.getClip().duration * 1000;
    const hold = cue.durationMs && cue.durationMs > duration ? cue.durationMs : 0;
    action.reset().setLoop(hold ? LoopRepeat : LoopOnce, Infinity).clampWhenFinished = !hold;
    action.play();
    if (!this.gestureShares.has(action)) this.gestureShares.set(action, 0);
    this.gesture = action;
    this.gestureTarget = Math.max(0.5, Math.min(1, cue.intensity || 1));
    if (hold) this.gestureTimer = window.setTimeout(() => this.endGesture(), hold);
    this.options.hooks.clip(action.getClip().name);
  }

  visemes(cues: VisemeCue[]): void {
    const now = performance.now();
    if (this.track.endsAt() < now) this.track.reset(now);
    this.track.add(cues, now);
    this.options.hooks.cues(cues.length);
  }

  speak(text: string): void {
    const now = performance.now();
    this.track.reset(Math.max(now, this.track.endsAt()));
    this.track.add(cuesFromText(text, 0), now);
  }

  setActive(active: boolean): void {
    this.active = active;
    if (active && !this.frame) {
      this.last = performance.now();
      this.frame = requestAnimationFrame((t) => this.tick(t));
    }
  }

  dispose(): void {
    this.active = false;
    cancelAnimationFrame(this.frame);
    clearTimeout(this.gestureTimer);
    this.resize.disconnect();
    this.mixer.stopAllAction();
    this.scene.traverse((o) => {
      if (o instanceof Mesh) {
        o.geometry.dispose();
        for (const m of Array.isArray(o.material) ? o.material : [o.material]) m.dispose();
      }
    });
    this.renderer.dispose();
    this.renderer.domElement.remove();
  }

  private endGesture(): void {
    this.gesture = null;
    this.gestureTarget = 0;
    clearTimeout(this.gestureTimer);
    if (this.baseAction) this.options.hooks.clip(this.baseAction.getClip().name);
  }

  /**
   * Moves every clip's weight one frame along its crossfade. The weights are kept here rather than with the mixer's
   * fadeIn/fadeOut because those restart from a weight that is only updated on the next mixer.update: a state changed
   * twice within a frame (typing, then sending) would put two clips at full weight, a visible pop.
   */
  private blend(dt: number): void {
    const step = (rate: number, from: number, to: number): number =>
      from < to ? Math.min(to, from + dt * rate) : Math.max(to, from - dt * rate);
    this.gestureMix = step(this.gestureTarget ? 1 / GESTURE_FADE_S : 1 / FADE_S, this.gestureMix, this.gestureTarget);
    shift(this.baseShares, this.baseAction, dt / FADE_S, 1 - this.gestureMix);
    shift(this.gestureShares, this.gesture, dt / GESTURE_FADE_S, this.gestureMix);
    if (!this.gestureMix && !this.gesture) {
      for (const action of this.gestureShares.keys()) action.stop();
      this.gestureShares.clear();
    }
  }

  /** A clip for a behaviour: the config's binding, else a clip named like the behaviour. */
  private clipFor(behaviour: string): string | undefined {
    return this.behaviourClips.get(behaviour) ?? this.resolve(behaviour);
  }

  private resolve(name: string): string | undefined {
    return this.actions.has(name) ? name : this.clipsByLower.get(name.toLowerCase());
  }

  private findMorphs(model: Object3D): void {
    const map = this.options.config.visemeMorphs ?? {};
    model.traverse((o) => {
      const mesh = o as Mesh;
      const dict = mesh.morphTargetDictionary;
      const influences = mesh.morphTargetInfluences;
      if (!dict || !influences) return;
      const slot = (name: string): MorphSlot | null => (name in dict ? { influences, index: dict[name] } : null);
      for (const viseme of ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"]) {
        const s = slot(map[viseme] ?? "") ?? slot(`viseme_${viseme}`);
        if (s) {
          this.rig.perViseme.set(viseme, [...(this.rig.perViseme.get(viseme) ?? []), s]);
          this.controlled.push(s);
          this.mouthSlots.push(s);
        }
      }
      const jaw = slot("mouthOpen") ?? slot("jawOpen");
      if (jaw) this.rig.jaw.push(jaw), this.controlled.push(jaw), this.mouthSlots.push(jaw);
      const blink = slot("blink") ?? slot("eyesClosed") ?? slot("eyeBlink");
      if (blink) this.blinkSlots.push(blink), this.controlled.push(blink);
    });
  }

  private frameModel(model: Object3D): void {
    const box = new Box3().setFromObject(model);
    const size = box.getSize(new Vector3());
    const centre = box.getCenter(new Vector3());
    // Portrait framing: head and shoulders, the upper ~60% of the figure.
    const focusY = box.max.y - size.y * 0.3;
    const height = size.y * 0.7;
    const distance = height / 2 / Math.tan((this.camera.fov * Math.PI) / 360) + size.z;
    this.camera.position.set(centre.x, focusY, centre.z + distance);
    this.camera.lookAt(centre.x, focusY, centre.z);
    this.camera.near = distance / 100;
    this.camera.far = distance * 10;
  }

  private fit(): void {
    const { clientWidth: w, clientHeight: h } = this.options.stage;
    if (!w || !h) return;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
  }

  private tick(now: number): void {
    this.frame = 0;
    if (!this.active) return;
    const dt = Math.min(0.1, (now - this.last) / 1000);
    this.last = now;
    // Controlled morphs start from zero each frame so the mixer's clip values (or nothing) show
    // through, then blink and lip sync layer on top.
    for (const s of this.controlled) s.influences[s.index] = 0;
    this.blend(dt);
    this.mixer.update(dt);
    this.blink(now);
    applyVisemes(this.rig, this.track.weights(now, dt));
    this.publish();
    this.renderer.render(this.scene, this.camera);
    this.measure(now);
    this.frame = requestAnimationFrame((t) => this.tick(t));
  }

  private blink(now: number): void {
    if (!this.blinkSlots.length) return;
    if (this.blinkStart < 0 && now >= this.nextBlink) {
      this.blinkStart = now;
      this.nextBlink = now + 2000 + Math.random() * 4000;
    }
    if (this.blinkStart < 0) return;
    const t = (now - this.blinkStart) / 160;
    if (t >= 1) {
      this.blinkStart = -1;
      return;
    }
    const w = Math.sin(Math.PI * t);
    for (const s of this.blinkSlots) s.influences[s.index] = Math.max(s.influences[s.index], w);
  }

  /** Publishes the face's morphs and the mixer's weighted clips as drawn this frame, each only when it changed. */
  private publish(): void {
    const tenths = (value: number): string => String(Math.round(value * 10) / 10);
    const peak = (slots: MorphSlot[]): string => tenths(slots.reduce((m, s) => Math.max(m, s.influences[s.index]), 0));
    let mix = "";
    for (const [name, action] of this.actions) {
      const weight = action.isScheduled() ? tenths(action.getEffectiveWeight()) : "0";
      if (weight !== "0") mix += `${mix ? " " : ""}${name}:${weight}`;
    }
    for (const [name, value] of [["mouth", peak(this.mouthSlots)], ["blink", peak(this.blinkSlots)], ["mix", mix]] as const) {
      if (this.published.get(name) === value) continue;
      this.published.set(name, value);
      this.options.hooks.pose(name, value);
    }
  }

  /** Counts frames for a few seconds of visible rendering; too few → the 2D fallback. */
  private measure(now: number): void {
    if (this.probed || document.visibilityState !== "visible") return;
    if (!this.probe) {
      this.probe = { start: now, frames: 0 };
      return;
    }
    this.probe.frames++;
    const elapsed = now - this.probe.start;
    if (elapsed < FPS_WINDOW_MS) return;
    this.probed = true;
    const fps = (this.probe.frames * 1000) / elapsed;
    this.options.hooks.fps(Math.round(fps));
    if (fps < this.options.minFps) this.options.hooks.fallback(`${fps.toFixed(1)} fps`);
  }
}

/**
 * Fades a layer's clips other than `current` out by `step` of their share (stopping those that reach zero), gives
 * `current` what they leave, and weighs each clip by its share of the layer's `weight`. With no current clip the
 * shares stay: the layer as a whole is fading out through `weight`.
 */
function shift(shares: Map<AnimationAction, number>, current: AnimationAction | null, step: number, weight: number): void {
  let others = 0;
  for (const [action, share] of shares) {
    if (!current || action === current) continue;
    const next = Math.max(0, share - step);
    if (next) others += next, shares.set(action, next);
    else action.stop(), shares.delete(action);
  }
  if (current) shares.set(current, 1 - others);
  for (const [action, share] of shares) action.setEffectiveWeight(share * weight);
}
