/// The spiking text encoder (SPEC 1.3; official `Language_Encoder`).
///
/// Token ids `[P, L]` -> embedding module `[P, L, E]` -> repeated over `T` and flattened `[T, P, L*E]` -> `mlp_lif1` ->
/// `fc1` -> `mlp_lif2` -> `fc2` -> weighted sum over time with `weights_tensor` -> `[P, target_dim]`
/// (``LayerGraph/spikingText(_:)``). The attention mask is ignored, as in the official model: pad tokens are embedded
/// like any other token.
public struct SpikingTextEncoder: Sendable {
    public let config: ModelConfig
    let network: SpikingNetwork

    init(config: ModelConfig, store: inout ParameterStore) throws {
        self.config = config
        self.network = try SpikingNetwork(graph: .spikingText(config), config: config, store: &store)
    }

    /// The layers, in forward order.
    public var graph: LayerGraph { network.graph }

    /// Names of the spiking layers, in forward order.
    public var lifLayerNames: [String] { graph.neuronLayers.map(\.name) }

    /// Runs the encoder.
    /// - Parameters:
    ///   - tokenIds: `P` rows of exactly `L` token ids (padded with the pad id).
    /// - Returns: text embeddings `[P, target_dim]` (not normalised) and the recording.
    ///   - interventions: changes to the forward pass of the text layers (issue 17; input noise applies to images only).
    /// - Throws: ``InputError/wrongTokenCount(row:expected:actual:)``, ``InputError/tokenOutOfRange(row:position:id:vocabSize:)``,
    ///   ``InterventionError``.
    public func forward(tokenIds: [[Int]], mode: KernelMode = .fastest, options: RecordingOptions = RecordingOptions(),
                        interventions: InterventionSet = .none) throws -> (embedding: [Float], recording: Recording)
    {
        guard case let .embedding(embedding) = network.weights[0] else { preconditionFailure("text graph starts with its embedding") }
        if let s = interventions.steps, !(1...config.T).contains(s) { throw InterventionError.badSteps(s, max: config.T) }
        let embedded = try embedding.embed(tokenIds, contextLength: config.text.contextLength)  // [P, L*E]
        let plans = try network.plans(interventions, heads: nil)
        let (features, rec) = network.run(input: embedded, batch: tokenIds.count, mode: mode, options: options, plans: plans)
        return (network.readout(stepFeatures: features, batch: tokenIds.count, steps: interventions.steps ?? config.T, mode: mode), rec)
    }
}

/// The text encoder's input embedding (`text.clip_embedding.*`), pluggable per SPEC 1.3:
/// - `bert`: `word_embeddings[id] + position_embeddings[l] + token_type_embeddings[0]`, then `LayerNorm` (HF BERT keys);
/// - `clip`: `token_embedding[id] + position_embedding[l]` (HF CLIPTextEmbeddings keys);
/// with `signed` (``ModelConfig/EmbeddingConfig/signed``) each position's `e` is followed by `-e`.
struct TextEmbedding: Sendable {
    let kind: String
    let signed: Bool
    let vocabSize: Int
    let dim: Int
    let token: [Float]
    let position: [Float]
    let tokenType: [Float]?
    let norm: (weight: [Float], bias: [Float], eps: Double)?

    init(config t: ModelConfig.TextConfig, store: inout ParameterStore, prefix: String) throws {
        let e = t.embedDim, emb = t.embedding
        self.kind = emb.kind
        self.signed = emb.signed == true
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

    /// - Returns: `[P, L*E]`, or `[P, L*2E]` with `signed` (position `l`'s `e` then `-e`).
    /// - Throws: ``InputError/wrongTokenCount(row:expected:actual:)``, ``InputError/tokenOutOfRange(row:position:id:vocabSize:)``.
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
        guard signed else { return out }
        var both = [Float](repeating: 0, count: 2 * out.count)
        for row in 0..<(ids.count * l) {
            for j in 0..<dim {
                both[row * 2 * dim + j] = out[row * dim + j]
                both[row * 2 * dim + dim + j] = -out[row * dim + j]
            }
        }
        return both
    }
}
