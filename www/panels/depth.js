// "Does depth help?": the depth experiment's results (training/train.py depth, written to
// www/models/depth.json) beside the paper's Table 3, each with its source.

export const DEPTH_URL = "models/depth.json";

/** Fills the depth panel from depth.json; leaves it hidden when the file is missing. */
export async function showDepthPanel({ panel, intro, table, source }, url = DEPTH_URL) {
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
  for (const r of d.rows) {
    const tr = document.createElement("tr");
    const paper = d.paper.train_test_scale_256[r.config];
    const ours = `${r.mean_test_error.toFixed(2)}%` + (r.spread === null ? "" : ` (seeds ${r.test_error.map((e) => e.toFixed(2)).join(", ")})`);
    for (const cell of [r.config, r.conv_layers, r.parameters.toLocaleString("en"), ours, paper ? `${paper[0]} / ${paper[1]}%` : "–"]) {
      const td = document.createElement("td");
      td.textContent = String(cell);
      tr.append(td);
    }
    body.append(tr);
  }
  source.textContent = `Paper: ${d.paper.source}. Ours: ${d.dataset}, measured by ${d.recipe}.`;
  panel.hidden = false;
}
