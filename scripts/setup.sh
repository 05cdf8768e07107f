#!/usr/bin/env bash
# Installs lorafarm's build dependencies from Debian packages and builds it
# (Release with debug info) into ./build. Idempotent; run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git iproute2
  # scripts/code-size.sh reads function extents with universal-ctags.
  universal-ctags
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libeigen3-dev libnlopt-dev libnlopt-cxx-dev
  libsqlite3-dev sqlite3 libspdlog-dev libfmt-dev libsentencepiece-dev libcpp-httplib-dev
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  # Regular-expression metric collectors of command trials and tokenizer.json
  # split regexes (PCRE2, 8-bit); Unicode normalization of tokenizers (ICU).
  libpcre2-dev libicu-dev
  python3
  # examples/hf_lora_trainer.py (the independent PyTorch trainer) and its cross-check
  # tests; Debian's torch multiplies through the system BLAS, and the reference BLAS
  # (the default without OpenBLAS) made its products about 20x slower.
  python3-torch libopenblas0-pthread
  # scripts/fuzz.sh (part of the test command): libFuzzer comes with clang.
  clang libclang-rt-14-dev
  # scripts/optuna_baseline.py: the Optuna baselines of the search benchmarks (docs/search.md).
  python3-optuna python3-scipy
  # The dashboard and report tests drive a headless browser over DevTools.
  chromium python3-websocket fonts-dejavu-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# The tokenizer and chat-template tests compare against Hugging Face's own
# libraries (Node packages pinned in tests/oracles/package-lock.json). Debian's
# nodejs/npm serve; an already installed Node (e.g. NodeSource's, which bundles
# npm) is kept.
if ! command -v npm >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm </dev/null
fi
if [ ! -f tests/oracles/node_modules/.package-lock.json ] ||
   [ tests/oracles/package-lock.json -nt tests/oracles/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/oracles --no-audit --no-fund --loglevel=error </dev/null
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup: built $BUILD_DIR/lorafarm"
