// The page's pure text helpers (www/format.js, www/panels/paper.js), in Node.
import assert from "node:assert/strict";
import { test } from "node:test";
import { credit, formatBytes, formatCount, formatShape, modelSummary, viewCaption } from "../../www/format.js";
import { paperFacts } from "../../www/panels/paper.js";

test("sizes and counts read as a person writes them", () => {
  assert.deepEqual([formatBytes(1023), formatBytes(914_534), formatBytes(553_435_203)], ["1023 B", "893.1 KiB", "527.8 MiB"]);
  assert.deepEqual([formatCount(999), formatCount(36_928), formatCount(14_714_688), formatCount(15_346_630_656)],
    ["999", "36.9 k", "14.71 M", "15.35 G"]);
  assert.equal(formatShape([null, 3, 224, 224]), "[?, 3, 224, 224]");
});

test("the model summary counts convolutions by kind and parameters from the layers", () => {
  const info = { nodes: 4, inputName: "data", inputShape: [null, 3, 8, 8], outputShape: [1, 10],
    head: { kind: "classifier", classes: 10, softmaxInGraph: true } };
  const layers = [{ kind: "conv", params: 28 }, { kind: "relu", params: 0 }, { kind: "conv", params: 37 }, { kind: "fc", params: 650 }];
  assert.equal(modelSummary({ info, layers, bytes: 2048 }),
    "4 nodes · 2 conv layers · 715 parameters · input “data” [?, 3, 8, 8] · output [1, 10]: 10 classes (softmax in graph) · 2.0 KiB");
  // a tensor named "input" does not read "input input"
  assert.match(modelSummary({ info: { ...info, inputName: "input" }, layers, bytes: 2048 }), / · input “input” \[\?, 3, 8, 8\] · /);
  const features = { ...info, head: { kind: "features" } };
  assert.match(modelSummary({ info: features, layers: null, bytes: 10 }), /^4 nodes · input .*feature maps \(no classifier\) · 10 B$/);
});

test("credits quote accuracy only with its source", () => {
  const entry = { source: "ONNX Model Zoo", license: "Apache-2.0" };
  assert.equal(credit(entry), "Source: ONNX Model Zoo. License: Apache-2.0.");
  const acc = { top1: 72.62, top5: 91.14, dataset: "ImageNet val", source: "model card" };
  assert.match(credit({ ...entry, accuracy: acc }), /top-1 accuracy 72\.62%, top-5 91\.14% on ImageNet val \(model card\)\.$/);
  // an int8 model says what the benchmark measured against fp32, and where
  const int8 = { format: "QOperator", time: 0.93, memory: 0.62, threads: 1, source: "./build.sh bench" };
  assert.match(credit({ ...entry, int8 }), /int8 \(QOperator\): 0\.93× the time and 0\.62× the peak memory of fp32 VGG16 per image on this page's CPU engine, 1 thread \(\.\/build\.sh bench\)\.$/);
});

test("the view caption says only what was done to the image", () => {
  const g = { scaleX: 1, scaleY: 1, left: 0, top: 0, pad: 0 };
  assert.equal(viewCaption({ width: 28, height: 28, geometry: g }), "The image as the model sees it: 28×28 pixels.");
  assert.equal(viewCaption({ width: 224, height: 224, geometry: { ...g, scaleX: 0.5, scaleY: 0.5, left: 16, pad: 2 } }),
    "The image as the model sees it: 224×224 pixels, resized ×0.500, cropped at (16, 0), padded by 2.");
});

test("the paper panel states the crate's stack numbers and the last spatial layer", () => {
  const layers = [{ label: "conv1_1", outShape: [64, 8, 8], rf: [3, 3], stride: [1, 1] },
    { label: "pool5", outShape: [512, 7, 7], rf: [212, 212], stride: [32, 32] }, { label: "fc6", outShape: [4096], rf: [224, 224], stride: [32, 32] }];
  const stack = { labels: ["conv3_1", "conv3_2", "conv3_3"], fields: [3, 5, 7], channels: 256, layers: 3,
    stackWeights: 1_769_472, singleWeights: 3_211_264, field: 7 };
  const facts = paperFacts(layers, { convs: 13, all3x3: true, stack });
  assert.equal(facts.length, 4);
  assert.match(facts[0], /^All 13 convolutions of this model are 3×3, as in every configuration/);
  assert.match(facts[1], /on conv3_1, conv3_2, conv3_3, 1 layer sees 3×3, 2 layers see 5×5, 3 layers see 7×7/);
  assert.match(facts[2], /3·9·C² = 1,769,472 weights; one 7×7 layer with the same field would have 49·C² = 3,211,264: the stack has 45% fewer weights/);
  assert.equal(facts[3], "Its last spatial layer, pool5, sees 212×212 input pixels with a stride of 32.");
  assert.deepEqual(paperFacts(layers.slice(0, 1), { convs: 1, all3x3: false, stack: null }),
    ["Not all 1 convolutions of this model are 3×3.", "Its last spatial layer, conv1_1, sees 3×3 input pixels with a stride of 1."]);
});
