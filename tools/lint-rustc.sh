#!/bin/sh
# The suite's RUSTC_WORKSPACE_WRAPPER (build.sh test): this crate and its tests are compiled by
# clippy-driver, which is rustc with clippy's lints, and every warning is an error. So the
# suite lints each build it makes anyway (native with every feature; the two wasm builds,
# each with its own cfg: SIMD128; threads and relaxed SIMD), with no separate `cargo clippy`,
# whose dependency checks cost 145 s of a cold run. Dependencies are compiled by rustc as
# usual (cargo applies a workspace wrapper to workspace members only).
# cargo first asks the wrapper for the compiler's version (`rustc -vV`): only a compilation
# (it names its crate) gets -D warnings.
case " $* " in
*" --crate-name "*) exec clippy-driver "$@" -D warnings ;;
*) exec clippy-driver "$@" ;;
esac
