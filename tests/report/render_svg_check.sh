#!/usr/bin/env bash
# Renders every SVG in a folder with headless Chromium and checks each PNG is not blank.
#   tests/report/render_svg_check.sh SVG_DIR [PNG_DIR]
# Registered as the ctest "report_svg_render_chromium" (label "chromium"). It FAILS when chromium
# is missing: install it with `apt-get install -y chromium` (Debian 12).
# Non-blank: at least 0.5 % of the pixels differ from the background colour and the image holds at
# least 3 distinct colours (decoded with Python's stdlib zlib; no imaging library needed).
set -euo pipefail

svg_dir=${1:?usage: render_svg_check.sh SVG_DIR [PNG_DIR]}
browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
done
if [[ -z $browser ]]; then
  echo "FAIL: chromium not found; fix: apt-get install -y chromium" >&2
  exit 1
fi
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found; fix: apt-get install -y python3" >&2; exit 1; }
png_dir=${2:-$(mktemp -d)}
mkdir -p "$png_dir"

shopt -s nullglob
svgs=("$svg_dir"/*.svg)
if (( ${#svgs[@]} == 0 )); then
  echo "FAIL: no .svg files in $svg_dir" >&2
  exit 1
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
status=0
start=$(date +%s)
for svg in "${svgs[@]}"; do
  name=$(basename "$svg" .svg)
  png="$png_dir/$name.png"
  rm -f "$png"
  # The SVGs are 760 px wide; the window is large enough for the tallest chart.
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size=800,1000 --screenshot="$png" "file://$(realpath "$svg")" \
    >"$png_dir/$name.log" 2>&1 || true
  if [[ ! -s $png ]]; then
    echo "FAIL: $svg: chromium wrote no screenshot (log: $png_dir/$name.log)" >&2
    status=1
    continue
  fi
  if ! python3 - "$png" <<'PY'
import struct, sys, zlib
path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
pos, idat, hdr = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        hdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
width, height, depth, colour, _, _, interlace = hdr
channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
if depth != 8 or channels is None or interlace:
    sys.exit(f"{path}: unsupported PNG layout (depth {depth}, colour type {colour}, interlace {interlace})")
raw = zlib.decompress(idat)
stride = width * channels
prev = bytearray(stride)
pixels = {}
total = 0
for y in range(height):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):  # PNG filters (RFC 2083, 6)
        a = line[x - channels] if x >= channels else 0
        b = prev[x]
        c = prev[x - channels] if x >= channels else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, channels):
        px = bytes(line[x:x + min(channels, 3)])
        pixels[px] = pixels.get(px, 0) + 1
        total += 1
    prev = line
background = max(pixels, key=pixels.get)
other = total - pixels[background]
if other < 0.005 * total or len(pixels) < 3:
    sys.exit(f"{path}: blank ({other} of {total} pixels differ from the background, {len(pixels)} colours)")
print(f"ok {path}: {width}x{height}, {other / total:.1%} drawn, {len(pixels)} colours")
PY
  then
    status=1
  fi
done
echo "rendered ${#svgs[@]} SVGs with $browser in $(( $(date +%s) - start )) s"
exit $status
