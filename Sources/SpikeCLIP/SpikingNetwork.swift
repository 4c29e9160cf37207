import CBLAS
import CSpikeKernels
/// A ``LayerGraph`` with its weights loaded: the one forward pass of every spiking encoder walks it (issue 12).
struct SpikingNetwork: Sendable {
    enum Weights: Sendable {
        case none
        case conv(Conv3x3)
        case pointwise(PointwiseConv)
        case dense(DenseWeights)
        case neuron(any NeuronModel)
        case embedding(TextEmbedding)
        /// `weights_tensor` `[T]`.
        case timeWeights([Float])
    }

    let graph: LayerGraph
    let weights: [Weights]
    /// Indices of each layer's inputs.
    let inputIndices: [[Int]]
    /// Index of the last layer that reads each layer's output (its buffer is freed after that).
    let lastUse: [Int]
    /// How many layers read each layer's output.
    let readers: [Int]

    /// Loads every layer's tensors from `store`, walking the graph: `<name>.weight`/`.bias` for convs and linears,
    /// BatchNorm `<name minus _conv>_bn` folded, the neuron model's own tensors, `weights_tensor` for the readout.
    /// - Throws: ``CheckpointError`` (missing key, wrong shape or dtype, non-finite values, unknown neuron kind).
    init(graph: LayerGraph, config: ModelConfig, store: inout ParameterStore) throws {
        let eps = config.batchNormEps
        var weights: [Weights] = []
        let position = Dictionary(uniqueKeysWithValues: graph.layers.enumerated().map { ($1.name, $0) })
        for l in graph.layers {
            func bn(_ name: String) -> String { (name.hasSuffix("_conv") ? String(name.dropLast(5)) : name) + "_bn" }
            switch l.kind {
            case .input, .maxPool3x3s2, .attention, .add:
                weights.append(.none)
            case let .tokenEmbedding(kind, _):
                precondition(kind == config.text.embedding.kind)
                weights.append(.embedding(try TextEmbedding(config: config.text, store: &store, prefix: l.name + ".")))
            case let .conv3x3(cin, cout):
                let w = try store.take(l.name + ".weight", [cout, cin, 3, 3])
                let f = try store.batchNorm(bn(l.name), channels: cout, eps: eps).fold(weight: w, bias: nil, outChannels: cout)
                weights.append(.conv(Conv3x3(weight: f.weight, bias: f.bias, inChannels: cin, outChannels: cout, winograd: true)))
            case let .pointwise(cin, cout, kernel, hasBias):
                let w = try store.take(l.name + ".weight", kernel)
                let b = hasBias ? try store.take(l.name + ".bias", [cout]) : nil
                let f = try store.batchNorm(bn(l.name), channels: cout, eps: eps).fold(weight: w, bias: b, outChannels: cout)
                weights.append(.pointwise(PointwiseConv(dense: DenseWeights(weight: f.weight, bias: f.bias, outFeatures: cout, inFeatures: cin))))
            case let .linear(i, o), let .projection(i, o):
                weights.append(.dense(DenseWeights(weight: try store.take(l.name + ".weight", [o, i]),
                                                   bias: try store.take(l.name + ".bias", [o]), outFeatures: o, inFeatures: i)))
            case let .neuron(spec):
                weights.append(.neuron(try NeuronModels.make(spec, layer: l.name, store: &store)))
            case let .readout(_, key):
                weights.append(.timeWeights(try store.take(key, [1, graph.steps, 1])))
            }
        }
        let inputs = graph.layers.map { $0.inputs.map { position[$0]! } }
        var last = Array(graph.layers.indices)
        var readers = [Int](repeating: 0, count: graph.layers.count)
        for (i, ins) in inputs.enumerated() { for j in ins { last[j] = max(last[j], i); readers[j] += 1 } }
        self.readers = readers
        self.graph = graph
        self.weights = weights
        self.inputIndices = inputs
        self.lastUse = last
    }

    /// The neuron model of layer `i`.
    func neuron(_ i: Int) -> (any NeuronModel)? { if case let .neuron(n) = weights[i] { return n } else { return nil } }

    /// Per neuron layer (by index): the threshold multiplier and output overrides `interventions` asks for.
    /// - Throws: ``InterventionError`` for a target the layer does not have.
    func plans(_ interventions: InterventionSet, heads: Int?) throws -> [Int: (scale: Float, overrides: [(indices: [Int], value: Float)])] {
        var out: [Int: (scale: Float, overrides: [(indices: [Int], value: Float)])] = [:]
        guard !interventions.interventions.isEmpty else { return out }
        // A name of this encoder must exist in it; one of the other encoder is that encoder's business.
        let names = Set(graph.neuronLayers.map(\.name))
        let own = graph.layers.first.map { String($0.name.prefix { $0 != "." }) + "." } ?? ""
        for iv in interventions.interventions where iv.layer != "*" {
            let known = ["vision.", "text."].contains { iv.layer.hasPrefix($0) }
            if !known || (iv.layer.hasPrefix(own) && !names.contains(iv.layer)) { throw InterventionError.unknownLayer(iv.layer) }
        }
        for (i, l) in graph.layers.enumerated() where l.neuron != nil {
            let p = try interventions.plan(layer: l.name, shape: l.shape, heads: l.name.hasPrefix("vision.block.") ? heads : nil)
            if p.scale != 1 || !p.overrides.isEmpty { out[i] = p }
        }
        return out
    }

    /// Runs every layer before the readout.
    /// - Parameters:
    ///   - input: the input layer's values for one step `[B, ...]` (pixels, or embedded tokens `[P, L*E]`), repeated
    ///     over the `T` steps (direct coding).
    ///   - batch: `B` (images or prompts).
    /// - Returns: per-step features `[T, B, F]` (the readout's input averaged over its positions) and the recording.
    ///   - plans: interventions per neuron layer (``plans(_:heads:)``).
    func run(input: [Float], batch b: Int, mode: KernelMode, options: RecordingOptions,
             plans: [Int: (scale: Float, overrides: [(indices: [Int], value: Float)])] = [:]) -> (stepFeatures: [Float], recording: Recording) {
        let t = graph.steps, frames = t * b
        var values = [[Float]?](repeating: nil, count: graph.layers.count)
        // Event counts and lists of spike buffers that several 1x1 layers read (q, k, v), freed with the buffer.
        var shared: [Int: SharedEvents] = [:]
        var rec = Recording()
        var features: [Float] = []
        for (i, l) in graph.layers.enumerated() {
            let ins = inputIndices[i]
            func x(_ k: Int = 0) -> [Float] { values[ins[k]]! }
            func isSpikes(_ k: Int = 0) -> Bool { graph.layers[ins[k]].neuron != nil }
            func inputShape(_ k: Int = 0) -> [Int] { graph.layers[ins[k]].shape }
            var out: [Float] = []
            switch (l.kind, weights[i]) {
            case (.input, _), (.tokenEmbedding, _):
                out.reserveCapacity(t * input.count)
                for _ in 0..<t { out += input }
            case let (.conv3x3, .conv(conv)):
                let s = inputShape()
                if case .input = graph.layers[ins[0]].kind, t > 1 {
                    // Direct coding repeats the image at every step, so the first conv's output is the same at every
                    // step: computed for the B frames of one step and repeated (exact; the official code recomputes it).
                    let once = conv.apply(input, frames: b, height: s[1], width: s[2], mode: mode, binary: false)
                    out.reserveCapacity(t * once.count)
                    for _ in 0..<t { out += once }
                } else {
                    out = conv.apply(x(), frames: frames, height: s[1], width: s[2], mode: mode, binary: isSpikes())
                }
            case (.maxPool3x3s2, _):
                let s = inputShape()
                out = maxPool3x3s2(x(), frames: frames, channels: s[0], height: s[1], width: s[2]).values
            case let (.neuron, .neuron(model)):
                let plan = plans[i]
                let m = plan.map { $0.scale == 1 ? model : model.scalingThreshold(by: $0.scale) } ?? model
                out = recordedNeurons(x(), name: l.name, shape: [t, b] + l.shape, m, options: options,
                                      overrides: plan?.overrides ?? [], into: &rec)
            case let (.pointwise, .pointwise(conv)):
                var events: SharedEvents?
                if mode == .event && isSpikes() && readers[ins[0]] > 1 {
                    events = shared[ins[0]] ?? SharedEvents(x())
                    shared[ins[0]] = events
                }
                out = conv.apply(x(), frames: frames, positions: inputShape().dropFirst().reduce(1, *), mode: mode, binary: isSpikes(),
                                 shared: events)
            case let (.linear, .dense(dense)):
                out = dense.apply(x(), rows: frames, mode: mode, binary: isSpikes())
            case let (.attention(heads, scale), _):
                out = spikingAttention(q: x(0), k: x(1), v: x(2), frames: frames, channels: l.shape[0],
                                       tokens: l.shape.dropFirst().reduce(1, *), heads: heads, scale: scale, mode: mode)
            case (.add, _):
                out = x(0)
                addInPlace(&out, x(1))
            case let (.readout(positions, _), _):
                // Token mean per step: [T*B, F, N] -> [T, B, F].
                let f = l.shape[0], src = x()
                features = [Float](repeating: 0, count: frames * f)
                for r in 0..<(frames * f) {
                    var sum: Float = 0
                    for p in 0..<positions { sum += src[r * positions + p] }
                    features[r] = positions == 1 ? sum : sum / Float(positions)
                }
            default:
                break  // the projection runs in `readout`
            }
            values[i] = out
            for j in ins where lastUse[j] == i { values[j] = nil; shared[j] = nil }
            if case .readout = l.kind { break }
        }
        return (features, rec)
    }

    /// The readout after the first `steps` time steps: `sum_{t < steps} w[t] * stepFeatures[t]`, then the projection
    /// if the graph has one. `stepFeatures` `[T, B, F]`; returns `[B, target]`.
    func readout(stepFeatures: [Float], batch b: Int, steps: Int, mode: KernelMode) -> [Float] {
        guard let r = graph.layers.firstIndex(where: { if case .readout = $0.kind { return true } else { return false } }),
              case let .timeWeights(w) = weights[r] else { return [] }
        let f = graph.layers[r].shape[0]
        var pooled = [Float](repeating: 0, count: b * f)
        for step in 0..<min(steps, graph.steps) {
            for i in 0..<(b * f) { pooled[i] += stepFeatures[step * b * f + i] * w[step] }
        }
        if r + 1 < graph.layers.count, case let .dense(proj) = weights[r + 1] {
            return proj.apply(pooled, rows: b, mode: mode == .reference ? .reference : .blas, binary: false)
        }
        return pooled
    }
}

/// Spiking self-attention without softmax (SPEC 1.2): per head, `attn = q k^T` (spike counts), `y = attn v * scale`.
/// - Parameters: `q`, `k`, `v`: binary `[F, D, N]` with channel `c = head * D/h + d`.
/// - Returns: `y` `[F, D, N]` (same channel layout; exact integers times `scale`, 0.125 in SpikeCLIP).
/// `mode` `.event` runs ``sk_attention_bits`` (bit sets, popcount; frames across threads), `.blas` two SGEMMs per frame
/// and head, `.reference` plain loops; all give identical results (integer counts are exact in float).
func spikingAttention(q: [Float], k: [Float], v: [Float], frames: Int, channels: Int, tokens n: Int, heads: Int, scale: Float = 0.125,
                      mode: KernelMode = .reference) -> [Float] {
    let dh = channels / heads
    var y = [Float](repeating: 0, count: q.count)
    if mode == .event {
        y.withUnsafeMutableBufferPointer { yp in
            let out = UnsafeSendable(yp.baseAddress!)
            parallelRanges(frames, cost: frames * channels * n * n / 16) { range in
                for f in range {
                    let base = f * channels * n
                    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                        sk_attention_bits(qp.baseAddress! + base, kp.baseAddress! + base, vp.baseAddress! + base,
                                          Int32(channels), Int32(n), Int32(heads), scale, out.value + base)
                    } } }
                }
            }
        }
        return y
    }
    if mode == .blas {
        _ = openBLASSingleThreaded
        // Per frame and head, attn [N, N] = q_h^T k_h and y_h [dh, N] = v_h attn^T, as two SGEMMs (integer counts:
        // exact in float, so the same values as the loops below).
        y.withUnsafeMutableBufferPointer { yp in
            let out = UnsafeSendable(yp.baseAddress!)
            q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                let (qs, ks, vs) = (UnsafeSendable(qp.baseAddress!), UnsafeSendable(kp.baseAddress!), UnsafeSendable(vp.baseAddress!))
                parallelRanges(frames * heads, cost: frames * channels * n * n / 32) { range in
                    var attn = [Float](repeating: 0, count: n * n)
                    attn.withUnsafeMutableBufferPointer { ap in
                        for job in range {
                            let off = (job / heads) * channels * n + (job % heads) * dh * n
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(dh), 1,
                                        qs.value + off, Int32(n), ks.value + off, Int32(n), 0, ap.baseAddress!, Int32(n))
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(dh), Int32(n), Int32(n), scale,
                                        vs.value + off, Int32(n), ap.baseAddress!, Int32(n), 0, out.value + off, Int32(n))
                        }
                    }
                }
            } } }
        }
        return y
    }
    var attn = [Float](repeating: 0, count: n * n)
    for f in 0..<frames {
        let base = f * channels * n
        for head in 0..<heads {
            for i in 0..<attn.count { attn[i] = 0 }
            for dd in 0..<dh {
                let row = base + (head * dh + dd) * n
                for i in 0..<n where q[row + i] != 0 {
                    for j in 0..<n where k[row + j] != 0 { attn[i * n + j] += 1 }
                }
            }
            for dd in 0..<dh {
                let row = base + (head * dh + dd) * n
                for i in 0..<n {
                    var acc: Float = 0
                    for j in 0..<n where v[row + j] != 0 { acc += attn[i * n + j] }
                    y[row + i] = acc * scale
                }
            }
        }
    }
    return y
}

/// Runs a neuron layer and records it per `options`.
/// - Parameters: `x` input currents with total shape `shape` `[T, B, ...]`; `overrides`: output spikes forced to a
///   value (0 silence, 1 force) at flat per-item indices, every step and item (the membranes are not changed).
/// - Returns: spikes as 0/1 floats in the same layout.
func recordedNeurons(
    _ x: [Float], name: String, shape: [Int], _ model: any NeuronModel, options: RecordingOptions,
    overrides: [(indices: [Int], value: Float)] = [], into recording: inout Recording
) -> [Float] {
    let steps = shape[0]
    let n = x.count / steps
    let wanted = (options.membrane[name] ?? []).filter { $0 >= 0 && $0 < n }
    var (spikes, traces) = model.simulate(x, steps: steps, neurons: n, traceNeurons: wanted)
    if !overrides.isEmpty {
        let perItem = shape.dropFirst(2).reduce(1, *), items = n / max(1, perItem)
        for t in 0..<steps {
            for item in 0..<items {
                let base = t * n + item * perItem
                for o in overrides { for j in o.indices { spikes[base + j] = o.value } }
            }
        }
    }
    if options.spikes || !wanted.isEmpty {
        var membrane: [Int: [Float]] = [:]
        for (j, neuron) in wanted.enumerated() {
            membrane[neuron] = (0..<steps).map { traces[$0 * wanted.count + j] }
        }
        recording.append(
            LayerRecording(
                name: name, shape: shape, threshold: model.vThreshold,
                spikes: options.spikes ? SpikeBits(floats: spikes) : SpikeBits([UInt8]()), membrane: membrane))
    }
    return spikes
}
