#!/usr/bin/env bash
# Peak resident memory of `sightline run` over a batch of decompression bombs (issue 10):
# COUNT PNGs of SIDE x SIDE pixels, 1-bit grey and all black, about 12 KB each on disk for
# the default 10000 x 10000 (100 MP, just within SIGHTLINE_MAX_IMAGE_PIXELS), decoding to
# 300 MB of RGB8 each. Each configuration is one `sightline run` (embedded mode) of the
# whole folder as one batch; the table shows its peak RSS next to the budget in force.
#
# Usage: scripts/bomb_rss.sh [options] [CONFIG ...]
#   CONFIG        unbounded     SIGHTLINE_MEMORY_BUDGET_MB at its maximum (no bound: what
#                               the pipeline did before the memory budget)
#                 default       nothing set: the budget derived from this machine's memory
#                 lambda=MB     AWS_LAMBDA_FUNCTION_MEMORY_SIZE=MB: a Lambda's default budget
#                               (with SIGHTLINE_INFER_THREADS = its vCPUs, one per 1769 MB,
#                               as the models' resident size counts one session per thread)
#                 MB            SIGHTLINE_MEMORY_BUDGET_MB=MB
#                 default list: unbounded lambda=1769 default 400
#   --bin PATH    the sightline binary (default: $SIGHTLINE_BIN, else
#                 $CARGO_TARGET_DIR/release/sightline, else $CARGO_TARGET_DIR/debug/sightline;
#                 build it first, e.g. `cargo build --release -p sightline-cli`)
#   --count N     images (default 8)      --side PX   image side (default 10000)
#   --catalog C   catalog (default security: it redacts, so each decoded image is also
#                 kept until its redacted copy is written, the worst case)
#   --timeout S   seconds per run (default 900)
#   --keep        keep the temporary folder (images, outputs, logs)
#
# Peak RSS is read with GNU time (`/usr/bin/time -v`) when present, else with Python's
# resource module (ru_maxrss of the waited-for child). Runs from the repository root so the
# binary finds models/; ONNX Runtime comes from scripts/setup.sh (runtime).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bin=${SIGHTLINE_BIN:-}
count=8
side=10000
catalog=security
limit_s=900
keep=0
configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --side) side=$2; shift 2 ;;
    --catalog) catalog=$2; shift 2 ;;
    --timeout) limit_s=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ ${#configs[@]} -gt 0 ] || configs=(unbounded lambda=1769 default 400)
for c in "${configs[@]}"; do
  case "$c" in
    unbounded|default|lambda=[0-9]*) ;;
    *[!0-9]*|'') echo "error: unknown configuration $c (see --help)" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/setup.sh
source "$root/scripts/setup.sh"
sightline_setup runtime

if [ -z "$bin" ]; then
  for candidate in "$CARGO_TARGET_DIR/release/sightline" "$CARGO_TARGET_DIR/debug/sightline"; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
if [ -z "$bin" ]; then
  echo "error: no sightline binary (looked in $CARGO_TARGET_DIR/{release,debug}); build one or pass --bin" >&2
  exit 2
elif [ ! -x "$bin" ]; then
  echo "error: $bin is not an executable file" >&2
  exit 2
fi
echo "==> binary: $bin (built $(date -r "$bin" '+%F %T'))"
if ! grep -q SIGHTLINE_MEMORY_BUDGET_MB "$bin"; then
  echo "warning: this binary does not know SIGHTLINE_MEMORY_BUDGET_MB (built before the memory" >&2
  echo "         budget, or from another checkout): every configuration runs unbounded" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bomb_rss.XXXXXX")
if [ "$keep" = 1 ]; then
  echo "==> keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi

echo "==> writing $count PNGs of ${side}x${side} (1-bit grey) into $tmp/bombs"
mkdir -p "$tmp/bombs" "$tmp/baseline"
python3 - "$tmp/bombs" "$count" "$side" "$tmp/baseline" <<'PY'
import os, struct, sys, zlib

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def png(side, bits=1):
    row = b"\x00" + bytes((side * bits + 7) // 8)  # filter byte, then one black row
    ihdr = struct.pack(">IIBBBBB", side, side, bits, 0, 0, 0, 0)  # greyscale, no interlace
    idat = zlib.compress(row * side, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

folder, count, side, baseline = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
bomb = png(side)
for i in range(count):
    with open(os.path.join(folder, f"bomb_{i:03d}.png"), "wb") as f:
        f.write(bomb)
with open(os.path.join(baseline, "small.png"), "wb") as f:
    f.write(png(64, 8))
print(f"    {len(bomb)} bytes each")
PY

# Runs the binary with env assignments "$@" before `--`; writes the peak RSS (KiB) to $tmp/rss.
measure() {
  local envs=() ; while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  if [ -x /usr/bin/time ] && /usr/bin/time -v true 2>/dev/null; then
    # time waits for timeout, which waits for the run: its peak RSS is the run's.
    env "${envs[@]}" /usr/bin/time -v -o "$tmp/time.txt" timeout "$limit_s" "$@"
    local status=$?
    awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt" >"$tmp/rss"
    return $status
  fi
  env "${envs[@]}" python3 - "$tmp/rss" "$limit_s" "$@" <<'PY'
import resource, subprocess, sys
out, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
try:
    status = subprocess.run(cmd, timeout=limit).returncode
except subprocess.TimeoutExpired:
    status = 124
with open(out, "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))  # KiB on Linux
sys.exit(status)
PY
}

# One run: label, source folder, env assignments.
results=()
run_one() {
  local label=$1 source=$2; shift 2
  local out="$tmp/out_${label//[^A-Za-z0-9]/_}"
  local log="$out.log"
  echo "==> $label: ${*:-(no variables)}"
  local status=0
  measure RUST_LOG="warn,sightline_pipeline::pipeline=info" "$@" -- \
    "$bin" run --catalog "$catalog" --source "$source" --output "$out" --batch "$count" --json \
    >"$out.json" 2>"$log" || status=$?
  local rss_kib budget rows errors
  rss_kib=$(cat "$tmp/rss" 2>/dev/null || echo 0)
  budget=$(grep -o 'budget_mib=[0-9]*' "$log" | head -1 | cut -d= -f2 || true)
  rows=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$out.json" 2>/dev/null || echo "?")
  errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$out.json" 2>/dev/null || echo "?")
  [ "$status" = 0 ] || { echo "    exit status $status; last log lines:"; tail -5 "$log" | sed 's/^/    /'; }
  results+=("$(printf '%-14s %10s %6s %7s %7s %14s' "$label" "${budget:-?}" "$rows" "$errors" \
    "$status" "$((rss_kib / 1024))")")
}

run_one baseline "$tmp/baseline" SIGHTLINE_MEMORY_BUDGET_MB=4194303
for c in "${configs[@]}"; do
  case "$c" in
    unbounded) run_one unbounded "$tmp/bombs" SIGHTLINE_MEMORY_BUDGET_MB=4194303 ;;
    default) run_one default "$tmp/bombs" ;;
    lambda=*)
      mb=${c#lambda=}
      run_one "$c" "$tmp/bombs" AWS_LAMBDA_FUNCTION_MEMORY_SIZE="$mb" \
        SIGHTLINE_INFER_THREADS=$(((mb + 1768) / 1769)) ;;
    *[!0-9]*|'') echo "error: unknown configuration $c (see --help)" >&2; exit 2 ;;
    *) run_one "budget=$c" "$tmp/bombs" SIGHTLINE_MEMORY_BUDGET_MB="$c" ;;
  esac
done

echo
echo "$count bombs of ${side}x${side}, catalog $catalog, $(nproc) CPUs; baseline: one 64x64 PNG"
echo "(errors: error rows; with a budget below one bomb's estimate they are too_large rows)"
printf '%-14s %10s %6s %7s %7s %14s\n' config budget_MiB rows errors status peak_RSS_MiB
for r in "${results[@]}"; do echo "$r"; done
