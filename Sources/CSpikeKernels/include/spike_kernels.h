// Event-driven kernels for layers whose input is binary spikes (issue 15). Exact: every output is the bias plus the
// weights of the active inputs, summed in a fixed order (the order of the event lists), so results do not depend on
// the thread count. Vectorised with AVX-512 or AVX2 where the CPU has them (chosen once at run time), plain C else.
//
// Layouts (row-major, float32): a "weight table" holds one row of O floats per input (per input channel and kernel
// tap for the 3x3 conv), i.e. W^T; event lists are CSR: positions[p]..positions[p+1] index `channels`, the active
// input channels at position p in increasing order (address-event representation).
#ifndef SPIKE_KERNELS_H
#define SPIKE_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Which instruction set the kernels use on this CPU: "avx512", "avx2" or "scalar".
const char *sk_isa(void);

/// Uses instruction set `name` ("avx512", "avx2", "scalar") from now on, for every thread. Returns 0 (and changes
/// nothing) when the CPU lacks it. For tests: all of them give the same bits.
int sk_use_isa(const char *name);

/// The OpenBLAS core type ("SkylakeX", "Haswell") whose kernels this CPU can run, best first; NULL when it has
/// neither AVX-512 (F, BW, DQ, VL) nor AVX2 with FMA, or is not x86. For `BLASCore` (Kernels.swift).
const char *sk_blas_core_for_cpu(void);

/// The CPU's vendor: "intel", "amd" or "other" (non-x86 included).
const char *sk_cpu_vendor(void);

/// Builds the event lists of a channels-first frame x [C, N] (values 0 or 1; anything nonzero counts as a spike):
/// position p's active channels, in increasing order, are channels[p*C .. p*C + count[p]). `count` has N entries,
/// `channels` N * C. Returns the number of events.
int64_t sk_events_channels_first(const float *x, int32_t c, int32_t n, int32_t *count, int32_t *channels);

/// Builds the event lists of row-major rows x [M, I]: for row r the active inputs i. `start` M + 1, `inputs` M * I.
int64_t sk_events_rows(const float *x, int32_t m, int32_t i, int32_t *start, int32_t *inputs);

/// Linear layer on events, rows [r0, r1): y[r, :] = bias + sum over events e of row r of table[e, :].
/// `table` [I, O]; `y` [M, O] row-major (only rows r0..r1 written).
void sk_linear_events(const float *table, const float *bias, int32_t o, const int32_t *start, const int32_t *inputs,
                      int32_t r0, int32_t r1, float *y);

/// 1x1 conv on events, channels-first output, positions [p0, p1): y[:, p] = bias + sum of table rows of the events
/// at p (lists of sk_events_channels_first). `table` [C, O]; `y` [O, N].
void sk_pointwise_events(const float *table, const float *bias, int32_t c, int32_t o, int32_t n, const int32_t *count,
                         const int32_t *channels, int32_t p0, int32_t p1, float *y);

/// 3x3 conv (stride 1, zero padding 1) on events, channels-first output, output rows [y0, y1):
/// y[:, q] = bias + sum over taps (ky, kx) and events c at input position q + (ky - 1, kx - 1) of table[(tap*C + c), :]
/// with tap = ky*3 + kx. `table` [9*C, O]; events of the frame [C, H, W] by position (sk_events_channels_first);
/// `y` [O, H*W].
void sk_conv3x3_events(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                       const int32_t *count, const int32_t *channels, int32_t y0, int32_t y1, float *y);

/// Channel masks of a channels-first frame x [C, N] with C <= 64: bit ch of mask[p] is set iff x[ch*N + p] != 0.
/// Returns the number of events.
int64_t sk_channel_masks(const float *x, int32_t c, int32_t n, uint64_t *mask);

/// Whether sk_conv3x3_masks takes a 3x3 conv of C inputs and O outputs: C <= 64, O a multiple of 16 up to 128,
/// and not switched off by sk_set_mask_conv.
int sk_mask_conv_applies(int32_t c, int32_t o);

/// Switches the mask kernel off (0) or on (1, the default); for tests and `spikeclip bench`.
void sk_set_mask_conv(int enabled);

/// sk_conv3x3_events for narrow inputs (sk_mask_conv_applies): the events at each position come as a channel mask
/// (sk_channel_masks). Same sums in the same order, so the same bits as sk_conv3x3_events on the same spikes.
void sk_conv3x3_masks(const float *table, const float *bias, int32_t c, int32_t o, int32_t h, int32_t w,
                      const uint64_t *mask, int32_t y0, int32_t y1, float *y);

/// Bytes of weight table the 1x1 and 3x3 event kernels read as one slab of output columns (default 1 MiB; 16 to 128
/// columns per slab; 0 or less restores it). Any value gives the same bits (each output sums its rows in the same
/// order); for `spikeclip bench` and tests.
void sk_set_table_block_bytes(int64_t bytes);

/// Max pooling, kernel 3, stride 2, padding 1, of `planes` planes x [planes, H, W] -> y [planes, H', W'] with
/// H' = (H - 1) / 2 + 1 (padding never wins: every window holds at least one input).
void sk_maxpool3x3s2(const float *x, int64_t planes, int32_t h, int32_t w, float *y);

/// im2col for a 3x3 conv, stride 1, padding 1, channels first: x [C, H, W] -> cols [9*C, H*W], row (ky*3 + kx)*C + c
/// holding the input shifted by (ky - 1, kx - 1), zeros outside.
void sk_im2col3x3(const float *x, int32_t c, int32_t h, int32_t w, float *cols);

/// Winograd F(2x2, 3x3) transforms for a 3x3 conv, stride 1, padding 1, on real-valued frames (Lavin & Gray 2016).
/// With P = ceil(H/2) * ceil(W/2) tiles per frame and F frames, the conv is: U = filter(w), V = input(x),
/// M[k] = U[k] . V[k] for the 16 tile elements k (GEMMs [O, C] x [C, F*P]), y = output(M) + bias.
/// filter: w [O, C, 3, 3] -> u [16, O, C].
void sk_winograd_filter(const float *w, int32_t o, int32_t c, float *u);
/// input: x [F, C, H, W] -> v [16, C, F*P], channels c0 ..< c1 only (threads take disjoint ranges).
void sk_winograd_input(const float *x, int32_t frames, int32_t c, int32_t h, int32_t w, int32_t c0, int32_t c1, float *v);
/// output: m [16, O, F*P] -> y [F, O, H, W] plus bias [O], output channels o0 ..< o1 only.
void sk_winograd_output(const float *m, const float *bias, int32_t frames, int32_t o, int32_t h, int32_t w, int32_t o0,
                        int32_t o1, float *y);

/// Packs x [n] into (n + 63) / 64 words, bit j of word w set when x[64 w + j] != 0 (bits past n zero).
void sk_pack_bits(const float *x, int64_t n, uint64_t *words);

/// Number of nonzero values of x [n] (the spikes of a binary tensor).
int64_t sk_count_nonzero(const float *x, int64_t n);

/// A LIF layer (SPEC 1.1, hard reset, decay_input): input currents x [T, stride] -> spikes [T, stride] as 0/1 floats
/// for the n neurons at the start of each step's row (a thread's share of a layer: x and spikes offset by its first
/// neuron), the membrane starting at v_reset. Bit-identical to LIFParameters in Swift (same operations, same order).
void sk_lif(const float *x, int32_t steps, int64_t n, int64_t stride, float tau, float v_threshold, float v_reset,
            float *spikes);

/// Spiking self-attention of one frame (SPEC 1.2) on bit sets: per head, attn[i, j] = popcount(q_i AND k_j) over the
/// head's channels, y[c, i] = scale * sum over j with v[c, j] = 1 of attn[i, j]. q, k, v, y: [D, N] channels-first,
/// channel c = head * D/heads + d. Integer counts are exact in float, so the result is exact.
void sk_attention_bits(const float *q, const float *k, const float *v, int32_t d, int32_t n, int32_t heads,
                       float scale, float *y);

/// Exact-erf GELU in place, x * Phi(x) (HF `hidden_act = "gelu"`), evaluated in double: within about one float ulp
/// of 0.5 x (1 + erf(x / sqrt 2)) over all floats (relative accuracy kept in the negative tail).
void sk_gelu_erf(float *x, int64_t n);

/// QuickGELU in place, x * sigmoid(1.702 x) (official `QuickGELUActivation`), evaluated in double.
void sk_quick_gelu(float *x, int64_t n);

/// Softmax of each row of attention scores x [rows, N] in place: in row i, entries j > i (when `causal`) or with
/// mask[j] == 0 (key padding; mask [N] may be NULL) become 0, the rest exp(x - max) / sum over them (exp in double,
/// sum in double in index order). A row with no unmasked entry becomes all 0.
void sk_softmax_rows(float *x, int32_t rows, int32_t n, int32_t causal, const int64_t *mask);

/// glibc malloc: blocks up to 32 MiB from the heap (not fresh mmaps), freed memory kept (not trimmed), one arena.
/// Returns 1 when every setting took, 0 otherwise (and elsewhere than glibc).
int sk_keep_freed_memory(void);

/// Dense product on a weight table wt = W^T [K, O] (row-major, the event kernels' table), token-major:
/// y[i, j] = bias[j] + sum over k of x[i, k] * wt[k, j], for rows i < m and columns j0 <= j < j1; x [M, K] with row
/// stride ldx, y with row stride ldy. Fused multiply-adds in ascending k from zero, the bias last (NULL: none): the
/// same bits in every instruction set, tile and split. For the ANN twin's, MiniLM's and CLIP's linears.
void sk_gemm_xw(const float *x, int64_t ldx, int32_t m, int32_t k, const float *wt, int32_t o, const float *bias,
                int32_t j0, int32_t j1, float *y, int64_t ldy);


/// The most parts one sk_parallel call runs on separate threads (more run inline on the caller).
#define SK_MAX_PARTS 256

/// A part of a parallel region: `fn(ctx, part)` for part = 0 ..< parts.
typedef void (*sk_task_fn)(void *ctx, int32_t part);

/// Runs fn(ctx, 0) .. fn(ctx, parts - 1) and returns when all have: part 0 on the calling thread, the others on the
/// engine's pool threads (created on first need; after a job they spin for 0.2 ms waiting for the next one, then
/// sleep). Called while another thread's job runs, or from inside a job, it runs every part inline instead.
void sk_parallel(int32_t parts, sk_task_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
