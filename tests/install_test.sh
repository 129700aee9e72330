#!/usr/bin/env bash
# CTest "install and build examples out of tree": installs a built kiln into a temporary prefix, checks
# the installed layout (every header an installed header includes is installed too), then configures and
# builds examples/ as a user's own project against that prefix (find_package(kiln)), runs the example and
# checks that it trained. Removes its temporary folders however it ends.
# Usage: install_test.sh CMAKE BUILD_DIR EXAMPLES_DIR CXX_COMPILER
set -euo pipefail
cmake_bin=$1 build_dir=$2 examples_dir=$3 cxx=$4

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

"$cmake_bin" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }

inc=$prefix/include/kiln
for f in "$inc/ir/Builder.h" "$inc/ir/Ops.def" "$inc/compiler/Pipeline.h" "$inc/runtime/Session.h" \
         "$inc/passes/Autodiff.h" "$inc/models/Layers.h" "$prefix/bin/kiln" \
         "$prefix/lib/cmake/kiln/kilnConfig.cmake" "$prefix/lib/cmake/kiln/kilnConfigVersion.cmake" \
         "$prefix/lib/cmake/kiln/kilnTargets.cmake"; do
  [ -e "$f" ] || { echo "not installed: $f"; exit 1; }
done
for lib in ir passes runtime compiler models; do
  [ -e "$prefix/lib/libkiln_$lib.a" ] || { echo "not installed: lib/libkiln_$lib.a"; exit 1; }
done
# Every repo-rooted include of an installed header must resolve inside the installed tree.
missing=$(cd "$inc" && grep -rhoE '^[[:space:]]*#[[:space:]]*include "[^"]+"' . | sed -E 's/.*"(.*)"/\1/' | sort -u |
          while read -r h; do [ -e "$h" ] || echo "$h"; done)
[ -z "$missing" ] || { echo "installed headers include what is not installed: $missing"; exit 1; }
"$prefix/bin/kiln" export mlp --batch 2 >/dev/null

"$cmake_bin" -S "$examples_dir" -B "$tmp/build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; exit 1; }
"$cmake_bin" --build "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }

# A cold object cache of its own, so the run also exercises the JIT's compile and leaves nothing behind.
status=0
KILN_CACHE_DIR=$tmp/cache "$tmp/build/quadrants" >"$tmp/run.log" 2>&1 || status=$?
cat "$tmp/run.log"
[ "$status" -eq 0 ] || { echo "the example exited with status $status"; exit 1; }
grep -q ': trained$' "$tmp/run.log" || { echo "the example did not report that it trained"; exit 1; }
echo "install test: ok"
