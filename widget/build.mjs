// Builds widget/dist from widget/src: type-checks with tsc, bundles with esbuild, ships three's Draco
// decoder, and prints (and enforces) the gzipped size of embed.js. Run: `npm run build:widget`.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const dist = join(here, "dist");
const EMBED_GZIP_BUDGET = 5 * 1024;
/** URL path the edge serves dist/ under (edge/embed_routes.py: /widget/{path} → dist/{path}). */
const WIDGET_BASE = "/widget/";

execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(here, "tsconfig.json")], { stdio: "inherit" });

rmSync(dist, { recursive: true, force: true });
const common = { bundle: true, minify: true, sourcemap: false, legalComments: "none", target: ["es2020"], logLevel: "warning" };

await build({
  ...common,
  entryPoints: { widget: join(here, "src/widget/main.ts") },
  outdir: dist,
  format: "esm",
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  define: { __WIDGET_BASE__: JSON.stringify(WIDGET_BASE) },
});
const widgetHash = createHash("sha256").update(readFileSync(join(dist, "widget.js"))).digest("hex").slice(0, 12);

await build({
  ...common,
  entryPoints: [join(here, "src/embed/main.ts")],
  outfile: join(dist, "embed.js"),
  format: "iife",
  // The version query busts caches of the fixed-name entry; chunks carry content hashes.
  define: { __WIDGET_PATH__: JSON.stringify(`${WIDGET_BASE}widget.js?v=${widgetHash}`) },
});

const draco = join(root, "node_modules/three/examples/jsm/libs/draco");
mkdirSync(join(dist, "draco"), { recursive: true });
for (const file of ["draco_decoder.js", "draco_decoder.wasm", "draco_wasm_wrapper.js"])
  copyFileSync(join(draco, file), join(dist, "draco", file));

const files = (dir) => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
let jsGzip = 0;
console.log("widget/dist:");
for (const file of files(dist).sort()) {
  const bytes = readFileSync(file);
  const gz = gzipSync(bytes, { level: 9 }).length;
  if (file.endsWith(".js") && !file.includes("draco")) jsGzip += gz;
  console.log(`  ${relative(dist, file).padEnd(44)} ${kb(bytes.length).padStart(9)}  gzip ${kb(gz).padStart(9)}`);
}
const embedGzip = gzipSync(readFileSync(join(dist, "embed.js")), { level: 9 }).length;
console.log(`embed.js gzipped: ${embedGzip} bytes (budget ${EMBED_GZIP_BUDGET}); widget JS gzipped in all: ${kb(jsGzip)}`);
if (embedGzip > EMBED_GZIP_BUDGET) {
  console.error("embed.js is over its gzip budget");
  process.exit(1);
}
