#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (fuzz/README.md).
# Usage: fuzz/run.sh TARGET|all SECONDS      TARGET: safetensors, idx, image, tokenizer, clip-bpe, clip-loader
# Each target runs for SECONDS on a fresh copy of fuzz/corpus/TARGET under /tmp; the script prints executions per
# second and the final corpus size, and exits non-zero if any target found a crash, a leak, a timeout (10 s per
# input) or ran out of memory (2 GiB). Reproducers are kept under $FUZZ_BUILD/artifacts.
# Environment: FUZZ_BUILD (build folder, default /tmp/spikeclip-fuzz-build). One fuzzing process at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ALL=(safetensors idx image tokenizer clip-bpe clip-loader)
usage() { echo "usage: fuzz/run.sh TARGET|all SECONDS (TARGET: ${ALL[*]})" >&2; exit 2; }
[ $# -eq 2 ] || usage
[[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || usage
SECONDS_EACH=$2
if [ "$1" = all ]; then TARGETS=("${ALL[@]}"); else
    case " ${ALL[*]} " in *" $1 "*) TARGETS=("$1") ;; *) usage ;; esac
fi
BUILD=${FUZZ_BUILD:-/tmp/spikeclip-fuzz-build}
mkdir -p "$BUILD/modules/CImageShims" "$BUILD/artifacts"

driver() {
    case "$1" in
        safetensors) echo fuzz/SafeTensorsFuzz.swift ;; idx) echo fuzz/IDXFuzz.swift ;;
        image) echo fuzz/ImageFuzz.swift ;; tokenizer) echo fuzz/TokenizerFuzz.swift ;;
        clip-bpe) echo fuzz/CLIPTokenizerFuzz.swift ;; clip-loader) echo fuzz/CLIPLoaderFuzz.swift ;;
    esac
}

# --- build: the C shim, then SpikeCLIP and Visualize as static libraries (once per source change), then a driver ---
SWIFT_FLAGS=(-O -sanitize=fuzzer,address -parse-as-library -gline-tables-only)
C_MODULES=(-I Sources/CBLAS -I Sources/CPNG -I Sources/CJPEG -I Sources/CZlib -I "$BUILD/modules/CImageShims")
LIBS=(-L "$BUILD" -lSpikeCLIP -lVisualize "$BUILD/png_shim.o" -lopenblas -lpng16 -ljpeg -lturbojpeg -lz)
# Hashing.swift needs swift-crypto, which swiftc alone cannot build; fuzz/NoCrypto.swift stands in (nothing fuzzed hashes).
mapfile -t ENGINE < <(find Sources/SpikeCLIP -name '*.swift' ! -name Hashing.swift | sort; echo fuzz/NoCrypto.swift)
mapfile -t VISUALIZE < <(find Sources/Visualize -name '*.swift' | sort)
stamp=$(cat "${ENGINE[@]}" "${VISUALIZE[@]}" Sources/CImageShims/png_shim.c Sources/CImageShims/include/*.h fuzz/run.sh \
    | sha256sum | cut -c1-16)
if [ "$(cat "$BUILD/libs.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "building the engine with -sanitize=fuzzer,address (a few minutes)..."
    cat > "$BUILD/modules/CImageShims/module.modulemap" <<MAP
module CImageShims {
    header "$ROOT/Sources/CImageShims/include/image_shims.h"
    export *
}
MAP
    clang -O1 -g -fsanitize=fuzzer-no-link,address -I Sources/CImageShims/include -c Sources/CImageShims/png_shim.c \
        -o "$BUILD/png_shim.o"
    swiftc "${SWIFT_FLAGS[@]}" "${C_MODULES[@]}" -module-name SpikeCLIP -emit-module -emit-module-path "$BUILD/SpikeCLIP.swiftmodule" \
        -emit-library -static -o "$BUILD/libSpikeCLIP.a" "${ENGINE[@]}"
    swiftc "${SWIFT_FLAGS[@]}" -module-name Visualize -emit-module -emit-module-path "$BUILD/Visualize.swiftmodule" \
        -emit-library -static -o "$BUILD/libVisualize.a" "${VISUALIZE[@]}"
    echo "$stamp" > "$BUILD/libs.stamp"
    rm -f "$BUILD"/fuzz-*
fi
for t in "${TARGETS[@]}"; do
    src=$(driver "$t")
    if [ ! -x "$BUILD/fuzz-$t" ] || [ "$src" -nt "$BUILD/fuzz-$t" ]; then
        echo "building fuzz-$t..."
        swiftc "${SWIFT_FLAGS[@]}" -use-ld=lld "${C_MODULES[@]}" -I "$BUILD" "$src" "${LIBS[@]}" -o "$BUILD/fuzz-$t"
    fi
done

# --- run ---
status=0
summary=()
for t in "${TARGETS[@]}"; do
    work=$(mktemp -d "/tmp/spikeclip-fuzz-$t.XXXXXX")
    cp fuzz/corpus/"$t"/* "$work"/
    seeds=$(ls "$work" | wc -l)
    log="$BUILD/$t.log"
    echo "== $t: ${SECONDS_EACH}s from $seeds seeds, working corpus $work, log $log"
    set +e
    SPIKECLIP_VOCAB="$ROOT/assets/minilm/vocab.txt" SPIKECLIP_CLIP_VOCAB="$ROOT/assets/clip/bpe_simple_vocab_16e6.txt.gz" \
        SPIKECLIP_CLIP_FIXTURE="$ROOT/Tests/Fixtures/clip/tiny" ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0" \
        "$BUILD/fuzz-$t" "$work" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/$t-" > "$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    files=$(ls "$work" | wc -l)
    bytes=$(du -sb "$work" | cut -f1)
    line="$t: ${execs:-?} executions, ${rate:-?} exec/s, corpus $seeds -> $files files ($bytes bytes)"
    if [ $rc -ne 0 ]; then
        status=1
        line="$line, FAILED (exit $rc)"
        grep -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|Fatal error|SUMMARY|Test unit written" "$log" | head -8 >&2 || true
        tail -40 "$log" >&2
    fi
    echo "$line"
    summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
