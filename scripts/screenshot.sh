#!/usr/bin/env bash
# Render an HTML page (a Sightline report, say) to a PNG with headless Chromium.
#
#   scripts/screenshot.sh <html file> <png file> [width] [height]
#
# width defaults to 1280 px; height defaults to the page's own height at that width (measured
# with a throw-away copy of the page), so the PNG shows the whole page; pass it to cut. Installs Debian's `chromium` with apt-get when it is missing (with
# sudo unless running as root). Works offline: the page is loaded from a file:// URL.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 4 ]]; then
    echo "usage: $0 <html file> <png file> [width] [height]" >&2
    exit 2
fi
html=$1
png=$2
width=${3:-1280}
height=${4:-}

if [[ ! -f $html ]]; then
    echo "$0: no such file: $html" >&2
    exit 1
fi
if ! [[ $width =~ ^[0-9]+$ ]] || [[ -n $height && ! $height =~ ^[0-9]+$ ]]; then
    echo "$0: width and height are pixel counts" >&2
    exit 2
fi

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then
        browser=$candidate
        break
    fi
done
if [[ -z $browser ]]; then
    echo "$0: chromium not found, installing it with apt-get" >&2
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core
    browser=chromium
fi

abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
mkdir -p "$(dirname "$png")"
abs_png=$(cd "$(dirname "$png")" && pwd)/$(basename "$png")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_browser() {
    "$browser" --headless=new --disable-gpu --no-sandbox --hide-scrollbars \
        --no-first-run --no-default-browser-check --user-data-dir="$work/profile" \
        --window-size="$width,${1}" "${@:2}"
}

if [[ -z $height ]]; then
    # Measure the page at this width: a throw-away copy of it with a one-line script that
    # writes the document height into the DOM, which --dump-dom prints. (Sightline pages
    # load nothing relative to themselves, so the copy may live elsewhere.)
    probe="$work/probe.html"
    {
        cat "$abs_html"
        echo '<script>document.documentElement.setAttribute("data-probe-height",'
        echo 'Math.ceil(document.documentElement.scrollHeight));</script>'
    } >"$probe"
    height=$(run_browser 1000 --dump-dom "file://$probe" 2>/dev/null |
        grep -o 'data-probe-height="[0-9]*"' | head -1 | tr -dc '0-9' || true)
    if [[ -z $height ]]; then
        echo "$0: could not measure the page, using 3000 px" >&2
        height=3000
    fi
    if ((height > 30000)); then
        height=30000
    fi
fi

run_browser "$height" --screenshot="$abs_png" "file://$abs_html" >/dev/null 2>&1 || {
    echo "$0: $browser failed" >&2
    exit 1
}
if [[ ! -s $abs_png ]]; then
    echo "$0: no screenshot written" >&2
    exit 1
fi
echo "$abs_png (${width}x${height})"
