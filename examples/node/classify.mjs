#!/usr/bin/env node
// Prints the top-5 classes of an image: node classify.mjs IMAGE.(png|jpg) MODEL.onnx
// A JSON sidecar next to the model (MODEL.json: preprocessing, labels) is used if present.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fromUrl } from "vgg-wasm";

const [image, model] = process.argv.slice(2);
if (!image || !model) {
  console.error("usage: node classify.mjs IMAGE.(png|jpg) MODEL.onnx");
  process.exit(2);
}
const sidecar = /\.onnx$/i.test(model) ? model.replace(/\.onnx$/i, ".json") : null;
try {
  const options = sidecar && existsSync(sidecar) ? JSON.parse(await readFile(sidecar, "utf8")) : undefined;
  const vgg = await fromUrl(model, { options });
  const top = vgg.classifyImage(await readFile(image), 5);
  for (const p of top) console.log(`${(100 * p.probability).toFixed(2).padStart(6)}%  ${p.label} (class ${p.index})`);
  console.log(`preprocess ${top.timings.preprocessMs.toFixed(1)} ms, inference ${top.timings.inferenceMs.toFixed(1)} ms`);
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(1);
}
