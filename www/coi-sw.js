// @ts-check
// For static hosts that cannot send response headers (GitHub Pages, a plain file server):
// this service worker adds cross-origin isolation (COOP same-origin, COEP require-corp) to
// the site's own responses, without which browsers give no shared memory, so no threads.
// runtime.js registers it only when the page is not isolated already; a host that sends the
// headers itself (build.sh serve, dist/_headers) never installs it.

// Typed here as a service worker (the page's modules are checked with the DOM's types)
/**
 * @typedef {Event & {waitUntil(done: Promise<unknown>): void}} InstallEvent
 * @typedef {InstallEvent & {request: Request, respondWith(response: Promise<Response>): void}} FetchRequestEvent
 * @typedef {{skipWaiting(): Promise<void>, clients: {claim(): Promise<void>}} & EventTarget} ServiceWorkerScope
 */
const scope = /** @type {ServiceWorkerScope} */ (/** @type {unknown} */ (self));

scope.addEventListener("install", () => scope.skipWaiting());
scope.addEventListener("activate", (/** @type {InstallEvent} */ event) => event.waitUntil(scope.clients.claim()));

scope.addEventListener("fetch", (/** @type {FetchRequestEvent} */ event) => {
  const request = event.request;
  // other origins are left alone: the page fetches them with CORS, which COEP accepts
  if (new URL(request.url).origin !== self.location.origin) return;
  // a request the browser may only answer from its cache cannot be refetched here
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(fetch(request).then((response) => {
    if (response.type === "opaque" || response.type === "opaqueredirect") return response;
    const headers = new Headers(response.headers);
    headers.set("Cross-Origin-Opener-Policy", "same-origin");
    headers.set("Cross-Origin-Embedder-Policy", "require-corp");
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }));
});
