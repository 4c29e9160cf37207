import Foundation

/// The ANN twin "ScratchCLIP" (SPEC 1.4; official `CLIPv_encoder` / `CLIPVisionTransformer`), BatchNorm folded.
///
/// The conv tokenizer of the spiking encoder without neurons and without activation gives tokens `[B, N, D]`;
/// then `pre_layrnorm`, `depths` pre-LN transformer layers (softmax attention scaled by `head_dim^-0.5`, QuickGELU MLP),
/// mean over tokens, `post_layernorm`, `proj` -> `[B, target_dim]`.
public struct ANNVisionEncoder: Sendable {
    public let config: ModelConfig
    /// The twin's sizes (`config.annVision`).
    public let twin: ModelConfig.ANNVisionConfig
    let tokenizer: [Conv3x3]
    let preNorm: (weight: [Float], bias: [Float])
    let layers: [Layer]
    let postNorm: (weight: [Float], bias: [Float])
    let proj: DenseWeights

    struct Layer: Sendable {
        let norm1: (weight: [Float], bias: [Float]), norm2: (weight: [Float], bias: [Float])
        let q: DenseWeights, k: DenseWeights, v: DenseWeights, out: DenseWeights
        let fc1: DenseWeights, fc2: DenseWeights
    }

    init(config: ModelConfig, twin a: ModelConfig.ANNVisionConfig, store: inout ParameterStore, prefix: String) throws {
        let d = a.embedDims, dh = a.hiddenDims
        self.config = config
        self.twin = a
        var convs: [Conv3x3] = []
        for (j, (cin, cout)) in LayerGraph.tokenizerChannels(inChannels: config.vision.inChannels, d: d).enumerated() {
            let w = try store.take("\(prefix)embeddings.block\(j)_conv.weight", [cout, cin, 3, 3])
            let bn = try store.batchNorm("\(prefix)embeddings.block\(j)_bn", channels: cout, eps: config.batchNormEps)
            let f = bn.fold(weight: w, bias: nil, outChannels: cout)
            convs.append(Conv3x3(weight: f.weight, bias: f.bias, inChannels: cin, outChannels: cout, winograd: true))
        }
        self.tokenizer = convs
        func norm(_ p: String, _ n: Int) throws -> (weight: [Float], bias: [Float]) {
            (try store.take(p + ".weight", [n]), try store.take(p + ".bias", [n]))
        }
        func linear(_ p: String, _ out: Int, _ inp: Int) throws -> DenseWeights {
            DenseWeights(weight: try store.take(p + ".weight", [out, inp]), bias: try store.take(p + ".bias", [out]), outFeatures: out, inFeatures: inp)
        }
        self.preNorm = try norm(prefix + "pre_layrnorm", d)
        var layers: [Layer] = []
        for i in 0..<a.depths {
            let p = "\(prefix)encoder.layers.\(i)."
            layers.append(
                Layer(
                    norm1: try norm(p + "layer_norm1", d), norm2: try norm(p + "layer_norm2", d),
                    q: try linear(p + "self_attn.q_proj", d, d), k: try linear(p + "self_attn.k_proj", d, d),
                    v: try linear(p + "self_attn.v_proj", d, d), out: try linear(p + "self_attn.out_proj", d, d),
                    fc1: try linear(p + "mlp.fc1", dh, d), fc2: try linear(p + "mlp.fc2", d, dh)))
        }
        self.layers = layers
        self.postNorm = try norm(prefix + "post_layernorm", d)
        self.proj = try linear(prefix + "proj", a.targetDim, d)
    }

    /// Runs the ANN twin.
    /// - Parameters: `pixels` `[B, C, H, W]`.
    /// - Returns: image embeddings `[B, target_dim]` (not normalised).
    /// - Throws: ``InputError/wrongImageSize(expected:count:)``.
    public func forward(pixels: [Float], batch b: Int, mode: KernelMode = .blas) throws -> [Float] {
        let a = twin, v = config.vision
        let c = v.inChannels, h = v.imageSize[0], w = v.imageSize[1], d = a.embedDims
        guard pixels.count == b * c * h * w, b > 0 else { throw InputError.wrongImageSize(expected: [b, c, h, w], count: pixels.count) }
        let eps = a.layerNormEps
        var x = tokenizer[0].apply(pixels, frames: b, height: h, width: w, mode: mode, binary: false)
        x = tokenizer[1].apply(x, frames: b, height: h, width: w, mode: mode, binary: false)
        x = tokenizer[2].apply(x, frames: b, height: h, width: w, mode: mode, binary: false)
        let p3 = maxPool3x3s2(x, frames: b, channels: d / 2, height: h, width: w)
        x = tokenizer[3].apply(p3.values, frames: b, height: p3.height, width: p3.width, mode: mode, binary: false)
        let p4 = maxPool3x3s2(x, frames: b, channels: d, height: p3.height, width: p3.width)
        x = tokenizer[4].apply(p4.values, frames: b, height: p4.height, width: p4.width, mode: mode, binary: false)
        let n = p4.height * p4.width
        // [B, D, N] -> tokens [B*N, D].
        var tokens = [Float](repeating: 0, count: b * n * d)
        x.withUnsafeBufferPointer { xb in tokens.withUnsafeMutableBufferPointer { tb in
            for item in 0..<b { for ch in 0..<d { for p in 0..<n { tb[(item * n + p) * d + ch] = xb[(item * d + ch) * n + p] } } }
        } }
        tokens = layerNorm(tokens, rows: b * n, weight: preNorm.weight, bias: preNorm.bias, eps: eps)
        let heads = a.numHeads, hd = d / heads
        let scale = Float(1 / Double(hd).squareRoot())
        for layer in layers {
            let normed = layerNorm(tokens, rows: b * n, weight: layer.norm1.weight, bias: layer.norm1.bias, eps: eps)
            let q = layer.q.apply(normed, rows: b * n, mode: mode, binary: false)
            let k = layer.k.apply(normed, rows: b * n, mode: mode, binary: false)
            let vv = layer.v.apply(normed, rows: b * n, mode: mode, binary: false)
            let context = softmaxAttention(q: q, k: k, v: vv, lengths: [Int](repeating: n, count: b), dim: d, heads: heads, scale: scale)
            let attnOut = layer.out.apply(context, rows: b * n, mode: mode, binary: false)
            addInPlace(&tokens, attnOut)
            let normed2 = layerNorm(tokens, rows: b * n, weight: layer.norm2.weight, bias: layer.norm2.bias, eps: eps)
            var hidden = layer.fc1.apply(normed2, rows: b * n, mode: mode, binary: false)
            quickGELUInPlace(&hidden)
            let mlpOut = layer.fc2.apply(hidden, rows: b * n, mode: mode, binary: false)
            addInPlace(&tokens, mlpOut)
        }
        var pooled = [Float](repeating: 0, count: b * d)
        tokens.withUnsafeBufferPointer { tb in
            for item in 0..<b {
                for ch in 0..<d {
                    var s = 0.0
                    for p in 0..<n { s += Double(tb[(item * n + p) * d + ch]) }
                    pooled[item * d + ch] = Float(s / Double(n))
                }
            }
        }
        pooled = layerNorm(pooled, rows: b, weight: postNorm.weight, bias: postNorm.bias, eps: eps)
        return proj.apply(pooled, rows: b, mode: mode, binary: false)
    }
}

/// QuickGELU `x * sigmoid(1.702 x)` (official `QuickGELUActivation`); the scalar reference of ``quickGELUInPlace(_:)``.
@inline(__always)
func quickGELU(_ x: Float) -> Float { Float(Double(x) / (1 + Foundation.exp(-1.702 * Double(x)))) }
