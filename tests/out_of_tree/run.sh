#!/bin/sh
# Usage: run.sh BUILD_DIR PLUGIN_SOURCE_DIR WORK_DIR CMAKE GENERATOR BUILD_TYPE [PREFIX_PATH] [TORCH_DIR]
#               [ASSETS] [SOURCE_ROOT]
# (PREFIX_PATH is ':'-separated; env QRUN_ASSETS overrides ASSETS.)
# Installs qrun (component "core": qrun, libqrun_core, headers, CMake package) from BUILD_DIR into
# WORK_DIR/prefix, builds the plugin in PLUGIN_SOURCE_DIR against it with find_package(qrun), then
# checks that the installed qrun lists the plugin's component through --plugin-path.
set -eu
build=$1 src=$2 work=$3 cmake=$4 generator=$5 build_type=$6 prefix_path=${7:-} torch_dir=${8:-}
assets=${QRUN_ASSETS:-${9:-}} source_root=${10:-}

rm -rf "$work"
mkdir -p "$work"
"$cmake" --install "$build" --prefix "$work/prefix" --component core > "$work/install.log"

torch_arg=
[ -n "$torch_dir" ] && torch_arg="-DTorch_DIR=$torch_dir"
"$cmake" -S "$src" -B "$work/build" -G "$generator" -DCMAKE_BUILD_TYPE="${build_type:-Release}" \
  "-DCMAKE_PREFIX_PATH=$work/prefix;$(echo "$prefix_path" | tr ':' ';')" $torch_arg > "$work/configure.log"
"$cmake" --build "$work/build" > "$work/build.log"

test -f "$work/build/libqrun_hello_oot.so" || { echo "FAIL: libqrun_hello_oot.so is not in the plugin's build folder"; exit 1; }
test ! -e "$work/prefix/lib/qrun/plugins/libqrun_hello_oot.so" || { echo "FAIL: the plugin was installed"; exit 1; }

# The installed qrun must not pick up the build tree's plugins (they would clash with nothing
# here, but an installed program has no business reading its source build).
env -u QRUN_PLUGIN_PATH "$work/prefix/bin/qrun" plugins --plugin-path "$work/build" --json > "$work/plugins.json"
grep -q '"name": "hello_oot"' "$work/plugins.json" || { echo "FAIL: qrun plugins --json does not list hello_oot"; cat "$work/plugins.json"; exit 1; }
grep -q "\"path\": \"$work/build/libqrun_hello_oot.so\"" "$work/plugins.json" || { echo "FAIL: wrong plugin path"; exit 1; }
if grep -q "$build/plugins" "$work/plugins.json"; then echo "FAIL: installed qrun loaded the build tree's plugins"; exit 1; fi
env -u QRUN_PLUGIN_PATH "$work/prefix/bin/qrun" plugins --plugin-path "$work/build" hello_oot
echo "PASS: out-of-tree plugin hello_oot built with find_package(qrun) and listed by the installed qrun"

# --- An out-of-tree quantizer everywhere (issue "Open the core") ---------------------------------
# oot_absmax4 registers a transform and a linear kind; with the product plugins installed beside
# the installed qrun it must quantize a model folder, load it back, evaluate it, and serve as an
# experiment variant, while no file of qrun's own tree names it.
[ -n "$assets" ] || { echo "FAIL: no assets folder (QRUN_ASSETS)"; exit 1; }
model=$assets/models/tiny-qwen2
wiki=$assets/datasets/wikitext-2-raw/wiki.test.raw
for f in "$model/config.json" "$wiki"; do test -f "$f" || { echo "FAIL: missing asset $f"; exit 1; }; done
"$cmake" --install "$build" --prefix "$work/prefix" --component plugins >> "$work/install.log"
test -f "$work/build/libqrun_oot_absmax4.so" || { echo "FAIL: libqrun_oot_absmax4.so was not built"; exit 1; }
qrun() { env -u QRUN_PLUGIN_PATH "$work/prefix/bin/qrun" --log-level warn "$@"; }
ppl_args="--metric perplexity --data $wiki --param protocol=chunks --param n_ctx=128 --param max_windows=4 --json"

qrun --plugin-path "$work/build" quantize --model "$model" --quantizer oot_absmax4 --out "$work/q4" > "$work/quantize.log"
test -f "$work/q4/model.safetensors" || { echo "FAIL: qrun quantize wrote no checkpoint"; exit 1; }
ls "$work" | grep -q 'q4.tmp-' && { echo "FAIL: qrun quantize left a temporary folder"; exit 1; }

# Reloaded checkpoint and in-memory quantization give the same perplexity (bit-identical layers).
qrun --plugin-path "$work/build" eval --model "$work/q4" $ppl_args > "$work/eval_reload.json"
qrun --plugin-path "$work/build" eval --model "$model" --transform oot_absmax4 $ppl_args > "$work/eval_transform.json"
qrun eval --model "$model" $ppl_args > "$work/eval_fp.json"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def values(doc):
    out = []
    def walk(x):
        if isinstance(x, dict):
            if "name" in x and "value" in x: out.append(x)
            for v in x.values(): walk(v)
        elif isinstance(x, list):
            for v in x: walk(v)
    walk(doc)
    return out
def ppl(name):
    return [v for v in values(json.load(open(f"{w}/{name}"))) if v["name"] == "ppl"][0]["value"]
reload, transform, fp = ppl("eval_reload.json"), ppl("eval_transform.json"), ppl("eval_fp.json")
print(f"ppl float {fp:.6f}, oot_absmax4 in memory {transform:.6f}, reloaded {reload:.6f}")
assert reload == transform, "reloaded checkpoint differs from the in-memory quantized model"
assert transform != fp, "oot_absmax4 changed nothing"
PY

# Without the plugin, the checkpoint is refused with the kind's name and where to load it from.
if qrun eval --model "$work/q4" $ppl_args > "$work/noplugin.out" 2> "$work/noplugin.err"; then
  echo "FAIL: the checkpoint loaded without the plugin that defines its layers"; exit 1
fi
grep -q 'oot_absmax4' "$work/noplugin.err" && grep -q 'plugin-path' "$work/noplugin.err" ||
  { echo "FAIL: unclear error without the plugin:"; cat "$work/noplugin.err"; exit 1; }

# An experiment variant (plugin folder named in the experiment or with --plugin-path).
cat > "$work/exp.toml" <<TOML
[experiment]
name = "oot"
seed = 0
[model]
use = "hf"
path = "$model"
dtype = "float32"
device = "cpu"
[[datasets]]
name = "wiki"
path = "$wiki"
[[variants]]
name = "fp32"
baseline = true
[[variants]]
name = "absmax4"
transforms = [{use = "oot_absmax4"}]
[[metrics]]
use = "perplexity"
dataset = "wiki"
protocol = "chunks"
n_ctx = 128
max_windows = 4
[[metrics]]
use = "model_size"
TOML
qrun --plugin-path "$work/build" run "$work/exp.toml" --output "$work/run" > "$work/run.log"
python3 - "$work/run/results.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
text = json.dumps(doc)
assert "absmax4" in text and "oot_absmax4" in text, "the variant is missing from results.json"
assert not doc.get("error"), doc.get("error")
print("experiment variant with oot_absmax4: results.json complete")
PY

if [ -n "$source_root" ] && grep -rIl 'oot_absmax4' "$source_root/framework" "$source_root/plugins"; then
  echo "FAIL: a framework or plugin file names the out-of-tree quantizer"; exit 1
fi
echo "PASS: out-of-tree quantizer oot_absmax4: quantize, reload, eval, experiment variant"
