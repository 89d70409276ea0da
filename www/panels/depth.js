// @ts-check
// "Does depth help?": the depth experiment's results (training/train.py depth, written to
// www/models/depth.json) beside the paper's Table 3, each with its source.

export const DEPTH_URL = "models/depth.json";

// The convolution widths of the paper's configurations (Simonyan & Zisserman 2015, Table 1),
// as training/train.py builds them before dividing by the experiment's width divisor. Each
// convolution there is followed by a batch norm, whose scale and shift (2 per channel) PyTorch
// counts as parameters while training; the exported .onnx has them folded into the
// convolutions, so the model summary counts that many fewer.
const TABLE1_WIDTHS = {
  A: [64, 128, 256, 256, 512, 512, 512, 512],
  B: [64, 64, 128, 128, 256, 256, 512, 512, 512, 512],
  D: [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
  E: [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512],
};

/** The batch norms' parameters of configuration `config` at widths divided by `divisor`. */
export function batchNormParams(config, divisor) {
  return (TABLE1_WIDTHS[config] ?? []).reduce((n, w) => n + 2 * Math.floor(w / divisor), 0);
}

/** "29.6% / 10.4%": every paper figure with one decimal. */
export function paperErrors([top1, top5]) {
  return `${top1.toFixed(1)}% / ${top5.toFixed(1)}%`;
}

/** The table's rows, as text cells: ours in configuration order, with the paper's C (which
 *  was not trained here) in its place. Pure. */
export function depthRows(d) {
  const paper = d.paper.train_test_scale_256;
  const rows = d.rows.map((r) => {
    const bn = batchNormParams(r.config, d.width_divisor);
    const ours = `${r.mean_test_error.toFixed(2)}%` +
      (r.spread === null ? "" : ` (seeds: ${r.test_error.map((e) => `${e.toFixed(2)}%`).join(", ")})`);

    return [r.config, String(r.conv_layers), (r.parameters - bn).toLocaleString("en"), ours, paper[r.config] ? paperErrors(paper[r.config]) : "–"];
  });
  if (paper.C && !d.rows.some((r) => r.config === "C")) {
    const at = rows.findIndex((r) => r[0] > "C");
    rows.splice(at < 0 ? rows.length : at, 0, ["C", "13", "–", "not trained here²", paperErrors(paper.C)]);
  }
  return rows;
}

/** Fills the depth panel from depth.json; leaves it hidden when the file is missing. */
export async function showDepthPanel({ panel, intro, table, notes, source }, url = DEPTH_URL) {
  let d;
  try {
    const r = await fetch(url);
    if (!r.ok) return;
    d = await r.json();
  } catch {
    return;
  }
  intro.textContent = `The paper's configurations, every width divided by ${d.width_divisor}, trained here on ` +
    `Fashion-MNIST with the same recipe and epochs (${d.rows[0].epochs}); choose them in the model picker. ` +
    "The paper's numbers are for ImageNet at full width and are quoted beside ours, not compared as equals.";
  const body = table.querySelector("tbody");
  body.replaceChildren();
  // each cell carries its column's name: a phone shows a row as a card of labelled lines
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.replace(/\u00ad/g, ""));
  for (const cells of depthRows(d)) {
    const tr = document.createElement("tr");
    for (const [i, cell] of cells.entries()) {
      const td = Object.assign(document.createElement("td"), { textContent: cell });
      td.dataset.label = heads[i];
      tr.append(td);
    }
    body.append(tr);
  }
  const first = d.rows[0];
  notes.textContent = `¹ In the .onnx file, as the loaded model's summary counts them. Training counted ${first.parameters.toLocaleString("en")} for ` +
    `${first.config}: batch norm's scale and shift (2 per channel, ${batchNormParams(first.config, d.width_divisor).toLocaleString("en")} ` +
    "for " + first.config + ") are folded into the convolutions when the model is exported. " +
    "² Configuration C is D with a 1×1 convolution in place of the third 3×3 one of blocks 3 to 5; this experiment " +
    "trains only the all-3×3 configurations, so C is quoted from the paper alone.";
  source.textContent = `Paper: ${d.paper.source}. Ours: ${d.dataset}, measured by ${d.recipe}.`;
  panel.hidden = false;
}
