// @ts-check
// The engine's own line on the page: the download of its WebAssembly (a bar), which build
// runs on how many threads; and the service worker (coi-sw.js) that makes threads possible
// on hosts that cannot send the headers, and keeps the hosted page working offline.
import { $, $progress, setText } from "./dom.js";
import { engineProgress, runtimeSummary } from "./format.js";

/** The engine's WebAssembly download, with a bar: on a slow connection it is most of the
 *  wait at first open.  @param {import("./protocol.js").Progress} p */
export function showEngineProgress(p) {
  $("engine-progress").hidden = p.total > 0 && p.loaded >= p.total;
  $progress("engine-progress-bar").value = p.total ? p.loaded / p.total : 0;
  setText("engine-progress-text", engineProgress(p));
}

/** Says which build of the engine runs and on how many threads, once its worker started;
 *  `engineReady` is false until then.
 *  @param {{state: {engineReady: boolean}, engine: import("./engine.js").Engine}} ctx */
export function showRuntime({ state, engine }) {
  state.engineReady = false;
  engine.started.then((r) => {
    state.engineReady = true;
    $("engine-progress").hidden = true;
    setText("engine-runtime", runtimeSummary(r));
  }, (e) => {
    $("engine-progress").hidden = true;
    setText("engine-runtime", `The engine could not start: ${e.message}`, true);
  });
}

/** The hosted page's list of its own files for offline use (`./build.sh dist` writes it and
 *  names it on the html element); none elsewhere. */
const OFFLINE_LIST = document.documentElement.dataset.offline ?? null;

/** Registers coi-sw.js where it is needed: on a host that cannot send COOP and COEP it adds
 *  them and the page reloads once under it, so that threads are possible (never twice in a
 *  session: where the worker cannot isolate the page, the page stays single-threaded); on
 *  the hosted page it also keeps the page for offline use (see keepForOffline). */
export async function isolateWithServiceWorker() {
  if ((crossOriginIsolated && !OFFLINE_LIST) || !isSecureContext || !("serviceWorker" in navigator)) return;
  try {
    const registration = await navigator.serviceWorker.register(OFFLINE_LIST ? `./coi-sw.js?offline=${encodeURIComponent(OFFLINE_LIST)}` : "./coi-sw.js");
    if (crossOriginIsolated || sessionStorage.getItem("coi-reloaded")) return;
    if (navigator.serviceWorker.controller) return; // it controls the page, yet no isolation
    await new Promise((resolve) => {
      const worker = registration.installing ?? registration.waiting ?? registration.active;
      if (worker.state === "activated") return resolve(undefined);
      worker.addEventListener("statechange", () => worker.state === "activated" && resolve(undefined));
    });
    sessionStorage.setItem("coi-reloaded", "1");
    location.reload();
  } catch {
    // service workers blocked (private browsing, a policy): one thread, as the page says
  }
}

/** On the hosted page, once it has answered: asks the service worker to keep what it ran on
 *  (the engine build this browser chose, its glue, the model and samples the page fetched),
 *  so that it answers again without a network. Files the worker already holds are taken
 *  from the browser's HTTP cache, not downloaded again.
 *  @param {import("./engine.js").Engine} engine */
export async function keepForOffline(engine) {
  if (!OFFLINE_LIST || !("serviceWorker" in navigator)) return;
  const { build } = await engine.started;
  const registration = await navigator.serviceWorker.ready;
  const own = (/** @type {string} */ url) => new URL(url, location.href).origin === location.origin;
  const used = performance.getEntriesByType("resource").map((e) => e.name).filter(own);
  // (the threaded build's helper script is on the offline list already)
  const files = [`${build}/vgg_wasm.js`, `${build}/vgg_wasm_bg.wasm`];
  registration.active?.postMessage({ type: "keep", urls: [...new Set([...files, ...used])] });
}
