/// Energy per operation, in picojoules. Every constant an energy figure depends on is here and shown with it.
///
/// Defaults: 45 nm CMOS, 32-bit floating point (Horowitz, "Computing's energy problem", ISSCC 2014), the figures used by
/// Spikformer, Spikingformer and SpikeCLIP: a multiply-accumulate 4.6 pJ (3.7 pJ multiply + 0.9 pJ add), an accumulate 0.9 pJ.
public struct EnergyConstants: Sendable, Equatable, Codable {
    /// One multiply-accumulate on real values (pJ).
    public var macPJ: Double
    /// One accumulate triggered by a spike (pJ).
    public var acPJ: Double
    /// One real-valued add or compare, outside the paper's count (residual adds, biases, pooling, max-pool compares) (pJ).
    public var addPJ: Double
    /// One real-valued multiply outside a MAC (the attention scale 0.125) (pJ).
    public var multiplyPJ: Double
    /// One LIF neuron update for one time step (pJ): charge `h = v + (x - v) / tau` is two adds and one multiply,
    /// the threshold compare one add: 3.7 + 3 x 0.9 = 6.4 pJ by default.
    public var neuronUpdatePJ: Double
    /// Where the numbers come from.
    public var source: String

    public init(macPJ: Double, acPJ: Double, addPJ: Double, multiplyPJ: Double, neuronUpdatePJ: Double, source: String) {
        self.macPJ = macPJ
        self.acPJ = acPJ
        self.addPJ = addPJ
        self.multiplyPJ = multiplyPJ
        self.neuronUpdatePJ = neuronUpdatePJ
        self.source = source
    }

    /// Horowitz ISSCC 2014, 45 nm, FP32.
    public static let horowitz45nm = EnergyConstants(
        macPJ: 4.6, acPJ: 0.9, addPJ: 0.9, multiplyPJ: 3.7, neuronUpdatePJ: 3.7 + 3 * 0.9,
        source: "Horowitz ISSCC 2014, 45 nm, FP32: MAC 4.6 pJ, AC/add 0.9 pJ, multiply 3.7 pJ, LIF update 6.4 pJ")
}

/// Which operations an energy figure counts.
public enum EnergyConvention: String, Sendable, CaseIterable, Codable {
    /// The paper convention (Spikformer, Spikingformer, SpikeCLIP): `E = 4.6 pJ x MACs + 0.9 pJ x ACs`.
    case paper
    /// Paper convention plus neuron-state updates (every LIF neuron, every step), residual adds, biases, pooling,
    /// max-pool compares, the attention scale and the time-weighted readout. Memory traffic is not included.
    case fuller

    public var title: String {
        switch self {
        case .paper: return "paper convention (4.6 pJ x MAC + 0.9 pJ x AC)"
        case .fuller: return "fuller estimate (paper + neuron updates, adds, pooling; no memory traffic)"
        }
    }
}

/// Operation counts of one layer (or one step of bookkeeping) for one input, per time step.
public struct LayerOps: Sendable, Equatable, Codable {
    /// Module path, e.g. `vision.patch_embed.block1_conv`, `vision.block.0.attn.qk` (the `q @ k^T` product).
    public let name: String
    /// Multiply-accumulates on real-valued input, `[T]` (`[1]` for the ANN).
    public var macs: [Double]
    /// Accumulates, one per delivered spike and target, `[T]`.
    public var acs: [Double]
    /// LIF neuron updates, `[T]` (fuller estimate only).
    public var neuronUpdates: [Double]
    /// Real-valued adds and compares, `[T]` (fuller estimate only).
    public var adds: [Double]
    /// Real-valued multiplies outside MACs, `[T]` (fuller estimate only).
    public var multiplies: [Double]

    init(name: String, steps: Int) {
        self.name = name
        macs = Array(repeating: 0, count: steps)
        acs = macs; neuronUpdates = macs; adds = macs; multiplies = macs
    }

    /// Energy at step `t` (pJ).
    public func energyPJ(step t: Int, _ convention: EnergyConvention, _ c: EnergyConstants) -> Double {
        let paper = macs[t] * c.macPJ + acs[t] * c.acPJ
        guard convention == .fuller else { return paper }
        return paper + neuronUpdates[t] * c.neuronUpdatePJ + adds[t] * c.addPJ + multiplies[t] * c.multiplyPJ
    }

    /// Energy over all steps (pJ).
    public func energyPJ(_ convention: EnergyConvention, _ c: EnergyConstants) -> Double {
        (0..<macs.count).reduce(0) { $0 + energyPJ(step: $1, convention, c) }
    }

    public var totalMACs: Double { macs.reduce(0, +) }
    public var totalACs: Double { acs.reduce(0, +) }
}

/// Energy of one input through one encoder: per-layer, per-step operation counts and the constants used.
public struct EnergyReport: Sendable, Equatable, Codable {
    public let layers: [LayerOps]
    public let constants: EnergyConstants
    /// Time steps (1 for the ANN).
    public let steps: Int

    /// Total energy (pJ).
    public func totalPJ(_ convention: EnergyConvention) -> Double {
        layers.reduce(0) { $0 + $1.energyPJ(convention, constants) }
    }

    /// Energy at step `t` summed over layers (pJ).
    public func stepPJ(_ t: Int, _ convention: EnergyConvention) -> Double {
        layers.reduce(0) { $0 + $1.energyPJ(step: t, convention, constants) }
    }

    public var totalMACs: Double { layers.reduce(0) { $0 + $1.totalMACs } }
    public var totalACs: Double { layers.reduce(0) { $0 + $1.totalACs } }

    /// The layer named `name`.
    public subscript(name: String) -> LayerOps? { layers.first { $0.name == name } }
}

/// Why an energy report could not be computed.
public enum EnergyError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The recording lacks a LIF layer's spikes (record with `RecordingOptions(spikes: true)`).
    case missingLayer(String)
    /// The batch item or prompt index is outside the recording.
    case itemOutOfRange(index: Int, count: Int)

    public var description: String {
        switch self {
        case let .missingLayer(name): return "energy needs the spikes of '\(name)', which were not recorded"
        case let .itemOutOfRange(index, count): return "item \(index) is outside the recorded batch of \(count)"
        }
    }
}

/// Number of outputs one input position reaches along one axis in a 3x3, stride-1, padding-1 convolution.
@inline(__always)
func conv3Reach(_ i: Int, _ size: Int) -> Int { min(i + 1, size - 1) - max(i - 1, 0) + 1 }

/// Dense multiply-accumulates of a 3x3/stride 1/pad 1 conv over an `h x w` map (padding taps not counted).
func conv3DenseMACs(inChannels: Int, outChannels: Int, height h: Int, width w: Int) -> Double {
    var taps = 0
    for y in 0..<h { for x in 0..<w { taps += conv3Reach(y, h) * conv3Reach(x, w) } }
    return Double(inChannels * outChannels * taps)
}

/// Energy accounting (SPEC section 4), computed from recorded spikes.
public enum EnergyAccounting {
    /// The spiking image encoder's operations for batch item `item` (``LayerGraph/spikingVision(_:)``, walked by ``walk``).
    /// - Throws: ``EnergyError`` if a needed layer was not recorded or `item` is out of range.
    public static func vision(_ rec: Recording, config: ModelConfig, item b: Int, constants: EnergyConstants = .horowitz45nm) throws -> EnergyReport {
        try walk(.spikingVision(config), rec, item: b, constants: constants)
    }

    /// The spiking text encoder's operations for prompt `p` (``LayerGraph/spikingText(_:)``). The embedding lookup costs
    /// nothing in the paper convention (its LayerNorm, for `bert`, is counted in the fuller estimate).
    /// - Throws: ``EnergyError``.
    public static func text(_ rec: Recording, config: ModelConfig, prompt p: Int, constants: EnergyConstants = .horowitz45nm) throws -> EnergyReport {
        try walk(.spikingText(config), rec, item: p, constants: constants)
    }

    /// The operations of batch item `b` through `graph`, one row per layer in forward order (attention gives two:
    /// `qk` and `av`), per time step, counted from the recorded spikes of the neuron layers that feed each layer.
    ///
    /// MACs: layers fed by real values (`block0_conv` sees the image at each step; the readout `proj` runs once, counted
    /// at the last step). ACs: layers fed by spikes, spikes x fan-out (3x3 convs: output channels x positions reached,
    /// border-exact; 1x1 convs and linears: output channels); `q @ k^T`: the products with both spikes 1
    /// (`sum_d count_q[d] * count_k[d]` per head); `attn @ v`: for each nonzero `attn[i, j]`, one accumulate per spike
    /// of `v[j, :]` in that head. Fuller estimate only: neuron updates (every neuron, every step), biases, max-pool
    /// compares (8 per output), residual adds, the attention scale, the token mean and time weighting, the embedding.
    /// - Parameter steps: count only the first `steps` time steps (a pass stopped early, issue 17; the projection is
    ///   then counted at step `steps - 1`); nil or more than `T`: all `T`.
    /// - Throws: ``EnergyError`` if a neuron layer whose spikes are needed was not recorded, or `b` is out of range.
    public static func walk(_ graph: LayerGraph, _ rec: Recording, item b: Int, constants: EnergyConstants = .horowitz45nm,
                            steps: Int? = nil) throws -> EnergyReport {
        let t = max(1, min(steps ?? graph.steps, graph.steps))
        func spikes(_ name: String) throws -> LayerRecording {
            guard let l = rec[name], !l.spikes.isEmpty else { throw EnergyError.missingLayer(name) }
            guard b >= 0 && b < l.shape[1] else { throw EnergyError.itemOutOfRange(index: b, count: l.shape[1]) }
            return l
        }
        func fedBySpikes(_ l: LayerSpec, _ k: Int = 0) -> Bool { graph[l.inputs[k]]?.neuron != nil }
        var ops: [LayerOps] = []
        for l in graph.layers {
            var o = LayerOps(name: l.name, steps: t)
            let positions = l.shape.dropFirst().reduce(1, *)
            switch l.kind {
            case .input:
                continue
            case let .tokenEmbedding(kind, signed):
                // The lookup, sums and LayerNorm run on L*E values; the negated copy of a signed input is free.
                let elements = Double(l.elements) / (signed ? 2 : 1)
                o.adds[0] = elements * (kind == "bert" ? 2 : 1)
                if kind == "bert" { o.multiplies[0] = 2 * elements }
            case let .conv3x3(cin, cout):
                let (h, w) = (l.shape[1], l.shape[2])
                if fedBySpikes(l) {
                    let input = try spikes(l.inputs[0])
                    for s in 0..<t {
                        // Each input spike reaches the outputs of the 3x3 taps inside the map (9, 6 at an edge, 4 at a corner).
                        var delivered = 0
                        let plane = h * w
                        input.spikes(step: s, item: b).forEachOne { i in
                            let p = i % plane
                            delivered += conv3Reach(p / w, h) * conv3Reach(p % w, w)
                        }
                        o.acs[s] = Double(delivered * cout)
                    }
                } else {
                    let macs = conv3DenseMACs(inChannels: cin, outChannels: cout, height: h, width: w)
                    for s in 0..<t { o.macs[s] = macs }
                }
                for s in 0..<t { o.adds[s] = Double(cout * h * w) }  // the folded BatchNorm bias
            case .maxPool3x3s2:
                for s in 0..<t { o.adds[s] = Double(l.elements * 8) }
            case .neuron:
                for s in 0..<t { o.neuronUpdates[s] = Double(l.elements) }
            case let .pointwise(cin, cout, _, _), let .linear(cin, cout):
                if fedBySpikes(l) {
                    let input = try spikes(l.inputs[0])
                    for s in 0..<t { o.acs[s] = Double(input.spikeCount(step: s, item: b) * cout) }
                } else {
                    for s in 0..<t { o.macs[s] = Double(cin * cout * positions) }
                }
                for s in 0..<t { o.adds[s] = Double(cout * positions) }
            case let .attention(heads, _):
                let prefix = l.name.split(separator: ".").dropLast().joined(separator: ".") + "."
                let (q, k, v) = (try spikes(l.inputs[0]), try spikes(l.inputs[1]), try spikes(l.inputs[2]))
                var qk = LayerOps(name: prefix + "qk", steps: t), av = LayerOps(name: prefix + "av", steps: t)
                for s in 0..<t {
                    let counts = attentionAccumulates(q: q.spikes(step: s, item: b), k: k.spikes(step: s, item: b), v: v.spikes(step: s, item: b),
                                                      channels: l.shape[0], tokens: positions, heads: heads)
                    qk.acs[s] = Double(counts.qk)
                    av.acs[s] = Double(counts.av)
                    av.multiplies[s] = Double(l.elements)  // the scale
                }
                ops += [qk, av]
                continue
            case .add:
                for s in 0..<t { o.adds[s] = Double(l.elements) }
            case let .readout(n, _):
                let f = Double(l.shape[0])
                for s in 0..<t { o.adds[s] = f * Double(n); o.multiplies[s] = f * (n > 1 ? 2 : 1) }
            case let .projection(i, out):
                o.macs[t - 1] = Double(i * out)
                o.adds[t - 1] = Double(out)
            }
            ops.append(o)
        }
        return EnergyReport(layers: ops, constants: constants, steps: t)
    }

    /// Accumulates of one step of spiking self-attention: `q @ k^T` (products with both spikes 1) and `attn @ v`
    /// (for each nonzero `attn[i, j]`, the spikes of `v[j, :]` in that head). Inputs `[D, N]` binary, channel-major.
    static func attentionAccumulates(q qs: Slice<SpikeBits>, k ks: Slice<SpikeBits>, v vs: Slice<SpikeBits>,
                                     channels d: Int, tokens n: Int, heads: Int) -> (qk: Int, av: Int) {
        let hd = d / heads
        var qkCount = 0, avCount = 0
        let words = (hd + 63) / 64
        var qMask = [UInt64](repeating: 0, count: n * words), kMask = qMask
        var vCount = [Int](repeating: 0, count: n)
        let (q, k, v) = (qs.base, ks.base, vs.base)
        for head in 0..<heads {
            // Per channel counts for q @ k^T; per token bit sets of active channels for the nonzero pattern of attn.
            for i in 0..<qMask.count { qMask[i] = 0; kMask[i] = 0 }
            for i in 0..<n { vCount[i] = 0 }
            for e in 0..<hd {
                let row = (head * hd + e) * n
                let (word, bit) = (e / 64, UInt64(1) << UInt64(e % 64))
                let (rq, rk, rv) = (qs.startIndex + row, ks.startIndex + row, vs.startIndex + row)
                q.forEachOne(in: rq..<(rq + n)) { qMask[($0 - rq) * words + word] |= bit }
                k.forEachOne(in: rk..<(rk + n)) { kMask[($0 - rk) * words + word] |= bit }
                v.forEachOne(in: rv..<(rv + n)) { vCount[$0 - rv] += 1 }
                qkCount += q.ones(in: rq..<(rq + n)) * k.ones(in: rk..<(rk + n))
            }
            for ii in 0..<n {
                for jj in 0..<n where vCount[jj] > 0 {
                    var nonzero = false
                    for w in 0..<words where qMask[ii * words + w] & kMask[jj * words + w] != 0 { nonzero = true; break }
                    if nonzero { avCount += vCount[jj] }
                }
            }
        }
        return (qkCount, avCount)
    }

    /// The ANN twin's dense operations for one image (no spikes: everything is a MAC, attention and softmax included).
    /// Paper convention: 4.6 pJ x MACs. Counted as MACs: convs (padding taps excluded), q/k/v/out projections,
    /// `q k^T`, `attn v`, softmax (one per score), LayerNorm (two per element), QuickGELU (one per element), MLP, `proj`.
    /// Adds (fuller): residuals, biases, max-pool compares, mean pooling.
    /// - Returns: nil when the checkpoint has no twin.
    public static func annVision(config: ModelConfig, constants: EnergyConstants = .horowitz45nm) -> EnergyReport? {
        config.annVision.map { annVision(twin: $0, vision: config.vision, constants: constants) }
    }

    /// The twin `a` on the spiking encoder's input (`vision` gives channels and image size).
    public static func annVision(twin a: ModelConfig.ANNVisionConfig, vision v: ModelConfig.VisionConfig,
                                 constants: EnergyConstants = .horowitz45nm) -> EnergyReport {
        let d = a.embedDims, dh = a.hiddenDims, h = v.imageSize[0], w = v.imageSize[1]
        let n = Double((h / 4) * (w / 4)), dd = Double(d)
        var ops: [LayerOps] = []
        let shapes = LayerGraph.tokenizerChannels(inChannels: v.inChannels, d: d)
        let sizes = [(h, w), (h, w), (h, w), (h / 2, w / 2), (h / 4, w / 4)]
        for (j, ((cin, cout), (ch, cw))) in zip(shapes, sizes).enumerated() {
            var o = LayerOps(name: "ann_vision.embeddings.block\(j)_conv", steps: 1)
            o.macs[0] = conv3DenseMACs(inChannels: cin, outChannels: cout, height: ch, width: cw)
            o.adds[0] = Double(cout * ch * cw) + (j == 2 || j == 3 ? Double(cout * ((ch - 1) / 2 + 1) * ((cw - 1) / 2 + 1) * 8) : 0)
            ops.append(o)
        }
        var pre = LayerOps(name: "ann_vision.pre_layrnorm", steps: 1)
        pre.macs[0] = 2 * n * dd
        ops.append(pre)
        ops += transformerLayers(prefix: "ann_vision.encoder.layers.", width: a.embedDims, intermediate: dh, layers: a.depths,
                                 heads: a.numHeads, tokens: n)
        var post = LayerOps(name: "ann_vision.post_layernorm", steps: 1)
        post.macs[0] = 2 * dd
        post.adds[0] = n * dd
        var proj = LayerOps(name: "ann_vision.proj", steps: 1)
        proj.macs[0] = dd * Double(a.targetDim)
        proj.adds[0] = Double(a.targetDim)
        ops += [post, proj]
        return EnergyReport(layers: ops, constants: constants, steps: 1)
    }

    /// CLIP's image tower for one image, dense (issue 14: the ANN side of a converted official file), in the
    /// conventions of ``annVision(twin:vision:constants:)``: MACs for the patch embedding (`N_p * 3 P^2 * D`), LayerNorms
    /// (two per element), q/k/v/out projections, `q k^T`, softmax (one per score), `attn v`, the activation (one per
    /// element), the MLP and the projection; adds for positions, residuals and biases. `n = N_p + 1` tokens.
    public static func clipVision(_ c: CLIPConfig, constants: EnergyConstants = .horowitz45nm) -> EnergyReport {
        let t = c.vision
        let p = Double(c.gridSize * c.gridSize), n = p + 1, d = Double(t.hiddenSize)
        var embed = LayerOps(name: "clip.vision_model.embeddings", steps: 1)
        embed.macs[0] = p * Double(c.numChannels * c.patchSize * c.patchSize) * d
        embed.adds[0] = n * d
        var pre = LayerOps(name: "clip.vision_model.pre_layrnorm", steps: 1)
        pre.macs[0] = 2 * n * d
        var ops = [embed, pre] + transformerLayers(prefix: "clip.vision_model.encoder.layers.", width: t.hiddenSize, intermediate: t.intermediateSize,
                                                   layers: t.numHiddenLayers, heads: t.numAttentionHeads, tokens: n)
        var post = LayerOps(name: "clip.vision_model.post_layernorm", steps: 1)
        post.macs[0] = 2 * d
        var proj = LayerOps(name: "clip.visual_projection", steps: 1)
        proj.macs[0] = d * Double(c.projectionDim)
        ops += [post, proj]
        return EnergyReport(layers: ops, constants: constants, steps: 1)
    }

    /// CLIP's text tower for one prompt of `tokens` real tokens (start and end included), dense, as ``clipVision(_:constants:)``
    /// (the causal mask is applied to a full `n x n` score matrix, as transformers computes it).
    public static func clipText(_ c: CLIPConfig, tokens: Int, constants: EnergyConstants = .horowitz45nm) -> EnergyReport {
        let t = c.text
        let n = Double(max(1, tokens)), d = Double(t.hiddenSize)
        var embed = LayerOps(name: "clip.text_model.embeddings", steps: 1)
        embed.adds[0] = n * d
        var ops = [embed] + transformerLayers(prefix: "clip.text_model.encoder.layers.", width: t.hiddenSize, intermediate: t.intermediateSize,
                                              layers: t.numHiddenLayers, heads: t.numAttentionHeads, tokens: n)
        var post = LayerOps(name: "clip.text_model.final_layer_norm", steps: 1)
        post.macs[0] = 2 * n * d
        var proj = LayerOps(name: "clip.text_projection", steps: 1)
        proj.macs[0] = d * Double(c.projectionDim)
        ops += [post, proj]
        return EnergyReport(layers: ops, constants: constants, steps: 1)
    }

    /// Per layer of a pre-LN transformer tower (the ANN twin's, CLIP's) over `n` tokens: `self_attn` and `mlp` rows.
    static func transformerLayers(prefix: String, width: Int, intermediate: Int, layers: Int, heads: Int, tokens n: Double) -> [LayerOps] {
        let d = Double(width), i = Double(intermediate)
        var ops: [LayerOps] = []
        for layer in 0..<layers {
            var attn = LayerOps(name: "\(prefix)\(layer).self_attn", steps: 1)
            attn.macs[0] = 2 * n * d + 4 * n * d * d + 2 * n * n * d + Double(heads) * n * n
            attn.adds[0] = 4 * n * d + n * d
            var mlp = LayerOps(name: "\(prefix)\(layer).mlp", steps: 1)
            mlp.macs[0] = 2 * n * d + 2 * n * d * i + n * i
            mlp.adds[0] = n * i + n * d + n * d
            ops += [attn, mlp]
        }
        return ops
    }
}
