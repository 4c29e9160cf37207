import CSpikeKernels
import Foundation
import XCTest
@testable import SpikeCLIP

/// The event-driven kernels (issue 15) against dense BLAS at the official layer widths, across instruction sets, and
/// the vectorised LIF against the generic neuron loop. ParityTests checks every mode on the committed fixtures.
final class EventKernelTests: XCTestCase {
    /// A random checkpoint at the official widths (3x32x32, D = 384, 8 heads, T = 4, MLP ratio 4) with one encoder
    /// block (every block has the same shapes), built by asking the loader: each missing key it reports is added with
    /// its expected shape (weights uniform in +-gain/sqrt(fan-in), BatchNorm near identity), until the file loads.
    static let officialWidths: String = {
        let source = try! SafeTensorsFile(path: fixturePath("tiny-official", "model.safetensors"))
        var metadata = source.metadata
        metadata["config"] = editedJSON(metadata["config"]!) { c in
            for key in ["vision", "ann_vision"] {
                var v = c[key] as! [String: Any]
                v["embed_dims"] = 384
                v["depths"] = 1
                v["target_dim"] = 64
                c[key] = v
            }
            var t = c["text"] as! [String: Any]
            t["target_dim"] = 64
            c["text"] = t
        }
        var state: UInt64 = 12345
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 11) / Double(1 << 53)) * 2 - 1
        }
        var tensors: [String: RawTensor] = [:]
        let path = temporaryPath("official-widths.safetensors")
        for _ in 0..<400 {
            try! writeSafeTensors(path, tensors: tensors.values.sorted { $0.key < $1.key }, metadata: metadata)
            do {
                _ = try SpikeCLIPModel(path: path)
                return path
            } catch let CheckpointError.missingKey(_, missing, expected) {
                // The loader asks for one key at a time: add the tensors it will ask for next with it (a BatchNorm's
                // four, a layer's bias), so the file is rewritten and reloaded less often.
                var wanted = [(missing, expected)]
                for suffix in [".weight", ".bias", ".running_mean", ".running_var"] where missing.hasSuffix("_bn.weight") {
                    wanted.append((String(missing.dropLast(".weight".count)) + suffix, expected))
                }
                if missing.hasSuffix(".weight") && !missing.hasSuffix("_bn.weight") && expected.count == 2 && !missing.contains("embedding") {
                    wanted.append((String(missing.dropLast(".weight".count)) + ".bias", [expected[0]]))
                }
                for (key, shape) in wanted where tensors[key] == nil {
                let n = shape.reduce(1, *), fanIn = max(1, n / max(1, shape[0]))
                let values: [Float]
                if key.hasSuffix("running_var") {
                    values = (0..<n).map { _ in 1 + 0.1 * abs(uniform()) }
                } else if key.hasSuffix("running_mean") || (key.hasSuffix(".bias") && shape.count == 1) {
                    values = (0..<n).map { _ in 0.1 * uniform() }
                } else if shape.count == 1 && !key.hasSuffix("weights_tensor") {
                    values = (0..<n).map { _ in 1 + 0.1 * uniform() }  // BatchNorm / LayerNorm scale
                } else {
                    let gain: Float = key.contains(".block.") ? 12 : 4  // sparser inputs deeper in: keep the rates moderate
                    values = (0..<n).map { _ in gain * uniform() / Float(fanIn).squareRoot() }
                }
                tensors[key] = .f32(key, shape, values)
                }
            } catch {
                fatalError("official-widths checkpoint: \(error)")
            }
        }
        fatalError("official-widths checkpoint: too many missing keys")
    }()

    static func relativeL2(_ a: [Float], _ b: [Float]) -> Double { ParityTests.relativeL2(a, b) }

    func testEventAndDenseAgreeAtOfficialWidths() throws {
        let model = try SpikeCLIPModel(path: Self.officialWidths)
        XCTAssertEqual(model.config.vision.embedDims, 384)
        let (pixels, ids) = (benchPixels(model.config, count: 2), [[Int]](repeating: [3, 9, 27, 1], count: 1).map {
            $0 + [Int](repeating: model.config.tokenizer.padId, count: model.config.text.contextLength - $0.count)
        })
        let saved = EventKernels.crossover
        defer { EventKernels.crossover = saved }
        // Every tokenizer conv on spikes with at least 16 inputs has Winograd as its dense path (BLAS mode, and event
        // mode above the crossover), so the spikes compared below come from Winograd there.
        var winogradConvs = 0
        for case let .conv(conv) in model.vision.network.weights where conv.inChannels >= Conv3x3.winogradMinChannels {
            XCTAssertFalse(conv.winograd.isEmpty, "\(conv.inChannels) -> \(conv.outChannels)")
            winogradConvs += 1
        }
        XCTAssertEqual(winogradConvs, 4)  // 48 -> 96, 96 -> 192, 192 -> 384 and the 8x8 384 -> 384 rpe_conv
        let (dense, denseRec) = try model.vision.forward(pixels: pixels, batch: 2, mode: .blas)
        // Events everywhere (every spiking layer through the event kernels), then the measured switch to BLAS.
        for crossover in [EventKernels.Crossover.always, .measured] {
            EventKernels.crossover = crossover
            let (events, rec) = try model.vision.forward(pixels: pixels, batch: 2, mode: .event)
            XCTAssertLessThanOrEqual(Self.relativeL2(events, dense), 1e-5, "\(crossover)")
            XCTAssertEqual(rec.layers.count, denseRec.layers.count)
            for (a, b) in zip(rec.layers, denseRec.layers) {
                XCTAssertEqual(a.spikes, b.spikes, "\(a.name): spikes differ between event (\(crossover)) and BLAS")
            }
        }
        // The test means something only if layers fire neither never nor always.
        for l in denseRec.layers {
            let rate = Double(l.spikes.reduce(0) { $0 + Int($1) }) / Double(l.spikes.count)
            XCTAssertTrue(rate > 0.005 && rate < 0.95, "\(l.name) fires at \(rate)")
        }
        let (text, textRec) = try model.text.forward(tokenIds: ids, mode: .event)
        let (textDense, textDenseRec) = try model.text.forward(tokenIds: ids, mode: .blas)
        XCTAssertLessThanOrEqual(Self.relativeL2(text, textDense), 1e-5)
        for (a, b) in zip(textRec.layers, textDenseRec.layers) { XCTAssertEqual(a.spikes, b.spikes, a.name) }
        // The ANN twin with products split across two threads and on one (ParityTests checks it against PyTorch).
        let twin = try XCTUnwrap(model.annVision)
        EventKernels.setThreads(1)
        let annOne = try twin.forward(pixels: pixels, batch: 2, mode: .event)
        EventKernels.setThreads(2)
        let annTwo = try twin.forward(pixels: pixels, batch: 2, mode: .event)
        EventKernels.setThreads(0)
        XCTAssertLessThanOrEqual(Self.relativeL2(annTwo, annOne), 1e-5)
    }

    /// Row sums add in list order, one lane per output, bias last: scalar, AVX2 and AVX-512 give the same bits.
    func testInstructionSetsGiveIdenticalBits() throws {
        let model = try SpikeCLIPModel(path: Self.officialWidths)
        let pixels = benchPixels(model.config, count: 1)
        let saved = (EventKernels.crossover, EventKernels.isa)
        defer { EventKernels.crossover = saved.0; EventKernels.useISA(saved.1) }
        EventKernels.crossover = .always
        var outputs: [(String, [Float])] = []
        for isa in ["scalar", "avx2", "avx512"] where EventKernels.useISA(isa) {
            XCTAssertEqual(EventKernels.isa, isa)
            outputs.append((isa, try model.vision.forward(pixels: pixels, batch: 1, mode: .event).embedding))
        }
        XCTAssertGreaterThanOrEqual(outputs.count, 1)
        XCTAssertFalse(EventKernels.useISA("avx9000"))
        for (isa, out) in outputs.dropFirst() {
            XCTAssertEqual(out.map(\.bitPattern), outputs[0].1.map(\.bitPattern), "\(isa) differs from \(outputs[0].0)")
        }
    }

    func testGenericOpenBLASKernelsAskForARestartUnlessTheUserChose() {
        XCTAssertEqual(BLASCore.restartCoreType(current: "Prescott", environment: nil, cpu: "SkylakeX"), "SkylakeX")
        XCTAssertEqual(BLASCore.restartCoreType(current: "Nehalem", environment: nil, cpu: "Haswell"), "Haswell")
        XCTAssertNil(BLASCore.restartCoreType(current: "Prescott", environment: "Prescott", cpu: "SkylakeX"))
        XCTAssertNil(BLASCore.restartCoreType(current: "Zen", environment: nil, cpu: "Haswell"))
        XCTAssertNil(BLASCore.restartCoreType(current: "SkylakeX", environment: nil, cpu: "SkylakeX"))
        XCTAssertNil(BLASCore.restartCoreType(current: "Prescott", environment: nil, cpu: nil))
    }

    func testCrossoverFollowsTheMachineItWasMeasuredOn() {
        let intel = EventKernels.Crossover.forCPU(vendor: "intel", blasCore: "SkylakeX")
        let amd = EventKernels.Crossover.forCPU(vendor: "amd", blasCore: "SkylakeX")
        XCTAssertLessThan(intel.pointwise, amd.pointwise)
        XCTAssertLessThan(intel.conv3x3, amd.conv3x3)
        XCTAssertEqual(EventKernels.Crossover.forCPU(vendor: "intel", blasCore: "Haswell"), amd)
        XCTAssertEqual(EventKernels.Crossover.forCPU(vendor: "other", blasCore: nil), amd)
    }

    /// The event kernels read weight tables in L2-sized slabs of output columns (16 to 128 columns; each output is
    /// its rows in event order, then the bias): every slab width, from one vector to eight, gives the same bits, on
    /// every instruction set (the official tokenizer's 96- and 192-wide outputs end in a slab narrower than 128).
    func testTableBlocksGiveIdenticalBits() throws {
        let model = try SpikeCLIPModel(path: Self.officialWidths)
        let pixels = benchPixels(model.config, count: 1)
        let saved = (EventKernels.crossover, EventKernels.isa)
        defer { EventKernels.crossover = saved.0; EventKernels.useISA(saved.1); EventKernels.setTableBlockBytes(nil) }
        EventKernels.crossover = .always
        for isa in ["scalar", "avx2", "avx512"] where EventKernels.useISA(isa) {
            EventKernels.setTableBlockBytes(1 << 40)
            let (whole, wholeRec) = try model.vision.forward(pixels: pixels, batch: 1, mode: .event)
            for bytes in [1, 4096, 100_000, nil] as [Int?] {
                EventKernels.setTableBlockBytes(bytes)
                let (blocked, rec) = try model.vision.forward(pixels: pixels, batch: 1, mode: .event)
                XCTAssertEqual(blocked.map(\.bitPattern), whole.map(\.bitPattern), "\(isa), slabs of \(bytes.map(String.init) ?? "default") bytes")
                XCTAssertEqual(rec.layers.map(\.spikes), wholeRec.layers.map(\.spikes), "\(isa)")
            }
        }
    }

    /// The 3x3 conv on channel masks (at most 64 inputs) gives the bits of the list kernel on the same spikes, in
    /// every instruction set, at the default's and the official tokenizer's narrow shapes and odd sizes; and it is a
    /// 3x3 conv (the reference path within float rounding).
    func testChannelMaskConvGivesTheListKernelsBits() {
        var state: UInt64 = 99
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let saved = (EventKernels.crossover, EventKernels.isa)
        defer { EventKernels.crossover = saved.0; EventKernels.useISA(saved.1); EventKernels.useChannelMasks(true) }
        EventKernels.crossover = .always
        for (c, o, h, w, frames) in [(8, 16, 28, 28, 2), (16, 32, 7, 5, 3), (48, 96, 32, 32, 1), (64, 128, 3, 3, 2),
                                     (1, 16, 4, 4, 1), (33, 48, 9, 1, 2), (64, 64, 1, 7, 1)] {
            XCTAssertEqual(sk_mask_conv_applies(Int32(c), Int32(o)), 1, "C \(c), O \(o)")
            let weight = (0..<(o * c * 9)).map { _ in Float(Int(next() % 2001) - 1000) / 997 }
            let bias = (0..<o).map { _ in Float(Int(next() % 201) - 100) / 89 }
            let conv = Conv3x3(weight: weight, bias: bias, inChannels: c, outChannels: o)
            let x = (0..<(frames * c * h * w)).map { _ -> Float in next() % 5 == 0 ? 1 : 0 }
            let reference = conv.apply(x, frames: frames, height: h, width: w, mode: .reference, binary: true)
            for isa in ["scalar", "avx2", "avx512"] where EventKernels.useISA(isa) {
                EventKernels.useChannelMasks(false)
                let lists = conv.apply(x, frames: frames, height: h, width: w, mode: .event, binary: true)
                EventKernels.useChannelMasks(true)
                let masks = conv.apply(x, frames: frames, height: h, width: w, mode: .event, binary: true)
                XCTAssertEqual(masks.map(\.bitPattern), lists.map(\.bitPattern), "\(isa): C \(c), O \(o), \(h)x\(w), F \(frames)")
                XCTAssertEqual(masks.count, reference.count)
                let err = zip(masks, reference).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(err, 1e-3, "\(isa): C \(c), O \(o)")
            }
        }
        // Outside its shapes the list kernel runs.
        XCTAssertEqual(sk_mask_conv_applies(65, 16), 0)
        XCTAssertEqual(sk_mask_conv_applies(8, 24), 0)
        XCTAssertEqual(sk_mask_conv_applies(8, 144), 0)
    }

    /// The per-position event lists (built in groups of 16 positions) against a direct scan, for position counts on
    /// and off the group size and a channel count whose list stride maps positions onto few L1 sets (C = 1536).
    func testChannelEventListsMatchADirectScan() {
        var state: UInt64 = 7
        for (frames, c, n) in [(2, 70, 37), (1, 1536, 64), (3, 5, 16), (1, 9, 1)] {
            let x = (0..<(frames * c * n)).map { _ -> Float in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (state >> 40) % 5 == 0 ? 1 : 0
            }
            let lists = ChannelEvents(x, frames: frames, channels: c, positions: n)
            var seen = 0
            lists.forEachSpan(frames: frames, units: n, cost: 0) { f, units, count, channels in
                for p in units {
                    let want = (0..<c).filter { x[(f * c + $0) * n + p] != 0 }.map(Int32.init)
                    let got = (0..<Int(count[p])).map { channels[p * c + $0] }
                    XCTAssertEqual(got, want, "frames \(frames), C \(c), N \(n): frame \(f), position \(p)")
                    seen += 1
                }
            }
            XCTAssertEqual(seen, frames * n)
        }
    }

    /// The C LIF loop (no traced neurons) gives the bits of the generic Swift loop (traced neurons), thresholds hit
    /// exactly included.
    func testVectorisedLIFMatchesTheGenericLoop() {
        let p = LIFParameters(tau: 2, vThreshold: 1, vReset: 0)
        let n = 1000, steps = 4
        var x = (0..<(steps * n)).map { i in Float((i * 7919) % 401) / 100 - 1 }
        x[0] = 2; x[1] = 1.9999999  // h = 1 exactly fires (>=), just below does not
        let fast = p.simulate(x, steps: steps, neurons: n, traceNeurons: [])
        let generic = p.simulate(x, steps: steps, neurons: n, traceNeurons: [0, 5, 999])
        XCTAssertEqual(fast.spikes, generic.spikes)
        XCTAssertEqual(fast.spikes[0], 1)
        XCTAssertEqual(fast.spikes[1], 0)
        XCTAssertGreaterThan(fast.spikes.reduce(0, +), 0)
        // A layer big enough to be split across threads (neurons in ranges, each step's row at its stride, an odd
        // count so the ranges are ragged): the same bits on one thread and on two.
        let wide = 98_305
        let y = (0..<(steps * wide)).map { i in Float((i * 7919) % 401) / 100 - 1 }
        let reference = p.simulate(y, steps: steps, neurons: wide, traceNeurons: [1])
        for threads in [1, 2] {
            EventKernels.setThreads(threads)
            XCTAssertEqual(p.simulate(y, steps: steps, neurons: wide, traceNeurons: []).spikes, reference.spikes, "\(threads) threads")
        }
        EventKernels.setThreads(0)
    }

    /// Layers that read the same spikes (q, k and v) share one count and one set of event lists: the bits of each
    /// layer building its own, and the second layer reuses the first one's lists.
    func testSharedEventListsGiveEachLayersBits() {
        let (frames, c, n) = (4, 384, 64)
        let x: [Float] = (0..<(frames * c * n)).map { i in ((i * 2_654_435_761) >> 9) % 5 == 0 ? 1 : 0 }
        var layers: [PointwiseConv] = []
        for k in 0..<3 {
            let weight: [Float] = (0..<(c * c)).map { i in Float(sin(Double(i + k * 7) * 0.61)) / 20 }
            let bias: [Float] = (0..<c).map { i in Float(cos(Double(i + k))) }
            layers.append(PointwiseConv(dense: DenseWeights(weight: weight, bias: bias, outFeatures: c, inFeatures: c)))
        }
        let saved = EventKernels.crossover
        defer { EventKernels.crossover = saved }
        EventKernels.crossover = .always
        let shared = SharedEvents(x)
        XCTAssertEqual(shared.count, x.reduce(0) { $0 + ($1 != 0 ? 1 : 0) })
        for layer in layers {
            let alone = layer.apply(x, frames: frames, positions: n, mode: .event, binary: true)
            XCTAssertEqual(layer.apply(x, frames: frames, positions: n, mode: .event, binary: true, shared: shared), alone)
        }
        let first = shared.lists(x, frames: frames, channels: c, positions: n)
        XCTAssertEqual(first.count, shared.lists(x, frames: frames, channels: c, positions: n).count)
        XCTAssertEqual(first.count.reduce(0) { $0 + Int($1) }, shared.count)
    }

    /// Counting a layer's active inputs in pieces on all threads gives the serial count, ragged pieces included.
    func testActiveCountSplitsExactly() {
        for n in [0, 1, 16_383, 16_385, 131_073, 400_001] {
            let x = (0..<n).map { i in Float(((i * 2_654_435_761) >> 7) % 3 == 0 ? 1 : 0) }
            let serial = x.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
            for threads in [1, 2] {
                EventKernels.setThreads(threads)
                XCTAssertEqual(x.withUnsafeBufferPointer { activeCount($0) }, serial, "n \(n), \(threads) threads")
            }
        }
        EventKernels.setThreads(0)
    }

    /// Max pooling split across threads by planes: the bits of the direct 3x3 window, odd sizes included.
    func testMaxPoolSplitsByPlanes() {
        for (planes, h, w) in [(3, 5, 7), (96, 16, 16), (385, 9, 8)] {
            let x = (0..<(planes * h * w)).map { i in Float(sin(Double(i) * 0.71)) }
            let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1)
            var direct = [Float](repeating: 0, count: planes * oh * ow)
            for p in 0..<planes { for oy in 0..<oh { for ox in 0..<ow {
                var m = -Float.infinity
                for dy in -1...1 { for dx in -1...1 {
                    let (yy, xx) = (2 * oy + dy, 2 * ox + dx)
                    if yy >= 0 && yy < h && xx >= 0 && xx < w { m = max(m, x[(p * h + yy) * w + xx]) }
                } }
                direct[(p * oh + oy) * ow + ox] = m
            } } }
            for threads in [1, 2] {
                EventKernels.setThreads(threads)
                let pooled = maxPool3x3s2(x, frames: 1, channels: planes, height: h, width: w)
                XCTAssertEqual(pooled.values, direct, "\(planes) x \(h)x\(w), \(threads) threads")
                XCTAssertEqual(pooled.height, oh)
            }
        }
        EventKernels.setThreads(0)
    }

    /// The shared softmax attention against a double-precision loop: packed items of different lengths, a key mask,
    /// and the causal mask.
    func testSoftmaxAttentionMatchesADirectLoop() {
        let d = 8, heads = 2, hd = 4, lengths = [3, 5]
        let rows = lengths.reduce(0, +)
        func values(_ salt: Int) -> [Float] { (0..<(rows * d)).map { Float(sin(Double($0 * 31 + salt))) } }
        let (q, k, v) = (values(1), values(2), values(3))
        let mask = [1, 0, 1, 1, 1, 1, 0, 1]
        for causal in [false, true] {
            let out = softmaxAttention(q: q, k: k, v: v, lengths: lengths, dim: d, heads: heads, scale: 0.5, causal: causal, keyMask: mask)
            var start = 0
            for l in lengths {
                for h in 0..<heads {
                    for i in 0..<l {
                        var w = [Double](repeating: 0, count: l)
                        for j in 0..<l where mask[start + j] == 1 && (!causal || j <= i) {
                            var s = 0.0
                            for e in 0..<hd { s += Double(q[(start + i) * d + h * hd + e]) * Double(k[(start + j) * d + h * hd + e]) }
                            w[j] = exp(0.5 * s)
                        }
                        let total = w.reduce(0, +)
                        for e in 0..<hd {
                            var expected = 0.0
                            for j in 0..<l { expected += w[j] / max(total, 1e-300) * Double(v[(start + j) * d + h * hd + e]) }
                            XCTAssertEqual(Double(out[(start + i) * d + h * hd + e]), expected, accuracy: 1e-5, "causal \(causal)")
                        }
                    }
                }
                start += l
            }
        }
    }

    /// Winograd F(2x2, 3x3) on real-valued inputs against the direct conv (plain loops) and im2col BLAS: odd and even
    /// sizes (ragged last tiles), several frames, on one thread and split across two.
    func testWinogradConvMatchesTheDirectConv() {
        for (c, o, h, w, frames) in [(24, 40, 9, 11, 3), (16, 8, 8, 8, 4), (32, 16, 1, 130, 1)] {
            let weight = (0..<(o * c * 9)).map { Float(sin(Double($0) * 0.37)) / Float(3 * c).squareRoot() }
            let bias = (0..<o).map { Float(cos(Double($0))) }
            let x = (0..<(frames * c * h * w)).map { Float(sin(Double($0) * 1.13 + 0.5)) * 2 }
            let wino = Conv3x3(weight: weight, bias: bias, inChannels: c, outChannels: o, winograd: true)
            let plain = Conv3x3(weight: weight, bias: bias, inChannels: c, outChannels: o)
            XCTAssertFalse(wino.winograd.isEmpty)
            XCTAssertGreaterThanOrEqual(frames * ((h + 1) / 2) * ((w + 1) / 2), Conv3x3.winogradMinTiles, "the Winograd path must run")
            let direct = plain.apply(x, frames: frames, height: h, width: w, mode: .reference, binary: false)
            let im2col = plain.apply(x, frames: frames, height: h, width: w, mode: .blas, binary: false)
            for threads in [1, 2] {
                EventKernels.setThreads(threads)
                let y = wino.apply(x, frames: frames, height: h, width: w, mode: .blas, binary: false)
                XCTAssertEqual(y.count, direct.count)
                XCTAssertLessThanOrEqual(Self.relativeL2(y, direct), 1e-6, "C \(c) O \(o) \(h)x\(w) x\(frames), \(threads) threads")
                XCTAssertLessThanOrEqual(Self.relativeL2(im2col, direct), 1e-6)
                // Every output position, borders and the ragged last row and column included.
                let worst = zip(y, direct).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4, "C \(c) O \(o) \(h)x\(w)")
            }
            EventKernels.setThreads(0)
            // The reference mode keeps the direct conv.
            XCTAssertEqual(wino.apply(x, frames: frames, height: h, width: w, mode: .reference, binary: false), direct)
            // Spikes (the spiking tokenizer's dense path above the crossover): the same agreement, in BLAS mode and in
            // event mode above the crossover, whose dense fallback is Winograd too.
            let spikes = x.map { $0 > 0.4 ? Float(1) : 0 }
            let spikesDirect = plain.apply(spikes, frames: frames, height: h, width: w, mode: .reference, binary: true)
            let saved = EventKernels.crossover
            defer { EventKernels.crossover = saved }
            EventKernels.crossover = .init(pointwise: 0, conv3x3: 0, conv3x3Narrow: 0)
            for mode in [KernelMode.blas, .event] {
                let y = wino.apply(spikes, frames: frames, height: h, width: w, mode: mode, binary: true)
                XCTAssertLessThanOrEqual(Self.relativeL2(y, spikesDirect), 1e-6, "spikes, \(mode), C \(c) O \(o) \(h)x\(w)")
                // Not the im2col product: its sums differ in order, so some bits must too.
                XCTAssertNotEqual(y, plain.apply(spikes, frames: frames, height: h, width: w, mode: .blas, binary: true), "\(mode)")
            }
        }
    }

    /// The dense token-major product on the layer's one weight table (`sk_gemm_xw`): the same bits in every
    /// instruction set and thread split, ragged row blocks and panels included, and within float rounding of the
    /// reference loops (which add products in the same order without fusing them) and of OpenBLAS.
    func testDenseProductGivesTheSameBitsEverywhere() {
        let saved = EventKernels.isa
        defer { EventKernels.useISA(saved); EventKernels.setThreads(0) }
        for (m, o, i) in [(64, 384, 384), (37, 53, 29), (1, 512, 384), (200, 16, 785), (13, 1536, 96)] {
            let weight = (0..<(o * i)).map { Float(sin(Double($0) * 0.61)) / Float(i).squareRoot() }
            let bias = (0..<o).map { Float(cos(Double($0) * 0.3)) }
            let x = (0..<(m * i)).map { Float(sin(Double($0) * 1.7 + 0.2)) * 2 }
            let layer = DenseWeights(weight: weight, bias: bias, outFeatures: o, inFeatures: i)
            let reference = layer.apply(x, rows: m, mode: .reference, binary: false)
            var blas = [Float](repeating: 0, count: m * o)
            x.withUnsafeBufferPointer { xp in weight.withUnsafeBufferPointer { wp in blas.withUnsafeMutableBufferPointer { yp in
                gemm(transB: true, m: m, n: o, k: i, a: xp.baseAddress!, lda: i, b: wp.baseAddress!, ldb: i, c: yp.baseAddress!, ldc: o)
            } } }
            for r in 0..<m { for j in 0..<o { blas[r * o + j] += bias[j] } }
            var first: [Float]?
            for isa in ["scalar", "avx2", "avx512"] where EventKernels.useISA(isa) {
                for threads in [1, 2] {
                    EventKernels.setThreads(threads)
                    let y = layer.apply(x, rows: m, mode: .blas, binary: false)
                    if let first { XCTAssertEqual(y, first, "\(m)x\(i) -> \(o), \(isa), \(threads) threads") } else { first = y }
                }
            }
            XCTAssertLessThanOrEqual(Self.relativeL2(first!, reference), 1e-6, "\(m)x\(i) -> \(o)")
            XCTAssertLessThanOrEqual(Self.relativeL2(first!, blas), 1e-6, "\(m)x\(i) -> \(o)")
            // The table is W^T: the reference loops read W through it.
            XCTAssertEqual(layer.weight(o - 1, i - 1), weight[(o - 1) * i + i - 1])
        }
    }

    /// The engine's thread pool (`sk_parallel` under ``parallelRanges(_:cost:_:)``): every range runs exactly once
    /// whatever the thread count, when new pool threads are created between jobs (a new thread once missed the job
    /// posted right after its creation and the caller waited forever), from inside a job (inline), and from several
    /// threads at once (one gets the pool, the others run inline). Watched by a timeout, so a lost job fails.
    func testThreadPoolRunsEveryRangeOnce() {
        defer { EventKernels.setThreads(0) }
        let finished = expectation(description: "every parallel region returned")
        Thread.detachNewThread {
            for threads in [2, 3, 5, 8, 2] {
                EventKernels.setThreads(threads)
                for count in [2, 7, 64, 1000] {
                    let hits = UnsafeMutablePointer<Int32>.allocate(capacity: count)
                    hits.initialize(repeating: 0, count: count)
                    let h = UnsafeSendable(hits)
                    parallelRanges(count, cost: 1 << 30) { r in
                        for i in r { h.value[i] += 1 }
                        parallelRanges(4, cost: 1 << 30) { _ in }  // nested: inline
                    }
                    XCTAssertEqual((0..<count).filter { hits[$0] != 1 }.count, 0, "\(threads) threads, \(count) items")
                    hits.deallocate()
                }
            }
            // Four threads posting jobs at the same time.
            EventKernels.setThreads(2)
            let sums = UnsafeMutablePointer<Int>.allocate(capacity: 4)
            sums.initialize(repeating: 0, count: 4)
            let s = UnsafeSendable(sums)
            DispatchQueue.concurrentPerform(iterations: 4) { caller in
                for _ in 0..<200 {
                    let parts = UnsafeMutablePointer<Int>.allocate(capacity: 100)
                    parts.initialize(repeating: 0, count: 100)
                    let p = UnsafeSendable(parts)
                    parallelRanges(100, cost: 1 << 30) { r in for i in r { p.value[i] = i } }
                    s.value[caller] += (0..<100).reduce(0) { $0 + parts[$1] }
                    parts.deallocate()
                }
            }
            XCTAssertEqual((0..<4).map { sums[$0] }, [Int](repeating: 200 * 4950, count: 4))
            sums.deallocate()
            finished.fulfill()
        }
        wait(for: [finished], timeout: 60)
    }

    /// The executable's malloc settings take on glibc (a rejected setting would silently bring the page faults back).
    func testKeepFreedMemoryTakesOnGlibc() {
        #if canImport(Glibc)
        XCTAssertTrue(EventKernels.keepFreedMemory())
        #endif
    }

    /// Deterministic pixels in [-2, 2) for `count` images of the config's size.
    func benchPixels(_ c: ModelConfig, count: Int) -> [Float] {
        let n = count * c.vision.inChannels * c.vision.imageSize.reduce(1, *)
        return (0..<n).map { i in Float(Double((UInt64(i) &* 2654435761 &+ 12345) % 4294967296) / 4294967296.0 * 4 - 2) }
    }
}
