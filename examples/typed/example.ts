// Uses the whole API with TypeScript's strict checks (`tsc --noEmit`): a compile-time test
// of the package's types.
import { fromUrl, ready, Vgg, type Classification, type ConvStack, type GradientMap, type LayerInfo, type ModelInfo, type UnitField } from "vgg-wasm";

export async function tour(modelUrl: string, rgba: Uint8ClampedArray, width: number, height: number): Promise<string[]> {
  await ready();
  const vgg: Vgg = await fromUrl(modelUrl, {
    onProgress: ({ loaded, total }) => console.log(`${loaded} of ${total} bytes`),
    options: { preprocess: { preset: "imagenet", resize: 256, crop: [224, 224] }, activations: true },
  });
  const info: ModelInfo = vgg.info;
  const lines = [`${info.inputName} ${info.inputShape.map((d) => d ?? "?").join("x")}`];
  if (info.head.kind === "classifier") {
    const top: Classification = vgg.classify(rgba, width, height, 5);
    lines.push(`${top[0].label} ${top[0].probability.toFixed(3)} in ${top.timings.inferenceMs} ms`);
    const s: GradientMap = vgg.saliency(top[0].index);
    lines.push(`saliency of ${s.target}: ${s.map.length} pixels`);
  }
  const out = vgg.forward(rgba, width, height);
  lines.push(`output ${out.shape.join("x")}, ${out.data.length} values`);
  const layers: LayerInfo[] = vgg.layers();
  const last = layers[layers.length - 1];
  lines.push(`${last.label}: field ${last.rf[0]} px, ${last.params} parameters, ${last.macs} MACs`);
  const field: UnitField = vgg.receptiveField("conv5_3", 0, 0);
  lines.push(`conv5_3[0, 0] sees rows ${field.unclipped.top}..${field.unclipped.bottom}`);
  const nested = vgg.nestedFields("conv5_3", 0, 0);
  lines.push(`${nested.length} earlier layers`);
  const act = vgg.activation("conv5_3");
  lines.push(`conv5_3 ${act.shape.join("x")}`);
  const erf: GradientMap = vgg.effectiveReceptiveField("conv5_3", 0, 0, 0);
  lines.push(`effective field in ${erf.ms} ms`);
  const g = vgg.inputGeometry(width, height);
  lines.push(`crop at ${g.left}, ${g.top}`);
  const view = vgg.modelView();
  lines.push(`the model saw ${view.width}x${view.height}, resized x${view.geometry.scaleX}`);
  const layer: LayerInfo = layers[0];
  lines.push(`first layer is a ${layer.kind}`);
  const c: ConvStack = vgg.convStack();
  if (c.stack) lines.push(`${c.stack.layers} stacked 3x3: ${c.stack.stackWeights} weights, one ${c.stack.field}x${c.stack.field}: ${c.stack.singleWeights}`);
  const t = vgg.forwardTensor(new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
  lines.push(`${t.timings.inferenceMs} ms`);
  const fromBytes = new Vgg(new Uint8Array(0), undefined); // throws an Error at run time: empty bytes
  fromBytes.free();
  return lines;
}
