#!/usr/bin/env bash
# Makes docs/dashboard.png: the dashboard (GET / of the stats endpoint) in
# headless Chromium during a real download from a libtorrent seeder. It is
# the Chromium test of tests/dashboard.rs with LT_DASHBOARD_SCREENSHOT set,
# so the picture shows what the test checked. Needs chromium and
# python3-libtorrent (.ci/run installs both); about 10 s after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
LT_REQUIRE_CHROMIUM=1 LT_DASHBOARD_SCREENSHOT="$PWD/docs/dashboard.png" \
  cargo test --test dashboard -- --exact chromium_sees_the_numbers_change_during_a_download
echo "wrote docs/dashboard.png"
