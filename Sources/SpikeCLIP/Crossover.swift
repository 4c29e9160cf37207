import CSpikeKernels
import Dispatch

/// One point of the event-vs-dense measurement (``EventKernels/measureCrossover(rates:repeats:)``).
public struct CrossoverSample: Sendable, Codable {
    /// The layer timed, e.g. "1x1 384->1536, 4 x 64 positions".
    public var layer: String
    /// "pointwise" (linear and 1x1), "conv3x3" or "conv3x3 narrow" (at most 64 input channels: channel masks).
    public var kind: String
    /// Fraction of active inputs (Bernoulli spikes).
    public var rate: Double
    /// p50 milliseconds of the event path and of the dense BLAS path on the same input.
    public var eventMs: Double
    public var blasMs: Double
}

extension EventKernels {
    /// Times the event path against the dense path (BLAS; Winograd for 3x3 convs with at least 16 inputs, as in the
    /// model) on the official-size spiking layers (T = 4, batch 1: the 1x1 convs of
    /// an encoder block, the 3x3 convs of the patch embedding at 32x32 and 16x16, the 8x8 `rpe_conv`) and the default
    /// checkpoint's narrow 3x3 convs, with random weights and Bernoulli spikes at each rate, with the current
    /// ``threads``. Restores ``crossover`` afterwards.
    /// - Returns: the samples, and per kind the estimated crossover: where the event time reaches the BLAS time
    ///   (linear interpolation between the two rates around it; the largest rate if events stay faster, 0 if BLAS is
    ///   faster everywhere), the median over that kind's layers.
    public static func measureCrossover(rates: [Double] = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8], repeats: Int = 7)
        -> (samples: [CrossoverSample], crossover: Crossover)
    {
        let saved = crossover
        defer { crossover = saved }
        var random = BenchRandom()
        func uniform() -> Double { random.uniform() }
        func weights(_ n: Int, fanIn: Int) -> [Float] { random.weights(n, fanIn: fanIn) }
        func median(_ body: () -> Void) -> Double { Timing.quantile(Timing.milliseconds(repeats, body), 0.5) }
        let frames = 4
        var samples: [CrossoverSample] = []
        let pointwise: [(c: Int, o: Int, n: Int)] = [(384, 384, 64), (384, 1536, 64), (1536, 384, 64)]
        for (c, o, n) in pointwise {
            let layer = PointwiseConv(dense: DenseWeights(weight: weights(o * c, fanIn: c), bias: weights(o, fanIn: 1), outFeatures: o, inFeatures: c))
            for r in rates {
                let x = (0..<(frames * c * n)).map { _ in Float(uniform() < r ? 1 : 0) }
                crossover = .always
                let e = median { _ = layer.apply(x, frames: frames, positions: n, mode: .event, binary: true) }
                let b = median { _ = layer.apply(x, frames: frames, positions: n, mode: .blas, binary: true) }
                samples.append(CrossoverSample(layer: "1x1 \(c)->\(o), \(frames) x \(n) positions", kind: "pointwise", rate: r, eventMs: e, blasMs: b))
            }
        }
        // The official tokenizer's convs, and the default checkpoint's narrow ones (28x28 grey input, D = 64), which
        // with the official 48 -> 96 read channel masks (kind "conv3x3 narrow").
        let convs: [(c: Int, o: Int, h: Int)] = [(48, 96, 32), (96, 192, 32), (192, 384, 16), (384, 384, 8),
                                                 (8, 16, 28), (16, 32, 28), (32, 64, 14), (64, 64, 7)]
        for (c, o, h) in convs {
            let kind = sk_mask_conv_applies(Int32(c), Int32(o)) != 0 ? "conv3x3 narrow" : "conv3x3"
            let layer = Conv3x3(weight: weights(o * c * 9, fanIn: 9 * c), bias: weights(o, fanIn: 1), inChannels: c, outChannels: o, winograd: true)
            for r in rates {
                let x = (0..<(frames * c * h * h)).map { _ in Float(uniform() < r ? 1 : 0) }
                crossover = .always
                let e = median { _ = layer.apply(x, frames: frames, height: h, width: h, mode: .event, binary: true) }
                let b = median { _ = layer.apply(x, frames: frames, height: h, width: h, mode: .blas, binary: true) }
                samples.append(CrossoverSample(layer: "3x3 \(c)->\(o), \(frames) x \(h)x\(h)", kind: kind, rate: r, eventMs: e, blasMs: b))
            }
        }
        func estimate(_ kind: String) -> Double {
            var points: [Double] = []
            for layer in Set(samples.filter { $0.kind == kind }.map(\.layer)) {
                let s = samples.filter { $0.layer == layer }.sorted { $0.rate < $1.rate }
                guard let first = s.first else { continue }
                if first.eventMs >= first.blasMs { points.append(0); continue }
                var at = s.last!.rate
                for (a, b) in zip(s, s.dropFirst()) where b.eventMs >= b.blasMs {
                    let da = a.blasMs - a.eventMs, db = b.eventMs - b.blasMs  // both >= 0
                    at = a.rate + (b.rate - a.rate) * da / max(1e-12, da + db)
                    break
                }
                points.append(at)
            }
            let sorted = points.sorted()
            return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        }
        return (samples, Crossover(pointwise: estimate("pointwise"), conv3x3: estimate("conv3x3"),
                                   conv3x3Narrow: estimate("conv3x3 narrow")))
    }
}

extension EventKernels {
    /// The event path's accumulate rate on this machine now: accumulates per second (one weight added per active
    /// input and output, the `AC` of ``EnergyAccounting``) of the official 1x1 1536 -> 384 layer (`mlp2_conv`) on
    /// 4 x 64 positions with Bernoulli spikes at `rate`, random weights, on ``threads``; p50 of `repeats`. What
    /// `spikeclip bench` divides an image's accumulates by for the floor of the event kernels (docs/PERFORMANCE.md:
    /// the row sums stream weight rows from L2, which fed at most about 33 G floats per second per core to a C
    /// microbenchmark on the 2-core build machine).
    public static func measureAccumulateRate(rate: Double = 0.25, repeats: Int = 7) -> Double {
        let saved = crossover
        defer { crossover = saved }
        crossover = .always
        let (c, o, n, frames) = (1536, 384, 64, 4)
        var random = BenchRandom()
        let layer = PointwiseConv(dense: DenseWeights(weight: random.weights(o * c, fanIn: c), bias: random.weights(o, fanIn: 1),
                                                      outFeatures: o, inFeatures: c))
        let x = (0..<(frames * c * n)).map { _ in Float(random.uniform() < rate ? 1 : 0) }
        let accumulates = Double(x.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } * o)
        let ms = Timing.quantile(Timing.milliseconds(repeats) { _ = layer.apply(x, frames: frames, positions: n, mode: .event, binary: true) }, 0.5)
        return accumulates / (ms / 1e3)
    }

    /// The least time our kernels could take on one image's spiking forward pass at the given rates, in ms: every layer
    /// with a product at the better of its two paths, its accumulates (spike inputs) at `accumulateRate` (per second) or
    /// its dense MACs at `sgemmGflops` (Winograd's where a 3x3 conv runs it); layers on real values (the first conv,
    /// the projection) at `sgemmGflops`. Attention, neurons, pooling and the list building are left out, so it is a
    /// lower bound (docs/PERFORMANCE.md).
    /// `energy` is ``EnergyAccounting/vision(_:config:item:constants:)`` of one item on `graph`; rates per second and
    /// in GFLOP/s (2 per MAC).
    public static func floorMilliseconds(graph: LayerGraph, energy: EnergyReport, accumulateRate: Double, sgemmGflops: Double) -> Double {
        var seconds = 0.0
        for l in graph.layers {
            if case .attention = l.kind { continue }
            var dense = graph.denseMACs(of: l)
            guard dense > 0 else { continue }
            // The dense path of a wide 3x3 conv is Winograd (Conv3x3.apply), with 4 of the 9 multiplications.
            if case let .conv3x3(i, o) = l.kind, l.shape.count == 3,
               let winograd = Conv3x3.winogradMACs(inChannels: i, outChannels: o, frames: graph.steps, height: l.shape[1], width: l.shape[2]) {
                dense = min(dense, winograd)
            }
            let ops = energy[l.name]
            let macs = ops?.totalMACs ?? 0, acs = ops?.totalACs ?? 0
            let denseSeconds = 2 * dense / (sgemmGflops * 1e9)
            seconds += macs > 0 ? 2 * macs / (sgemmGflops * 1e9) : min(acs / accumulateRate, denseSeconds)
        }
        return seconds * 1e3
    }
}

/// The benchmarks' random weights and spikes (splitmix64 from a fixed seed: every run times the same layers).
private struct BenchRandom {
    private var seed: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// Uniform in `[0, 1)`.
    mutating func uniform() -> Double {
        seed &+= 0x9E37_79B9_7F4A_7C15
        var z = seed
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }

    /// `n` weights uniform in `[-1, 1) / sqrt(fanIn)`.
    mutating func weights(_ n: Int, fanIn: Int) -> [Float] {
        (0..<n).map { _ in Float((uniform() * 2 - 1) / Double(fanIn).squareRoot()) }
    }
}
