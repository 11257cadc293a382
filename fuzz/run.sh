#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS, one after another,
# starting from the committed seeds (fuzz/seeds/TARGET) and the local corpus
# (fuzz/corpus/TARGET, not in git). Fails at the first crash, sanitizer
# report, panic, leak or timeout; libFuzzer saves the input under
# fuzz/artifacts/TARGET/ and prints how to reproduce it.
#
#   fuzz/run.sh 30        # what CI runs
#   fuzz/run.sh 600       # the issue's ten minutes per target
set -euo pipefail
seconds="${1:?usage: fuzz/run.sh SECONDS}"
cd "$(dirname "$0")"

# The nightly toolchain where it is installed; otherwise stable, which
# accepts the same -Z flags (libFuzzer, AddressSanitizer) with
# RUSTC_BOOTSTRAP=1. No toolchain is downloaded.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
  toolchain=()
fi

# -O: optimised, as the library ships; -a: with debug assertions, so an
# integer overflow on hostile input is a finding, not a silent wrap.
nice -n 10 cargo "${toolchain[@]}" fuzz build -O -a
for target in $(cargo "${toolchain[@]}" fuzz list); do
  mkdir -p "corpus/$target"
  echo "=== fuzz $target for ${seconds}s"
  # -timeout: one input taking over 10 s is a hang (every parser is linear);
  # -rss_limit_mb: libFuzzer's default, stated so a blow-up is a failure.
  # The full log goes to fuzz/artifacts/TARGET.log; its tail is shown on a
  # finding, the execution count otherwise.
  mkdir -p artifacts
  log="artifacts/$target.log"
  if ! nice -n 10 cargo "${toolchain[@]}" fuzz run -O -a "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/, the log in fuzz/$log" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
done
echo "=== every fuzz target ran ${seconds}s without a finding"
