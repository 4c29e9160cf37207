import CBLAS
import CSpikeKernels
import Dispatch
import Foundation
import Synchronization

/// Which implementation computes the products of a forward pass.
///
/// - `reference`: plain loops, kept as the readable reference and for tests.
/// - `blas`: OpenBLAS `cblas_sgemm` on every product, spikes included (dense: a MAC per input and weight).
/// - `event`: layers whose input is binary spikes run event-driven (issue 15): each active input adds its weight row
///   (an AC per delivered spike, as on neuromorphic hardware), 3x3 convs gather the rows of the active inputs under
///   the kernel without im2col, spiking attention counts coincidences on bit sets with popcount; real-valued inputs,
///   and spike inputs denser than ``EventKernels/crossover``, go to BLAS. The default (``fastest``).
///
/// Every mode computes the same function; sums run in different orders, so values agree to float rounding and
/// spikes agree except where a membrane lands within rounding of the threshold (checked by ParityTests).
public enum KernelMode: String, Sendable, CaseIterable {
    case reference, blas, event

    /// What the CLI and the explorer use unless told otherwise (docs/PERFORMANCE.md has the measurements).
    public static let fastest: KernelMode = .event
}

/// Settings of the event-driven kernels and of intra-operator threading.
public enum EventKernels {
    /// Above these fractions of active inputs a spiking layer runs on dense BLAS instead of events (``Crossover``).
    /// Settable for benchmarks and tests (``measureCrossover(rates:repeats:)`` measures them); the default is the
    /// value measured on the build machine (docs/PERFORMANCE.md).
    public static var crossover: Crossover {
        get { Crossover(pointwise: Double(bitPattern: pointwiseBits.load(ordering: .relaxed)),
                        conv3x3: Double(bitPattern: conv3x3Bits.load(ordering: .relaxed)),
                        conv3x3Narrow: Double(bitPattern: conv3x3NarrowBits.load(ordering: .relaxed))) }
        set {
            pointwiseBits.store(newValue.pointwise.bitPattern, ordering: .relaxed)
            conv3x3Bits.store(newValue.conv3x3.bitPattern, ordering: .relaxed)
            conv3x3NarrowBits.store(newValue.conv3x3Narrow.bitPattern, ordering: .relaxed)
        }
    }

    /// Fractions of active inputs (0...1) up to which the event path runs: linear layers and 1x1 convs, 3x3 convs.
    public struct Crossover: Sendable, Equatable, Codable {
        public var pointwise: Double
        public var conv3x3: Double
        /// 3x3 convs with at most 64 input channels, which read their events as channel masks
        /// (`sk_mask_conv_applies`): narrow outputs make dense BLAS slow there, so events pay to a higher activity.
        public var conv3x3Narrow: Double
        public init(pointwise: Double, conv3x3: Double, conv3x3Narrow: Double) {
            self.pointwise = pointwise
            self.conv3x3 = conv3x3
            self.conv3x3Narrow = conv3x3Narrow
        }
        /// Measured with `spikeclip bench --crossover` (docs/PERFORMANCE.md) on the two kinds of build machine seen:
        /// AMD Zen 4 (2026-12-07, medians of three runs: 1x1 0.39 / 0.38 / 0.37, 3x3 0.39 / 0.51 / 0.42) and an
        /// AVX-512 Intel Xeon with OpenBLAS's SkylakeX kernels, whose SGEMM runs at twice the Zen's rate (0.19 / 0.27
        /// before the event kernels read the table in column slabs and built their lists in groups of 16 positions;
        /// 1x1 0.35 / 0.36, 3x3 0.36 / 0.36 after, two runs on 2026-12-07). Since 2026-12-08 the dense path of 3x3
        /// convs with at least 16 inputs is Winograd F(2x2, 3x3), about twice as fast as im2col there: the Xeon's
        /// 3x3 crossovers fell from 0.37 to 0.21 and the narrow ones from 0.69 to 0.56 (two runs each, the old
        /// build beside it); the Zen's 3x3 figures are scaled by the same ratios, not measured. The Zen's figures
        /// predate the slab change too, which made events faster, so they err on the side of the dense path. Chosen
        /// by the CPU (vendor and AVX-512), not by the kernels OpenBLAS happens to run, so every process on a machine
        /// agrees.
        public static let measured = forCPU(vendor: String(cString: sk_cpu_vendor()), blasCore: BLASCore.cpuCoreType)

        /// ``measured`` for a CPU vendor ("intel", "amd", "other") and ``BLASCore/cpuCoreType``.
        static func forCPU(vendor: String, blasCore: String?) -> Crossover {
            vendor == "intel" && blasCore == "SkylakeX" ? Crossover(pointwise: 0.35, conv3x3: 0.21, conv3x3Narrow: 0.56)
                                                        : Crossover(pointwise: 0.38, conv3x3: 0.24, conv3x3Narrow: 0.34)
        }
        /// Events at every activity (tests of the event kernels).
        public static let always = Crossover(pointwise: 1, conv3x3: 1, conv3x3Narrow: 1)
    }

    private static let pointwiseBits = Atomic<UInt64>(Crossover.measured.pointwise.bitPattern)
    private static let conv3x3Bits = Atomic<UInt64>(Crossover.measured.conv3x3.bitPattern)
    private static let conv3x3NarrowBits = Atomic<UInt64>(Crossover.measured.conv3x3Narrow.bitPattern)

    private static let threadCount = Atomic<Int>(0)

    /// Threads one forward pass may split an event layer across (frames, positions or rows). 0 (the default) means
    /// every core; a caller running its own workers (batch evaluation) sets 1.
    public static var threads: Int {
        get { let n = threadCount.load(ordering: .relaxed); return n > 0 ? n : max(1, activeProcessorCount) }
    }

    /// Tells glibc's malloc to keep what the engine frees: a forward pass frees and reallocates the same large
    /// activation buffers at every layer, and each fresh page otherwise costs a fault and a kernel zero-fill (blocks
    /// up to 32 MiB come from the heap, freed memory is not trimmed, all threads share one arena). Process-wide, so the
    /// executable calls it once at start; peak RSS is unchanged, it is only not given back. At the official size it
    /// cut page faults about sixfold (docs/PERFORMANCE.md). - Returns: whether glibc took every setting.
    @discardableResult
    public static func keepFreedMemory() -> Bool { sk_keep_freed_memory() == 1 }

    /// Sets the intra-operator thread count of the event kernels and of ``gemm(transB:m:n:k:a:lda:b:ldb:c:ldc:)``.
    public static func setThreads(_ n: Int) {
        threadCount.store(max(0, n), ordering: .relaxed)
    }

    /// What ``setThreads(_:)`` last set (0: every core).
    public static var threadSetting: Int { threadCount.load(ordering: .relaxed) }

    /// The SGEMM rate of this machine now, in GFLOP/s (2 per MAC): `C[n, n] = A[n, n] B[n, n]` through the same
    /// ``gemm(transB:m:n:k:a:lda:b:ldb:c:ldc:)`` the engine uses (OpenBLAS, split across ``threads``),
    /// best of five after a warm-up. What `spikeclip bench` compares dense-equivalent rates with.
    public static func measureSGEMM(size n: Int = 1024) -> Double {
        let probe = SGEMMProbe(size: n)
        _ = probe.gflops()
        return (0..<5).map { _ in probe.gflops() }.max() ?? 0
    }

    /// One `C[n, n] = A[n, n] B[n, n]` at a time, timed (``measureSGEMM(size:)`` repeats it; `spikeclip bench` runs
    /// three right before and three right after each line it times, so a rate and the SGEMM rate it is compared with
    /// come from the same minute on a machine whose speed drifts).
    public final class SGEMMProbe {
        public let size: Int
        private let a: [Float], b: [Float]
        private var c: [Float]

        public init(size n: Int = 1024) {
            size = n
            a = [Float](repeating: 0.5, count: n * n)
            b = [Float](repeating: 0.25, count: n * n)
            c = [Float](repeating: 0, count: n * n)
        }

        /// GFLOP/s (2 per MAC) of one product on ``EventKernels/threads`` threads.
        public func gflops() -> Double {
            let n = size
            let t0 = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                gemm(transB: false, m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
            } } }
            let seconds = max(1e-9, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            return 2 * Double(n * n * n) / seconds / 1e9
        }
    }

    /// The instruction set the event kernels use here: "avx512", "avx2" or "scalar".
    public static var isa: String { String(cString: sk_isa()) }

    /// Makes the event kernels use instruction set `name` ("avx512", "avx2", "scalar"); false (and no change) when
    /// this CPU lacks it. For tests: every instruction set must give the same bits.
    @discardableResult
    public static func useISA(_ name: String) -> Bool { sk_use_isa(name) != 0 }

    /// Bytes of a weight table the 1x1 and 3x3 event kernels read as one L2-resident slab of output columns (`nil`:
    /// the default, 1 MiB; 16 to 128 columns per slab). Every size gives the same bits (each output sums the same rows
    /// in the same order); for tests and experiments.
    public static func setTableBlockBytes(_ bytes: Int?) { sk_set_table_block_bytes(Int64(bytes ?? 0)) }

    /// Whether 3x3 convs with at most 64 inputs read their events as per-position channel masks (the default) or as
    /// lists; both give the same bits. For tests and `spikeclip bench`.
    public static func useChannelMasks(_ enabled: Bool) { sk_set_mask_conv(enabled ? 1 : 0) }

    static let activeProcessorCount = ProcessInfo.processInfo.activeProcessorCount
}

/// The kernels OpenBLAS chose for this CPU. OpenBLAS picks them once, when the library loads, from the CPU's model
/// number, and Debian 12's OpenBLAS 0.3.21 falls back to its generic SSE3 kernels ("Prescott") on Intel models it does
/// not know (seen 2026-12-07 on an AVX-512 Xeon, family 6 model 207: SGEMM 55 instead of 155 GFLOP/s; OpenBLAS issue
/// 4267, fixed in 0.3.25). Only `OPENBLAS_CORETYPE`, set before the library loads, changes the choice, so
/// ``restartCoreType()`` tells the CLI's `main` to start itself again with it (docs/DECISIONS.md).
public enum BLASCore {
    /// OpenBLAS's name for the kernels in use ("SkylakeX", "Haswell", "Zen", "Prescott", ...).
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The best core type this CPU runs ("SkylakeX" with AVX-512, "Haswell" with AVX2 and FMA); nil for others.
    public static var cpuCoreType: String? { sk_blas_core_for_cpu().map { String(cString: $0) } }

    /// OpenBLAS's kernels that use neither AVX2 nor FMA: what its detection falls back to on a CPU it does not know.
    public static let genericCores: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                                            "sandybridge", "katmai", "coppermine", "northwood", "banias"]

    /// One line for `--version` and bug reports: "OpenBLAS <version> <core> (OPENBLAS_CORETYPE=...)".
    public static var summary: String {
        let config = String(cString: openblas_get_config()).split(separator: " ")
        let version = config.count > 1 ? String(config[1]) : "?"
        let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0))" } ?? ""
        return "OpenBLAS \(version) \(name)\(forced)"
    }

    /// The `OPENBLAS_CORETYPE` to restart this process with: ``cpuCoreType`` when OpenBLAS fell back to a generic
    /// core and the variable is unset (a user's own choice is kept); nil otherwise.
    public static func restartCoreType() -> String? {
        restartCoreType(current: name, environment: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
                        cpu: cpuCoreType)
    }

    /// ``restartCoreType()`` for a given core in use, environment value and CPU (tests).
    static func restartCoreType(current: String, environment: String?, cpu: String?) -> String? {
        guard environment == nil, genericCores.contains(current.lowercased()) else { return nil }
        return cpu
    }
}

/// OpenBLAS runs single-threaded in this process; ``gemm(transA:transB:m:n:k:a:lda:b:ldb:c:ldc:)`` splits products across
/// our own threads instead. OpenBLAS's idle workers spin on `sched_yield` for about 2^28 cycles after every call, which
/// on a 2-core machine took a fifth of all cycles from the event kernels running between BLAS calls (docs/PERFORMANCE.md).
let openBLASSingleThreaded: Void = openblas_set_num_threads(1)  // OpenBLAS's cblas.h

/// `C[M, N] = op(A) op(B)` in row-major, `op(A)` = `A[M, K]` or, with `transA`, `A[K, M]^T`, `op(B)` = `B[K, N]`
/// or, with `transB`, `B[N, K]^T`:
/// OpenBLAS `cblas_sgemm` with one thread per part, the larger of `M` and `N` split across ``EventKernels/threads``
/// when the product is large enough to share (each part writes its own rows or columns of `C`).
func gemm(transA: Bool = false, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
          c: UnsafeMutablePointer<Float>, ldc: Int) {
    _ = openBLASSingleThreaded
    guard m > 0, n > 0, k > 0 else { return }
    let (ap, bp, cp) = (UnsafeSendable(a), UnsafeSendable(b), UnsafeSendable(c))
    let splitRows = m >= n
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    parallelRanges(splitRows ? m : n, cost: m * n * k / 64) { r in
        let len = Int32(r.count)
        if splitRows {
            let aOffset = transA ? r.lowerBound : r.lowerBound * lda
            cblas_sgemm(CblasRowMajor, ta, tb, len, Int32(n), Int32(k), 1,
                        ap.value + aOffset, Int32(lda), bp.value, Int32(ldb), 0, cp.value + r.lowerBound * ldc, Int32(ldc))
        } else {
            let bOffset = transB ? r.lowerBound * ldb : r.lowerBound
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), len, Int32(k), 1,
                        ap.value, Int32(lda), bp.value + bOffset, Int32(ldb), 0, cp.value + r.lowerBound, Int32(ldc))
        }
    }
}

/// Runs `body(range)` over `0..<count` split into at most ``EventKernels/threads`` contiguous ranges (one per
/// thread), inline when one suffices or the work (`cost`, in weight-row additions) is too small to share.
func parallelRanges(_ count: Int, cost: Int, _ body: (Range<Int>) -> Void) {
    let parts = min(count, EventKernels.threads, Int(SK_MAX_PARTS), max(1, cost / 20_000))
    if parts <= 1 { if count > 0 { body(0..<count) }; return }
    withoutActuallyEscaping(body) { body in
        var job = ParallelJob(count: count, parts: parts, body: body)
        withUnsafeMutablePointer(to: &job) { pointer in
            sk_parallel(Int32(parts), { context, part in
                let job = context!.assumingMemoryBound(to: ParallelJob.self)
                let k = Int(part), count = job.pointee.count, parts = job.pointee.parts
                job.pointee.body((k * count / parts)..<((k + 1) * count / parts))
            }, pointer)
        }
    }
}

/// One ``parallelRanges(_:cost:_:)`` call as the pool's threads see it (through `sk_parallel`'s context pointer).
private struct ParallelJob {
    let count: Int
    let parts: Int
    let body: (Range<Int>) -> Void
}

/// Hands a value to worker threads of ``parallelRanges(_:cost:_:)`` (each writes its own range only).
struct UnsafeSendable<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }

/// Exact-erf GELU of every value, in place (CSpikeKernels `sk_gelu_erf`: within about one float ulp of ``gelu(_:)``,
/// vectorised; every kernel mode).
func geluInPlace(_ x: inout [Float]) {
    x.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { sk_gelu_erf(b, Int64($0.count)) } }
}

/// QuickGELU of every value, in place (CSpikeKernels `sk_quick_gelu`: within about one float ulp of ``quickGELU(_:)``).
func quickGELUInPlace(_ x: inout [Float]) {
    x.withUnsafeMutableBufferPointer { if let b = $0.baseAddress { sk_quick_gelu(b, Int64($0.count)) } }
}

/// Number of nonzero values of `x` (spikes of a binary tensor).
@inline(__always)
func activeCount(_ x: UnsafeBufferPointer<Float>) -> Int {
    guard let base = x.baseAddress, !x.isEmpty else { return 0 }
    // In up to 8 pieces, counted on all threads (a serial scan of every spiking layer's input was 3 % of an official
    // forward pass with the other core idle).
    let pieces = min(8, max(1, x.count / 16_384))
    if pieces == 1 || EventKernels.threads == 1 { return Int(sk_count_nonzero(base, Int64(x.count))) }
    var partial = [Int64](repeating: 0, count: pieces)
    partial.withUnsafeMutableBufferPointer { pp in
        let (xs, ps) = (UnsafeSendable(base), UnsafeSendable(pp.baseAddress!))
        parallelRanges(pieces, cost: x.count / 4) { r in
            for k in r {
                let lo = k * x.count / pieces, hi = (k + 1) * x.count / pieces
                ps.value[k] = sk_count_nonzero(xs.value + lo, Int64(hi - lo))
            }
        }
    }
    return Int(partial.reduce(0, +))
}

/// Address events of channels-first spikes `[F, C, N]` (CSpikeKernels `sk_events_channels_first`): per frame and
/// position the number of active channels (`count` `[F, N]`) and the channels themselves (`channels`, `C` slots per
/// position, `[F, N, C]`). What the 1x1 and 3x3 event kernels read.
struct ChannelEvents {
    let positions: Int, channelCount: Int
    private(set) var count: [Int32]
    private(set) var channels: [Int32]

    init(_ x: [Float], frames: Int, channels c: Int, positions n: Int) {
        precondition(x.count == frames * c * n)
        positions = n
        channelCount = c
        var count = [Int32](repeating: 0, count: frames * n)
        // Slots past a list's count are never read: no need to zero them (a memset of the whole input's size).
        var channels = [Int32](unsafeUninitializedCapacity: max(1, x.count)) { _, initialized in initialized = max(1, x.count) }
        x.withUnsafeBufferPointer { xp in count.withUnsafeMutableBufferPointer { np in channels.withUnsafeMutableBufferPointer { cp in
            let (xs, ns, cs) = (UnsafeSendable(xp.baseAddress!), UnsafeSendable(np.baseAddress!), UnsafeSendable(cp.baseAddress!))
            parallelRanges(frames, cost: x.count) { r in
                for f in r {
                    _ = sk_events_channels_first(xs.value + f * c * n, Int32(c), Int32(n), ns.value + f * n, cs.value + f * c * n)
                }
            }
        } } }
        self.count = count
        self.channels = channels
    }

    /// Runs `body(frame, units, count, channels)` over the work items (frame, unit) with `units` units per frame
    /// (output rows or positions), split across ``EventKernels/threads``; each call gets one frame's lists.
    func forEachSpan(frames: Int, units: Int, cost: Int,
                     _ body: (_ frame: Int, _ units: Range<Int>, _ count: UnsafePointer<Int32>, _ channels: UnsafePointer<Int32>) -> Void) {
        count.withUnsafeBufferPointer { np in channels.withUnsafeBufferPointer { cp in
            let (counts, lists) = (UnsafeSendable(np.baseAddress!), UnsafeSendable(cp.baseAddress!))
            parallelFrameSpans(frames: frames, units: units, cost: cost) { f, span in
                body(f, span, counts.value + f * positions, lists.value + f * positions * channelCount)
            }
        } }
    }
}

/// One spike buffer's event count and channel event lists, built once for every layer that reads the buffer (the
/// official block's q, k and v convs all read `proj_lif`): ``SpikingNetwork`` keeps one per buffer for a forward pass.
final class SharedEvents {
    /// Nonzero values of the buffer.
    let count: Int
    private var lists: ChannelEvents?

    init(_ x: [Float]) { count = x.withUnsafeBufferPointer { activeCount($0) } }

    /// The buffer's lists as `[F, C, N]` (built on first use; `x` must be the buffer this was made for).
    func lists(_ x: [Float], frames: Int, channels c: Int, positions n: Int) -> ChannelEvents {
        if let l = lists, l.positions == n, l.channelCount == c { return l }
        let l = ChannelEvents(x, frames: frames, channels: c, positions: n)
        lists = l
        return l
    }
}

/// Runs `body(frame, units)` over the work items (frame, unit), `units` units per frame (output rows or positions),
/// split across ``EventKernels/threads`` like ``parallelRanges(_:cost:_:)``; each call covers a span of one frame.
func parallelFrameSpans(frames: Int, units: Int, cost: Int, _ body: (_ frame: Int, _ units: Range<Int>) -> Void) {
    parallelRanges(frames * units, cost: cost) { range in
        var k = range.lowerBound
        while k < range.upperBound {
            let f = k / units, u0 = k % units, u1 = min(units, u0 + (range.upperBound - k))
            body(f, u0..<u1)
            k += u1 - u0
        }
    }
}

/// An event kernel's weight table: read-only floats whose first element starts a 64-byte cache line. A table row of
/// O floats (O a multiple of 16 at every official width) then never straddles two lines, so each 16-float load of the
/// row sum touches one line; a Swift array's elements start 32 bytes after a 16-byte-aligned allocation, and tables
/// off by 16 bytes summed about 1.5x slower (a C microbenchmark of the row sum, docs/PERFORMANCE.md).
final class AlignedTable: @unchecked Sendable {
    /// The values; never written after `init`.
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    var isEmpty: Bool { count == 0 }

    /// `count` floats, zeroed, then written by `fill` (in place: no second copy of a table that can be 84 MB).
    init(count: Int, fill: (UnsafeMutablePointer<Float>) -> Void) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
        fill(pointer)
    }

    deinit { pointer.deallocate() }
}

/// A linear layer's weights, stored once as the table `W^T` `[I, O]` (one row of `O` floats per input, 64-byte
/// aligned), with bias `[O]`. The one copy serves the event path (the rows of active inputs), the dense products of
/// both layouts (``product(_:rows:into:)`` token-major with CSpikeKernels `sk_gemm_xw`;
/// ``channelsFirstProduct(_:frames:positions:into:threads:)`` channel-major with OpenBLAS reading the table as `W`
/// transposed) and the reference loops.
struct DenseWeights: Sendable {
    let outFeatures: Int
    let inFeatures: Int
    /// `W^T` `[I, O]`.
    let weightT: AlignedTable
    let bias: [Float]

    /// - Parameter weight: `W` `[O, I]` row-major (PyTorch's `nn.Linear` / 1x1 conv layout).
    init(weight: [Float], bias: [Float]?, outFeatures: Int, inFeatures: Int) {
        precondition(weight.count == outFeatures * inFeatures)
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.bias = bias ?? [Float](repeating: 0, count: outFeatures)
        self.weightT = AlignedTable(count: weight.count) { t in
            weight.withUnsafeBufferPointer { w in
                for r in 0..<outFeatures { for c in 0..<inFeatures { t[c * outFeatures + r] = w[r * inFeatures + c] } }
            }
        }
    }

    /// `W[o, i]`.
    @inline(__always)
    func weight(_ o: Int, _ i: Int) -> Float { weightT.pointer[i * outFeatures + o] }

    /// `Y[M, O] = X[M, I] W^T + b`.
    /// - Parameters:
    ///   - x: `[M, I]` row-major.
    ///   - binary: the caller asserts `x` holds only 0 and 1 (spikes), enabling the event path.
    func apply(_ x: [Float], rows m: Int, mode: KernelMode, binary: Bool) -> [Float] {
        precondition(x.count == m * inFeatures)
        var y = [Float](repeating: 0, count: m * outFeatures)
        if mode == .event && binary && m > 0 {
            let events = x.withUnsafeBufferPointer { activeCount($0) }
            if Double(events) <= EventKernels.crossover.pointwise * Double(x.count) {
                var start = [Int32](repeating: 0, count: m + 1)
                var inputs = [Int32](repeating: 0, count: max(1, events))
                _ = sk_events_rows(x, Int32(m), Int32(inFeatures), &start, &inputs)
                let o = outFeatures
                y.withUnsafeMutableBufferPointer { yp in
                    let out = UnsafeSendable(yp.baseAddress!)
                    parallelRanges(m, cost: events * o / 16) { r in
                        sk_linear_events(weightT.pointer, bias, Int32(o), start, inputs, Int32(r.lowerBound), Int32(r.upperBound), out.value)
                    }
                }
                return y
            }
        }
        if mode == .reference {
            for r in 0..<m {
                for o in 0..<outFeatures {
                    var acc: Float = 0
                    for i in 0..<inFeatures { acc += x[r * inFeatures + i] * weight(o, i) }
                    y[r * outFeatures + o] = acc + bias[o]
                }
            }
            return y
        }
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            product(xp.baseAddress!, rows: m, into: yp.baseAddress!)
        } }
        return y
    }

    /// Dense `Y[M, O] = X[M, I] W^T + b` (`sk_gemm_xw`), split across ``EventKernels/threads`` by 32-column panels of
    /// `O` or, when there are more row blocks than panels, by rows. Same bits for every split and instruction set.
    func product(_ x: UnsafePointer<Float>, rows m: Int, into y: UnsafeMutablePointer<Float>) {
        let o = outFeatures, k = inFeatures
        guard m > 0 else { return }
        let (xs, ys) = (UnsafeSendable(x), UnsafeSendable(y))
        let panels = (o + 31) / 32, rowBlocks = (m + 11) / 12
        if panels >= rowBlocks {
            parallelRanges(panels, cost: m * o * k / 64) { r in
                sk_gemm_xw(xs.value, Int64(k), Int32(m), Int32(k), weightT.pointer, Int32(o), bias,
                           Int32(r.lowerBound * 32), Int32(min(o, r.upperBound * 32)), ys.value, Int64(o))
            }
        } else {
            parallelRanges(rowBlocks, cost: m * o * k / 64) { r in
                let r0 = r.lowerBound * 12, r1 = min(m, r.upperBound * 12)
                sk_gemm_xw(xs.value + r0 * k, Int64(k), Int32(r1 - r0), Int32(k), weightT.pointer, Int32(o), bias,
                           0, Int32(o), ys.value + r0 * o, Int64(o))
            }
        }
    }

    /// Dense channel-major `Y_f[O, N] = W X_f[I, N] + b` for `frames` frames of `N` positions, frame `f` of `x` at
    /// `x + f * I * N`, of `y` at `y + f * O * N` (OpenBLAS, `W` read as the transpose of the table; split across
    /// threads by ``gemm(transA:transB:m:n:k:a:lda:b:ldb:c:ldc:)``).
    func channelsFirstProduct(_ x: UnsafePointer<Float>, frames: Int, positions n: Int, into y: UnsafeMutablePointer<Float>,
                              threads split: Bool = true) {
        let o = outFeatures, c = inFeatures
        for f in 0..<frames {
            let yf = y + f * o * n
            if split {
                gemm(transA: true, transB: false, m: o, n: n, k: c, a: weightT.pointer, lda: o, b: x + f * c * n, ldb: n, c: yf, ldc: n)
            } else {
                _ = openBLASSingleThreaded
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(o), Int32(n), Int32(c), 1, weightT.pointer, Int32(o),
                            x + f * c * n, Int32(n), 0, yf, Int32(n))
            }
            bias.withUnsafeBufferPointer { b in
                for j in 0..<o { let v = b[j], row = yf + j * n; for p in 0..<n { row[p] += v } }
            }
        }
    }
}

/// Transposes a `[rows, cols]` row-major matrix.
@inline(__always)
func transpose(_ x: [Float], rows: Int, cols: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
    return y
}

/// 3x3 convolution, stride 1, padding 1 (every conv of the Spikingformer tokenizer), BatchNorm already folded.
struct Conv3x3: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// Weights as a dense layer over im2col patches, input index `tap*C + c` with `tap = ky*3 + kx`: its table
    /// `W^T` `[9*C, O]` is also the event path's (one row of `O` per kernel tap and input channel).
    let dense: DenseWeights
    /// The event path's weight table, `dense`'s `[9*C, O]`, row `tap*C + c`.
    var table: AlignedTable { dense.weightT }
    /// Winograd F(2x2, 3x3) filter transform `[16, O, C]` (``applyWinograd(_:frames:height:width:)``), or empty.
    let winograd: [Float]

    /// - Parameters:
    ///   - weight: `[O, C, 3, 3]` (PyTorch's layout).
    ///   - winograd: whether the dense path may use Winograd F(2x2, 3x3) (convs with at least
    ///     ``Conv3x3/winogradMinChannels`` input channels, real-valued or spikes: both tokenizers).
    init(weight: [Float], bias: [Float], inChannels: Int, outChannels: Int, winograd: Bool = false) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        let c = inChannels, o = outChannels
        var tapMajor = [Float](repeating: 0, count: weight.count)
        for oc in 0..<o { for ic in 0..<c { for tap in 0..<9 { tapMajor[oc * 9 * c + tap * c + ic] = weight[(oc * c + ic) * 9 + tap] } } }
        self.dense = DenseWeights(weight: tapMajor, bias: bias, outFeatures: o, inFeatures: c * 9)
        var u = [Float](repeating: 0, count: winograd && c >= Self.winogradMinChannels ? 16 * o * c : 0)
        if !u.isEmpty { sk_winograd_filter(weight, Int32(o), Int32(c), &u) }
        self.winograd = u
    }

    /// - Parameters:
    ///   - x: `[F, C, H, W]` (F frames = T*B).
    /// - Returns: `[F, O, H, W]`.
    func apply(_ x: [Float], frames: Int, height h: Int, width w: Int, mode: KernelMode, binary: Bool) -> [Float] {
        if mode == .event && binary, let y = applyEvents(x, frames: frames, height: h, width: w) { return y }
        if mode != .reference && !winograd.isEmpty,
           Self.winogradMACs(inChannels: inChannels, outChannels: outChannels, frames: frames, height: h, width: w) != nil {
            return applyWinograd(x, frames: frames, height: h, width: w)
        }
        if mode != .reference { return applyBLAS(x, frames: frames, height: h, width: w) }
        let hw = h * w
        let k = inChannels * 9
        var out = [Float](repeating: 0, count: frames * outChannels * hw)
        var cols = [Float](repeating: 0, count: hw * k)
        for f in 0..<frames {
            // im2col: row p = output position, column (ky, kx, c).
            for i in 0..<cols.count { cols[i] = 0 }
            let inBase = f * inChannels * hw
            for y in 0..<h {
                for xx in 0..<w {
                    let p = y * w + xx
                    for c in 0..<inChannels {
                        for ky in 0..<3 {
                            let sy = y + ky - 1
                            if sy < 0 || sy >= h { continue }
                            for kx in 0..<3 {
                                let sx = xx + kx - 1
                                if sx < 0 || sx >= w { continue }
                                cols[p * k + (ky * 3 + kx) * inChannels + c] = x[inBase + c * hw + sy * w + sx]
                            }
                        }
                    }
                }
            }
            let y = dense.apply(cols, rows: hw, mode: mode, binary: binary)  // [HW, O]
            let outBase = f * outChannels * hw
            for p in 0..<hw { for o in 0..<outChannels { out[outBase + o * hw + p] = y[p * outChannels + o] } }
        }
        return out
    }

    /// Event path: per frame, the event lists of the input and, per output position, the sum of the weight rows of
    /// the active inputs under the 3x3 kernel. `nil` when the input is denser than ``EventKernels/crossover``.
    private func applyEvents(_ x: [Float], frames: Int, height h: Int, width w: Int) -> [Float]? {
        let hw = h * w, c = inChannels, o = outChannels
        if sk_mask_conv_applies(Int32(c), Int32(o)) != 0 { return applyMasks(x, frames: frames, height: h, width: w) }
        let events = x.withUnsafeBufferPointer { activeCount($0) }
        guard Double(events) <= EventKernels.crossover.conv3x3 * Double(x.count) else { return nil }
        let lists = ChannelEvents(x, frames: frames, channels: c, positions: hw)
        // Every output value is written (no zeroing first).
        return [Float](unsafeUninitializedCapacity: frames * o * hw) { op, initialized in
            let outp = UnsafeSendable(op.baseAddress!)
            // Work items are (frame, output row): frames and rows split across threads alike.
            lists.forEachSpan(frames: frames, units: h, cost: 9 * events * o / 16) { f, rows, count, channels in
                sk_conv3x3_events(table.pointer, dense.bias, Int32(c), Int32(o), Int32(h), Int32(w), count, channels,
                                  Int32(rows.lowerBound), Int32(rows.upperBound), outp.value + f * o * hw)
            }
            initialized = frames * o * hw
        }
    }

    /// ``applyEvents(_:frames:height:width:)`` for narrow layers (CSpikeKernels `sk_mask_conv_applies`: at most 64
    /// inputs, a multiple of 16 outputs up to 128): each position's events as one 64-bit channel mask instead of a
    /// list; the same sums in the same order, so the same bits. `nil` above the crossover.
    private func applyMasks(_ x: [Float], frames: Int, height h: Int, width w: Int) -> [Float]? {
        let hw = h * w, c = inChannels, o = outChannels
        var masks = [UInt64](unsafeUninitializedCapacity: max(1, frames * hw)) { _, n in n = max(1, frames * hw) }
        var perFrame = [Int64](repeating: 0, count: frames)
        x.withUnsafeBufferPointer { xp in masks.withUnsafeMutableBufferPointer { mp in perFrame.withUnsafeMutableBufferPointer { ep in
            let (xs, ms, es) = (UnsafeSendable(xp.baseAddress!), UnsafeSendable(mp.baseAddress!), UnsafeSendable(ep.baseAddress!))
            parallelRanges(frames, cost: x.count / 4) { r in
                for f in r { es.value[f] = sk_channel_masks(xs.value + f * c * hw, Int32(c), Int32(hw), ms.value + f * hw) }
            }
        } } }
        let events = perFrame.reduce(0, +)
        guard Double(events) <= EventKernels.crossover.conv3x3Narrow * Double(x.count) else { return nil }
        var out = [Float](unsafeUninitializedCapacity: frames * o * hw) { _, n in n = frames * o * hw }
        masks.withUnsafeBufferPointer { mp in out.withUnsafeMutableBufferPointer { op in
            let (ms, outp) = (UnsafeSendable(mp.baseAddress!), UnsafeSendable(op.baseAddress!))
            // Work items are (frame, output row), as in the list path.
            parallelFrameSpans(frames: frames, units: h, cost: 9 * Int(events) * o / 16) { f, rows in
                sk_conv3x3_masks(table.pointer, dense.bias, Int32(c), Int32(o), Int32(h), Int32(w), ms.value + f * hw,
                                 Int32(rows.lowerBound), Int32(rows.upperBound), outp.value + f * o * hw)
            }
        } }
        return out
    }

    /// Winograd needs this many input channels to pay (the first conv's 1 or 3 stay on im2col).
    static let winogradMinChannels = 16

    /// ... and this many 2x2 output tiles over all frames (each of the 16 products is a GEMM `[O, C] x [C, tiles]`;
    /// below this their N is too small for BLAS to pay). At 16 the official twin's last conv (8x8, 16 tiles at batch 1)
    /// runs Winograd too: its batch-1 time went from 12.2 / 12.2 to 11.3 / 10.6 ms against a bound of 64, interleaved
    /// runs of `spikeclip bench` (docs/PERFORMANCE.md); on the default the difference was within run-to-run spread.
    static let winogradMinTiles = 16

    /// The multiplications the Winograd path runs for `frames` frames of `height x width` (16 per 2x2 output tile,
    /// input and output channel, against 36 for the direct conv), or `nil` where the dense path stays on im2col
    /// (fewer than ``winogradMinChannels`` inputs or ``winogradMinTiles`` tiles). Units: MAC.
    static func winogradMACs(inChannels c: Int, outChannels o: Int, frames: Int, height h: Int, width w: Int) -> Double? {
        let tiles = frames * ((h + 1) / 2) * ((w + 1) / 2)
        guard c >= winogradMinChannels, tiles >= winogradMinTiles else { return nil }
        return 16 * Double(tiles) * Double(c * o)
    }

    /// Winograd F(2x2, 3x3) (Lavin & Gray, CVPR 2016): 16 GEMMs `[O, C] x [C, F*P]` over the transformed 4x4 input
    /// tiles replace the `[O, 9C] x [9C, HW]` im2col product, 4 instead of 9 multiplications per output and input
    /// channel. Agrees with the direct conv to float rounding (the transforms add and halve); on spikes the input
    /// transform is exact (small integers), and it is the dense path of the spiking tokenizer above the crossover.
    private func applyWinograd(_ x: [Float], frames: Int, height h: Int, width w: Int) -> [Float] {
        _ = openBLASSingleThreaded
        let c = inChannels, o = outChannels
        let cols = frames * ((h + 1) / 2) * ((w + 1) / 2)
        let v = [Float](unsafeUninitializedCapacity: 16 * c * cols) { buf, n in
            let vp = UnsafeSendable(buf.baseAddress!)
            x.withUnsafeBufferPointer { xp in
                let xs = UnsafeSendable(xp.baseAddress!)
                parallelRanges(c, cost: 4 * c * cols) { r in
                    sk_winograd_input(xs.value, Int32(frames), Int32(c), Int32(h), Int32(w), Int32(r.lowerBound), Int32(r.upperBound), vp.value)
                }
            }
            n = 16 * c * cols
        }
        let m = [Float](unsafeUninitializedCapacity: 16 * o * cols) { buf, n in
            let mp = UnsafeSendable(buf.baseAddress!)
            v.withUnsafeBufferPointer { vp in winograd.withUnsafeBufferPointer { up in
                let (vs, us) = (UnsafeSendable(vp.baseAddress!), UnsafeSendable(up.baseAddress!))
                parallelRanges(16, cost: o * c * cols / 4) { r in  // MACs / 64, as in gemm(...)
                    for k in r {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(cols), Int32(c), 1,
                                    us.value + k * o * c, Int32(c), vs.value + k * c * cols, Int32(cols), 0,
                                    mp.value + k * o * cols, Int32(cols))
                    }
                }
            } }
            n = 16 * o * cols
        }
        return [Float](unsafeUninitializedCapacity: frames * o * h * w) { buf, n in
            let yp = UnsafeSendable(buf.baseAddress!)
            m.withUnsafeBufferPointer { mp in dense.bias.withUnsafeBufferPointer { bp in
                let (ms, bs) = (UnsafeSendable(mp.baseAddress!), UnsafeSendable(bp.baseAddress!))
                parallelRanges(o, cost: 4 * o * cols) { r in
                    sk_winograd_output(ms.value, bs.value, Int32(frames), Int32(o), Int32(h), Int32(w), Int32(r.lowerBound), Int32(r.upperBound), yp.value)
                }
            } }
            n = frames * o * h * w
        }
    }

    /// BLAS path: per frame, `Y[O, HW] = W[O, 9C] . cols[9C, HW]` with a tap-major im2col built from shifted
    /// row copies, so the output lands in `[O, H, W]` without a transpose. With at least as many frames as threads,
    /// each thread takes whole frames (its own im2col buffer, single-threaded SGEMMs): the im2col copies run in
    /// parallel too and each product keeps its full size; else every product is split across threads (``gemm``).
    private func applyBLAS(_ x: [Float], frames: Int, height h: Int, width w: Int) -> [Float] {
        let hw = h * w, k = inChannels * 9, o = outChannels
        var out = [Float](repeating: 0, count: frames * o * hw)
        let byFrame = EventKernels.threads > 1 && frames >= EventKernels.threads
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let (xs, os) = (UnsafeSendable(xp.baseAddress!), UnsafeSendable(op.baseAddress!))
                func frameRange(_ range: Range<Int>, split: Bool) {
                    var cols = [Float](repeating: 0, count: k * hw)
                    cols.withUnsafeMutableBufferPointer { cp in
                        for f in range {
                            sk_im2col3x3(xs.value + f * inChannels * hw, Int32(inChannels), Int32(h), Int32(w), cp.baseAddress!)
                            let y = os.value + f * o * hw
                            dense.channelsFirstProduct(UnsafePointer(cp.baseAddress!), frames: 1, positions: hw, into: y, threads: split)
                        }
                    }
                }
                if byFrame {
                    parallelRanges(frames, cost: frames * o * hw * k / 64) { frameRange($0, split: false) }
                } else {
                    frameRange(0..<frames, split: true)
                }
            }
        }
        return out
    }
}

/// 1x1 convolution / Conv1d with kernel 1 over channels-first frames, BatchNorm folded.
struct PointwiseConv: Sendable {
    let dense: DenseWeights

    /// - Parameters:
    ///   - x: `[F, C, N]`.
    /// - Returns: `[F, O, N]`.
    ///   - shared: `x`'s count and event lists, when other layers read `x` too (built once for all of them).
    func apply(_ x: [Float], frames: Int, positions n: Int, mode: KernelMode, binary: Bool, shared: SharedEvents? = nil) -> [Float] {
        let c = dense.inFeatures, o = dense.outFeatures, size = frames * o * n
        let eventPath = mode == .event && binary
        let events = eventPath ? shared?.count ?? x.withUnsafeBufferPointer { activeCount($0) } : 0
        // The event and BLAS paths write every output value: no zeroing first (a memset of each layer's output was
        // 3 % of an official forward pass).
        if eventPath && Double(events) <= EventKernels.crossover.pointwise * Double(x.count) {
            // Each position's output column is the sum of its active channels' rows.
            let lists = shared?.lists(x, frames: frames, channels: c, positions: n) ?? ChannelEvents(x, frames: frames, channels: c, positions: n)
            return [Float](unsafeUninitializedCapacity: size) { op, initialized in
                let outp = UnsafeSendable(op.baseAddress!)
                lists.forEachSpan(frames: frames, units: n, cost: events * o / 16) { f, positions, count, channels in
                    sk_pointwise_events(dense.weightT.pointer, dense.bias, Int32(c), Int32(o), Int32(n), count, channels,
                                        Int32(positions.lowerBound), Int32(positions.upperBound), outp.value + f * o * n)
                }
                initialized = size
            }
        }
        if mode != .reference {
            // Y_f[O, N] = W[O, C] . X_f[C, N] over all frames at once: no transposes in the channels-first layout.
            return [Float](unsafeUninitializedCapacity: size) { op, initialized in
                x.withUnsafeBufferPointer { xp in
                    dense.channelsFirstProduct(xp.baseAddress!, frames: frames, positions: n, into: op.baseAddress!)
                }
                initialized = size
            }
        }
        var out = [Float](repeating: 0, count: size)
        for f in 0..<frames {
            let frame = Array(x[(f * c * n)..<((f + 1) * c * n)])
            let y = dense.apply(transpose(frame, rows: c, cols: n), rows: n, mode: mode, binary: binary)  // [N, O]
            let base = f * o * n
            for p in 0..<n { for j in 0..<o { out[base + j * n + p] = y[p * o + j] } }
        }
        return out
    }
}

/// Softmax self-attention over items packed one after another (one implementation for MiniLM, CLIP's towers and the
/// ANN twin): per item and head, `scores = scale * Q_h K_h^T` (OpenBLAS), masked keys and (with `causal`) later
/// tokens at -inf, a row softmax (exp in double, sums in double), `context_h = P V_h` (OpenBLAS). Items and heads are
/// split across ``EventKernels/threads``.
/// - Parameters:
///   - q, k, v: `[R, D]` row-major, item `b` being `lengths[b]` consecutive rows; channel `c = head * D/heads + e`.
///   - keyMask: `[R]`, 0 for keys no token may attend to (padding); each item needs one key with 1 (precondition).
/// - Returns: the context `[R, D]` (before the output projection).
func softmaxAttention(q: [Float], k: [Float], v: [Float], lengths: [Int], dim d: Int, heads: Int, scale: Float,
                      causal: Bool = false, keyMask: [Int]? = nil) -> [Float] {
    _ = openBLASSingleThreaded
    let hd = d / heads, rows = lengths.reduce(0, +)
    precondition(q.count == rows * d && k.count == q.count && v.count == q.count && (keyMask?.count ?? rows) == rows)
    var starts: [Int] = [], start = 0
    for l in lengths { starts.append(start); start += l }
    var context = [Float](repeating: 0, count: rows * d)
    let longest = lengths.max() ?? 0
    guard longest > 0 else { return context }
    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
    context.withUnsafeMutableBufferPointer { cp in
        let (qs, ks, vs, cs) = (UnsafeSendable(qp.baseAddress!), UnsafeSendable(kp.baseAddress!), UnsafeSendable(vp.baseAddress!), UnsafeSendable(cp.baseAddress!))
        let work = lengths.reduce(0) { $0 + $1 * $1 } * d
        parallelRanges(lengths.count * heads, cost: work / 8) { range in
            var scores = [Float](repeating: 0, count: longest * longest)
            scores.withUnsafeMutableBufferPointer { sp in
                let sb = sp.baseAddress!
                for job in range {
                    let item = job / heads, h = job % heads, l = lengths[item], base = starts[item]
                    guard l > 0 else { continue }
                    if let keyMask { precondition(keyMask[base..<(base + l)].contains(1), "item \(item) has no unmasked token") }
                    let off = base * d + h * hd
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(l), Int32(hd), scale,
                                qs.value + off, Int32(d), ks.value + off, Int32(d), 0, sb, Int32(l))
                    if let keyMask {
                        keyMask.withUnsafeBufferPointer { mp in
                            let mask = UnsafeRawPointer(mp.baseAddress! + base).assumingMemoryBound(to: Int64.self)
                            sk_softmax_rows(sb, Int32(l), Int32(l), causal ? 1 : 0, mask)
                        }
                    } else {
                        sk_softmax_rows(sb, Int32(l), Int32(l), causal ? 1 : 0, nil)
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(hd), Int32(l), 1,
                                sb, Int32(l), vs.value + off, Int32(d), 0, cs.value + off, Int32(d))
                }
            }
        }
    } } } }
    return context
}

/// Max pooling, kernel 3, stride 2, padding 1 (`block3_mp`, `block4_mp`).
/// - Parameter x: `[F, C, H, W]`. - Returns: `[F, C, H', W']` with `H' = (H - 1) / 2 + 1`.
func maxPool3x3s2(_ x: [Float], frames: Int, channels: Int, height h: Int, width w: Int) -> (values: [Float], height: Int, width: Int) {
    let oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1
    precondition(x.count == frames * channels * h * w)
    let planes = frames * channels
    // Planes split across threads; every output value is written.
    let out = [Float](unsafeUninitializedCapacity: planes * oh * ow) { op, initialized in
        x.withUnsafeBufferPointer { xp in
            if let xb = xp.baseAddress, let ob = op.baseAddress {
                let (xs, os) = (UnsafeSendable(xb), UnsafeSendable(ob))
                parallelRanges(planes, cost: x.count) { r in
                    sk_maxpool3x3s2(xs.value + r.lowerBound * h * w, Int64(r.count), Int32(h), Int32(w), os.value + r.lowerBound * oh * ow)
                }
            }
        }
        initialized = planes * oh * ow
    }
    return (out, oh, ow)
}

/// LayerNorm over the last dimension. - Parameter x: `[M, D]`.
func layerNorm(_ x: [Float], rows m: Int, weight: [Float], bias: [Float], eps: Double) -> [Float] {
    let d = weight.count
    precondition(x.count == m * d && bias.count == d)
    return [Float](unsafeUninitializedCapacity: x.count) { out, count in
        x.withUnsafeBufferPointer { xb in weight.withUnsafeBufferPointer { wb in bias.withUnsafeBufferPointer { bb in
            for r in 0..<m {
                let row = xb.baseAddress! + r * d, y = out.baseAddress! + r * d
                var mean = 0.0
                for i in 0..<d { mean += Double(row[i]) }
                mean /= Double(d)
                var variance = 0.0
                for i in 0..<d { let e = Double(row[i]) - mean; variance += e * e }
                variance /= Double(d)
                let inv = 1 / (variance + eps).squareRoot()
                for i in 0..<d { y[i] = Float((Double(row[i]) - mean) * inv) * wb[i] + bb[i] }
            }
        } } }
        count = x.count
    }
}

/// L2 normalisation of a vector (zero vectors stay zero).
public func l2Normalized(_ v: [Float]) -> [Float] {
    let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    return n > 0 ? v.map { Float(Double($0) / n) } : v
}

/// `x[i] += y[i]`, same length (the residual adds of every encoder).
@inline(__always)
func addInPlace(_ x: inout [Float], _ y: [Float]) {
    precondition(x.count == y.count)
    x.withUnsafeMutableBufferPointer { xb in y.withUnsafeBufferPointer { yb in for i in 0..<xb.count { xb[i] += yb[i] } } }
}
