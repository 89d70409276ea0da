// What CI runs: .ci/run must set CI=true, which turns a missing browser or driver into a
// failure instead of a skip (build.sh, tests/e2e/harness.mjs; the README says so).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";

test(".ci/run runs ./build.sh test with CI=true", () => {
  const script = readFileSync(new URL("../../.ci/run", import.meta.url), "utf8");
  // the command line as bash would run it, with ./build.sh replaced by a printer of CI
  const line = script.split("\n").find((l) => /\.\/build\.sh test\s*$/.test(l));
  assert.ok(line, ".ci/run has no `./build.sh test` line");
  const ci = execFileSync("bash", ["-c", line.replace("./build.sh test", 'printenv CI || echo unset')], {
    env: { PATH: process.env.PATH },
    encoding: "utf8",
  }).trim();
  assert.equal(ci, "true");
});
