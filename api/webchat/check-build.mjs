// Checks that the committed dist/widget.js is what the pinned TypeScript makes of
// src/widget.ts: builds into a scratch folder and compares the bytes. The packages come from
// SWITCHBOARD_WEBCHAT_NODE_MODULES (deploy/test.sh's cached `npm ci`), else ./node_modules.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "sbwc-"));
try {
  const modules = process.env.SWITCHBOARD_WEBCHAT_NODE_MODULES || join(here, "node_modules");
  const tsc = join(modules, "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(here, "tsconfig.json"), "--outDir", scratch], {
    stdio: "inherit",
  });
  const built = readFileSync(join(scratch, "widget.js"));
  const committed = readFileSync(join(here, "dist", "widget.js"));
  if (!built.equals(committed)) {
    console.error("dist/widget.js does not match src/widget.ts: run `npm run build` in api/webchat and commit it");
    process.exit(1);
  }
  console.log("dist/widget.js matches src/widget.ts");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
