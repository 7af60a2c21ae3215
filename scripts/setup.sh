#!/usr/bin/env bash
# Installs what Sightline needs at run time and test time into the project-local cache
# `.cache/` (nothing system-wide, nothing downloaded at build time):
#   .cache/onnxruntime/libonnxruntime.so.1.31.1   from the PyPI wheel onnxruntime==1.31.1
#   .cache/venv/                                  moto[server], pyarrow, duckdb, onnxruntime,
#                                                 aws-sam-translator, cfn-lint (tests only)
#   .cache/checkov/                               checkov, the template's security linter (tests only)
#   .cache/nasm/                                  nasm from Debian's package, if the system has none
# Usage: scripts/setup.sh [runtime|test]   (default: runtime)
# Sourcing scripts call `sightline_setup <what>`; it also exports the variables the binaries
# and tests read (SIGHTLINE_ORT_DYLIB, CARGO_TARGET_DIR). Callers run with `set -e`.

ORT_VERSION=1.31.1

sightline_setup() {
  local what=${1:-runtime}
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local cache="$root/.cache"
  mkdir -p "$cache"

  command -v cargo >/dev/null || { echo "error: cargo not found; install Rust (rustup) first" >&2; return 1; }
  command -v python3 >/dev/null || { echo "error: python3 not found" >&2; return 1; }

  # One shared target dir for every build and test of this checkout (CI can cache it).
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sightline/target}

  local lib="$cache/onnxruntime/libonnxruntime.so.$ORT_VERSION"
  if [ ! -f "$lib" ]; then
    echo "==> fetching ONNX Runtime $ORT_VERSION (PyPI wheel) into .cache/onnxruntime"
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: "onnxruntime==$ORT_VERSION" -d "$tmp"
    mkdir -p "$cache/onnxruntime"
    python3 - "$tmp" "$cache/onnxruntime" "$ORT_VERSION" <<'PY'
import glob, sys, zipfile
tmp, out, ver = sys.argv[1:]
whl = glob.glob(f"{tmp}/onnxruntime-{ver}-*.whl")[0]
name = f"onnxruntime/capi/libonnxruntime.so.{ver}"
with zipfile.ZipFile(whl) as z, open(f"{out}/libonnxruntime.so.{ver}.part", "wb") as f:
    f.write(z.read(name))
PY
    mv "$lib.part" "$lib"
    rm -rf "$tmp"
  fi
  export SIGHTLINE_ORT_DYLIB="$lib"

  # nasm: libjpeg-turbo's SIMD decoder (mozjpeg-sys, feature jpeg-simd, on by default) is
  # assembled with it at build time. The system's if there is one, else Debian's package
  # unpacked into .cache/nasm (no root, nothing system-wide). Without nasm the build still
  # works, with the portable decoder (2-4x slower JPEG decoding) and a cargo warning.
  if ! command -v nasm >/dev/null; then
    local nasm_dir="$cache/nasm"
    if [ ! -x "$nasm_dir/usr/bin/nasm" ]; then
      echo "==> fetching nasm (Debian package) into .cache/nasm for SIMD JPEG decoding"
      local tmp
      tmp=$(mktemp -d)
      if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
        && (cd "$tmp" && apt-get download nasm >/dev/null 2>&1) \
        && dpkg-deb -x "$tmp"/nasm_*.deb "$nasm_dir.part"; then
        rm -rf "$nasm_dir" && mv "$nasm_dir.part" "$nasm_dir"
      else
        rm -rf "$nasm_dir.part"
        echo "warning: could not get nasm (no apt-get, or Debian's package lists are missing);" \
          "JPEG decoding will be built without SIMD. Install nasm to enable it." >&2
      fi
      rm -rf "$tmp"
    fi
    if [ -x "$nasm_dir/usr/bin/nasm" ]; then
      export PATH="$nasm_dir/usr/bin:$PATH"
    fi
  fi

  if [ "$what" = test ]; then
    local venv="$cache/venv"
    # .complete-3: aws-sam-translator and cfn-lint joined the list (the stack is transformed
    # and deployed into moto's CloudFormation, and linted, by the tests).
    if [ ! -x "$venv/bin/moto_server" ] || [ ! -f "$venv/.complete-3" ]; then
      echo "==> installing moto[server], pyarrow, duckdb, onnxruntime, aws-sam-translator, cfn-lint into .cache/venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet --upgrade pip
      "$venv/bin/pip" install --quiet 'moto[server]==5.*' 'pyarrow>=17' 'duckdb>=1.1' 'numpy' 'pillow' \
        "onnxruntime==$ORT_VERSION" 'aws-sam-translator==1.115.0' 'cfn-lint==1.58.0'
      touch "$venv/.complete-3"
    fi
    export SIGHTLINE_MOTO_SERVER="$venv/bin/moto_server"
    export SIGHTLINE_PYTHON="$venv/bin/python"
    export SIGHTLINE_CFN_LINT="$venv/bin/cfn-lint"
    # checkov (the template's security linter) in its own venv: its pinned dependencies
    # would fight moto's.
    local checkov="$cache/checkov"
    if [ ! -x "$checkov/bin/checkov" ] || [ ! -f "$checkov/.complete-1" ]; then
      echo "==> installing checkov into .cache/checkov"
      python3 -m venv "$checkov"
      "$checkov/bin/pip" install --quiet --upgrade pip
      "$checkov/bin/pip" install --quiet 'checkov==3.3.30'
      touch "$checkov/.complete-1"
    fi
    export SIGHTLINE_CHECKOV="$checkov/bin/checkov"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  sightline_setup "${1:-runtime}"
  echo "SIGHTLINE_ORT_DYLIB=$SIGHTLINE_ORT_DYLIB"
fi
