#!/usr/bin/env bash
# Installs what Sightline needs at run time and test time into the project-local cache
# `.cache/` (nothing system-wide, nothing downloaded at build time):
#   .cache/onnxruntime/libonnxruntime.so.1.31.1   from the PyPI wheel onnxruntime==1.31.1
#   .cache/venv/                                  requirements/test.txt: moto[server], pyarrow,
#                                                 duckdb, onnxruntime, aws-sam-translator, cfn-lint
#                                                 (tests and benchmarks only)
#   .cache/checkov/                               requirements/checkov.txt: the template's
#                                                 security linter (tests only)
#   .cache/nasm/                                  nasm from Debian's package, if the system has none
# Every Python package comes from a lock file in requirements/ (exact versions and hashes,
# made by scripts/lock.sh); `sightline_venv DIR LOCK` makes a virtual environment from one.
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
    sightline_venv "$cache/venv" "$root/requirements/test.txt" || return 1
    export SIGHTLINE_MOTO_SERVER="$cache/venv/bin/moto_server"
    export SIGHTLINE_PYTHON="$cache/venv/bin/python"
    export SIGHTLINE_CFN_LINT="$cache/venv/bin/cfn-lint"
    # checkov in its own venv: its pinned dependencies would fight moto's.
    sightline_venv "$cache/checkov" "$root/requirements/checkov.txt" || return 1
    export SIGHTLINE_CHECKOV="$cache/checkov/bin/checkov"
  fi
}

# sightline_venv DIR LOCK: the virtual environment DIR holding exactly the packages of the
# lock file LOCK (requirements/<name>.txt: every package name==version with its hashes;
# pip refuses anything unpinned or unhashed, and installs no dependency the lock lacks).
# DIR/.lock-sha256 records the lock it was made from: a changed lock rebuilds DIR, an
# interrupted install leaves no record and is redone.
sightline_venv() {
  local dir=$1 lock=$2
  [ -n "$dir" ] || { echo "error: sightline_venv needs a folder" >&2; return 1; }
  [ -f "$lock" ] || { echo "error: lock file $lock not found" >&2; return 1; }
  local want
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.lock-sha256" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "==> installing $(basename "$lock") (exact versions, hashes checked) into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir" || return 1
  "$dir/bin/python" -m pip install --quiet --require-hashes --no-deps --only-binary=:all: \
    -r "$lock" || return 1
  "$dir/bin/python" -m pip check || return 1
  echo "$want" >"$dir/.lock-sha256"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  sightline_setup "${1:-runtime}"
  echo "SIGHTLINE_ORT_DYLIB=$SIGHTLINE_ORT_DYLIB"
fi
