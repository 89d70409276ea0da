// Module workers and top-level await need an ES2022 target.
export default { build: { target: "es2022" }, worker: { format: "es" } };
