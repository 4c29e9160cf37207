import Foundation

/// Hyper-parameters of a BERT sentence encoder (HF `BertConfig` names in JSON; all-MiniLM-L6-v2 values in brackets).
public struct MiniLMConfig: Codable, Sendable, Equatable {
    /// Model width `D` [384].
    public var hiddenSize: Int
    /// Attention heads `h` [12]; head width `D / h`.
    public var numAttentionHeads: Int
    /// Transformer layers [6].
    public var numHiddenLayers: Int
    /// Feed-forward width [1536].
    public var intermediateSize: Int
    /// Vocabulary size `V` [30522].
    public var vocabSize: Int
    /// Longest sequence the position table allows [512].
    public var maxPositionEmbeddings: Int
    /// Token-type (segment) vocabulary [2]; this encoder always uses type 0.
    public var typeVocabSize: Int
    /// LayerNorm epsilon [1e-12].
    public var layerNormEps: Double
    /// sentence-transformers' truncation length for ``MiniLMTextEncoder/embed(_:tokenizer:)`` [256]; when the JSON
    /// lacks `max_seq_length`, `max_position_embeddings`.
    public var maxSeqLength: Int
    /// `hidden_act`; only `"gelu"` (exact erf GELU) is supported.
    public var hiddenAct: String

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numAttentionHeads = "num_attention_heads", numHiddenLayers = "num_hidden_layers"
        case intermediateSize = "intermediate_size", vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", maxSeqLength = "max_seq_length", hiddenAct = "hidden_act"
    }

    public init(hiddenSize: Int, numAttentionHeads: Int, numHiddenLayers: Int, intermediateSize: Int, vocabSize: Int,
                maxPositionEmbeddings: Int, typeVocabSize: Int, layerNormEps: Double, maxSeqLength: Int, hiddenAct: String = "gelu") {
        self.hiddenSize = hiddenSize
        self.numAttentionHeads = numAttentionHeads
        self.numHiddenLayers = numHiddenLayers
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.maxSeqLength = maxSeqLength
        self.hiddenAct = hiddenAct
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        maxPositionEmbeddings = try c.decode(Int.self, forKey: .maxPositionEmbeddings)
        typeVocabSize = try c.decode(Int.self, forKey: .typeVocabSize)
        layerNormEps = try c.decode(Double.self, forKey: .layerNormEps)
        maxSeqLength = try c.decodeIfPresent(Int.self, forKey: .maxSeqLength) ?? maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
    }

    /// Decodes and checks the JSON (HF `config.json` or the asset's `__metadata__.config`).
    /// - Throws: ``CheckpointError/badConfig(path:reason:)`` for bad JSON, a missing field, a non-positive size,
    ///   `D` not divisible by `h`, `max_seq_length > max_position_embeddings` or an activation other than `gelu`.
    static func decode(_ json: String, path: String) throws -> MiniLMConfig {
        let config: MiniLMConfig
        do {
            config = try JSONDecoder().decode(MiniLMConfig.self, from: Data(json.utf8))
        } catch let DecodingError.keyNotFound(key, _) {
            throw CheckpointError.badConfig(path: path, reason: "missing '\(key.stringValue)'")
        } catch {
            throw CheckpointError.badConfig(path: path, reason: "not a BERT config JSON object")
        }
        let sizes = [config.hiddenSize, config.numAttentionHeads, config.numHiddenLayers, config.intermediateSize,
                     config.vocabSize, config.maxPositionEmbeddings, config.typeVocabSize, config.maxSeqLength]
        guard sizes.allSatisfy({ $0 > 0 }), config.layerNormEps > 0 else {
            throw CheckpointError.badConfig(path: path, reason: "sizes and layer_norm_eps must be positive")
        }
        guard config.hiddenSize % config.numAttentionHeads == 0 else {
            throw CheckpointError.badConfig(path: path, reason: "hidden_size \(config.hiddenSize) is not divisible by num_attention_heads \(config.numAttentionHeads)")
        }
        guard config.maxSeqLength <= config.maxPositionEmbeddings else {
            throw CheckpointError.badConfig(path: path, reason: "max_seq_length \(config.maxSeqLength) exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        guard config.hiddenAct == "gelu" else {
            throw CheckpointError.badConfig(path: path, reason: "hidden_act '\(config.hiddenAct)' is not supported (expected 'gelu')")
        }
        return config
    }
}

/// One BERT encoder layer (HF `BertLayer`, post-LN): self-attention, residual, LayerNorm; GELU MLP, residual, LayerNorm.
struct BertLayer: Sendable {
    let query, key, value, attentionOutput: DenseWeights
    let attentionLayerNorm: (weight: [Float], bias: [Float])
    let intermediate, output: DenseWeights
    let outputLayerNorm: (weight: [Float], bias: [Float])

    /// Reads `<prefix>attention.self.{query,key,value}`, `attention.output.{dense,LayerNorm}`, `intermediate.dense`,
    /// `output.{dense,LayerNorm}`.
    init(config: MiniLMConfig, store: inout ParameterStore, prefix p: String) throws {
        let d = config.hiddenSize, f = config.intermediateSize
        func dense(_ key: String, out: Int, in inFeatures: Int) throws -> DenseWeights {
            DenseWeights(weight: try store.take(p + key + ".weight", [out, inFeatures]), bias: try store.take(p + key + ".bias", [out]),
                         outFeatures: out, inFeatures: inFeatures)
        }
        query = try dense("attention.self.query", out: d, in: d)
        key = try dense("attention.self.key", out: d, in: d)
        value = try dense("attention.self.value", out: d, in: d)
        attentionOutput = try dense("attention.output.dense", out: d, in: d)
        attentionLayerNorm = (try store.take(p + "attention.output.LayerNorm.weight", [d]), try store.take(p + "attention.output.LayerNorm.bias", [d]))
        intermediate = try dense("intermediate.dense", out: f, in: d)
        output = try dense("output.dense", out: d, in: f)
        outputLayerNorm = (try store.take(p + "output.LayerNorm.weight", [d]), try store.take(p + "output.LayerNorm.bias", [d]))
    }
}

/// The ANN text encoder of the default model: all-MiniLM-L6-v2 as sentence-transformers runs it (SPEC section 2).
///
/// BERT forward (HF `BertModel`: word + position + token-type-0 embeddings, LayerNorm; per layer multi-head
/// self-attention with scale `(D/h)^-0.5` and masked keys excluded from the softmax, exact-erf GELU MLP, post-LN
/// residuals), then sentence-transformers `Pooling` (mean over the tokens whose attention mask is 1) and
/// `Normalize` (L2). Weights may be F32, F16 or BF16; everything is computed in F32 with BLAS products.
public struct MiniLMTextEncoder: Sendable {
    public let config: MiniLMConfig
    /// The key prefix found in the file: `"ann_text."` (SPEC section 3, the shipped asset) or `""` (a HF file).
    public let keyPrefix: String
    let wordEmbeddings: [Float]       // [V, D]
    let positionEmbeddings: [Float]   // [P_max, D]
    let tokenTypeEmbeddings: [Float]  // [type_vocab_size, D]
    let embeddingLayerNorm: (weight: [Float], bias: [Float])
    let layers: [BertLayer]

    /// Keys a Hugging Face BertModel file carries that this encoder does not use: the constant `position_ids`
    /// buffer and the pooler (mean pooling replaces it). They are shape-checked and ignored.
    static func ignoredKeys(_ d: Int, maxPositions: Int) -> [(key: String, shape: [Int])] {
        [("embeddings.position_ids", [1, maxPositions]), ("pooler.dense.weight", [d, d]), ("pooler.dense.bias", [d])]
    }

    /// Loads the encoder from a safetensors file with HF `BertModel` keys, bare (as in the HF file) or under
    /// `ann_text.` (the shipped `assets/minilm/model.f16.safetensors`).
    ///
    /// The config comes from `__metadata__.config` (JSON with HF `BertConfig` names) or else from `config.json` in the
    /// same folder. Loading is strict: every parameter must be present with the shape the config implies, and any key
    /// other than those and the ignorable `embeddings.position_ids` / `pooler.dense.*` is an error.
    /// - Throws: ``CheckpointError``: `.file` (unreadable or malformed safetensors), `.badConfig` (no config, bad
    ///   JSON, inconsistent sizes), `.missingKey` (key and expected shape), `.wrongShape` (key and both shapes),
    ///   `.wrongDType`, `.nonFinite`, `.unknownKeys`.
    public init(path: String) throws {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch let e as SafeTensorsError { throw CheckpointError.file(e) }
        let json: String
        if let embedded = file.metadata["config"] {
            json = embedded
        } else {
            let beside = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("config.json").path
            guard let data = FileManager.default.contents(atPath: beside), let text = String(data: data, encoding: .utf8) else {
                throw CheckpointError.badConfig(path: path, reason: "no __metadata__.config and no config.json beside the file")
            }
            json = text
        }
        let config = try MiniLMConfig.decode(json, path: path)
        let prefix = file.tensors["ann_text.embeddings.word_embeddings.weight"] != nil ? "ann_text." : ""
        var store = ParameterStore(file: file)
        let d = config.hiddenSize
        do {
            wordEmbeddings = try store.take(prefix + "embeddings.word_embeddings.weight", [config.vocabSize, d])
            positionEmbeddings = try store.take(prefix + "embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, d])
            tokenTypeEmbeddings = try store.take(prefix + "embeddings.token_type_embeddings.weight", [config.typeVocabSize, d])
            embeddingLayerNorm = (try store.take(prefix + "embeddings.LayerNorm.weight", [d]), try store.take(prefix + "embeddings.LayerNorm.bias", [d]))
            layers = try (0..<config.numHiddenLayers).map {
                try BertLayer(config: config, store: &store, prefix: prefix + "encoder.layer.\($0).")
            }
        } catch let e as SafeTensorsError { throw CheckpointError.file(e) }
        var unknown: [String] = []
        let ignorable = Dictionary(uniqueKeysWithValues: Self.ignoredKeys(d, maxPositions: config.maxPositionEmbeddings).map { (prefix + $0.key, $0.shape) })
        for (key, info) in file.tensors where !store.used.contains(key) {
            if let shape = ignorable[key] {
                guard info.shape == shape else { throw CheckpointError.wrongShape(path: path, key: key, expected: shape, actual: info.shape) }
            } else {
                unknown.append(key)
            }
        }
        guard unknown.isEmpty else { throw CheckpointError.unknownKeys(path: path, keys: unknown.sorted()) }
        self.config = config
        self.keyPrefix = prefix
    }

    /// Width `D` of the embeddings.
    public var dimension: Int { config.hiddenSize }

    /// BERT input embeddings: `LayerNorm(word[id] + position[l] + token_type[0])` (HF `BertEmbeddings`).
    /// - Parameters:
    ///   - tokenIds: `[B, L]` row-major, each in `0..<V`.
    ///   - batch: `B`; `L = tokenIds.count / B`, at most `max_position_embeddings`.
    /// - Returns: `[B, L, D]`.
    public func inputEmbeddings(tokenIds: [Int], batch: Int) -> [Float] {
        precondition(batch > 0 && tokenIds.count % batch == 0, "tokenIds must be [B, L]")
        return inputEmbeddings(tokenIds: tokenIds, lengths: [Int](repeating: tokenIds.count / batch, count: batch))
    }

    /// Input embeddings of items packed one after another: item `b` is `lengths[b]` tokens, positions from 0.
    func inputEmbeddings(tokenIds: [Int], lengths: [Int]) -> [Float] {
        precondition(lengths.reduce(0, +) == tokenIds.count, "lengths must add up to the token count")
        let d = config.hiddenSize
        var x = [Float](repeating: 0, count: tokenIds.count * d)
        var row = 0
        for length in lengths {
            precondition(length <= config.maxPositionEmbeddings, "L = \(length) exceeds max_position_embeddings")
            for position in 0..<length {
                let id = tokenIds[row]
                precondition(id >= 0 && id < config.vocabSize, "token id \(id) outside the vocabulary")
                for i in 0..<d {
                    x[row * d + i] = wordEmbeddings[id * d + i] + positionEmbeddings[position * d + i] + tokenTypeEmbeddings[i]
                }
                row += 1
            }
        }
        return layerNorm(x, rows: tokenIds.count, weight: embeddingLayerNorm.weight, bias: embeddingLayerNorm.bias, eps: config.layerNormEps)
    }

    /// The last hidden state of `BertModel`.
    /// - Parameters:
    ///   - tokenIds: `[B, L]` row-major.
    ///   - attentionMask: `[B, L]`, 1 for real tokens, 0 for padding; every item needs at least one 1.
    ///   - batch: `B`.
    ///   - mode: kernel for the dense products (`blas` by default; inputs are never binary here).
    /// - Returns: `[B, L, D]`.
    public func hiddenStates(tokenIds: [Int], attentionMask: [Int], batch: Int, mode: KernelMode = .blas) -> [Float] {
        precondition(attentionMask.count == tokenIds.count, "attentionMask must be [B, L] like tokenIds")
        let lengths = [Int](repeating: tokenIds.count / batch, count: batch)
        return encode(inputEmbeddings(tokenIds: tokenIds, batch: batch), lengths: lengths, keyMask: attentionMask, mode: mode)
    }

    /// The transformer layers over items packed one after another (item `b` is `lengths[b]` rows of `x`); a token
    /// attends to the tokens of its own item whose `keyMask` is 1 (nil: to all of them).
    /// - Returns: the hidden states, the same rows as `x`.
    func encode(_ input: [Float], lengths: [Int], keyMask: [Int]?, mode: KernelMode) -> [Float] {
        let d = config.hiddenSize, rows = lengths.reduce(0, +)
        let heads = config.numAttentionHeads, headWidth = d / heads
        let scale = Float(1 / Double(headWidth).squareRoot())
        var x = input
        for layer in layers {
            let q = layer.query.apply(x, rows: rows, mode: mode, binary: false)
            let k = layer.key.apply(x, rows: rows, mode: mode, binary: false)
            let v = layer.value.apply(x, rows: rows, mode: mode, binary: false)
            let context = softmaxAttention(q: q, k: k, v: v, lengths: lengths, dim: d, heads: heads, scale: scale, keyMask: keyMask)
            var attended = layer.attentionOutput.apply(context, rows: rows, mode: mode, binary: false)
            addInPlace(&attended, x)
            x = layerNorm(attended, rows: rows, weight: layer.attentionLayerNorm.weight, bias: layer.attentionLayerNorm.bias, eps: config.layerNormEps)
            var inner = layer.intermediate.apply(x, rows: rows, mode: mode, binary: false)
            geluInPlace(&inner)
            var out = layer.output.apply(inner, rows: rows, mode: mode, binary: false)
            addInPlace(&out, x)
            x = layerNorm(out, rows: rows, weight: layer.outputLayerNorm.weight, bias: layer.outputLayerNorm.bias, eps: config.layerNormEps)
        }
        return x
    }

    /// Sentence embeddings: hidden states mean-pooled over the attention mask, then L2-normalised
    /// (sentence-transformers `Pooling(mean)` + `Normalize`).
    ///
    /// Items whose mask is real tokens then padding (every tokenizer's output) run packed: only their real tokens, one
    /// item after another, no padded rows (issue 15: a batch of prompts costs its tokens, not B x L). Padding is
    /// masked out of attention and pooling, so the result is the padded computation's (to float rounding).
    /// - Parameters: as ``hiddenStates(tokenIds:attentionMask:batch:mode:)``.
    /// - Returns: `[B, D]`, each row of unit length.
    public func forward(tokenIds: [Int], attentionMask: [Int], batch: Int, mode: KernelMode = .blas) -> [Float] {
        let length = tokenIds.count / batch, d = config.hiddenSize
        precondition(attentionMask.count == tokenIds.count, "attentionMask must be [B, L] like tokenIds")
        let real = (0..<batch).map { b in attentionMask[(b * length)..<((b + 1) * length)].prefix { $0 != 0 }.count }
        let prefixMasks = (0..<batch).allSatisfy { b in real[b] > 0 && attentionMask[(b * length + real[b])..<((b + 1) * length)].allSatisfy { $0 == 0 } }
        var pooled = [Float](repeating: 0, count: batch * d)
        if prefixMasks {
            let ids = (0..<batch).flatMap { b in tokenIds[(b * length)..<(b * length + real[b])] }
            let hidden = encode(inputEmbeddings(tokenIds: ids, lengths: real), lengths: real, keyMask: nil, mode: mode)
            var row = 0
            for b in 0..<batch {
                var sum = [Double](repeating: 0, count: d)
                for _ in 0..<real[b] {
                    for i in 0..<d { sum[i] += Double(hidden[row * d + i]) }
                    row += 1
                }
                pooled.replaceSubrange((b * d)..<((b + 1) * d), with: l2Normalized(sum.map { Float($0 / Double(real[b])) }))
            }
            return pooled
        }
        let hidden = hiddenStates(tokenIds: tokenIds, attentionMask: attentionMask, batch: batch, mode: mode)
        for b in 0..<batch {
            var sum = [Double](repeating: 0, count: d)
            var count = 0.0
            for l in 0..<length where attentionMask[b * length + l] != 0 {
                count += 1
                let row = (b * length + l) * d
                for i in 0..<d { sum[i] += Double(hidden[row + i]) }
            }
            let normalized = l2Normalized(sum.map { Float($0 / max(count, 1e-9)) })
            pooled.replaceSubrange((b * d)..<((b + 1) * d), with: normalized)
        }
        return pooled
    }

    /// Tokenizes `text` (truncated to `max_seq_length` tokens, as sentence-transformers does) and embeds it.
    /// - Returns: the unit-length embedding `[D]` and the tokens (their ``TokenizedText/truncatedCount`` tells
    ///   whether the text was cut).
    public func embed(_ text: String, tokenizer: WordPieceTokenizer) -> (embedding: [Float], tokens: TokenizedText) {
        let full = tokenizer.encode(text, contextLength: config.maxSeqLength)
        let ids = Array(full.ids.prefix(full.length))
        return (forward(tokenIds: ids, attentionMask: [Int](repeating: 1, count: ids.count), batch: 1), full)
    }
}

/// Exact GELU, `x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2)` (HF `hidden_act = "gelu"`), through
/// libm's erfc in double (no cancellation in the negative tail): the scalar reference that ``geluInPlace(_:)``, which
/// the models use, is tested against.
@inline(__always)
func gelu(_ x: Float) -> Float {
    Float(0.5 * Double(x) * erfc(-Double(x) / 2.0.squareRoot()))
}
