// @ts-check
// The engine's own line on the page: the download of its WebAssembly (a bar), which build
// runs on how many threads, and the isolation service worker that makes threads possible on
// hosts that cannot send the headers.
import { $, $progress, setText } from "./dom.js";
import { engineProgress, runtimeSummary } from "./format.js";

/** The engine's WebAssembly download, with a bar: on a slow connection it is most of the
 *  wait at first open.  @param {import("./engine.js").Progress} p */
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

/** On a host that cannot send COOP and COEP, coi-sw.js adds them and the page reloads once
 *  under it, so that threads are possible. Never twice in a session: where the worker
 *  cannot isolate the page (a browser that ignores it), the page stays single-threaded. */
export async function isolateWithServiceWorker() {
  if (crossOriginIsolated || !isSecureContext || !("serviceWorker" in navigator)) return;
  if (sessionStorage.getItem("coi-reloaded")) return;
  try {
    const registration = await navigator.serviceWorker.register("./coi-sw.js");
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
