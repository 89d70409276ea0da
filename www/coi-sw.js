// @ts-check
// The page's service worker, for two things a static host may not give:
// - cross-origin isolation: on hosts that cannot send response headers (GitHub Pages, a
//   plain file server) it adds COOP same-origin and COEP require-corp to the site's own
//   responses, without which browsers give no shared memory, so no threads;
// - the hosted page offline (registered as coi-sw.js?offline=offline.json, which only
//   `./build.sh dist` writes): the page's own files are cached at install, what else the
//   site serves it is cached as it passes (network first), the engine build and bundled
//   model the page used are cached when the page asks (a "keep" message), and without a
//   network the cache answers.
// runtime.js registers it only where one of the two is needed: `./build.sh serve` and the
// tests' server isolate the page themselves and list nothing offline, so they never
// install it.

// Typed here as a service worker (the page's modules are checked with the DOM's types)
/**
 * @typedef {Event & {waitUntil(done: Promise<unknown>): void}} InstallEvent
 * @typedef {InstallEvent & {request: Request, respondWith(response: Promise<Response>): void}} FetchRequestEvent
 * @typedef {InstallEvent & {data: {type: string, urls?: string[]}}} KeepMessageEvent
 * @typedef {{skipWaiting(): Promise<void>, clients: {claim(): Promise<void>}, location: Location} & EventTarget} ServiceWorkerScope
 */
const scope = /** @type {ServiceWorkerScope} */ (/** @type {unknown} */ (self));
// the list of the page's own files, where the page is to work offline
const OFFLINE_LIST = new URL(scope.location.href).searchParams.get("offline");
const CACHE = "vgg-wasm-offline-v1";

/** The response with the isolation headers added (a copy: a response's headers are fixed). */
function isolated(response) {
  if (response.type === "opaque" || response.type === "opaqueredirect") return response;
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** Puts `urls` (the site's, relative to it) in the offline cache, from the browser's HTTP
 *  cache where they are there: a file the page just used is not downloaded again. */
async function keep(urls) {
  const cache = await caches.open(CACHE);
  await Promise.all(urls.map(async (url) => {
    const response = await fetch(url, { cache: "force-cache" }).catch(() => null);
    if (response?.ok) await cache.put(url, response);
  }));
}

scope.addEventListener("install", (/** @type {InstallEvent} */ event) => {
  event.waitUntil((async () => {
    if (OFFLINE_LIST) {
      const list = await (await fetch(OFFLINE_LIST, { cache: "no-cache" })).json();
      await keep(list.files);
    }
    await scope.skipWaiting();
  })());
});
scope.addEventListener("activate", (/** @type {InstallEvent} */ event) => event.waitUntil(scope.clients.claim()));

// the page, after its first answer: the engine build and the model it used
scope.addEventListener("message", (/** @type {KeepMessageEvent} */ event) => {
  if (OFFLINE_LIST && event.data?.type === "keep" && Array.isArray(event.data.urls)) event.waitUntil(keep(event.data.urls));
});

scope.addEventListener("fetch", (/** @type {FetchRequestEvent} */ event) => {
  const request = event.request;
  // other origins are left alone: the page fetches them with CORS, which COEP accepts
  if (new URL(request.url).origin !== scope.location.origin) return;
  // a request the browser may only answer from its cache cannot be refetched here
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  if (!OFFLINE_LIST) {
    event.respondWith(fetch(request).then(isolated));
    return;
  }
  // offline: network first (the page is never older than the site while online), kept as it
  // passes; without a network, the cache (a navigation by its path, whatever its query)
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (request.method === "GET" && response.ok && response.type === "basic" && !request.headers.has("range")) {
        const copy = response.clone();
        event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
      }
      return isolated(response);
    } catch (e) {
      const cached = await caches.match(request, { ignoreSearch: request.mode === "navigate" });
      if (cached) return isolated(cached);
      throw e;
    }
  })());
});
