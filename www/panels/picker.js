// @ts-check
// The model picker: a placeholder, then the catalog's bundled models and its downloads.
import { formatBytes } from "../format.js";
import { catalogGroups } from "../models.js";

/** Fills `select` with the catalog's entries, grouped, and "Choose a model…" selected. */
export function fillPicker(select, catalog) {
  const option = (value, textContent) => Object.assign(document.createElement("option"), { value, textContent });
  const placeholder = option("", "Choose a model…");
  placeholder.disabled = true;
  select.append(placeholder);
  for (const [label, models] of catalogGroups(catalog)) {
    const group = Object.assign(document.createElement("optgroup"), { label });
    // the short name keeps the size visible in a narrow picker; the full one is the tooltip
    group.append(...models.map((m) => Object.assign(option(m.id, `${m.short ?? m.name} · ${formatBytes(m.bytes)}${m.bundled ? "" : " download"}`), { title: m.name })));
    select.append(group);
  }
  select.value = "";
}
