#!/usr/bin/env bash
# The Godot node's test (run by .ci/run after the C install test):
#  1. builds godot/ against target/<profile> (both the Godot 3 GDNative
#     library and the Godot 4 GDExtension, which cannot run here: no Godot 4
#     binary exists for this machine), checks that each exports its entry
#     points and finds liblt.so.1 through $ORIGIN, and calls the
#     GDExtension's entry point as Godot would (tests/godot/gdextension_load.c);
#  2. makes a temporary Godot project with the node installed as a game
#     would (make install), and a libtorrent seeder on 127.0.0.1;
#  3. runs tests/godot/test.gd headless (download, SHA-256, every field of
#     lt_stats_t and lt_torrent_status_t, alerts, error paths);
#  4. runs the example of docs/godot.md, extracted from the doc, as the
#     project's main scene, against the same seeder.
# Godot hangs on a script error in _init and exits 0 on failures with
# --quit, so every run is under `timeout`, must print its PASS line, and
# fails on any "SCRIPT ERROR".
#
# Usage: tests/godot/run.sh [--profile debug|release]   (default debug;
# `cargo build --lib` first). Takes a few seconds once liblt is built.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

profile=debug
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    *) echo "usage: $0 [--profile debug|release]" >&2; exit 2 ;;
  esac
done
lib_dir=$repo/target/$profile
godot=${GODOT:-godot3-server}
peer_python=${LT_PEER_PYTHON:-/usr/bin/python3}
test -e "$lib_dir/liblt.so" || { echo "no $lib_dir/liblt.so: run cargo build --lib first" >&2; exit 1; }
command -v "$godot" >/dev/null || { echo "no $godot: apt-get install godot3-server" >&2; exit 1; }

work=$(mktemp -d)
seeder_pid=
cleanup() {
  if [ -n "$seeder_pid" ]; then
    kill "$seeder_pid" 2>/dev/null || true
    wait "$seeder_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf -- '--- %s\n' "$*"; }

step "build the node against $lib_dir"
# The Makefile's defaults (../include, ../target/release, build/) come from
# the environment here, so that the install below is the README's line.
export LT_INCLUDE_DIR=$repo/include LT_LIB_DIR=$lib_dir BUILD=$work/build
make -s -C godot all
# (Outputs go through variables, not `| grep -q`: with pipefail, grep
# quitting early can make the writer fail with SIGPIPE.)
for lib in libltgodot.so libltgodot4.so; do
  dynamic=$(readelf -d "$work/build/$lib")
  grep -q 'RUNPATH.*\[\$ORIGIN\]' <<<"$dynamic" || { echo "$lib: no \$ORIGIN runpath" >&2; exit 1; }
  grep -q 'NEEDED.*\[liblt\.so\.1\]' <<<"$dynamic" || { echo "$lib: does not need liblt.so.1" >&2; exit 1; }
done
exported=$(nm -D --defined-only "$work/build/libltgodot.so")
for sym in godot_gdnative_init godot_gdnative_terminate godot_nativescript_init; do
  grep -qw "$sym" <<<"$exported" || { echo "libltgodot.so does not export $sym" >&2; exit 1; }
done
exported=$(nm -D --defined-only "$work/build/libltgodot4.so")
grep -qw lt_godot_init <<<"$exported" \
  || { echo "libltgodot4.so does not export lt_godot_init (the .gdextension's entry_symbol)" >&2; exit 1; }
grep -q '^entry_symbol = "lt_godot_init"' godot/addons/lt/lt.gdextension
# Both libraries load with liblt.so.1 found beside them through $ORIGIN
# (every symbol resolved: they link with --no-undefined; the GDExtension
# asks Godot for everything through get_proc_address, so it needs nothing
# from Godot at load time).
cp -L "$lib_dir/liblt.so" "$work/build/liblt.so.1"
for lib in libltgodot.so libltgodot4.so; do
  (cd / && ldd "$work/build/$lib") > "$work/ldd.txt"
  grep -qE "liblt\.so\.1 => $work/build/(\./)?liblt\.so\.1 " "$work/ldd.txt" \
    || { cat "$work/ldd.txt" >&2; echo "$lib: liblt.so.1 not found through \$ORIGIN" >&2; exit 1; }
done

# The GDExtension's entry point, called as Godot 4 calls it (no Godot 4
# binary runs here): it refuses a Godot lacking its functions and accepts
# one that has every function it asks for, all by documented names.
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror -Igodot/gdextension/include \
  tests/godot/gdextension_load.c -o "$work/gdextension_load" -ldl
"$work/gdextension_load" "$work/build/libltgodot4.so" godot/gdextension/include/gdextension_interface.h

step "temporary project with the node installed"
project=$work/project
mkdir -p "$project"
readme_line='    make -C godot install PROJECT=/path/to/game'
grep -qxF "$readme_line" README.md || { echo "README.md no longer shows: $readme_line" >&2; exit 1; }
grep -qxF "$readme_line" docs/godot.md || { echo "docs/godot.md no longer shows: $readme_line" >&2; exit 1; }
make -C godot install PROJECT="$project"
cp tests/godot/test.gd "$project/test.gd"
# The doc's example, exactly as docs/godot.md shows it (the first gdscript block).
awk '/^```gdscript$/ {on = 1; next} on && /^```$/ {exit} on {print}' docs/godot.md > "$project/main.gd"
test -s "$project/main.gd" || { echo "no gdscript block in docs/godot.md" >&2; exit 1; }
cat > "$project/main.tscn" <<'EOF'
[gd_scene load_steps=2 format=2]

[ext_resource path="res://main.gd" type="Script" id=1]

[node name="Main" type="Node"]
script = ExtResource( 1 )
EOF
cat > "$project/project.godot" <<'EOF'
config_version=4

[application]

config/name="lt node test"
run/main_scene="res://main.tscn"
EOF

step "libtorrent seeder on 127.0.0.1"
size=3000017
"$peer_python" tests/peers/lt_peer.py make-data --dir "$work/seed" --layout "game/assets.pak:$size" --seed 13
"$peer_python" tests/peers/lt_peer.py make-torrent --path "$work/seed/game" --out "$work/game.torrent" --piece-size 65536
port=$("$peer_python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$peer_python" tests/peers/lt_peer.py seed --torrent "$work/game.torrent" --save-path "$work/seed" --port "$port" \
  > "$work/seeder.log" &
seeder_pid=$!
for _ in $(seq 1 600); do
  grep -q '"ready"' "$work/seeder.log" && break
  kill -0 "$seeder_pid" 2>/dev/null || { cat "$work/seeder.log" >&2; echo "seeder exited" >&2; exit 1; }
  sleep 0.2
done
grep -q '"ready"' "$work/seeder.log" || { echo "seeder never became ready" >&2; exit 1; }
sha=$(sha256sum "$work/seed/game/assets.pak" | cut -d' ' -f1)

# Runs Godot under timeout; fails without the PASS line or with a script error.
run_godot() {
  local name=$1 pass=$2; shift 2
  local log=$work/$name.log status=0
  LANG=en_US.UTF-8 HOME="$work/home" timeout -k 10 300 "$godot" --no-window --path "$project" "$@" \
    > "$log" 2>&1 || status=$?
  cat "$log"
  if [ "$status" -ne 0 ] || ! grep -q "$pass" "$log" || grep -q 'SCRIPT ERROR' "$log"; then
    echo "$name: failed (exit $status)" >&2
    exit 1
  fi
}

step "test.gd: download through TorrentSession and check every Dictionary"
mkdir -p "$work/home"
run_godot test '^PASS$' -s res://test.gd \
  torrent="$work/game.torrent" save="$work/dl-test" peer="127.0.0.1:$port" header="$repo/include/lt.h" \
  file=game/assets.pak sha256="$sha" size="$size"
cmp "$work/seed/game/assets.pak" "$work/dl-test/game/assets.pak"

step "docs/godot.md's example as the main scene"
run_godot example '^finished: ' \
  --torrent="$work/game.torrent" --save-path="$work/dl-example" --peer="127.0.0.1:$port" --listen=127.0.0.1:0
cmp "$work/seed/game/assets.pak" "$work/dl-example/game/assets.pak"
echo "godot: PASS"
