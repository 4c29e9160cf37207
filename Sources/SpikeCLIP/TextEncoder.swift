/// The spiking text encoder (SPEC 1.3; official `Language_Encoder`).
///
/// Token ids `[P, L]` -> embedding module `[P, L, E]` -> repeated over `T` and flattened `[T, P, L*E]` -> `mlp_lif1` ->
/// `fc1` -> `mlp_lif2` -> `fc2` -> weighted sum over time with `weights_tensor` -> `[P, target_dim]`.
/// The attention mask is ignored, as in the official model: pad tokens are embedded like any other token.
public struct SpikingTextEncoder: Sendable {
    public let config: ModelConfig
    let embedding: TextEmbedding
    let fc1: DenseWeights
    let fc2: DenseWeights
    let timeWeights: [Float]
    let lif: LIFParameters

    init(config: ModelConfig, store: inout ParameterStore, prefix: String) throws {
        let t = config.text
        self.config = config
        self.embedding = try TextEmbedding(config: t, store: &store, prefix: prefix + "clip_embedding.")
        let inFeatures = t.contextLength * t.embedDim
        self.fc1 = DenseWeights(
            weight: try store.take(prefix + "fc1.weight", [t.hiddenDim, inFeatures]),
            bias: try store.take(prefix + "fc1.bias", [t.hiddenDim]), outFeatures: t.hiddenDim, inFeatures: inFeatures)
        self.fc2 = DenseWeights(
            weight: try store.take(prefix + "fc2.weight", [t.targetDim, t.hiddenDim]),
            bias: try store.take(prefix + "fc2.bias", [t.targetDim]), outFeatures: t.targetDim, inFeatures: t.hiddenDim)
        self.timeWeights = try store.take(prefix + "weights_tensor", [1, config.T, 1])
        self.lif = LIFParameters(tau: Float(config.lif.tau), vThreshold: Float(config.lif.vThreshold), vReset: Float(config.lif.vReset))
    }

    /// Names of the LIF layers, in forward order.
    public var lifLayerNames: [String] { ["text.mlp_lif1", "text.mlp_lif2"] }

    /// Runs the encoder.
    /// - Parameters:
    ///   - tokenIds: `P` rows of exactly `L` token ids (padded with the pad id).
    /// - Returns: text embeddings `[P, target_dim]` (not normalised) and the recording.
    /// - Throws: ``InputError/wrongTokenCount(row:expected:actual:)``, ``InputError/tokenOutOfRange(row:position:id:vocabSize:)``.
    public func forward(tokenIds: [[Int]], mode: KernelMode = .blas, options: RecordingOptions = RecordingOptions())
        throws -> (embedding: [Float], recording: Recording)
    {
        let tc = config.text, t = config.T, p = tokenIds.count
        let features = tc.contextLength * tc.embedDim
        var rec = Recording()
        let embedded = try embedding.embed(tokenIds, contextLength: tc.contextLength)  // [P, L*E]
        var x = [Float](); x.reserveCapacity(t * embedded.count)
        for _ in 0..<t { x += embedded }
        let s1 = recordedLIF(x, name: "text.mlp_lif1", shape: [t, p, features], lif, options: options, into: &rec)
        let h = fc1.apply(s1, rows: t * p, mode: mode, binary: true)
        let s2 = recordedLIF(h, name: "text.mlp_lif2", shape: [t, p, tc.hiddenDim], lif, options: options, into: &rec)
        let y = fc2.apply(s2, rows: t * p, mode: mode, binary: true)  // [T*P, target]
        var out = [Float](repeating: 0, count: p * tc.targetDim)
        for step in 0..<t {
            for i in 0..<(p * tc.targetDim) { out[i] += y[step * p * tc.targetDim + i] * timeWeights[step] }
        }
        return (out, rec)
    }
}

/// The text encoder's input embedding (`text.clip_embedding.*`), pluggable per SPEC 1.3:
/// - `bert`: `word_embeddings[id] + position_embeddings[l] + token_type_embeddings[0]`, then `LayerNorm` (HF BERT keys);
/// - `clip`: `token_embedding[id] + position_embedding[l]` (HF CLIPTextEmbeddings keys).
struct TextEmbedding: Sendable {
    let kind: String
    let vocabSize: Int
    let dim: Int
    let token: [Float]
    let position: [Float]
    let tokenType: [Float]?
    let norm: (weight: [Float], bias: [Float], eps: Double)?

    init(config t: ModelConfig.TextConfig, store: inout ParameterStore, prefix: String) throws {
        let e = t.embedDim, emb = t.embedding
        self.kind = emb.kind
        self.vocabSize = emb.vocabSize
        self.dim = e
        if emb.kind == "bert" {
            token = try store.take(prefix + "word_embeddings.weight", [emb.vocabSize, e])
            position = try store.take(prefix + "position_embeddings.weight", [emb.maxPositionEmbeddings, e])
            tokenType = try store.take(prefix + "token_type_embeddings.weight", [emb.typeVocabSize ?? 2, e])
            norm = (try store.take(prefix + "LayerNorm.weight", [e]), try store.take(prefix + "LayerNorm.bias", [e]), emb.layerNormEps ?? 1e-12)
        } else {
            token = try store.take(prefix + "token_embedding.weight", [emb.vocabSize, e])
            position = try store.take(prefix + "position_embedding.weight", [emb.maxPositionEmbeddings, e])
            tokenType = nil
            norm = nil
        }
    }

    /// - Returns: `[P, L*E]`.
    func embed(_ ids: [[Int]], contextLength l: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: ids.count * l * dim)
        for (r, row) in ids.enumerated() {
            guard row.count == l else { throw InputError.wrongTokenCount(row: r, expected: l, actual: row.count) }
            for (pos, id) in row.enumerated() {
                guard id >= 0 && id < vocabSize else {
                    throw InputError.tokenOutOfRange(row: r, position: pos, id: id, vocabSize: vocabSize)
                }
                let o = (r * l + pos) * dim
                for j in 0..<dim {
                    var value = token[id * dim + j] + position[pos * dim + j]
                    if let tokenType { value += tokenType[j] }
                    out[o + j] = value
                }
            }
        }
        if let norm {
            out = layerNorm(out, rows: ids.count * l, weight: norm.weight, bias: norm.bias, eps: norm.eps)
        }
        return out
    }
}
