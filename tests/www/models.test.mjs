// Downloads and the catalog (www/fetch.js, www/models.js) in Node, against a loopback
// server: progress, the stage of each failure, the sha256 check.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { fetchBytes } from "../../www/fetch.js";
import { catalogGroups, downloadFailure, entryUrl, entryUrls, fetchEntry, sha256Hex } from "../../www/models.js";

const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 0xff));
let server, base;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === "/model.onnx") {
      res.writeHead(200, { "content-length": BODY.length });
      // in chunks, so that progress is reported along the way
      let i = 0;
      const next = () => (i < BODY.length ? res.write(BODY.subarray(i, (i += 50_000)), next) : res.end());
      return next();
    }
    if (req.url === "/stalls") {
      res.writeHead(200, { "content-length": 1000 });
      return res.write(Buffer.alloc(10)); // and never more
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test("fetchBytes returns every byte and reports progress up to the total", async () => {
  const seen = [];
  const bytes = await fetchBytes(`${base}/model.onnx`, { onProgress: (p) => seen.push(p) });
  assert.deepEqual(Buffer.from(bytes), BODY);
  assert.ok(seen.length >= 2, `${seen.length} progress reports`);
  assert.ok(seen.some((p) => p.loaded < p.total), "an intermediate report");
  assert.deepEqual(seen.at(-1), { loaded: BODY.length, total: BODY.length });
});

test("each failure says its stage", async () => {
  const stage = (p) => p.then(() => "none", (e) => `${e.stage}: ${e.message}`);
  assert.match(await stage(fetchBytes(`${base}/missing.onnx`)), /^status: the server answered 404/);
  // nothing listens on port 9 of loopback: the connection is refused
  assert.match(await stage(fetchBytes("http://127.0.0.1:9/x.onnx")), /^connect: the download of .* failed before it started/);
  const abort = new AbortController();
  const pending = stage(fetchBytes(`${base}/stalls`, { signal: abort.signal }));
  setTimeout(() => abort.abort(), 100);
  assert.equal(await pending, "cancelled: download cancelled");
});

test("a catalog entry is checked against its sha256 and refused when it differs", async () => {
  const sha = createHash("sha256").update(BODY).digest("hex");
  assert.equal(await sha256Hex(BODY), sha);
  const entry = { bundled: false, url: `${base}/model.onnx`, bytes: BODY.length, sha256: sha };
  const got = await fetchEntry(entry);
  assert.equal(got.bytes.byteLength, BODY.length);
  assert.equal(got.fromCache, false);
  await assert.rejects(fetchEntry({ ...entry, sha256: "0".repeat(64) }), /sha256 mismatch: the file has [0-9a-f]{64}, the catalog expects 0{64}; it was not used/);
});

test("a download tries its mirrors in order, and says what to do when none answers", async () => {
  const sha = createHash("sha256").update(BODY).digest("hex");
  const dead = "http://127.0.0.1:9/model.onnx"; // the discard port: nothing listens
  const stages = [];
  const entry = { bundled: false, urls: [dead, `${base}/missing.onnx`, `${base}/model.onnx`], bytes: BODY.length, sha256: sha };
  const got = await fetchEntry(entry, { onStage: (s) => stages.push(s) });
  assert.equal(got.bytes.byteLength, BODY.length);
  assert.deepEqual(stages, ["trying 127.0.0.1:" + new URL(base).port, "trying 127.0.0.1:" + new URL(base).port, "checking sha256"]);
  const none = { ...entry, urls: [dead, `${base}/missing.onnx`], page: "https://example.org/models/model.onnx" };
  await assert.rejects(fetchEntry(none), (e) => {
    const esc = (u) => u.replace(/[./]/g, "\\$&");
    assert.match(e.message, new RegExp(`^could not download it: no answer for ${esc(dead)}: .*CORS.*; ${esc(base)}/missing\\.onnx is not there \\(404, not found\\)`));
    assert.match(e.message, /You can download it yourself from https:\/\/example\.org\/models\/model\.onnx and use “Open an ONNX file…”$/);
    return true;
  });
});

test("a failed download says offline, not found and refused apart", () => {
  const at = (stage, status) => ({ url: "https://a.example/m.onnx", error: Object.assign(new Error("x"), { stage, status }) });
  const page = "https://a.example/";
  assert.match(downloadFailure([at("connect")], { online: false, page }), /^you are offline, and this model is not in this browser's cache yet/);
  assert.match(downloadFailure([at("status", 404)], { online: true, page }), /is not there \(404, not found\)/);
  assert.match(downloadFailure([at("status", 403)], { online: true, page }), /the server refused https:\/\/a\.example\/m\.onnx \(403\)/);
  assert.match(downloadFailure([at("connect")], { online: true, page }), /no answer .*CORS/);
  assert.doesNotMatch(downloadFailure([at("status", 404)], { online: true, page }), /CORS|offline/);
  // the advice never sends the person back to the address that just failed
  assert.match(downloadFailure([at("status", 404)], { online: true, page }), /download it yourself from https:\/\/a\.example\/ /);
  const failedPage = downloadFailure([at("status", 404)], { online: true, page: "https://a.example/m.onnx" });
  assert.doesNotMatch(failedPage, /from https:\/\/a\.example\/m\.onnx and/);
  assert.match(failedPage, /download it another way/);
});

test("bundled files lie next to the page and come first", () => {
  const catalog = [{ id: "z", bundled: false, url: "https://example.org/z.onnx" }, { id: "b", bundled: true, file: "b.onnx" }];
  assert.equal(entryUrl(catalog[1]), "models/b.onnx");
  assert.equal(entryUrl(catalog[0]), "https://example.org/z.onnx");
  assert.deepEqual(entryUrls({ bundled: false, urls: ["https://a/z.onnx", "https://b/z.onnx"] }), ["https://a/z.onnx", "https://b/z.onnx"]);
  assert.deepEqual(catalogGroups(catalog).map(([, ms]) => ms.map((m) => m.id)), [["b"], ["z"]]);
});
