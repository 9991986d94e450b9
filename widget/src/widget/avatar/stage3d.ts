// The 3D avatar (its own chunk, with three.js): GLTF with Meshopt and Draco, an AnimationMixer with
// crossfades between a base loop (idle/talk/listen/think) and one-shot gestures, blinking, lip sync,
// and a frame-rate probe that hands over to the 2D fallback on slow machines.
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
    const from = this.baseAction;
    // A clip still fading out from an earlier change keeps its place in the loop, so its pose does not jump.
    if (!action.isRunning()) action.reset();
    action.stopFading().setLoop(LoopRepeat, Infinity).setEffectiveWeight(1);
    action.play();
    if (this.gesture) action.setEffectiveWeight(0); // faded in when the gesture ends
    else if (from) {
      // Out from the weight it shows now: crossFadeTo would restart it at full weight, a visible pop when the state
      // changes again mid-fade (typing, then sending, goes idle → listen → idle → think within a few frames).
      from.setEffectiveWeight(from.getEffectiveWeight()).fadeOut(FADE_S);
      action.fadeIn(FADE_S);
    }
    if (!this.gesture) this.options.hooks.clip(action.getClip().name);
    this.baseAction = action;
  }

  play(cue: AnimationEvent): void {
    const behaviour = behaviourKey(cue.behaviour);
    if (behaviour === "idle" || behaviour === "talk" || behaviour === "listen" || behaviour === "think")
      return this.setBase(behaviour);
    const name = (cue.clip && this.resolve(cue.clip)) || this.clipFor(behaviour);
    const action = name ? this.actions.get(name) : undefined;
    if (!action || action === this.baseAction) return;
    const from = this.gesture ?? this.baseAction;
    clearTimeout(this.gestureTimer);
    const duration = action.getClip().duration * 1000;
    const hold = cue.durationMs && cue.durationMs > duration ? cue.durationMs : 0;
    action.reset().setEffectiveWeight(Math.max(0.5, Math.min(1, cue.intensity || 1)));
    action.setLoop(hold ? LoopRepeat : LoopOnce, Infinity).clampWhenFinished = !hold;
    action.play();
    if (from && from !== action) from.crossFadeTo(action, 0.25, false);
    this.gesture = action;
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
    const gesture = this.gesture;
    this.gesture = null;
    clearTimeout(this.gestureTimer);
    const base = this.baseAction;
    if (gesture && base) {
      base.reset().setEffectiveWeight(1).play();
      gesture.crossFadeTo(base, FADE_S, false);
      this.options.hooks.clip(base.getClip().name);
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
