// Renders one GLB once, framed and softly lit, and hands back the canvas as a PNG data URL.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { DRACOLoader } from 'three/addons/loaders/DRACOLoader.js';
import { MeshoptDecoder } from 'three/addons/libs/meshopt_decoder.module.js';

const FOV_DEGREES = 30;
// Margin around the model so limbs and antennae are not cut at the frame's edge.
const FRAME_MARGIN = 1.15;

function loadModel(url) {
  const draco = new DRACOLoader().setDecoderPath('/three/examples/jsm/libs/draco/gltf/');
  const loader = new GLTFLoader().setDRACOLoader(draco).setMeshoptDecoder(MeshoptDecoder);
  return loader.loadAsync(url).finally(() => draco.dispose());
}

// Poses the model at the first frame of its idle clip, so previews show the rest pose users see.
function poseIdle(gltf) {
  const idle = gltf.animations.find((clip) => /idle/i.test(clip.name));
  if (!idle) return null;
  const mixer = new THREE.AnimationMixer(gltf.scene);
  mixer.clipAction(idle).play();
  mixer.update(0);
  return idle.name;
}

function lights(scene) {
  scene.add(new THREE.HemisphereLight(0xffffff, 0x8a8f99, 2.2));
  const key = new THREE.DirectionalLight(0xffffff, 1.6);
  key.position.set(1.5, 2.5, 3);
  const fill = new THREE.DirectionalLight(0xdfe8ff, 0.6);
  fill.position.set(-2, 1, 1.5);
  scene.add(key, fill);
}

// Looks at the model's box from the front (glTF faces +Z), a little above, at a distance that fits it all.
function frame(camera, object, width, height) {
  object.updateMatrixWorld(true);
  const box = new THREE.Box3().setFromObject(object, true);
  if (box.isEmpty()) throw new Error('model has no visible geometry');
  const size = box.getSize(new THREE.Vector3());
  const center = box.getCenter(new THREE.Vector3());
  const vertical = THREE.MathUtils.degToRad(FOV_DEGREES) / 2;
  const horizontal = Math.atan(Math.tan(vertical) * (width / height));
  const fitHeight = (size.y / 2) / Math.tan(vertical);
  const fitWidth = (size.x / 2) / Math.tan(horizontal);
  const distance = Math.max(fitHeight, fitWidth) * FRAME_MARGIN + size.z / 2;
  camera.position.set(center.x, center.y + size.y * 0.05, center.z + distance);
  camera.near = Math.max(distance / 100, 1e-4);
  camera.far = distance * 100;
  camera.lookAt(center);
  camera.updateProjectionMatrix();
}

window.renderAvatarPreview = async (url, width, height) => {
  const gltf = await loadModel(url);
  const renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true, preserveDrawingBuffer: true });
  try {
    renderer.setPixelRatio(1);
    renderer.setSize(width, height, false);
    renderer.setClearColor(0x000000, 0); // transparent: the catalogue page picks the backdrop
    renderer.outputColorSpace = THREE.SRGBColorSpace;
    renderer.toneMapping = THREE.NeutralToneMapping;
    document.body.appendChild(renderer.domElement);
    const scene = new THREE.Scene();
    scene.add(gltf.scene);
    lights(scene);
    const clip = poseIdle(gltf);
    const camera = new THREE.PerspectiveCamera(FOV_DEGREES, width / height);
    frame(camera, gltf.scene, width, height);
    renderer.render(scene, camera);
    return { png: renderer.domElement.toDataURL('image/png'), clip };
  } finally {
    renderer.dispose();
  }
};
window.previewReady = true;
