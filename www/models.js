// @ts-check
// Where models come from: the catalog, downloads with progress, the sha256 check and the
// Cache API. Touches no DOM: callers get {bytes, ms, fromCache} and report progress
// themselves.
import { fetchBytes } from "./fetch.js";

export const CATALOG_URL = "models/catalog.json";
export const CACHE_NAME = "vgg-wasm-models-v1"; // Cache API store for downloaded models

/** @typedef {{onProgress?: (p: {loaded: number, total: number}) => void, signal?: AbortSignal}} Progress  a download's listener and its cancel */

/** The catalog's model entries (www/models/catalog.json, written by tools/catalog.py). */
export async function loadCatalog(url = CATALOG_URL) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return (await response.json()).models;
}

/** Bundled entries first, then downloads, each group in catalog order. */
export function catalogGroups(catalog) {
  return [
    ["Bundled with the page", catalog.filter((m) => m.bundled)],
    ["ONNX Model Zoo (download on request)", catalog.filter((m) => !m.bundled)],
  ];
}

/** The URLs an entry's file is fetched from, tried in order: bundled files lie next to
 *  the page; a download lists its mirrors (`urls`, or one `url`). */
export function entryUrls(entry) {
  return entry.bundled ? [`models/${entry.file}`] : entry.urls ?? [entry.url];
}

/** The entry's first URL, which also names it in the cache. */
export function entryUrl(entry) {
  return entryUrls(entry)[0];
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes) {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Downloads `url` with progress; returns {bytes: ArrayBuffer, ms, fromCache: false}.
 *  @param {string} url  @param {Progress & {expectedBytes?: number}} [how] */
export async function download(url, { onProgress, signal, expectedBytes } = {}) {
  const t0 = performance.now();
  const bytes = await fetchBytes(url, { onProgress, signal, expectedBytes });
  return { bytes: bytes.buffer, ms: performance.now() - t0, fromCache: false };
}

/**
 * A catalog entry's bytes: from the Cache API when a download was kept there, else fetched
 * (downloads are kept for the next visit; bundled files are left to the HTTP cache). The
 * bytes must have the catalog's sha256, or they are refused and dropped from the cache.
 * When the cache refuses them (storage full), they are still returned, with `notKept` saying
 * why they will have to be downloaded again.
 * @param {{url?: string, urls?: string[], bundled?: boolean, file?: string, sha256: string, bytes?: number, page?: string}} entry
 * @param {Progress & {onStage?: (stage: string) => void}} [how]
 * @returns {Promise<{bytes: ArrayBuffer, ms: number, fromCache: boolean, notKept?: string}>}
 */
export async function fetchEntry(entry, { onProgress, onStage, signal } = {}) {
  const url = entryUrl(entry);
  const store = !entry.bundled && "caches" in globalThis ? await caches.open(CACHE_NAME) : null;
  const cached = await store?.match(url);
  let got;
  if (cached) {
    onStage?.("from the cache");
    const t0 = performance.now();
    got = { bytes: await cached.arrayBuffer(), ms: 0, fromCache: true };
    got.ms = performance.now() - t0;
  } else {
    got = await downloadFromMirrors(entry, { onProgress, onStage, signal });
  }
  onStage?.("checking sha256");
  const digest = await sha256Hex(got.bytes);
  if (digest !== entry.sha256) {
    if (cached) await store.delete(url);
    throw new Error(`sha256 mismatch: the file has ${digest}, the catalog expects ${entry.sha256}; it was not used`);
  }
  if (store && !cached) {
    try {
      await store.put(url, new Response(got.bytes.slice(0)));
    } catch (e) {
      got.notKept = e.name === "QuotaExceededError" ? "the browser's storage for this site is full" : e.message;
    }
  }
  return got;
}

/** The first of the entry's URLs that answers; when none does, an error that says why in
 *  words (downloadFailure) and how to get the file by hand. A cancelled download is not
 *  retried. */
async function downloadFromMirrors(entry, { onProgress, onStage, signal }) {
  const urls = entryUrls(entry);
  const failures = [];
  for (const [i, url] of urls.entries()) {
    if (i > 0) onStage?.(`trying ${new URL(url).host}`);
    try {
      return await download(url, { onProgress, signal, expectedBytes: entry.bytes });
    } catch (e) {
      if (e.stage === "cancelled" || entry.bundled) throw e;
      failures.push({ url, error: e });
    }
  }
  throw new Error(downloadFailure(failures, { online: globalThis.navigator?.onLine !== false, page: entry.page ?? urls[0] }));
}

/**
 * Why no mirror gave the file, in words a user can act on: offline (the browser says so),
 * not found (404/410), refused by the server (401/403), another HTTP error, or no answer
 * while online (the server is unreachable or does not allow downloads from other sites).
 * Pure: `failures` are {url, error} with fetchBytes' `error.stage` and `error.status`.
 */
export function downloadFailure(failures, { online, page }) {
  // advice names another place than the one that failed (the model's page), or none
  const byHand = failures.some(({ url }) => url === page)
    ? "download it another way and use “Open an ONNX file…”"
    : `download it yourself from ${page} and use “Open an ONNX file…”`;
  if (!online) {
    return "you are offline, and this model is not in this browser's cache yet (the bundled models work offline). " +
      `Connect and choose it again, or ${byHand}`;
  }
  const why = failures.map(({ url, error: e }) => {
    if (e.stage === "status" && (e.status === 404 || e.status === 410)) return `${url} is not there (${e.status}, not found)`;
    if (e.stage === "status" && (e.status === 401 || e.status === 403)) return `the server refused ${url} (${e.status})`;
    if (e.stage === "status") return `the server answered ${e.status} for ${url}`;
    if (e.stage === "transfer") return `the download of ${url} broke off`;
    return `no answer for ${url}: the server is unreachable, or does not allow downloads from other sites (CORS)`;
  });
  return `could not download it: ${why.join("; ")}. You can ${byHand}`;
}

/** Forgets every downloaded model. */
export async function clearCache() {
  if (!("caches" in globalThis)) throw new Error("this browser has no Cache API here");
  await caches.delete(CACHE_NAME);
}
