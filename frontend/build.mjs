// Builds the dashboard into ../harness/app/static/dashboard (committed: a user without Node gets it).
// Deterministic: same sources + same lockfile -> same bytes (no timestamps, no absolute paths, no
// source maps). `node build.mjs --tests` bundles test/*.test.ts for node's test runner instead.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outArg = args.indexOf("--out");
const out = outArg >= 0 ? args[outArg + 1] : join(here, "..", "harness", "app", "static", "dashboard");

if (args.includes("--tests")) {
  const dir = join(here, ".test-build");
  rmSync(dir, { recursive: true, force: true });
  const tests = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts"));
  await build({
    absWorkingDir: here,
    entryPoints: tests.map((f) => join("test", f)),
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["node:*"],
    logLevel: "warning",
  });
} else {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    absWorkingDir: here,
    entryPoints: ["src/main.tsx"],
    outfile: join(out, "dashboard.js"),
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    platform: "browser",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"production"' },
    legalComments: "eof",
    charset: "utf8",
    logLevel: "warning",
  });
  for (const f of ["index.html", "dashboard.css"]) copyFileSync(join(here, "public", f), join(out, f));
  console.log(`dashboard built into ${out}`);
}
