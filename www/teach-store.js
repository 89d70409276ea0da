// @ts-check
// The taught classes kept in this browser (IndexedDB), so that they survive a reload: per
// example, its descriptor (the base's output averaged over space: what training needs, so
// nothing runs again on restore) and a small thumbnail to show. No DOM.

const DB_NAME = "vgg-wasm-teach";
const STORE = "taught";
const KEY = "current";

/**
 * @typedef {{features: Float32Array, thumb: string}} Example  `thumb`: a data: URL
 * @typedef {{name: string, examples: Example[]}} TaughtClass
 * @typedef {{base: string, side: number, flip: boolean, scales: number[], classes: TaughtClass[]}} Taught
 *   `base`: the sha256 of the base the descriptors came from (another base's do not fit);
 *   `side`, `flip`, `scales`: how they were made (a restored teacher makes more the same way)
 */

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** @returns {Promise<Taught | null>} what was saved, or null */
export async function loadTaught() {
  return (await withStore("readonly", (s) => s.get(KEY))) ?? null;
}

/** @param {Taught} taught */
export function saveTaught(taught) {
  return withStore("readwrite", (s) => s.put(taught, KEY));
}

export function clearTaught() {
  return withStore("readwrite", (s) => s.delete(KEY));
}
