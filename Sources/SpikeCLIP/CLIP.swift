import CBLAS
import Foundation

/// A Hugging Face `CLIPConfig` (`config.json` of a `CLIPModel` folder), with transformers' defaults for absent keys.
public struct CLIPConfig: Sendable, Equatable {
    public struct Tower: Sendable, Equatable {
        /// Width `D`.
        public var hiddenSize: Int
        public var intermediateSize: Int
        public var numHiddenLayers: Int
        public var numAttentionHeads: Int
        /// `quick_gelu` (released CLIPs) or `gelu` (exact erf).
        public var hiddenAct: String
        public var layerNormEps: Double
    }

    public var vision: Tower
    public var text: Tower
    /// Vision input: `num_channels`, `image_size` (square), `patch_size`.
    public var numChannels: Int, imageSize: Int, patchSize: Int
    /// Text input: vocabulary, longest sequence (77), `eos_token_id` (2 selects transformers' legacy arg-max pooling).
    public var vocabSize: Int, maxPositionEmbeddings: Int, eosTokenId: Int
    /// Width of the joint embedding space.
    public var projectionDim: Int

    /// Patches per image side and tokens per image (class token included).
    public var gridSize: Int { imageSize / patchSize }
    public var visionTokens: Int { gridSize * gridSize + 1 }

    /// Decodes `config.json`. - Throws: ``CheckpointError/badConfig(path:reason:)`` naming the key.
    public static func decode(_ data: Data, path: String) throws -> CLIPConfig {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError.badConfig(path: path, reason: "config.json is not a JSON object")
        }
        func section(_ name: String) throws -> [String: Any] {
            guard let dict = (root[name] ?? [String: Any]()) as? [String: Any] else {
                throw CheckpointError.badConfig(path: path, reason: "'\(name)' is not an object")
            }
            return dict
        }
        func int(_ d: [String: Any], _ key: String, _ where_: String, _ fallback: Int) throws -> Int {
            guard let v = d[key] else { return fallback }
            // JSON true/false arrive as NSNumber of type "c"; `v is Bool` would also hold for the integers 0 and 1
            // on Linux (regression: a one-layer tower was refused).
            guard let n = v as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded(),
                  abs(n.doubleValue) <= Double(ModelConfig.maxSize) else {
                throw CheckpointError.badConfig(path: path, reason: "'\(where_)\(key)' must be an integer up to \(ModelConfig.maxSize)")
            }
            return n.intValue
        }
        func tower(_ d: [String: Any], _ name: String, _ defaults: (Int, Int, Int, Int)) throws -> Tower {
            let p = name + "."
            guard let act = (d["hidden_act"] ?? "quick_gelu") as? String, ["quick_gelu", "gelu"].contains(act) else {
                throw CheckpointError.badConfig(path: path, reason: "'\(p)hidden_act' '\(quotedPreview("\(d["hidden_act"] ?? "")"))' is not quick_gelu or gelu")
            }
            guard let eps = ((d["layer_norm_eps"] ?? 1e-5) as? NSNumber)?.doubleValue, eps > 0, eps < 1 else {
                throw CheckpointError.badConfig(path: path, reason: "'\(p)layer_norm_eps' must be a number in (0, 1)")
            }
            return Tower(hiddenSize: try int(d, "hidden_size", p, defaults.0), intermediateSize: try int(d, "intermediate_size", p, defaults.1),
                         numHiddenLayers: try int(d, "num_hidden_layers", p, defaults.2), numAttentionHeads: try int(d, "num_attention_heads", p, defaults.3),
                         hiddenAct: act, layerNormEps: eps)
        }
        let v = try section("vision_config"), t = try section("text_config")
        let c = CLIPConfig(
            vision: try tower(v, "vision_config", (768, 3072, 12, 12)), text: try tower(t, "text_config", (512, 2048, 12, 8)),
            numChannels: try int(v, "num_channels", "vision_config.", 3), imageSize: try int(v, "image_size", "vision_config.", 224),
            patchSize: try int(v, "patch_size", "vision_config.", 32), vocabSize: try int(t, "vocab_size", "text_config.", 49408),
            maxPositionEmbeddings: try int(t, "max_position_embeddings", "text_config.", 77), eosTokenId: try int(t, "eos_token_id", "text_config.", 49407),
            projectionDim: try int(root, "projection_dim", "", 512))
        try c.validate(path: path)
        return c
    }

    func validate(path: String) throws {
        func fail(_ r: String) -> CheckpointError { .badConfig(path: path, reason: r) }
        for (name, t) in [("vision_config", vision), ("text_config", text)] {
            guard t.hiddenSize > 0, t.intermediateSize > 0, t.numHiddenLayers >= 0, t.numAttentionHeads > 0,
                  t.hiddenSize % t.numAttentionHeads == 0 else {
                throw fail("\(name): widths must be positive and hidden_size divisible by num_attention_heads")
            }
        }
        guard numChannels > 0, patchSize > 0, imageSize >= patchSize, imageSize % patchSize == 0 else {
            throw fail("vision_config.image_size \(imageSize) must be a positive multiple of patch_size \(patchSize)")
        }
        guard vocabSize > 0, maxPositionEmbeddings > 0, projectionDim > 0 else { throw fail("vocab_size, max_position_embeddings and projection_dim must be positive") }
    }
}

/// Errors from running a CLIP tower on bad input.
public enum CLIPInputError: Error, Equatable, CustomStringConvertible, Sendable {
    case wrongImageSize(expected: [Int], count: Int)
    case tokensOutOfRange(row: Int, length: Int, maxLength: Int)
    case tokenOutOfRange(row: Int, position: Int, id: Int, vocabSize: Int)

    public var description: String {
        switch self {
        case let .wrongImageSize(expected, count): return "image tensor has \(count) values, CLIP expects shape \(expected)"
        case let .tokensOutOfRange(row, length, maxLength): return "prompt \(row) has \(length) token ids, CLIP takes 1 to \(maxLength)"
        case let .tokenOutOfRange(row, position, id, vocab): return "prompt \(row), position \(position): token id \(id) outside CLIP's vocabulary of \(vocab)"
        }
    }
}

/// One pre-LayerNorm transformer layer as CLIP has it (HF `CLIPEncoderLayer`):
/// `x + out_proj(attention(LN1(x)))`, then `h + fc2(act(fc1(LN2(h))))`.
struct CLIPEncoderLayer: Sendable {
    let norm1: (weight: [Float], bias: [Float]), norm2: (weight: [Float], bias: [Float])
    let q: DenseWeights, k: DenseWeights, v: DenseWeights, out: DenseWeights
    let fc1: DenseWeights, fc2: DenseWeights

    init(_ t: CLIPConfig.Tower, store: inout ParameterStore, prefix p: String) throws {
        let d = t.hiddenSize, f = t.intermediateSize
        func linear(_ key: String, _ o: Int, _ i: Int) throws -> DenseWeights {
            DenseWeights(weight: try store.take(p + key + ".weight", [o, i]), bias: try store.take(p + key + ".bias", [o]), outFeatures: o, inFeatures: i)
        }
        norm1 = (try store.take(p + "layer_norm1.weight", [d]), try store.take(p + "layer_norm1.bias", [d]))
        norm2 = (try store.take(p + "layer_norm2.weight", [d]), try store.take(p + "layer_norm2.bias", [d]))
        q = try linear("self_attn.q_proj", d, d); k = try linear("self_attn.k_proj", d, d)
        v = try linear("self_attn.v_proj", d, d); out = try linear("self_attn.out_proj", d, d)
        fc1 = try linear("mlp.fc1", f, d); fc2 = try linear("mlp.fc2", d, f)
    }

    /// - Parameters: `x` `[B * L, D]`; `causal`: position `i` attends to `j <= i` only (the text tower).
    func apply(_ x: [Float], batch b: Int, length l: Int, _ t: CLIPConfig.Tower, causal: Bool) -> [Float] {
        let d = t.hiddenSize, heads = t.numAttentionHeads, hd = d / heads, rows = b * l
        let normed = layerNorm(x, rows: rows, weight: norm1.weight, bias: norm1.bias, eps: t.layerNormEps)
        let qs = q.apply(normed, rows: rows, mode: .blas, binary: false)
        let ks = k.apply(normed, rows: rows, mode: .blas, binary: false)
        let vs = v.apply(normed, rows: rows, mode: .blas, binary: false)
        let context = softmaxAttention(q: qs, k: ks, v: vs, lengths: [Int](repeating: l, count: b), dim: d, heads: heads,
                                       scale: Float(1 / Double(hd).squareRoot()), causal: causal)
        var h = out.apply(context, rows: rows, mode: .blas, binary: false)
        addInPlace(&h, x)
        let normed2 = layerNorm(h, rows: rows, weight: norm2.weight, bias: norm2.bias, eps: t.layerNormEps)
        var inner = fc1.apply(normed2, rows: rows, mode: .blas, binary: false)
        if t.hiddenAct == "gelu" { geluInPlace(&inner) } else { quickGELUInPlace(&inner) }
        let y = fc2.apply(inner, rows: rows, mode: .blas, binary: false)
        addInPlace(&h, y)
        return h
    }
}

/// CLIP (Radford et al. 2021) from a Hugging Face `CLIPModel` folder: `config.json` + `model.safetensors` with HF key
/// names (F32, F16 or BF16), loaded strictly. Both towers as transformers computes them; dense products on BLAS.
public struct CLIPModel: Sendable {
    public let config: CLIPConfig
    /// `exp(logit_scale)`, the multiplier of the cosines (100 in released CLIPs).
    public let logitScale: Float
    let patch: DenseWeights             // [D, C*p*p]
    let classEmbedding: [Float]         // [D]
    let visionPositions: [Float]        // [N+1, D]
    let preNorm: (weight: [Float], bias: [Float]), postNorm: (weight: [Float], bias: [Float])
    let visionLayers: [CLIPEncoderLayer]
    let visualProjection: DenseWeights  // [proj, D], no bias
    let tokenEmbedding: [Float]         // [V, D]
    let textPositions: [Float]          // [P, D]
    let textLayers: [CLIPEncoderLayer]
    let finalNorm: (weight: [Float], bias: [Float])
    let textProjection: DenseWeights    // [proj, D], no bias

    /// - Parameter folder: holds `config.json` and `model.safetensors` (or a path to the `.safetensors` itself).
    /// - Throws: ``CheckpointError`` naming the file and key (missing, unknown, wrong shape or dtype, non-finite,
    ///   bad config).
    public init(folder: String) throws {
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: folder, isDirectory: &isDir)
        guard exists else {
            throw CheckpointError.badConfig(path: folder, reason: "no such folder (a Hugging Face CLIPModel folder holds config.json and model.safetensors)")
        }
        let dir = isDir.boolValue ? folder : (folder as NSString).deletingLastPathComponent
        let weights = isDir.boolValue ? (dir as NSString).appendingPathComponent("model.safetensors") : folder
        let configPath = (dir as NSString).appendingPathComponent("config.json")
        guard exists, let data = FileManager.default.contents(atPath: configPath) else {
            throw CheckpointError.badConfig(path: configPath, reason: "no config.json (a Hugging Face CLIPModel folder holds config.json and model.safetensors)")
        }
        let c = try CLIPConfig.decode(data, path: configPath)
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: weights) } catch let e as SafeTensorsError { throw CheckpointError.file(e) }
        try self.init(config: c, file: file)
    }

    /// Loads the weights of `file` for `config` (the fuzz target's entry; ``init(folder:)`` for files).
    /// - Throws: ``CheckpointError``.
    public init(config c: CLIPConfig, file: SafeTensorsFile) throws {
        let weights = file.path
        var store = ParameterStore(file: file)
        let dv = c.vision.hiddenSize, dt = c.text.hiddenSize, p = c.patchSize
        do {
            let v = "vision_model.", t = "text_model."
            patch = DenseWeights(weight: try store.take(v + "embeddings.patch_embedding.weight", [dv, c.numChannels, p, p]), bias: nil,
                                 outFeatures: dv, inFeatures: c.numChannels * p * p)
            classEmbedding = try store.take(v + "embeddings.class_embedding", [dv])
            visionPositions = try store.take(v + "embeddings.position_embedding.weight", [c.visionTokens, dv])
            preNorm = (try store.take(v + "pre_layrnorm.weight", [dv]), try store.take(v + "pre_layrnorm.bias", [dv]))
            visionLayers = try (0..<c.vision.numHiddenLayers).map { try CLIPEncoderLayer(c.vision, store: &store, prefix: "\(v)encoder.layers.\($0).") }
            postNorm = (try store.take(v + "post_layernorm.weight", [dv]), try store.take(v + "post_layernorm.bias", [dv]))
            visualProjection = DenseWeights(weight: try store.take("visual_projection.weight", [c.projectionDim, dv]), bias: nil,
                                            outFeatures: c.projectionDim, inFeatures: dv)
            tokenEmbedding = try store.take(t + "embeddings.token_embedding.weight", [c.vocabSize, dt])
            textPositions = try store.take(t + "embeddings.position_embedding.weight", [c.maxPositionEmbeddings, dt])
            textLayers = try (0..<c.text.numHiddenLayers).map { try CLIPEncoderLayer(c.text, store: &store, prefix: "\(t)encoder.layers.\($0).") }
            finalNorm = (try store.take(t + "final_layer_norm.weight", [dt]), try store.take(t + "final_layer_norm.bias", [dt]))
            textProjection = DenseWeights(weight: try store.take("text_projection.weight", [c.projectionDim, dt]), bias: nil,
                                          outFeatures: c.projectionDim, inFeatures: dt)
            logitScale = Foundation.exp(try store.take("logit_scale", [])[0])
            // Older files carry the constant position-id buffers; shape-checked and ignored.
            for (key, shape) in [(v + "embeddings.position_ids", [1, c.visionTokens]), (t + "embeddings.position_ids", [1, c.maxPositionEmbeddings])] {
                if let info = file.tensors[key] {
                    guard info.shape == shape else { throw CheckpointError.wrongShape(path: weights, key: key, expected: shape, actual: info.shape) }
                    store.markUsed(key)
                }
            }
        } catch let e as SafeTensorsError { throw CheckpointError.file(e) }
        try store.finish()
        config = c
    }

    /// Image features `[B, projection_dim]` (`get_image_features`: projected, not normalised).
    /// - Parameters: `pixels` `[B, C, S, S]` preprocessed (CLIP mean/std). - Throws: ``CLIPInputError``.
    public func imageFeatures(pixels: [Float], batch b: Int) throws -> [Float] {
        let c = config, s = c.imageSize, p = c.patchSize, g = c.gridSize, ch = c.numChannels, d = c.vision.hiddenSize
        guard b > 0, pixels.count == b * ch * s * s else { throw CLIPInputError.wrongImageSize(expected: [b, ch, s, s], count: pixels.count) }
        let n = g * g, l = n + 1
        // Patches as rows [B*N, C*p*p] in (c, ky, kx) order, the conv weight's layout.
        var cols = [Float](repeating: 0, count: b * n * ch * p * p)
        for item in 0..<b {
            for gy in 0..<g {
                for gx in 0..<g {
                    var o = ((item * n) + gy * g + gx) * ch * p * p
                    for cc in 0..<ch {
                        for ky in 0..<p {
                            let src = ((item * ch + cc) * s + gy * p + ky) * s + gx * p
                            for kx in 0..<p { cols[o] = pixels[src + kx]; o += 1 }
                        }
                    }
                }
            }
        }
        let patches = patch.apply(cols, rows: b * n, mode: .blas, binary: false)  // [B*N, D]
        var x = [Float](repeating: 0, count: b * l * d)
        for item in 0..<b {
            for i in 0..<d { x[item * l * d + i] = classEmbedding[i] + visionPositions[i] }
            for t in 0..<n {
                let dst = (item * l + t + 1) * d, src = (item * n + t) * d
                for i in 0..<d { x[dst + i] = patches[src + i] + visionPositions[(t + 1) * d + i] }
            }
        }
        x = layerNorm(x, rows: b * l, weight: preNorm.weight, bias: preNorm.bias, eps: c.vision.layerNormEps)
        for layer in visionLayers { x = layer.apply(x, batch: b, length: l, c.vision, causal: false) }
        var pooled = [Float](repeating: 0, count: b * d)
        for item in 0..<b { for i in 0..<d { pooled[item * d + i] = x[item * l * d + i] } }
        pooled = layerNorm(pooled, rows: b, weight: postNorm.weight, bias: postNorm.bias, eps: c.vision.layerNormEps)
        return visualProjection.apply(pooled, rows: b, mode: .blas, binary: false)
    }

    /// Text features `[P, projection_dim]` (`get_text_features`): causal transformer, final LayerNorm, the state at the
    /// end token (the first `eos_token_id`, or, when the config says `eos_token_id = 2`, the arg-max id as
    /// transformers does for such legacy configs), projected. Rows may have any length `1...max_position_embeddings`
    /// but all the same length.
    /// - Throws: ``CLIPInputError``.
    public func textFeatures(tokenIds: [[Int]]) throws -> [Float] {
        let c = config, d = c.text.hiddenSize, b = tokenIds.count
        guard let l = tokenIds.first?.count else { return [] }
        for (r, row) in tokenIds.enumerated() {
            guard row.count == l, l >= 1, l <= c.maxPositionEmbeddings else { throw CLIPInputError.tokensOutOfRange(row: r, length: row.count, maxLength: c.maxPositionEmbeddings) }
            if let (pos, id) = row.enumerated().first(where: { $0.element < 0 || $0.element >= c.vocabSize }) {
                throw CLIPInputError.tokenOutOfRange(row: r, position: pos, id: id, vocabSize: c.vocabSize)
            }
        }
        var x = [Float](repeating: 0, count: b * l * d)
        for (r, row) in tokenIds.enumerated() {
            for (pos, id) in row.enumerated() {
                let o = (r * l + pos) * d
                for i in 0..<d { x[o + i] = tokenEmbedding[id * d + i] + textPositions[pos * d + i] }
            }
        }
        for layer in textLayers { x = layer.apply(x, batch: b, length: l, c.text, causal: true) }
        x = layerNorm(x, rows: b * l, weight: finalNorm.weight, bias: finalNorm.bias, eps: c.text.layerNormEps)
        var pooled = [Float](repeating: 0, count: b * d)
        for (r, row) in tokenIds.enumerated() {
            let at: Int
            if c.eosTokenId == 2 {
                at = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) } ?? 0  // first arg-max
            } else {
                at = row.firstIndex(of: c.eosTokenId) ?? 0  // torch argmax of an all-false mask is 0
            }
            for i in 0..<d { pooled[r * d + i] = x[(r * l + at) * d + i] }
        }
        return textProjection.apply(pooled, rows: b, mode: .blas, binary: false)
    }
}
