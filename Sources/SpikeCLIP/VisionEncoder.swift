/// Errors from running a model on bad input (not from loading it).
public enum InputError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Pixel buffer size differs from `B * C * H * W` of the checkpoint.
    case wrongImageSize(expected: [Int], count: Int)
    /// A token-id row is not `L` long.
    case wrongTokenCount(row: Int, expected: Int, actual: Int)
    /// A token id is outside the embedding table.
    case tokenOutOfRange(row: Int, position: Int, id: Int, vocabSize: Int)

    public var description: String {
        switch self {
        case let .wrongImageSize(expected, count):
            return "image tensor has \(count) values, the model expects shape \(expected)"
        case let .wrongTokenCount(row, expected, actual):
            return "prompt \(row) has \(actual) token ids, the model expects L = \(expected)"
        case let .tokenOutOfRange(row, position, id, vocab):
            return "prompt \(row), position \(position): token id \(id) outside the vocabulary of \(vocab)"
        }
    }
}

/// The spiking image encoder (SPEC 1.2; official `Vision_Encoder`, Spikingformer-style), BatchNorm folded at load.
///
/// Input `[B, C, H, W]` is repeated over `T` steps (direct coding). The conv tokenizer (`patch_embed`) gives real-valued
/// tokens `[T, B, D, N]`, `N = H*W/16`; `depths` spiking transformer blocks follow; the readout is the mean over tokens,
/// a weighted sum over time with `weights_tensor` (raw multipliers), and `proj`.
public struct SpikingVisionEncoder: Sendable {
    public let config: ModelConfig
    let tokenizer: [Conv3x3]
    let blocks: [Block]
    let timeWeights: [Float]
    let proj: DenseWeights
    let lif: LIFParameters
    let attnLIF: LIFParameters

    struct Block: Sendable {
        let q: PointwiseConv, k: PointwiseConv, v: PointwiseConv, proj: PointwiseConv
        let mlp1: PointwiseConv, mlp2: PointwiseConv
    }

    /// Channel widths of the tokenizer convs: C_in -> D/8 -> D/4 -> D/2 -> D -> D.
    static func tokenizerChannels(inChannels: Int, d: Int) -> [(Int, Int)] {
        [(inChannels, d / 8), (d / 8, d / 4), (d / 4, d / 2), (d / 2, d), (d, d)]
    }

    init(config: ModelConfig, store: inout ParameterStore, prefix: String) throws {
        let v = config.vision
        let d = v.embedDims, dh = v.hiddenDims, eps = config.batchNormEps
        self.config = config
        var convs: [Conv3x3] = []
        for (j, (cin, cout)) in Self.tokenizerChannels(inChannels: v.inChannels, d: d).enumerated() {
            let w = try store.take("\(prefix)patch_embed.block\(j)_conv.weight", [cout, cin, 3, 3])
            let bn = try store.batchNorm("\(prefix)patch_embed.block\(j)_bn", channels: cout, eps: eps)
            let f = bn.fold(weight: w, bias: nil, outChannels: cout)
            convs.append(Conv3x3(weight: f.weight, bias: f.bias, inChannels: cin, outChannels: cout))
        }
        self.tokenizer = convs
        func pointwise(_ p: String, _ out: Int, _ inp: Int, shape: [Int], bias: Bool) throws -> PointwiseConv {
            let w = try store.take(p + "_conv.weight", shape)
            let b = bias ? try store.take(p + "_conv.bias", [out]) : nil
            let bn = try store.batchNorm(p + "_bn", channels: out, eps: eps)
            let f = bn.fold(weight: w, bias: b, outChannels: out)
            return PointwiseConv(dense: DenseWeights(weight: f.weight, bias: f.bias, outFeatures: out, inFeatures: inp))
        }
        var blocks: [Block] = []
        for i in 0..<v.depths {
            let a = "\(prefix)block.\(i).attn.", m = "\(prefix)block.\(i).mlp."
            blocks.append(
                Block(
                    q: try pointwise(a + "q", d, d, shape: [d, d, 1], bias: false),
                    k: try pointwise(a + "k", d, d, shape: [d, d, 1], bias: false),
                    v: try pointwise(a + "v", d, d, shape: [d, d, 1], bias: false),
                    proj: try pointwise(a + "proj", d, d, shape: [d, d, 1], bias: true),
                    mlp1: try pointwise(m + "mlp1", dh, d, shape: [dh, d, 1, 1], bias: true),
                    mlp2: try pointwise(m + "mlp2", d, dh, shape: [d, dh, 1, 1], bias: true)))
        }
        self.blocks = blocks
        self.timeWeights = try store.take("\(prefix)weights_tensor", [1, config.T, 1])
        self.proj = DenseWeights(
            weight: try store.take("\(prefix)proj.weight", [v.targetDim, d]),
            bias: try store.take("\(prefix)proj.bias", [v.targetDim]), outFeatures: v.targetDim, inFeatures: d)
        self.lif = LIFParameters(tau: Float(config.lif.tau), vThreshold: Float(config.lif.vThreshold), vReset: Float(config.lif.vReset))
        self.attnLIF = LIFParameters(tau: Float(config.lif.tau), vThreshold: Float(config.lif.attnVThreshold), vReset: Float(config.lif.vReset))
    }

    /// Names of every LIF layer, in forward order (docs/CHECKPOINT.md).
    public var lifLayerNames: [String] {
        var names = (1...4).map { "vision.patch_embed.block\($0)_lif" }
        for i in 0..<blocks.count {
            names += ["proj_lif", "q_lif", "k_lif", "v_lif", "attn_lif"].map { "vision.block.\(i).attn.\($0)" }
            names += ["mlp1_lif", "mlp2_lif"].map { "vision.block.\(i).mlp.\($0)" }
        }
        return names
    }

    /// Runs the encoder.
    /// - Parameters:
    ///   - pixels: preprocessed images `[B, C, H, W]`, row-major.
    ///   - batch: `B`.
    ///   - mode: which kernels compute the products.
    ///   - options: what to record.
    /// - Returns: image embeddings `[B, target_dim]` (not normalised) and the recording.
    /// - Throws: ``InputError/wrongImageSize(expected:count:)``.
    public func forward(pixels: [Float], batch b: Int, mode: KernelMode = .blas, options: RecordingOptions = RecordingOptions())
        throws -> (embedding: [Float], recording: Recording)
    {
        let r = try forwardDetailed(pixels: pixels, batch: b, mode: mode, options: options)
        return (r.embedding, r.recording)
    }

    /// One forward pass with everything the explorer shows.
    public struct Output: Sendable {
        /// Image embeddings `[B, target_dim]` (not normalised).
        public let embedding: [Float]
        public let recording: Recording
        /// Token-mean features per step `[T, B, D]`, before the time weighting.
        public let stepFeatures: [Float]
    }

    /// Like ``forward(pixels:batch:mode:options:)`` but also returns the per-step features for anytime readouts.
    public func forwardDetailed(pixels: [Float], batch b: Int, mode: KernelMode = .blas, options: RecordingOptions = RecordingOptions())
        throws -> Output
    {
        let v = config.vision, t = config.T
        let c = v.inChannels, h = v.imageSize[0], w = v.imageSize[1], d = v.embedDims
        guard pixels.count == b * c * h * w, b > 0 else { throw InputError.wrongImageSize(expected: [b, c, h, w], count: pixels.count) }
        var rec = Recording()
        let frames = t * b
        // Direct coding: the same image at every step, [T, B, C, H, W].
        var x = [Float](); x.reserveCapacity(frames * c * h * w)
        for _ in 0..<t { x += pixels }

        // Tokenizer (patch_embed).
        x = tokenizer[0].apply(x, frames: frames, height: h, width: w, mode: mode, binary: false)
        x = recordedLIF(x, name: "vision.patch_embed.block1_lif", shape: [t, b, d / 8, h, w], lif, options: options, into: &rec)
        x = tokenizer[1].apply(x, frames: frames, height: h, width: w, mode: mode, binary: true)
        x = recordedLIF(x, name: "vision.patch_embed.block2_lif", shape: [t, b, d / 4, h, w], lif, options: options, into: &rec)
        x = tokenizer[2].apply(x, frames: frames, height: h, width: w, mode: mode, binary: true)
        let p3 = maxPool3x3s2(x, frames: frames, channels: d / 2, height: h, width: w)
        x = recordedLIF(p3.values, name: "vision.patch_embed.block3_lif", shape: [t, b, d / 2, p3.height, p3.width], lif, options: options, into: &rec)
        x = tokenizer[3].apply(x, frames: frames, height: p3.height, width: p3.width, mode: mode, binary: true)
        let p4 = maxPool3x3s2(x, frames: frames, channels: d, height: p3.height, width: p3.width)
        x = recordedLIF(p4.values, name: "vision.patch_embed.block4_lif", shape: [t, b, d, p4.height, p4.width], lif, options: options, into: &rec)
        x = tokenizer[4].apply(x, frames: frames, height: p4.height, width: p4.width, mode: mode, binary: true)
        let (gh, gw) = (p4.height, p4.width)
        let n = gh * gw

        // Spiking transformer blocks on the real-valued residual stream [T*B, D, N].
        for (i, block) in blocks.enumerated() {
            let a = "vision.block.\(i).attn.", m = "vision.block.\(i).mlp."
            let s = recordedLIF(x, name: a + "proj_lif", shape: [t, b, d, gh, gw], lif, options: options, into: &rec)
            let q = recordedLIF(block.q.apply(s, frames: frames, positions: n, mode: mode, binary: true),
                                name: a + "q_lif", shape: [t, b, d, n], lif, options: options, into: &rec)
            let k = recordedLIF(block.k.apply(s, frames: frames, positions: n, mode: mode, binary: true),
                                name: a + "k_lif", shape: [t, b, d, n], lif, options: options, into: &rec)
            let vv = recordedLIF(block.v.apply(s, frames: frames, positions: n, mode: mode, binary: true),
                                 name: a + "v_lif", shape: [t, b, d, n], lif, options: options, into: &rec)
            let y = spikingAttention(q: q, k: k, v: vv, frames: frames, channels: d, tokens: n, heads: v.numHeads)
            let sa = recordedLIF(y, name: a + "attn_lif", shape: [t, b, d, n], attnLIF, options: options, into: &rec)
            let o = block.proj.apply(sa, frames: frames, positions: n, mode: mode, binary: true)
            for j in 0..<x.count { x[j] += o[j] }
            let m1 = recordedLIF(x, name: m + "mlp1_lif", shape: [t, b, d, gh, gw], lif, options: options, into: &rec)
            let hid = block.mlp1.apply(m1, frames: frames, positions: n, mode: mode, binary: true)
            let m2 = recordedLIF(hid, name: m + "mlp2_lif", shape: [t, b, v.hiddenDims, gh, gw], lif, options: options, into: &rec)
            let o2 = block.mlp2.apply(m2, frames: frames, positions: n, mode: mode, binary: true)
            for j in 0..<x.count { x[j] += o2[j] }
        }

        // Readout: mean over tokens [T, B, D], weighted sum over time [B, D], proj [B, target].
        var stepFeatures = [Float](repeating: 0, count: t * b * d)
        for step in 0..<t {
            for item in 0..<b {
                for ch in 0..<d {
                    let base = ((step * b + item) * d + ch) * n
                    var sum: Float = 0
                    for p in 0..<n { sum += x[base + p] }
                    stepFeatures[(step * b + item) * d + ch] = sum / Float(n)
                }
            }
        }
        let embedding = readout(stepFeatures: stepFeatures, batch: b, steps: t, mode: mode)
        return Output(embedding: embedding, recording: rec, stepFeatures: stepFeatures)
    }

    /// The readout after the first `steps` time steps: `proj(sum_{t < steps} w[t] * features[t])`.
    /// - Parameters: `stepFeatures` `[T, B, D]` from ``forwardDetailed(pixels:batch:mode:options:)``; `steps` in `1...T`.
    /// - Returns: `[B, target_dim]`. With `steps == T` this is the model's embedding ("anytime" readout otherwise).
    public func readout(stepFeatures: [Float], batch b: Int, steps: Int, mode: KernelMode = .blas) -> [Float] {
        let d = config.vision.embedDims
        var pooled = [Float](repeating: 0, count: b * d)
        for step in 0..<min(steps, config.T) {
            for i in 0..<(b * d) { pooled[i] += stepFeatures[step * b * d + i] * timeWeights[step] }
        }
        return proj.apply(pooled, rows: b, mode: mode == .reference ? .reference : .blas, binary: false)
    }
}

/// Spiking self-attention without softmax (SPEC 1.2): per head, `attn = q k^T` (spike counts), `y = attn v * 0.125`.
/// - Parameters: `q`, `k`, `v`: binary `[F, D, N]` with channel `c = head * D/h + d`.
/// - Returns: `y` `[F, D, N]` (same channel layout; exact integers times 0.125).
func spikingAttention(q: [Float], k: [Float], v: [Float], frames: Int, channels: Int, tokens n: Int, heads: Int) -> [Float] {
    let dh = channels / heads
    var y = [Float](repeating: 0, count: q.count)
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
                    y[row + i] = acc * 0.125
                }
            }
        }
    }
    return y
}
