// @ts-check
// Numbers and model facts as text. Pure: no DOM, tested with node --test (tests/www).

/** 1536 → "1.5 KiB". */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** 36928 → "36.9 k"; 1.5e9 → "1.50 G". */
export function formatCount(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** A declared shape with "?" for dynamic dimensions. */
export function formatShape(shape) {
  return `[${shape.map((d) => d ?? "?").join(", ")}]`;
}

/** One line about a loaded model: nodes, convolutions, parameters, input, output, head, size. */
export function modelSummary({ info, layers, bytes }) {
  const head = info.head.kind === "classifier"
    ? `${info.head.classes} classes${info.head.softmaxInGraph ? " (softmax in graph)" : ""}`
    : "feature maps (no classifier)";
  const params = layers ? ` · ${layers.reduce((n, l) => n + l.params, 0).toLocaleString("en")} parameters` : "";
  const convs = layers ? ` · ${layers.filter((l) => l.kind === "conv").length} conv layers` : "";
  // the tensor's name quoted: a graph whose input is called "input" would read "input input"
  return `${info.nodes} nodes${convs}${params} · input “${info.inputName}” ${formatShape(info.inputShape)} · ` +
    `output ${formatShape(info.outputShape)}: ${head} · ${formatBytes(bytes)}`;
}

/** Which build of the engine runs, on how many threads, and why not a faster one; how long
 *  its WebAssembly took to download and to finish compiling after the last byte. */
export function runtimeSummary({ build, threads, isolated, notes, load }) {
  const simd = build === "pkg" ? "SIMD128" : "relaxed SIMD";
  const how = `${threads} thread${threads === 1 ? "" : "s"}`;
  const why = notes.length ? ` (${notes.join("; ")})` : "";
  const loaded = load?.downloadMs != null
    ? ` Its ${formatBytes(load.bytes)} of WebAssembly: downloaded in ${load.downloadMs.toFixed(0)} ms, compiled ${load.compileMs.toFixed(0)} ms after the last byte.`
    : "";
  return `Engine: ${simd}, ${how}${isolated ? ", cross-origin isolated" : ""}${why}.${loaded}`;
}

/** The engine's download, for its progress line. */
export function engineProgress({ loaded, total }) {
  return total
    ? `Downloading the engine (WebAssembly): ${formatBytes(loaded)} of ${formatBytes(total)} (${Math.floor((100 * loaded) / total)}%)`
    : `Downloading the engine (WebAssembly): ${formatBytes(loaded)}`;
}

/** A loaded model's status line: how it was fetched and how long parsing and optimising
 *  took, each timed on its own (`fetched`: {ms, fromCache} or null for a local file). */
export function loadedLine(name, { fetched, loadMs, backend }) {
  const how = fetched == null ? "" : `${fetched.fromCache ? "read from the cache" : "downloaded"} in ${fetched.ms.toFixed(0)} ms, `;
  const gpu = backend === "webgpu" ? " and uploaded to the GPU" : "";
  return `Loaded ${name}: ${how}parsed and optimised${gpu} in ${loadMs.toFixed(0)} ms.`;
}

const DOMAIN_WORDS = { photo: "a photo", fashion: "a 28×28 Fashion-MNIST image of clothing" };
const DOMAIN_ADVICE = {
  photo: " For photos, choose an ImageNet VGG in the model picker (a download).",
  fashion: " For clothing, choose Fashion-VGG.",
};

/**
 * A sentence next to the answer when the image is not of the kind the model knows, or ""
 * when it is (or nothing is known). `fit`: the catalog's {domain, what} of the model, or
 * null; `domain`: the image's ("photo", "fashion") or null when unknown (the user's own).
 */
export function fitNote(model, fit, domain, classifier = true) {
  if (!fit || domain === fit.domain) return "";
  if (domain == null) {
    // an image of unknown kind: only a narrow model needs saying so
    return fit.domain === "fashion" ? `${model} knows only ${fit.what}: whatever your image shows, its answer is one of them.` : "";
  }
  const words = DOMAIN_WORDS[domain] ?? `an image of kind ${domain}`;
  // a model without a classifier gives no answer to be "one of those": its maps are what
  // filters learnt on other images make of this one
  const so = classifier ? "so the answer above is one of those whatever it shows" : "so its feature maps below show what filters learnt on those make of it";
  return `${model} knows ${fit.what}; this is ${words}, ${so}.` + (DOMAIN_ADVICE[domain] ?? "");
}

/** The sentence above a feature-map model's maps: this image's output shape beside the
 *  declared one where they differ (a view that is not the size the graph declares), and
 *  what is shown. */
export function featureMapsLine(name, shape, declared, shown) {
  const same = declared.length === shape.length && declared.every((d, i) => d == null || d === shape[i]);
  const decl = same ? "" : ` (the graph declares ${formatShape(declared)}, for the view size it was exported with)`;
  return `This model has no classifier: for ${name} it returns feature maps of shape [${shape.join(", ")}]${decl}. ` +
    `The ${shown} channels with the largest mean, each in grey from 0 (black) to its own maximum (white):`;
}

// The engine's reasons for not using the GPU (src/gpu/device.rs, src/pipeline/) in plain
// words; the engine's own text goes behind "Details" (backendDetail)
/** @type {[RegExp, string][]} */
const BACKEND_WORDS = [
  [/navigator\.gpu is missing|WebGPU is not available/, "this browser offers no WebGPU here"],
  [/^no WebGPU adapter/, "this browser found no GPU it can use (no WebGPU adapter)"],
  [/software one/, "the only GPU here is a software one, slower than the CPU (choose WebGPU to use it anyway)"],
  [/limits are too low/, "this GPU's limits are too low for the model's kernels"],
  [/gave no device/, "the GPU would not start"],
  [/device was lost/, "the GPU stopped (its device was lost)"],
  [/GPU cannot run this model/, "the GPU path cannot run one of this model's layers"],
  [/last WebGPU run failed/, "the last GPU run failed, so the CPU answered"],
];

/** The words for `reason`, and whether the engine's own text says more than they do. */
function backendWords(reason) {
  const hit = BACKEND_WORDS.find(([re]) => re.test(reason));
  return hit ? { words: hit[1], more: true } : { words: reason, more: false };
}

/** Where the model runs, and why not on WebGPU, in plain words.  @param {import("./pkg/vgg_wasm.js").Backend} backend */
export function backendSummary({ name, adapter, reason }) {
  const why = reason ? backendWords(reason).words : "";
  if (name === "webgpu") return `Runs on WebGPU: ${adapter}.${why ? ` ${why}.` : ""}`;
  return `Runs on the CPU${why ? `: ${why}` : ""}.`;
}

/** The engine's own reason where the summary put it in other words, else "".
 *  @param {import("./pkg/vgg_wasm.js").Backend} backend */
export function backendDetail({ reason }) {
  return reason && backendWords(reason).more ? reason : "";
}

// Multiplications per output, direct over Winograd: 9m²/(m+2)² for F(m×m, 3×3) (Lavin &
// Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016)
const ALGORITHM_WORDS = {
  "winograd F(4x4,3x3)": "Winograd F(4×4, 3×3) (4× fewer multiplications; Lavin & Gray 2016)",
  "winograd F(2x2,3x3)": "Winograd F(2×2, 3×3) (2.25× fewer multiplications; Lavin & Gray 2016)",
  direct: "tract's direct convolution (im2col and a matrix product)",
};

/** `info.convolutions` counted by algorithm: [algorithm, count] pairs in graph order. */
export function convolutionCounts(convolutions) {
  const counts = new Map();
  for (const c of convolutions ?? []) counts.set(c.algorithm, (counts.get(c.algorithm) ?? 0) + 1);
  return [...counts];
}

/** Which algorithm the CPU runs the model's convolutions with (`info.convolutions`), counted. */
export function convolutionSummary(convolutions) {
  if (!convolutions?.length) return "";
  const parts = convolutionCounts(convolutions).map(([a, n]) => `${n} of ${convolutions.length} by ${ALGORITHM_WORDS[a] ?? a}`);
  return `Convolutions on the CPU: ${parts.join("; ")}.`;
}

const BACKEND_NAMES = { webgpu: "WebGPU", cpu: "CPU" };

/** One run's timings; the other backend's inference time on the same image when it ran
 *  too; and, after a WebGPU run, the CPU's time for the layers' activations. */
export function timingsLine(timings, times = {}, cpuMs = null) {
  const name = BACKEND_NAMES[timings.backend] ?? timings.backend;
  let line = `${name}: preprocess ${timings.preprocessMs.toFixed(1)} ms · inference ${timings.inferenceMs.toFixed(1)} ms`;
  for (const [other, ms] of Object.entries(times)) {
    if (other !== timings.backend) line += ` · on ${BACKEND_NAMES[other] ?? other} before: ${ms.toFixed(1)} ms`;
  }
  if (cpuMs != null) line += ` · the layers' activations on the CPU: ${cpuMs.toFixed(0)} ms (WebGPU reads back only the answer)`;
  return `${line} (in the worker)`;
}

/** A catalog entry's source, license and quoted accuracy (with its source); for an int8
 *  model, its time and memory relative to fp32 as the benchmark measured them. */
export function credit(entry) {
  const a = entry.accuracy;
  const acc = a
    ? ` Reported top-1 accuracy ${a.top1}%${a.top5 ? `, top-5 ${a.top5}%` : ""} on ${a.dataset} (${a.source}).`
    : "";
  const q = entry.int8;
  const int8 = q
    ? ` int8 (${q.format}): ${q.time}× the time and ${q.memory}× the peak memory of fp32 VGG16 per image on this page's CPU engine, ${q.threads} thread (${q.source}).`
    : "";
  return `Source: ${entry.source}. License: ${entry.license}.${acc}${int8}`;
}

/** How the image was turned into the model's view, from its geometry. */
export function viewCaption({ width, height, geometry: g }) {
  return `The image as the model sees it: ${width}×${height} pixels` +
    (g.scaleX !== 1 || g.scaleY !== 1 ? `, resized ×${g.scaleX.toFixed(3)}` : "") +
    (g.left || g.top ? `, cropped at (${g.left}, ${g.top})` : "") + (g.pad ? `, padded by ${g.pad}` : "") + ".";
}
