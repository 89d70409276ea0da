// @ts-check
// Downloads with progress, shared by the page (www/) and the npm package (copied next to
// its common.js): one copy of the streaming loop. No DOM: runs in pages, workers and Node.

/**
 * Fetches `url` as bytes, calling `onProgress({loaded, total})` for each chunk (`total` is
 * the Content-Length of an unencoded response, else `expectedBytes`, else 0: a compressed
 * response's length is not that of the bytes read). Errors say which stage failed:
 * `error.stage` is "connect" (no answer: offline, refused, or blocked by CORS), "status"
 * (an HTTP error; `error.status` is its code), "cancelled" (the `signal` aborted) or "transfer" (broke off midway).
 * @param {string} url
 * @param {{onProgress?: (p: {loaded: number, total: number}) => void, signal?: AbortSignal, expectedBytes?: number}} [options]
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function fetchBytes(url, { onProgress, signal, expectedBytes = 0 } = {}) {
  const fail = (stage, message, cause) => Object.assign(new Error(message, { cause }), { stage });
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (e) {
    if (e.name === "AbortError") throw fail("cancelled", "download cancelled", e);
    throw fail("connect", `the download of ${url} failed before it started (${e.message})`, e);
  }
  if (!response.ok) {
    throw Object.assign(fail("status", `the server answered ${response.status} ${response.statusText} for ${url}`), { status: response.status });
  }
  const total = (!response.headers.get("content-encoding") && Number(response.headers.get("content-length"))) || expectedBytes;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (e) {
      if (e.name === "AbortError") throw fail("cancelled", "download cancelled", e);
      throw fail("transfer", `the download of ${url} broke off: ${e.message}`, e);
    }
    if (step.done) break;
    chunks.push(step.value);
    loaded += step.value.byteLength;
    onProgress?.({ loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}
