// The page's pure helpers for the first five minutes: what a model knows said next to the
// answer, the status lines, the depth table's numbers, the preprocessing form, the chart's
// labels, the grey view. Node only: no DOM.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { engineProgress, fitNote, loadedLine, runtimeSummary } from "../../www/format.js";
import { batchNormParams, depthRows, paperErrors } from "../../www/panels/depth.js";
import { f32, fieldsToOptions, sidecarJson, specToFields } from "../../www/panels/preprocess.js";
import { placeLabel } from "../../www/render/rf-chart.js";
import { toGrey } from "../../www/render/field-view.js";
import { ticket } from "../../www/dom.js";

const CLOTHING = { domain: "fashion", what: "10 kinds of clothing, as 28×28 grey Fashion-MNIST images" };
const PHOTOS = { domain: "photo", what: "the 1000 ImageNet classes" };

test("a photo on a clothing model, or clothing on a photo model, is said in words", () => {
  assert.equal(fitNote("Fashion-VGG", CLOTHING, "fashion"), "");
  assert.equal(fitNote("VGG16", PHOTOS, "photo"), "");
  assert.equal(fitNote("Mine", null, "photo"), "", "a model nobody described gets no note");
  assert.match(fitNote("Fashion-VGG", CLOTHING, "photo"),
    /^Fashion-VGG knows 10 kinds of clothing, .*; this is a photo, .* For photos, choose an ImageNet VGG/);
  assert.match(fitNote("VGG16", PHOTOS, "fashion"), /this is a 28×28 Fashion-MNIST image of clothing.* For clothing, choose Fashion-VGG\.$/);
  // the user's own image: only a narrow model says what it knows
  assert.match(fitNote("Fashion-VGG", CLOTHING, null), /^Fashion-VGG knows only 10 kinds of clothing/);
  assert.equal(fitNote("VGG16", PHOTOS, null), "");
});

test("download, compile and load are timed apart in the status lines", () => {
  assert.equal(engineProgress({ loaded: 3 * 2 ** 20, total: 12 * 2 ** 20 }), "Downloading the engine (WebAssembly): 3.0 MiB of 12.0 MiB (25%)");
  assert.equal(engineProgress({ loaded: 2048, total: 0 }), "Downloading the engine (WebAssembly): 2.0 KiB");
  const load = { bytes: 16 * 2 ** 20, downloadMs: 6400.4, compileMs: 812.2 };
  assert.match(runtimeSummary({ build: "pkg", threads: 1, isolated: false, notes: [], load }),
    /Its 16\.0 MiB of WebAssembly: downloaded in 6400 ms, compiled 812 ms after the last byte\.$/);
  assert.equal(loadedLine("Fashion-VGG", { fetched: { ms: 41.6, fromCache: false }, loadMs: 120.2, backend: "cpu" }),
    "Loaded Fashion-VGG: downloaded in 42 ms, parsed and optimised in 120 ms.");
  assert.equal(loadedLine("mine.onnx", { fetched: null, loadMs: 9, backend: "webgpu" }),
    "Loaded mine.onnx: parsed and optimised and uploaded to the GPU in 9 ms.");
});

test("the depth table counts parameters as the loaded model does, and explains C", () => {
  const d = JSON.parse(readFileSync(new URL("../../www/models/depth.json", import.meta.url)));
  // A at width / 8: convolutions of 8, 16, 32, 32, 64, 64, 64, 64 channels, 2 per channel
  assert.equal(batchNormParams("A", 8), 2 * (8 + 16 + 32 + 32 + 64 + 64 + 64 + 64));
  const rows = depthRows(d);
  const a = rows.find((r) => r[0] === "A");
  const trainedA = d.rows.find((r) => r.config === "A").parameters;
  assert.equal(a[2], (trainedA - batchNormParams("A", d.width_divisor)).toLocaleString("en"));
  assert.deepEqual(rows.map((r) => r[0]), ["A", "B", "C", "D", "E"]);
  assert.match(rows[2][3], /not trained here/);
  // the paper's figures, one format: "27.0% / 8.8%", never "27 / 8.8%"
  assert.equal(paperErrors([27, 8.8]), "27.0% / 8.8%");
  for (const r of rows) assert.match(r[4], /^\d+\.\d% \/ \d+\.\d%$/);
});

test("the preprocessing form reads back the spec it shows, and refuses a non-number by name", () => {
  const spec = { channelOrder: "bgr", layout: "nchw", scale: 1, mean: [123.68, 116.779, 103.939], std: [1, 1, 1], resize: 256, crop: [224, 224], pad: 0 };
  const fields = Object.fromEntries(Object.entries(specToFields(spec)).map(([k, v]) => [k, String(v)]));
  assert.deepEqual(fieldsToOptions(fields), spec);
  const none = specToFields({ ...spec, resize: null, crop: null });
  assert.deepEqual([none.resize, none.cropH, none.cropW], [0, 0, 0], "0 means none, as the crate reads it");
  assert.throws(() => fieldsToOptions({ ...fields, mean1: "abc" }), /mean1 must be a number, got "abc"/);
  assert.throws(() => fieldsToOptions({ ...fields, scale: "" }), /scale must be a number/);
  assert.deepEqual(JSON.parse(sidecarJson(spec, ["a", "b"])), { preprocess: spec, labels: ["a", "b"] });
  assert.deepEqual(JSON.parse(sidecarJson(spec)), { preprocess: spec });
  // the crate's f32 numbers shown as their shortest decimal, and read back to the same f32
  for (const [v, shown] of [[0.48500001430511475, 0.485], [Math.fround(1 / 255), 0.003921569], [Math.fround(0.21899983), 0.21899983], [123.68000030517578, 123.68]]) {
    assert.equal(f32(v), shown);
    assert.equal(Math.fround(f32(v)), Math.fround(v));
  }
});

test("chart labels stay inside the chart", () => {
  assert.deepEqual(placeLabel(300, "pool3", 2, 638), { x: 300, anchor: "middle" });
  assert.deepEqual(placeLabel(636, "pool5", 2, 638), { x: 638, anchor: "end" });
  assert.deepEqual(placeLabel(5, "conv1_1", 2, 638), { x: 2, anchor: "start" });
});

test("a grey model's view is drawn in the luma it sees", () => {
  const g = toGrey(new Uint8ClampedArray([255, 0, 0, 255, 0, 255, 0, 128, 10, 20, 30, 255]));
  assert.deepEqual([...g], [76, 76, 76, 255, 150, 150, 150, 128, 18, 18, 18, 255]);
});

test("a training report says what was trained, how well, and where the held-out figure comes from", async () => {
  const { reportLine } = await import("../../www/panels/teach.js");
  const report = {
    method: "softmax", classes: ["mug", "plant"], examples: 24, iterations: 31, loss: 0.0123,
    trainAccuracy: 1, ms: 12.4, heldOut: { examples: 4, accuracy: 0.75, confusion: [[2, 0], [1, 1]], seed: 0 },
  };
  // counted in the person's terms: 12 images added, each with its mirror
  assert.equal(reportLine(report, 12),
    "Trained softmax regression on 12 images (24 views with mirrors or scales) of 2 classes in 12 ms (31 optimiser steps); " +
    "100% of the training views right. Held-out accuracy: 75% of 2 images (4 views with mirrors or scales) the classifier did not see " +
    "(matrix below); the classifier kept is trained on all.");
  assert.match(reportLine({ ...report, method: "nearestMean", heldOut: null }, 24),
    /^Trained nearest class mean on 24 images of 2 classes in 12 ms; 100% .* With 5 images or more in every class/);
});

test("an image being decoded is superseded by a newer image, not by the run of the one before", () => {
  // (Firefox, drop after drop: the first image's queued run started while the second
  // decoded, and the second was dropped as stale; the page kept showing the first)
  const tickets = { model: 0, image: 0, run: 0, channel: 0, overlay: 0, preprocess: 0 };
  const second = ticket(tickets, "image");
  ticket(tickets, "run"); // the image before starts its queued run
  assert.equal(second(), true);
  const channel = ticket(tickets, "channel");
  ticket(tickets, "run");
  assert.equal(channel(), false, "a channel view is for the run it was asked in");
  ticket(tickets, "image");
  assert.equal(second(), false, "a newer image supersedes it");
});
