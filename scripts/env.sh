# Shared environment for the scripts: where the project's own tools live, and the three *_BIN
# variables that stop worker-build from downloading wasm-bindgen, wasm-opt and esbuild.
# Sourced, not executed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tools are shared by every checkout on the machine (they take ~12 minutes to compile).
EDGEHOOKS_TOOLS="${EDGEHOOKS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/edgehooks/tools}"
export PATH="$EDGEHOOKS_TOOLS/bin:$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$EDGEHOOKS_TOOLS/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
export WRANGLER_SEND_METRICS=false
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
WORKER_BUILD_VERSION=0.8.7
# The book's builder (scripts/test builds docs/ with it; only the tests install it).
MDBOOK_VERSION=0.5.4
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
