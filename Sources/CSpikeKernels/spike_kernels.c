// Event-driven kernels (see include/spike_kernels.h). Ours (issue 15); the instruction set is chosen once at run time.
#include "spike_kernels.h"

#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>  // the compiler's own header, like immintrin.h
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#define SK_X86 1
#include <immintrin.h>  // clang's own header (the Swift toolchain's resource directory)
#endif

// ---- the one inner loop: out[0..o) = init + sum of `nrows` weight rows + bias ------------------------------------
// Starting from `init` (NULL: zeros), rows are added in list order, one vertical add per lane, then `bias` (NULL:
// none): every instruction set gives the same bits, and a sum split into consecutive parts (the first from zeros,
// each next one starting from the previous result, the bias only on the last) gives the bits of the whole sum.

// Where row r of a sum is: `rows[r]`, or (rows NULL) `base + list[r] * stride`, a table row named by its index in an
// event list (the 1x1 kernel: no row-pointer list to build for every column slab). The same rows in the same order
// either way, so the same bits.
#define SK_ROW(r) (rows ? rows[r] : base + (int64_t)list[r] * stride)

__attribute__((always_inline))
static inline void sum_scalar_src(const float *const *rows, const float *base, int64_t stride, const int32_t *list,
                                  int32_t nrows, const float *init, const float *bias, int32_t o, float *out) {
    for (int32_t j = 0; j < o; j++) out[j] = init ? init[j] : 0;
    for (int32_t r = 0; r < nrows; r++) {
        const float *w = SK_ROW(r);
        for (int32_t j = 0; j < o; j++) out[j] += w[j];
    }
    if (bias) for (int32_t j = 0; j < o; j++) out[j] += bias[j];
}

static void sum_rows_scalar(const float *const *rows, int32_t nrows, const float *init, const float *bias, int32_t o,
                            float *out) {
    sum_scalar_src(rows, NULL, 0, NULL, nrows, init, bias, o, out);
}

static void sum_idx_scalar(const float *base, int64_t stride, const int32_t *list, int32_t nrows, const float *bias,
                           int32_t o, float *out) {
    sum_scalar_src(NULL, base, stride, list, nrows, NULL, bias, o, out);
}

#ifdef SK_X86
// One block of NV vectors (columns j ..< j + NV * lanes of the output): NV independent accumulators live in registers
// over all rows, the last vector masked (AVX-512) when the block ends mid-vector. Called with a constant NV from a
// switch, so each case is unrolled; a remainder narrower than a full block gets as many accumulators as it has
// vectors instead of one dependent chain per vector (o = 96, 192: the official tokenizer's widths).
__attribute__((target("avx512f"), always_inline))
static inline void block_avx512(const float *const *rows, const float *base, int64_t stride, const int32_t *list,
                                int32_t nrows, const float *init, const float *bias, int32_t j, const int nv,
                                __mmask16 last, float *out) {
    __m512 a[8];
    if (init) {
        for (int v = 0; v < nv - 1; v++) a[v] = _mm512_loadu_ps(init + j + 16 * v);
        a[nv - 1] = _mm512_maskz_loadu_ps(last, init + j + 16 * (nv - 1));
    } else {
        for (int v = 0; v < nv; v++) a[v] = _mm512_setzero_ps();
    }
    for (int32_t r = 0; r < nrows; r++) {
        const float *w = SK_ROW(r) + j;
        for (int v = 0; v < nv - 1; v++) a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(w + 16 * v));
        a[nv - 1] = _mm512_add_ps(a[nv - 1], _mm512_maskz_loadu_ps(last, w + 16 * (nv - 1)));
    }
    if (bias) {
        for (int v = 0; v < nv - 1; v++) a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(bias + j + 16 * v));
        a[nv - 1] = _mm512_add_ps(a[nv - 1], _mm512_maskz_loadu_ps(last, bias + j + 16 * (nv - 1)));
    }
    for (int v = 0; v < nv - 1; v++) _mm512_storeu_ps(out + j + 16 * v, a[v]);
    _mm512_mask_storeu_ps(out + j + 16 * (nv - 1), last, a[nv - 1]);
}

__attribute__((target("avx512f"), always_inline))
static inline void sum_avx512_src(const float *const *rows, const float *base, int64_t stride, const int32_t *list,
                                  int32_t nrows, const float *init, const float *bias, int32_t o, float *out) {
#define SK_B512(nv, mask) block_avx512(rows, base, stride, list, nrows, init, bias, j, nv, mask, out)
    int32_t j = 0;
    for (; j + 128 <= o; j += 128) SK_B512(8, (__mmask16)0xFFFF);
    const int32_t rest = o - j;
    if (rest <= 0) return;
    const int nv = (rest + 15) / 16;
    const __mmask16 last = rest % 16 ? (__mmask16)((1u << (rest % 16)) - 1) : (__mmask16)0xFFFF;
    switch (nv) {
    case 1: SK_B512(1, last); break;
    case 2: SK_B512(2, last); break;
    case 3: SK_B512(3, last); break;
    case 4: SK_B512(4, last); break;
    case 5: SK_B512(5, last); break;
    case 6: SK_B512(6, last); break;
    case 7: SK_B512(7, last); break;
    default: SK_B512(8, last); break;
    }
#undef SK_B512
}

// One instruction set's two entry points: rows by pointer (sum_rows_*) and by event list and stride (sum_idx_*).
#define SK_SUM_ENTRIES(isa, attr)                                                                                        \
    __attribute__((attr)) static void sum_rows_##isa(const float *const *rows, int32_t nrows, const float *init,        \
                                                     const float *bias, int32_t o, float *out) {                        \
        sum_##isa##_src(rows, NULL, 0, NULL, nrows, init, bias, o, out);                                                \
    }                                                                                                                   \
    __attribute__((attr)) static void sum_idx_##isa(const float *base, int64_t stride, const int32_t *list,             \
                                                    int32_t nrows, const float *bias, int32_t o, float *out) {          \
        sum_##isa##_src(NULL, base, stride, list, nrows, NULL, bias, o, out);                                           \
    }

SK_SUM_ENTRIES(avx512, target("avx512f"))

// AVX2: blocks of NV full 8-float vectors (no masking); the last o % 8 columns are summed in scalar code.
__attribute__((target("avx2"), always_inline))
static inline void block_avx2(const float *const *rows, const float *base, int64_t stride, const int32_t *list,
                              int32_t nrows, const float *init, const float *bias, int32_t j, const int nv, float *out) {
    __m256 a[8];
    for (int v = 0; v < nv; v++) a[v] = init ? _mm256_loadu_ps(init + j + 8 * v) : _mm256_setzero_ps();
    for (int32_t r = 0; r < nrows; r++) {
        const float *w = SK_ROW(r) + j;
        for (int v = 0; v < nv; v++) a[v] = _mm256_add_ps(a[v], _mm256_loadu_ps(w + 8 * v));
    }
    if (bias) for (int v = 0; v < nv; v++) a[v] = _mm256_add_ps(a[v], _mm256_loadu_ps(bias + j + 8 * v));
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(out + j + 8 * v, a[v]);
}

__attribute__((target("avx2"), always_inline))
static inline void sum_avx2_src(const float *const *rows, const float *base, int64_t stride, const int32_t *list,
                                int32_t nrows, const float *init, const float *bias, int32_t o, float *out) {
#define SK_B256(nv) block_avx2(rows, base, stride, list, nrows, init, bias, j, nv, out)
    int32_t j = 0;
    for (; j + 64 <= o; j += 64) SK_B256(8);
    const int nv = (o - j) / 8;
    switch (nv) {
    case 1: SK_B256(1); break;
    case 2: SK_B256(2); break;
    case 3: SK_B256(3); break;
    case 4: SK_B256(4); break;
    case 5: SK_B256(5); break;
    case 6: SK_B256(6); break;
    case 7: SK_B256(7); break;
    default: break;
    }
#undef SK_B256
    j += 8 * nv;
    for (; j < o; j++) {
        float a = init ? init[j] : 0;
        for (int32_t r = 0; r < nrows; r++) a += SK_ROW(r)[j];
        out[j] = bias ? a + bias[j] : a;
    }
}

SK_SUM_ENTRIES(avx2, target("avx2"))

#endif

typedef void (*sum_rows_fn)(const float *const *, int32_t, const float *, const float *, int32_t, float *);

static sum_rows_fn pick(void) {
#ifdef SK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return sum_rows_avx512;
    if (__builtin_cpu_supports("avx2")) return sum_rows_avx2;
#endif
    return sum_rows_scalar;  // other CPUs: the compiler's own vectorisation of the plain loop
}

static sum_rows_fn chosen = 0;  // a benign race: every thread computes the same pointer

static sum_rows_fn sum_rows_impl(void) {
    if (!chosen) chosen = pick();
    return chosen;
}

// The index form of the chosen sum (SK_ROW): the same instruction set as sum_rows_impl.
typedef void (*sum_idx_fn)(const float *, int64_t, const int32_t *, int32_t, const float *, int32_t, float *);

static sum_idx_fn sum_idx_impl(void) {
    const sum_rows_fn f = sum_rows_impl();
#ifdef SK_X86
    if (f == sum_rows_avx512) return sum_idx_avx512;
    if (f == sum_rows_avx2) return sum_idx_avx2;
#endif
    return sum_idx_scalar;
}

int sk_use_isa(const char *name) {
    if (!strcmp(name, "scalar")) { chosen = sum_rows_scalar; return 1; }
#ifdef SK_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2")) { chosen = sum_rows_avx2; return 1; }
    if (!strcmp(name, "avx512") && __builtin_cpu_supports("avx512f")) { chosen = sum_rows_avx512; return 1; }
#endif
    return 0;
}

const char *sk_isa(void) {
    sum_rows_fn f = sum_rows_impl();
#ifdef SK_X86
    if (f == sum_rows_avx512) return "avx512";
    if (f == sum_rows_avx2) return "avx2";
#endif
    return f == sum_rows_scalar ? "scalar" : "unknown";
}

const char *sk_blas_core_for_cpu(void) {
#ifdef SK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return 0;
}

const char *sk_cpu_vendor(void) {
#ifdef SK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_is("intel")) return "intel";
    if (__builtin_cpu_is("amd")) return "amd";
#endif
    return "other";
}

// ---- event lists --------------------------------------------------------------------------------------------------

int64_t sk_events_channels_first(const float *x, int32_t c, int32_t n, int32_t *count, int32_t *channels) {
    // No branches on the spikes: every channel is written into its position's next free slot and the slot is kept
    // only if the input is active. Slot count[p] <= ch < C at channel ch, so a write never leaves position p's own C
    // slots, and each list comes out in increasing channel order. Positions go in groups of 16: one line of each
    // input row per channel, and 16 lists written at once (all of them at once, 64 at stride 6 KiB for C = 1536,
    // mapped onto two L1 sets and cost more than the row sums; docs/PERFORMANCE.md).
    enum { GROUP = 16 };
    int64_t total = 0;
    for (int32_t p0 = 0; p0 < n; p0 += GROUP) {
        const int32_t pn = n - p0 < GROUP ? n - p0 : GROUP;
        int32_t cnt[GROUP] = {0};
        int32_t *lists = channels + (int64_t)p0 * c;
        for (int32_t ch = 0; ch < c; ch++) {
            const float *row = x + (int64_t)ch * n + p0;
            for (int32_t q = 0; q < pn; q++) {
                lists[(int64_t)q * c + cnt[q]] = ch;
                cnt[q] += row[q] != 0;
            }
        }
        for (int32_t q = 0; q < pn; q++) { count[p0 + q] = cnt[q]; total += cnt[q]; }
    }
    return total;
}

int64_t sk_events_rows(const float *x, int32_t m, int32_t i, int32_t *start, int32_t *inputs) {
    int64_t e = 0;
    start[0] = 0;
    for (int32_t r = 0; r < m; r++) {
        const float *row = x + (int64_t)r * i;
        for (int32_t k = 0; k < i; k++) if (row[k] != 0) inputs[e++] = k;
        start[r + 1] = (int32_t)e;
    }
    return e;
}

// ---- layers -------------------------------------------------------------------------------------------------------

void sk_linear_events(const float *table, const float *bias, int32_t o, const int32_t *start, const int32_t *inputs,
                      int32_t r0, int32_t r1, float *y) {
    sum_rows_fn sum = sum_rows_impl();
    int32_t most = 0;
    for (int32_t r = r0; r < r1; r++) if (start[r + 1] - start[r] > most) most = start[r + 1] - start[r];
    const float **rows = (const float **)malloc(sizeof(float *) * (size_t)(most > 0 ? most : 1));
    for (int32_t r = r0; r < r1; r++) {
        int32_t k = 0;
        for (int32_t e = start[r]; e < start[r + 1]; e++) rows[k++] = table + (int64_t)inputs[e] * o;
        sum(rows, k, NULL, bias, o, y + (int64_t)r * o);
    }
    free(rows);
}

// Accumulator rows start on 64-byte lines like the weight tables' rows (AlignedTable in Kernels.swift); free().
static float *aligned_floats(size_t n) {
    const size_t bytes = (sizeof(float) * (n > 0 ? n : 1) + 63) / 64 * 64;
    return (float *)aligned_alloc(64, bytes);
}

// The event kernels read a layer's weight table in slabs of output columns: columns [j, j + W) of every table row,
// W chosen so a slab fits in a core's L2 cache (official-size tables are 2.4-5.3 MiB, a slab at most 1 MiB). Each slab
// is summed for every position of the thread's range before the next slab, so a table line comes from L3 once per
// slab and thread instead of once per event or tile of positions, and the partial sums live in registers, not in
// memory. Each output is still the sum of its rows in event order and then the bias (sum_rows on W columns instead of
// O), so the bits do not depend on W. Before (2026-12-07) the kernels blocked the table by rows over tiles of 32
// positions; on a 2 MiB-L2 Intel core its lines came from L3 about once per tile (docs/PERFORMANCE.md).
static int64_t table_block_bytes = 1024 * 1024;

void sk_set_table_block_bytes(int64_t bytes) { table_block_bytes = bytes > 0 ? bytes : 1024 * 1024; }

// Columns per slab for a table of `table_rows` rows of `o` floats: 16 per vector, 1 to 8 vectors (8 = the row sum's
// accumulators), as many as the budget holds; all columns when fewer.
static int32_t slab_columns(int64_t table_rows, int32_t o) {
    int64_t nv = table_block_bytes / ((table_rows > 0 ? table_rows : 1) * 64);
    if (nv < 1) nv = 1;
    if (nv > 8) nv = 8;
    return (int32_t)(16 * nv) < o ? (int32_t)(16 * nv) : o;
}

enum { TILE = 32 };  // positions per tile of the 1x1 kernel (accumulators [TILE, W]) and per transposed store

// Writes acc [count, wj] (one row per position, columns j ..< j + wj) into the channels-first output
// y[(j + c) * stride + p0 + q]: a channel's `count` values land contiguously.
static void store_slab(const float *acc, int32_t count, int32_t wj, int32_t j, float *y, int64_t stride, int64_t p0) {
    for (int32_t c = 0; c < wj; c++) {
        float *dst = y + (int64_t)(j + c) * stride + p0;
        for (int32_t q = 0; q < count; q++) dst[q] = acc[(int64_t)q * wj + c];
    }
}

void sk_pointwise_events(const float *table, const float *bias, int32_t c, int32_t o, int32_t n, const int32_t *count,
                         const int32_t *channels, int32_t p0, int32_t p1, float *y) {
    // Each position's rows are named by its event list directly (sum_idx_impl), so no row-pointer list is rebuilt
    // for every column slab.
    const sum_idx_fn sum = sum_idx_impl();
    const int32_t wcols = slab_columns(c, o);
    float *acc = aligned_floats((size_t)wcols * TILE);
    for (int32_t j = 0; j < o; j += wcols) {
        const int32_t wj = o - j < wcols ? o - j : wcols;
        for (int32_t t0 = p0; t0 < p1; t0 += TILE) {
            const int32_t t1 = t0 + TILE < p1 ? t0 + TILE : p1;
            for (int32_t p = t0; p < t1; p++)
                sum(table + j, o, channels + (int64_t)p * c, count[p], bias ? bias + j : NULL, wj, acc + (int64_t)(p - t0) * wj);
            store_slab(acc, t1 - t0, wj, j, y, n, t0);
        }
    }
    free(acc);
}

void sk_conv3x3_events(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                       const int32_t *count, const int32_t *channels, int32_t y0, int32_t y1, float *y) {
    sum_rows_fn sum = sum_rows_impl();
    const int64_t hw = (int64_t)h * w, table_rows = 9 * (int64_t)c;
    const int32_t wcols = slab_columns(table_rows, o);
    // Output rows per tile: about 64 positions (accumulators [rows * W, W]).
    const int32_t tile_rows = w >= 64 ? 1 : 64 / (w > 0 ? w : 1);
    const int32_t max_pos = tile_rows * (w > 0 ? w : 1);
    const float **rows = (const float **)malloc(sizeof(float *) * (size_t)(table_rows > 0 ? table_rows : 1));
    float *acc = aligned_floats((size_t)wcols * (size_t)max_pos);
    for (int32_t j = 0; j < o; j += wcols) {
        const int32_t wj = o - j < wcols ? o - j : wcols;
        for (int32_t ty = y0; ty < y1; ty += tile_rows) {
            const int32_t ty1 = ty + tile_rows < y1 ? ty + tile_rows : y1;
            for (int32_t oy = ty; oy < ty1; oy++) {
                for (int32_t ox = 0; ox < w; ox++) {
                    int32_t k = 0;
                    for (int32_t tap = 0; tap < 9; tap++) {
                        const int32_t sy = oy + tap / 3 - 1, sx = ox + tap % 3 - 1;
                        if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                        const int32_t p = sy * w + sx;
                        const float *base = table + (int64_t)tap * c * o + j;
                        const int32_t *list = channels + (int64_t)p * c;
                        for (int32_t e = 0; e < count[p]; e++) rows[k++] = base + (int64_t)list[e] * o;
                    }
                    sum(rows, k, NULL, bias ? bias + j : NULL, wj, acc + ((int64_t)(oy - ty) * w + ox) * wj);
                }
            }
            store_slab(acc, (ty1 - ty) * w, wj, j, y, hw, (int64_t)ty * w);
        }
    }
    free(acc);
    free(rows);
}

// ---- 3x3 conv on narrow inputs: per-position channel masks ---------------------------------------------------------
// With at most 64 input channels a position's events fit one 64-bit mask, and with at most 128 output channels (a
// multiple of 16) the sums fit in registers. Each output is the same sum as sk_conv3x3_events computes (taps in
// order, channels in increasing order within a tap, then the bias), one IEEE add per row and column, so every ISA
// and the list kernel give the same bits; what goes away is building the lists, the row-pointer list and the call
// per position (about a third of the default checkpoint's batch evaluation, docs/PERFORMANCE.md).

int64_t sk_channel_masks(const float *x, int32_t c, int32_t n, uint64_t *mask) {
    for (int32_t p = 0; p < n; p++) mask[p] = 0;
    for (int32_t ch = 0; ch < c; ch++) {
        const float *row = x + (int64_t)ch * n;
        const uint64_t bit = (uint64_t)1 << ch;
        for (int32_t p = 0; p < n; p++) mask[p] |= row[p] != 0 ? bit : 0;
    }
    int64_t total = 0;
    for (int32_t p = 0; p < n; p++) total += __builtin_popcountll(mask[p]);
    return total;
}

static int use_mask_conv = 1;

void sk_set_mask_conv(int enabled) { use_mask_conv = enabled != 0; }

int sk_mask_conv_applies(int32_t c, int32_t o) {
    return use_mask_conv && c >= 1 && c <= 64 && o >= 16 && o <= 128 && o % 16 == 0;
}

// The rows of one output position q = (oy, ox): for each tap in bounds, the table rows of the input's mask bits.
#define SK_MASK_TAPS(ROW_BODY)                                                                                   \
    for (int32_t ky = 0; ky < 3; ky++) {                                                                         \
        const int32_t sy = oy + ky - 1;                                                                          \
        if (sy < 0 || sy >= h) continue;                                                                         \
        for (int32_t kx = 0; kx < 3; kx++) {                                                                     \
            const int32_t sx = ox + kx - 1;                                                                      \
            if (sx < 0 || sx >= w) continue;                                                                     \
            const float *base = table + (int64_t)(ky * 3 + kx) * c * o;                                          \
            for (uint64_t m = mask[sy * w + sx]; m; m &= m - 1) {                                                \
                const float *r = base + (int64_t)__builtin_ctzll(m) * o;                                         \
                ROW_BODY                                                                                         \
            }                                                                                                    \
        }                                                                                                        \
    }

// Two neighbouring positions at a time when the sums are one to four vectors wide: each position's sum is one chain
// of dependent adds (the order is fixed), so with one or two vectors the add latency, not the loads, bounds the
// kernel; two chains side by side hide half of it. Each chain keeps its own order, so the bits do not change.
__attribute__((target("avx512f"), always_inline))
static inline int32_t mask_conv_pairs_avx512(const float *table, const float *bias, int32_t c, int32_t o, int32_t h,
                                             int32_t w, const uint64_t *mask, int32_t oy, float *acc, const int nv) {
    int32_t ox = 0;
    for (; ox + 1 < w; ox += 2) {
        __m512 a[4], b[4];
        for (int v = 0; v < nv; v++) { a[v] = _mm512_setzero_ps(); b[v] = _mm512_setzero_ps(); }
        for (int32_t ky = 0; ky < 3; ky++) {
            const int32_t sy = oy + ky - 1;
            if (sy < 0 || sy >= h) continue;
            const uint64_t *row = mask + (int64_t)sy * w;
            for (int32_t kx = 0; kx < 3; kx++) {
                const int32_t sa = ox + kx - 1, sb = ox + kx;  // input columns under tap kx for ox and ox + 1
                uint64_t ma = sa >= 0 ? row[sa] : 0, mb = sb < w ? row[sb] : 0;
                const float *base = table + (int64_t)(ky * 3 + kx) * c * o;
                for (; ma && mb; ma &= ma - 1, mb &= mb - 1) {
                    const float *ra = base + (int64_t)__builtin_ctzll(ma) * o, *rb = base + (int64_t)__builtin_ctzll(mb) * o;
                    for (int v = 0; v < nv; v++) {
                        a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(ra + 16 * v));
                        b[v] = _mm512_add_ps(b[v], _mm512_loadu_ps(rb + 16 * v));
                    }
                }
                for (; ma; ma &= ma - 1) {
                    const float *ra = base + (int64_t)__builtin_ctzll(ma) * o;
                    for (int v = 0; v < nv; v++) a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(ra + 16 * v));
                }
                for (; mb; mb &= mb - 1) {
                    const float *rb = base + (int64_t)__builtin_ctzll(mb) * o;
                    for (int v = 0; v < nv; v++) b[v] = _mm512_add_ps(b[v], _mm512_loadu_ps(rb + 16 * v));
                }
            }
        }
        if (bias) for (int v = 0; v < nv; v++) {
            const __m512 bv = _mm512_loadu_ps(bias + 16 * v);
            a[v] = _mm512_add_ps(a[v], bv);
            b[v] = _mm512_add_ps(b[v], bv);
        }
        for (int v = 0; v < nv; v++) {
            _mm512_storeu_ps(acc + (int64_t)ox * o + 16 * v, a[v]);
            _mm512_storeu_ps(acc + (int64_t)(ox + 1) * o + 16 * v, b[v]);
        }
    }
    return ox;
}

__attribute__((target("avx512f"), always_inline))
static inline void mask_conv_row_avx512(const float *table, const float *bias, int32_t c, int32_t o, int32_t h,
                                        int32_t w, const uint64_t *mask, int32_t oy, float *acc, const int nv) {
    const int32_t first = nv <= 4 ? mask_conv_pairs_avx512(table, bias, c, o, h, w, mask, oy, acc, nv < 4 ? nv : 4) : 0;
    for (int32_t ox = first; ox < w; ox++) {
        __m512 a[8];
        for (int v = 0; v < nv; v++) a[v] = _mm512_setzero_ps();
        SK_MASK_TAPS(for (int v = 0; v < nv; v++) a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(r + 16 * v));)
        if (bias) for (int v = 0; v < nv; v++) a[v] = _mm512_add_ps(a[v], _mm512_loadu_ps(bias + 16 * v));
        for (int v = 0; v < nv; v++) _mm512_storeu_ps(acc + (int64_t)ox * o + 16 * v, a[v]);
    }
}

__attribute__((target("avx512f")))
static void mask_conv_rows_avx512(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                                  const uint64_t *mask, int32_t oy, float *acc) {
    switch (o / 16) {
    case 1: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 1); break;
    case 2: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 2); break;
    case 3: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 3); break;
    case 4: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 4); break;
    case 5: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 5); break;
    case 6: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 6); break;
    case 7: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 7); break;
    default: mask_conv_row_avx512(table, bias, c, o, h, w, mask, oy, acc, 8); break;
    }
}

// AVX2: the columns in blocks of at most 64 (8 vectors), each block over all rows of the position.
__attribute__((target("avx2")))
static void mask_conv_rows_avx2(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                                const uint64_t *mask, int32_t oy, float *acc) {
    for (int32_t ox = 0; ox < w; ox++) {
        for (int32_t j = 0; j < o; j += 64) {
            const int nv = (o - j) / 8 < 8 ? (o - j) / 8 : 8;
            __m256 a[8];
            for (int v = 0; v < nv; v++) a[v] = _mm256_setzero_ps();
            SK_MASK_TAPS(for (int v = 0; v < nv; v++) a[v] = _mm256_add_ps(a[v], _mm256_loadu_ps(r + j + 8 * v));)
            if (bias) for (int v = 0; v < nv; v++) a[v] = _mm256_add_ps(a[v], _mm256_loadu_ps(bias + j + 8 * v));
            for (int v = 0; v < nv; v++) _mm256_storeu_ps(acc + (int64_t)ox * o + j + 8 * v, a[v]);
        }
    }
}

static void mask_conv_rows_scalar(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                                  const uint64_t *mask, int32_t oy, float *acc) {
    for (int32_t ox = 0; ox < w; ox++) {
        float *a = acc + (int64_t)ox * o;
        for (int32_t k = 0; k < o; k++) a[k] = 0;
        SK_MASK_TAPS(for (int32_t k = 0; k < o; k++) a[k] += r[k];)
        if (bias) for (int32_t k = 0; k < o; k++) a[k] += bias[k];
    }
}

void sk_conv3x3_masks(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                      const uint64_t *mask, int32_t y0, int32_t y1, float *y) {
    const sum_rows_fn isa = sum_rows_impl();
    const int64_t hw = (int64_t)h * w;
    // Output rows per tile: about 64 positions (accumulators [rows * W, O]), then one transposed store.
    const int32_t tile_rows = w >= 64 ? 1 : 64 / (w > 0 ? w : 1);
    float *acc = aligned_floats((size_t)o * (size_t)tile_rows * (size_t)(w > 0 ? w : 1));
    for (int32_t ty = y0; ty < y1; ty += tile_rows) {
        const int32_t ty1 = ty + tile_rows < y1 ? ty + tile_rows : y1;
        for (int32_t oy = ty; oy < ty1; oy++) {
            float *a = acc + (int64_t)(oy - ty) * w * o;
            if (isa == sum_rows_avx512) mask_conv_rows_avx512(table, bias, c, o, h, w, mask, oy, a);
            else if (isa == sum_rows_avx2) mask_conv_rows_avx2(table, bias, c, o, h, w, mask, oy, a);
            else mask_conv_rows_scalar(table, bias, c, o, h, w, mask, oy, a);
        }
        store_slab(acc, (ty1 - ty) * w, o, 0, y, hw, (int64_t)ty * w);
    }
    free(acc);
}

void sk_pack_bits(const float *x, int64_t n, uint64_t *words) {
    for (int64_t w = 0, base = 0; base < n; w++, base += 64) {
        const int64_t m = n - base < 64 ? n - base : 64;
        uint64_t word = 0;
        for (int64_t j = 0; j < m; j++) word |= (uint64_t)(x[base + j] != 0) << j;
        words[w] = word;
    }
}

int64_t sk_count_nonzero(const float *x, int64_t n) {
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) count += x[i] != 0;
    return count;
}

void sk_lif(const float *x, int32_t steps, int64_t n, int64_t stride, float tau, float v_threshold, float v_reset,
            float *spikes) {
    float *v = (float *)malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) v[i] = v_reset;
    for (int32_t t = 0; t < steps; t++) {
        const float *xt = x + (int64_t)t * stride;
        float *st = spikes + (int64_t)t * stride;
        for (int64_t i = 0; i < n; i++) {
            // The same IEEE operations in the same order as LIFParameters.charge/fire/reset (no fast-math here).
            float h = v[i] + (xt[i] - (v[i] - v_reset)) / tau;
            int fired = h - v_threshold >= 0;
            st[i] = fired ? 1.0f : 0.0f;
            v[i] = fired ? v_reset : h;
        }
    }
    free(v);
}

void sk_attention_bits(const float *q, const float *k, const float *v, int32_t d, int32_t n, int32_t heads,
                       float scale, float *y) {
    sum_rows_fn sum = sum_rows_impl();
    const int32_t dh = d / heads, wd = (dh + 63) / 64;
    uint64_t *qb = (uint64_t *)calloc((size_t)n * wd, sizeof(uint64_t));
    uint64_t *kb = (uint64_t *)calloc((size_t)n * wd, sizeof(uint64_t));
    float *attnT = (float *)malloc(sizeof(float) * (size_t)n * n);  // [j, i]
    const float **rows = (const float **)malloc(sizeof(float *) * (size_t)(n > 0 ? n : 1));
    for (int32_t hd = 0; hd < heads; hd++) {
        memset(qb, 0, sizeof(uint64_t) * (size_t)n * wd);
        memset(kb, 0, sizeof(uint64_t) * (size_t)n * wd);
        for (int32_t dd = 0; dd < dh; dd++) {  // bit sets without branches on the spikes
            const int64_t row = (int64_t)(hd * dh + dd) * n;
            const int32_t shift = dd & 63, word = dd >> 6;
            for (int32_t i = 0; i < n; i++) {
                qb[i * wd + word] |= (uint64_t)(q[row + i] != 0) << shift;
                kb[i * wd + word] |= (uint64_t)(k[row + i] != 0) << shift;
            }
        }
        for (int32_t j = 0; j < n; j++) {
            for (int32_t i = 0; i < n; i++) {
                int32_t count = 0;
                for (int32_t u = 0; u < wd; u++) count += __builtin_popcountll(qb[i * wd + u] & kb[j * wd + u]);
                attnT[(int64_t)j * n + i] = (float)count;
            }
        }
        // y[c, :] = scale * (sum of the attnT rows j with v[c, j] = 1): the event row sum without bias (integer
        // counts, exact in any order).
        for (int32_t dd = 0; dd < dh; dd++) {
            const int64_t row = (int64_t)(hd * dh + dd) * n;
            int32_t m = 0;
            for (int32_t j = 0; j < n; j++) {
                rows[m] = attnT + (int64_t)j * n;
                m += v[row + j] != 0;
            }
            sum(rows, m, NULL, NULL, n, y + row);
            for (int32_t i = 0; i < n; i++) y[row + i] *= scale;
        }
    }
    free(rows);
    free(attnT);
    free(kb);
    free(qb);
}

void sk_maxpool3x3s2(const float *x, int64_t planes, int32_t h, int32_t w, float *y) {
    // Separable: the max over each row's 3-wide windows (stride 2), then over 3 such rows. Max is exact, so this
    // gives the bits of the direct 3x3 window.
    const int32_t oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
    float *rm = malloc((size_t)h * ow * sizeof(float));
    if (!rm) abort();
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *in = x + pl * h * w;
        float *out = y + pl * oh * ow;
        for (int32_t yy = 0; yy < h; yy++) {
            const float *row = in + (int64_t)yy * w;
            float *r = rm + (int64_t)yy * ow;
            r[0] = w > 1 && row[1] > row[0] ? row[1] : row[0];
            for (int32_t ox = 1; ox < ow; ox++) {
                const int32_t c = 2 * ox;
                float m = row[c - 1] > row[c] ? row[c - 1] : row[c];
                if (c + 1 < w) m = row[c + 1] > m ? row[c + 1] : m;
                r[ox] = m;
            }
        }
        for (int32_t oy = 0; oy < oh; oy++) {
            const int32_t y0 = oy * 2 - 1 < 0 ? 0 : oy * 2 - 1, y1 = oy * 2 + 1 < h - 1 ? oy * 2 + 1 : h - 1;
            float *o = out + (int64_t)oy * ow;
            memcpy(o, rm + (int64_t)y0 * ow, (size_t)ow * sizeof(float));
            for (int32_t yy = y0 + 1; yy <= y1; yy++) {
                const float *r = rm + (int64_t)yy * ow;
                for (int32_t ox = 0; ox < ow; ox++) o[ox] = r[ox] > o[ox] ? r[ox] : o[ox];
            }
        }
    }
    free(rm);
}

void sk_im2col3x3(const float *x, int32_t c, int32_t h, int32_t w, float *cols) {
    const int64_t hw = (int64_t)h * w;
    for (int32_t ic = 0; ic < c; ic++) {
        const float *src = x + ic * hw;
        for (int32_t ky = 0; ky < 3; ky++) {
            for (int32_t kx = 0; kx < 3; kx++) {
                float *row = cols + ((int64_t)(ky * 3 + kx) * c + ic) * hw;
                const int32_t dx = kx - 1, x0 = dx < 0 ? 1 : 0, x1 = dx > 0 ? w - 1 : w;
                for (int32_t yy = 0; yy < h; yy++) {
                    const int32_t sy = yy + ky - 1;
                    float *dst = row + (int64_t)yy * w;
                    if (sy < 0 || sy >= h) { for (int32_t i = 0; i < w; i++) dst[i] = 0.0f; continue; }
                    const float *s = src + (int64_t)sy * w + dx;
                    if (x0 > 0) dst[0] = 0.0f;
                    for (int32_t i = x0; i < x1; i++) dst[i] = s[i];
                    if (x1 < w) dst[w - 1] = 0.0f;
                }
            }
        }
    }
}

// ---- activations of the ANN sides (MiniLM, CLIP, the ANN twin) ----------------------------------------------------
// Written so the compiler vectorises them (no calls, no branches): exp in double by Cody-Waite reduction and a
// degree-11 polynomial (relative error ~1e-16 on the clamped range), erfc by the Chebyshev fit of Numerical Recipes
// (erfcc, fractional error < 1.2e-7 everywhere, so GELU keeps its relative accuracy in the negative tail). The results
// are within about one float ulp of the libm versions; they were 10-25 % of the MiniLM pass on libm.

__attribute__((always_inline)) static inline double exp_d(double a) {
    a = a < -700.0 ? -700.0 : (a > 700.0 ? 700.0 : a);
    const double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer held in the low bits
    double k = a * 1.4426950408889634 + shifter;
    double n = k - shifter;
    double r = a - n * 0.6931471803691238 - n * 1.9082149292705877e-10;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0; p = p * r + 1.0 / 362880.0; p = p * r + 1.0 / 40320.0; p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;     p = p * r + 1.0 / 120.0;    p = p * r + 1.0 / 24.0;     p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;             p = p * r + 1.0;            p = p * r + 1.0;
    uint64_t ki; memcpy(&ki, &k, 8);
    uint64_t bits = (ki + 1023) << 52;  // 2^n: n + 1023 in the exponent field (|n| <= 1010 here)
    double scale; memcpy(&scale, &bits, 8);
    return p * scale;
}

static inline float gelu_erf_1(float xf) {
    double x = xf, z = (x < 0 ? -x : x) * 0.70710678118654752440;
    double t = 1.0 / (1.0 + 0.5 * z);
    double poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
                  + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    double erfc = t * exp_d(-z * z + poly);
    return (float)(x >= 0 ? x * (1.0 - 0.5 * erfc) : 0.5 * x * erfc);
}

static inline float quick_gelu_1(float xf) { double x = xf; return (float)(x / (1.0 + exp_d(-1.702 * x))); }

#define SK_ACTIVATION(name, one)                                                                                    \
    static void name##_generic(float *x, int64_t n) { for (int64_t i = 0; i < n; i++) x[i] = one(x[i]); }       \
    SK_ACTIVATION_X86(name, one)                                                                                     \
    void sk_##name(float *x, int64_t n) {                                                                           \
        const char *isa = sk_isa();                                                                                  \
        SK_ACTIVATION_PICK(name)                                                                                     \
        name##_generic(x, n);                                                                                        \
    }
#ifdef SK_X86
#define SK_ACTIVATION_X86(name, one)                                                                                \
    __attribute__((target("avx512f,avx512dq"))) static void name##_avx512(float *x, int64_t n) {                   \
        for (int64_t i = 0; i < n; i++) x[i] = one(x[i]);                                                          \
    }                                                                                                                \
    __attribute__((target("avx2,fma"))) static void name##_avx2(float *x, int64_t n) {                             \
        for (int64_t i = 0; i < n; i++) x[i] = one(x[i]);                                                          \
    }
#define SK_ACTIVATION_PICK(name)                                                                                    \
    if (!strcmp(isa, "avx512")) { name##_avx512(x, n); return; }                                                   \
    if (!strcmp(isa, "avx2")) { name##_avx2(x, n); return; }
#else
#define SK_ACTIVATION_X86(name, one)
#define SK_ACTIVATION_PICK(name)
#endif

SK_ACTIVATION(gelu_erf, gelu_erf_1)
SK_ACTIVATION(quick_gelu, quick_gelu_1)

// ---- Winograd F(2x2, 3x3) for 3x3 convs on real-valued inputs (Lavin & Gray, CVPR 2016) ---------------------------
// Output tiles of 2x2 from input tiles of 4x4: Y = A^T [ (G g G^T) . (B^T d B) ] A with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],  A^T = [1 1 1 0; 0 1 -1 -1].
// The 16 element-wise products over channels become 16 independent GEMMs (done by the caller with BLAS); these three
// functions are the transforms. Tiles are numbered per frame row-major, ceil(H/2) x ceil(W/2); the padding of 1 and
// the ragged last tile of odd sizes read zeros.

void sk_winograd_filter(const float *w, int32_t o, int32_t c, float *u) {
    const int64_t plane = (int64_t)o * c;
    for (int32_t oc = 0; oc < o; oc++) {
        for (int32_t ic = 0; ic < c; ic++) {
            const float *g = w + ((int64_t)oc * c + ic) * 9;
            float t[4][3];  // G g
            for (int32_t j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int32_t i = 0; i < 4; i++) {  // (G g) G^T
                const float r[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (int32_t j = 0; j < 4; j++) u[(i * 4 + j) * plane + (int64_t)oc * c + ic] = r[j];
            }
        }
    }
}

void sk_winograd_input(const float *x, int32_t frames, int32_t c, int32_t h, int32_t w, int32_t c0, int32_t c1, float *v) {
    const int32_t th = (h + 1) / 2, tw = (w + 1) / 2, p = th * tw;
    const int64_t cols = (int64_t)frames * p, plane = (int64_t)c * cols;
    // One zero-padded copy of a plane, (2 th + 2) x (2 tw + 2): tile (ty, tx) reads rows 2ty .. 2ty+3, columns
    // 2tx .. 2tx+3, with no bounds tests in the loops below.
    const int32_t ph = 2 * th + 2, pw = 2 * tw + 2;
    float *pad = calloc((size_t)ph * pw, sizeof(float));
    // B^T d for a whole row of tiles at once (4 combined rows of the padded width), then each combined row split
    // into its even and odd columns: (B^T d) B is then four contiguous vector expressions over tx. The same
    // operations on the same values as the tile-by-tile formula, so the same bits.
    float *comb = malloc(sizeof(float) * 4 * (size_t)pw), *even = malloc(sizeof(float) * 4 * (size_t)(tw + 1)),
          *odd = malloc(sizeof(float) * 4 * (size_t)(tw + 1));
    if (!pad || !comb || !even || !odd) abort();
    for (int32_t ic = c0; ic < c1; ic++) {
        for (int32_t f = 0; f < frames; f++) {
            const float *in = x + ((int64_t)f * c + ic) * h * w;
            for (int32_t y = 0; y < h; y++) memcpy(pad + (y + 1) * pw + 1, in + (int64_t)y * w, (size_t)w * sizeof(float));
            float *dst = v + (int64_t)ic * cols + (int64_t)f * p;
            for (int32_t ty = 0; ty < th; ty++) {
                const float *r0 = pad + (2 * ty) * pw, *r1 = r0 + pw, *r2 = r1 + pw, *r3 = r2 + pw;
                for (int32_t k = 0; k < pw; k++) {
                    comb[k] = r0[k] - r2[k];
                    comb[pw + k] = r1[k] + r2[k];
                    comb[2 * pw + k] = r2[k] - r1[k];
                    comb[3 * pw + k] = r1[k] - r3[k];
                }
                for (int32_t i = 0; i < 4; i++) {
                    const float *ci = comb + (int64_t)i * pw;
                    float *e = even + (int64_t)i * (tw + 1), *od = odd + (int64_t)i * (tw + 1);
                    for (int32_t t = 0; t <= tw; t++) { e[t] = ci[2 * t]; od[t] = ci[2 * t + 1]; }
                    float *o0 = dst + (int64_t)ty * tw + (i * 4) * plane, *o1 = o0 + plane, *o2 = o1 + plane, *o3 = o2 + plane;
                    for (int32_t t = 0; t < tw; t++) {
                        o0[t] = e[t] - e[t + 1];
                        o1[t] = od[t] + e[t + 1];
                        o2[t] = e[t + 1] - od[t];
                        o3[t] = od[t] - od[t + 1];
                    }
                }
            }
        }
    }
    free(odd);
    free(even);
    free(comb);
    free(pad);
}

void sk_winograd_output(const float *m, const float *bias, int32_t frames, int32_t o, int32_t h, int32_t w, int32_t o0,
                        int32_t o1, float *y) {
    const int32_t th = (h + 1) / 2, tw = (w + 1) / 2, p = th * tw;
    const int64_t cols = (int64_t)frames * p, plane = (int64_t)o * cols;
    // A row of tiles at once: A^T e as 8 contiguous vectors over tx, then (A^T e) A into a scratch pair of output
    // rows (2 x 2 tw, so odd sizes need no tests), the same operations in the same order as tile by tile.
    float *rows = malloc((size_t)4 * tw * sizeof(float)), *t = malloc((size_t)8 * tw * sizeof(float));
    if (!rows || !t) abort();
    for (int32_t oc = o0; oc < o1; oc++) {
        const float b = bias[oc];
        for (int32_t f = 0; f < frames; f++) {
            float *out = y + ((int64_t)f * o + oc) * h * w;
            for (int32_t ty = 0; ty < th; ty++) {
                const float *src = m + (int64_t)oc * cols + (int64_t)f * p + (int64_t)ty * tw;
                for (int32_t j = 0; j < 4; j++) {
                    const float *e0 = src + j * plane, *e1 = src + (4 + j) * plane, *e2 = src + (8 + j) * plane,
                                *e3 = src + (12 + j) * plane;
                    float *a = t + (int64_t)j * tw, *c = t + (int64_t)(4 + j) * tw;
                    for (int32_t x = 0; x < tw; x++) {
                        a[x] = e0[x] + e1[x] + e2[x];
                        c[x] = e1[x] - e2[x] - e3[x];
                    }
                }
                for (int32_t i = 0; i < 2; i++) {
                    const float *t0 = t + (int64_t)(4 * i) * tw, *t1 = t0 + tw, *t2 = t1 + tw, *t3 = t2 + tw;
                    float *r = rows + (int64_t)i * 2 * tw;
                    for (int32_t x = 0; x < tw; x++) {
                        r[2 * x] = t0[x] + t1[x] + t2[x] + b;
                        r[2 * x + 1] = t1[x] - t2[x] - t3[x] + b;
                    }
                }
                for (int32_t i = 0; i < 2 && 2 * ty + i < h; i++)
                    memcpy(out + (int64_t)(2 * ty + i) * w, rows + i * 2 * tw, (size_t)w * sizeof(float));
            }
        }
    }
    free(t);
    free(rows);
}

// ---- softmax of the rows of an attention-score matrix --------------------------------------------------------
// Row i: entries j >= valid (i + 1 under the causal mask, else n) or with mask[j] == 0 (padding) become 0; the rest
// exp(x - max) / sum, exp in double (above), the sum in double in index order.
__attribute__((always_inline)) static inline void softmax_row_1(float *x, int32_t n, int32_t valid, const int64_t *mask) {
    float m = -__builtin_inff();
    if (mask) {
        for (int32_t j = 0; j < valid; j++) if (mask[j]) m = x[j] > m ? x[j] : m;
    } else {
        for (int32_t j = 0; j < valid; j++) m = x[j] > m ? x[j] : m;
    }
    for (int32_t j = 0; j < valid; j++) x[j] = (float)exp_d((double)(x[j] - m));
    for (int32_t j = valid; j < n; j++) x[j] = 0.0f;
    if (mask) for (int32_t j = 0; j < valid; j++) if (!mask[j]) x[j] = 0.0f;
    double sum = 0.0;
    for (int32_t j = 0; j < n; j++) sum += (double)x[j];
    const double inv = sum > 0 ? 1.0 / sum : 0.0;
    for (int32_t j = 0; j < n; j++) x[j] = (float)((double)x[j] * inv);
}
#define SK_SOFTMAX_ROWS_BODY                                                                                          \
    for (int32_t i = 0; i < rows; i++) softmax_row_1(x + (int64_t)i * n, n, causal ? i + 1 : n, mask);
static void softmax_rows_generic(float *x, int32_t rows, int32_t n, int32_t causal, const int64_t *mask) { SK_SOFTMAX_ROWS_BODY }
#ifdef SK_X86
__attribute__((target("avx512f,avx512dq"))) static void softmax_rows_avx512(float *x, int32_t rows, int32_t n, int32_t causal,
                                                                            const int64_t *mask) { SK_SOFTMAX_ROWS_BODY }
__attribute__((target("avx2,fma"))) static void softmax_rows_avx2(float *x, int32_t rows, int32_t n, int32_t causal,
                                                                  const int64_t *mask) { SK_SOFTMAX_ROWS_BODY }
#endif
void sk_softmax_rows(float *x, int32_t rows, int32_t n, int32_t causal, const int64_t *mask) {
#ifdef SK_X86
    const char *isa = sk_isa();
    if (!strcmp(isa, "avx512")) { softmax_rows_avx512(x, rows, n, causal, mask); return; }
    if (!strcmp(isa, "avx2")) { softmax_rows_avx2(x, rows, n, causal, mask); return; }
#endif
    softmax_rows_generic(x, rows, n, causal, mask);
}

int sk_keep_freed_memory(void) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) && mallopt(M_TRIM_THRESHOLD, 0x7fffffff) && mallopt(M_ARENA_MAX, 1);
#else
    return 0;
#endif
}

// ---- dense token-major product on the weight table W^T [K, O] (real-valued inputs: the ANN twin, MiniLM, CLIP) ----
// Every output is fused multiply-adds in ascending k, starting from zero, then the bias: every instruction set, tile
// size and thread split gives the same bits. K is walked in blocks (the partial sums go through the output, a float
// store and reload, which changes nothing), rows in blocks of SK_MR and columns in panels of SK_NR. No packing: the
// table is already k-major, so a panel is SK_NR consecutive floats of each of its rows.
#define SK_MR 12
#define SK_NR 32
#define SK_KC 384
#define SK_MC 192
#define SK_AHEAD 8  // table rows prefetched ahead (4 to 16 measured the same; none: 116 instead of 144 GFLOP/s at O = 1536)

#ifdef SK_X86
// One tile: rows r < `rows` (a constant in each specialisation) and 32 columns, masks m0/m1 for a panel that ends
// early. a[r * ars + k] is broadcast, b[k * bks + 0..31] loaded; c[r * ldc + j] written (read first when
// `accumulate`); `bcol` the bias per column, NULL for none.
__attribute__((target("avx512f"), always_inline))
static inline void tile_avx512(const int rows, const float *a, int64_t ars, const float *b, int64_t bks,
                               int32_t kc, __mmask16 m0, __mmask16 m1, float *c, int64_t ldc, int accumulate,
                               const float *bcol) {
    __m512 acc[SK_MR][2];
    for (int r = 0; r < rows; r++) {
        if (accumulate) {
            acc[r][0] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            acc[r][1] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        } else {
            acc[r][0] = _mm512_setzero_ps();
            acc[r][1] = _mm512_setzero_ps();
        }
    }
    for (int32_t k = 0; k < kc; k++) {
        // The panel's rows are a table row apart (pages apart for wide layers), so they are fetched ahead: the
        // hardware prefetcher does not cross pages. (A prefetch past the table's end is harmless.)
        _mm_prefetch((const char *)(b + (k + SK_AHEAD) * bks), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + (k + SK_AHEAD) * bks + 16), _MM_HINT_T0);
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + k * bks), b1 = _mm512_maskz_loadu_ps(m1, b + k * bks + 16);
        const float *ak = a + k;
        for (int r = 0; r < rows; r++) {
            const __m512 av = _mm512_set1_ps(ak[r * ars]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        if (bcol) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, bcol));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, bcol + 16));
        }
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
    }
}

__attribute__((target("avx512f")))
static void tiles_avx512(int rows, const float *a, int64_t ars, const float *b, int64_t bks, int32_t kc,
                         int32_t cols, float *c, int64_t ldc, int accumulate, const float *bcol) {
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    switch (rows) {
#define SK_TILE(R) case R: tile_avx512(R, a, ars, b, bks, kc, m0, m1, c, ldc, accumulate, bcol); break;
        SK_TILE(1) SK_TILE(2) SK_TILE(3) SK_TILE(4) SK_TILE(5) SK_TILE(6)
        SK_TILE(7) SK_TILE(8) SK_TILE(9) SK_TILE(10) SK_TILE(11) SK_TILE(12)
#undef SK_TILE
        default: break;
    }
}

// AVX2: the same tile as subtiles of at most 6 rows by 16 columns (12 accumulators of the 16 registers); columns
// past the last full 16 go through the scalar loop below (fmaf gives the vector lanes' bits).
__attribute__((target("avx2,fma"), always_inline))
static inline void subtile_avx2(const int rows, const float *a, int64_t ars, const float *b, int64_t bks,
                                int32_t kc, float *c, int64_t ldc, int accumulate, const float *bcol) {
    __m256 acc[6][2];
    for (int r = 0; r < rows; r++) {
        acc[r][0] = accumulate ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
        acc[r][1] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
    }
    for (int32_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(b + k * bks), b1 = _mm256_loadu_ps(b + k * bks + 8);
        const float *ak = a + k;
        for (int r = 0; r < rows; r++) {
            const __m256 av = _mm256_broadcast_ss(ak + r * ars);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; r++) {
        if (bcol) {
            acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(bcol));
            acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(bcol + 8));
        }
        _mm256_storeu_ps(c + r * ldc, acc[r][0]);
        _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
}
#endif

// The plain C tile: the same fused multiply-adds, a row of up to SK_NR sums at a time with the columns innermost
// (contiguous in the table, so compilers for other CPUs can vectorise it).
static void tiles_scalar(int rows, const float *a, int64_t ars, const float *b, int64_t bks, int32_t kc,
                         int32_t cols, float *c, int64_t ldc, int accumulate, const float *bcol) {
    for (int r = 0; r < rows; r++) {
        float s[SK_NR];
        for (int32_t j = 0; j < cols; j++) s[j] = accumulate ? c[r * ldc + j] : 0;
        for (int32_t k = 0; k < kc; k++) {
            const float av = a[r * ars + k];
            const float *bk = b + k * bks;
            for (int32_t j = 0; j < cols; j++) s[j] = fmaf(av, bk[j], s[j]);
        }
        for (int32_t j = 0; j < cols; j++) c[r * ldc + j] = bcol ? s[j] + bcol[j] : s[j];
    }
}

#ifdef SK_X86
__attribute__((target("avx2,fma")))
static void tiles_avx2(int rows, const float *a, int64_t ars, const float *b, int64_t bks, int32_t kc,
                       int32_t cols, float *c, int64_t ldc, int accumulate, const float *bcol) {
    for (int r0 = 0; r0 < rows; r0 += 6) {
        const int nr = rows - r0 < 6 ? rows - r0 : 6;
        const float *ar = a + r0 * ars;
        float *cr = c + r0 * ldc;
        int32_t j = 0;
        for (; j + 16 <= cols; j += 16) {
            switch (nr) {
#define SK_SUB(R) case R: subtile_avx2(R, ar, ars, b + j, bks, kc, cr + j, ldc, accumulate, bcol ? bcol + j : NULL); break;
                SK_SUB(1) SK_SUB(2) SK_SUB(3) SK_SUB(4) SK_SUB(5) SK_SUB(6)
#undef SK_SUB
                default: break;
            }
        }
        if (j < cols)
            tiles_scalar(nr, ar, ars, b + j, bks, kc, cols - j, cr + j, ldc, accumulate, bcol ? bcol + j : NULL);
    }
}
#endif

typedef void (*tiles_fn)(int, const float *, int64_t, const float *, int64_t, int32_t, int32_t, float *,
                         int64_t, int, const float *);

static tiles_fn tiles_impl(void) {
#ifdef SK_X86
    const sum_rows_fn isa = sum_rows_impl();
    if (isa == sum_rows_avx512) return tiles_avx512;
    if (isa == sum_rows_avx2) return tiles_avx2;
#endif
    return tiles_scalar;
}

void sk_gemm_xw(const float *x, int64_t ldx, int32_t m, int32_t k, const float *wt, int32_t o, const float *bias,
                int32_t j0, int32_t j1, float *y, int64_t ldy) {
    const tiles_fn tiles = tiles_impl();
    for (int32_t k0 = 0; k0 < k; k0 += SK_KC) {
        const int32_t kc = k - k0 < SK_KC ? k - k0 : SK_KC;
        const int last = k0 + kc == k;
        for (int32_t i0 = 0; i0 < m; i0 += SK_MC) {
            const int32_t i1 = m - i0 < SK_MC ? m : i0 + SK_MC;
            for (int32_t j = j0; j < j1; j += SK_NR) {
                const int32_t cols = j1 - j < SK_NR ? j1 - j : SK_NR;
                for (int32_t i = i0; i < i1; i += SK_MR) {
                    const int rows = i1 - i < SK_MR ? i1 - i : SK_MR;
                    tiles(rows, x + i * ldx + k0, ldx, wt + (int64_t)k0 * o + j, o, kc, cols, y + i * ldy + j, ldy,
                          k0 > 0, last && bias ? bias + j : NULL);
                }
            }
        }
    }
}

// ---- a small thread pool for batch-1 parallel regions ----------------------------------------------------------------
// Workers wait for the next job spinning for SK_SPIN_NS after each one (a forward pass runs its parallel regions a few
// microseconds apart), then sleep on a condition variable. One job at a time; a second caller, or a call from inside a
// job, runs its parts inline on its own thread instead of waiting.
#define SK_SPIN_NS 200000

static struct {
    pthread_mutex_t busy, sleep_lock;
    pthread_cond_t wake;
    atomic_uint generation;
    atomic_int remaining, sleepers;
    sk_task_fn fn;
    void *ctx;
    int32_t parts, workers;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static _Thread_local int in_pool_job;

static inline void cpu_relax(void) {
#ifdef SK_X86
    _mm_pause();
#endif
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *pool_worker(void *arg) {
    // arg: the worker's part (1 ..< SK_MAX_PARTS) in the low 8 bits, above them the generation before the first job
    // it must take (read by its creator: the thread may start after that job was posted).
    const int32_t part = (int32_t)((uintptr_t)arg & 0xFF);
    unsigned seen = (unsigned)((uintptr_t)arg >> 8);
    for (;;) {
        unsigned g;
        int64_t spin_end = 0;
        for (int n = 0; (g = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen; n++) {
            if ((n & 63) == 0) {
                const int64_t t = now_ns();
                if (!spin_end) spin_end = t + SK_SPIN_NS;
                else if (t > spin_end) {
                    pthread_mutex_lock(&pool.sleep_lock);
                    atomic_fetch_add(&pool.sleepers, 1);
                    while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen)
                        pthread_cond_wait(&pool.wake, &pool.sleep_lock);
                    atomic_fetch_sub(&pool.sleepers, 1);
                    pthread_mutex_unlock(&pool.sleep_lock);
                    spin_end = 0;
                    continue;
                }
            }
            cpu_relax();
        }
        seen = g;
        if (part < pool.parts) {
            in_pool_job = 1;
            pool.fn(pool.ctx, part);
            in_pool_job = 0;
            atomic_fetch_sub_explicit(&pool.remaining, 1, memory_order_release);
        }
    }
    return NULL;
}

void sk_parallel(int32_t parts, sk_task_fn fn, void *ctx) {
    if (parts <= 1 || parts > SK_MAX_PARTS || in_pool_job || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int32_t p = 0; p < parts; p++) fn(ctx, p);
        return;
    }
    while (pool.workers < parts - 1) {  // workers are created on first need and live as long as the process
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const uintptr_t arg = ((uintptr_t)atomic_load(&pool.generation) << 8) | (uintptr_t)(pool.workers + 1);
        const int ok = pthread_create(&t, &attr, pool_worker, (void *)arg) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) break;
        pool.workers++;
    }
    if (pool.workers < parts - 1) {  // no thread to be had: every part here
        pthread_mutex_unlock(&pool.busy);
        for (int32_t p = 0; p < parts; p++) fn(ctx, p);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.parts = parts;
    atomic_store_explicit(&pool.remaining, parts - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_mutex_lock(&pool.sleep_lock);
    if (atomic_load(&pool.sleepers) > 0) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep_lock);
    in_pool_job = 1;
    fn(ctx, 0);
    in_pool_job = 0;
    while (atomic_load_explicit(&pool.remaining, memory_order_acquire) > 0) cpu_relax();
    pthread_mutex_unlock(&pool.busy);
}
