#!/bin/sh
# Usage: run.sh BUILD_DIR PLUGIN_SOURCE_DIR WORK_DIR CMAKE GENERATOR BUILD_TYPE [PREFIX_PATH] [TORCH_DIR]
# (PREFIX_PATH is ':'-separated.)
# Installs qrun (component "core": qrun, libqrun_core, headers, CMake package) from BUILD_DIR into
# WORK_DIR/prefix, builds the plugin in PLUGIN_SOURCE_DIR against it with find_package(qrun), then
# checks that the installed qrun lists the plugin's component through --plugin-path.
set -eu
build=$1 src=$2 work=$3 cmake=$4 generator=$5 build_type=$6 prefix_path=${7:-} torch_dir=${8:-}

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
