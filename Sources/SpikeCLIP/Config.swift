import Foundation

/// The checkpoint's `config` JSON (docs/CHECKPOINT.md, SPEC section 3). Keys are snake_case in JSON.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Simulation time steps `T`.
    public var T: Int
    public var lif: LIFConfig
    /// BatchNorm epsilon used when folding BN into the preceding conv.
    public var batchNormEps: Double
    public var vision: VisionConfig
    /// The ANN twin; nil (JSON `null`) in a converted official file, whose ANN side is CLIP (``ModelFamily/clipBPE``).
    public var annVision: ANNVisionConfig?
    public var text: TextConfig
    /// Multiplier applied to cosines before the softmax (SPEC 1.5; official training uses 1).
    public var logitScale: Double
    public var preprocess: PreprocessConfig
    public var tokenizer: TokenizerConfig
    /// Default class names and prompt templates (`{}` is replaced by the class name).
    public var classes: [String]
    public var templates: [String]
    public var annText: ANNTextReference?
    /// Free-form provenance (data, seed, epochs, accuracies, git revision), kept as JSON.
    public var provenance: JSONValue?

    public struct LIFConfig: Codable, Sendable, Equatable {
        /// Neuron model of every spiking layer (``NeuronModels/kinds``); absent means `"lif"`.
        public var kind: String?
        public var tau: Double
        public var vThreshold: Double
        public var vReset: Double
        /// Threshold of the attention output neuron `attn_lif` (official: 0.5).
        public var attnVThreshold: Double
    }

    /// Spiking image encoder (`Vision_Encoder`).
    public struct VisionConfig: Codable, Sendable, Equatable {
        public var inChannels: Int
        /// `[H, W]`.
        public var imageSize: [Int]
        /// Width `D`.
        public var embedDims: Int
        public var numHeads: Int
        public var mlpRatios: Double
        public var depths: Int
        public var targetDim: Int
        /// MLP hidden width `int(D * mlp_ratios)`.
        public var hiddenDims: Int { Int(Double(embedDims) * mlpRatios) }
    }

    /// ANN twin (`CLIPv_encoder`); `in_channels` comes from ``VisionConfig``.
    public struct ANNVisionConfig: Codable, Sendable, Equatable {
        public var embedDims: Int
        public var numHeads: Int
        public var mlpRatios: Double
        public var depths: Int
        public var targetDim: Int
        public var layerNormEps: Double
        public var hiddenDims: Int { Int(Double(embedDims) * mlpRatios) }
    }

    /// Spiking text encoder (`Language_Encoder`).
    public struct TextConfig: Codable, Sendable, Equatable {
        /// Sequence length `L`.
        public var contextLength: Int
        /// Embedding width `E`.
        public var embedDim: Int
        public var hiddenDim: Int
        public var targetDim: Int
        public var embedding: EmbeddingConfig
    }

    /// The text encoder's input embedding module (`text.clip_embedding.*`).
    public struct EmbeddingConfig: Codable, Sendable, Equatable {
        /// `"bert"` (word + position + token type + LayerNorm) or `"clip"` (token + position).
        public var kind: String
        public var vocabSize: Int
        public var maxPositionEmbeddings: Int
        public var typeVocabSize: Int?
        public var layerNormEps: Double?
        /// `true`: each position's embedding `e` reaches `mlp_lif1` as `[e, -e]` (`fc1` reads `L*2E` values; not
        /// official, an issue 16 option, docs/CHECKPOINT.md). Absent or `false`: the official layout.
        public var signed: Bool?

        /// `", signed [e, -e]"` for a signed input, `""` otherwise: how `inspect`, `demo` and the layer graph name it.
        public static func signedNote(_ signed: Bool) -> String { signed ? ", signed [e, -e]" : "" }
    }

    public struct PreprocessConfig: Codable, Sendable, Equatable {
        /// `"normalize"` (absent: docs/PREPROCESSING.md) or `"clip-then-resize"` (the official SpikeCLIP input:
        /// `CLIPImageProcessor`, then bilinear to `image_size` as `F.interpolate(align_corners=False)`).
        public var kind: String?
        /// `[H, W]` of the spiking encoder's input.
        public var imageSize: [Int]
        public var channels: Int
        public var mean: [Double]
        public var std: [Double]
        /// CLIP's resize of the short side and center crop (`clip-then-resize` only), pixels.
        public var clipShortestEdge: Int?
        public var clipCropSize: Int?

        public static let kinds = ["normalize", "clip-then-resize"]
        public var isCLIPThenResize: Bool { kind == "clip-then-resize" }

        public init(kind: String? = nil, imageSize: [Int], channels: Int, mean: [Double], std: [Double],
                    clipShortestEdge: Int? = nil, clipCropSize: Int? = nil) {
            self.kind = kind
            self.imageSize = imageSize
            self.channels = channels
            self.mean = mean
            self.std = std
            self.clipShortestEdge = clipShortestEdge
            self.clipCropSize = clipCropSize
        }
    }

    public struct TokenizerConfig: Codable, Sendable, Equatable {
        /// `"bert-wordpiece"` or `"ids"` (callers pass token ids).
        public var kind: String
        public var vocabFile: String?
        /// SHA-256 of the vocabulary file (a folder: its `vocab.json`), checked at load when present.
        public var vocabSha256: String?
        public var contextLength: Int
        public var padId: Int
        public var clsId: Int?
        public var sepId: Int?
        public var unkId: Int?
        public var lowercase: Bool?
    }

    public struct ANNTextReference: Codable, Sendable, Equatable {
        public var file: String
        public var sha256: String
    }

    /// Decodes `json` (the metadata string).
    /// - Throws: ``CheckpointError/badConfig(path:reason:)``.
    public static func decode(_ json: String, path: String) throws -> ModelConfig {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let config: ModelConfig
        do {
            config = try decoder.decode(ModelConfig.self, from: Data(json.utf8))
        } catch let DecodingError.keyNotFound(key, context) {
            throw CheckpointError.badConfig(path: path, reason: "missing '\(codingPathString(context.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw CheckpointError.badConfig(path: path, reason: "wrong type at '\(codingPathString(context.codingPath))'")
        } catch let DecodingError.valueNotFound(_, context) {
            throw CheckpointError.badConfig(path: path, reason: "null at '\(codingPathString(context.codingPath))'")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            // A value that is not valid JSON text, e.g. a string with a lone surrogate escape (\ud800).
            throw CheckpointError.badConfig(path: path, reason: "invalid JSON text at '\(codingPathString(context.codingPath))'")
        } catch {
            throw CheckpointError.badConfig(path: path, reason: "config is not valid JSON")
        }
        try config.validate(path: path)
        return config
    }

    /// Largest width, depth, length, vocabulary size or time step count a config may state (2^20); far above any
    /// SpikeCLIP model, and small enough that products of three sizes fit in `Int`.
    public static let maxSize = 1 << 20

    /// Checks the invariants the engine relies on (SPEC section 2: H, W divisible by 4, D by 8 and h, ...).
    public func validate(path: String) throws {
        func fail(_ reason: String) -> CheckpointError { .badConfig(path: path, reason: reason) }
        // Sizes are bounded first, so that no shape product below (and none in the encoders) can overflow, and
        // mlp_ratios is checked before `hiddenDims` converts `D * mlp_ratios` to Int (which traps out of range).
        let sizes: [(String, Int)] = [
            ("T", T), ("vision.in_channels", vision.inChannels), ("vision.embed_dims", vision.embedDims),
            ("vision.num_heads", vision.numHeads), ("vision.depths", vision.depths), ("vision.target_dim", vision.targetDim),
            ("ann_vision.embed_dims", annVision?.embedDims ?? 0), ("ann_vision.num_heads", annVision?.numHeads ?? 0),
            ("ann_vision.depths", annVision?.depths ?? 0), ("ann_vision.target_dim", annVision?.targetDim ?? 0),
            ("preprocess.clip_shortest_edge", preprocess.clipShortestEdge ?? 0), ("preprocess.clip_crop_size", preprocess.clipCropSize ?? 0),
            ("text.context_length", text.contextLength), ("text.embed_dim", text.embedDim), ("text.hidden_dim", text.hiddenDim),
            ("text.target_dim", text.targetDim), ("text.embedding.vocab_size", text.embedding.vocabSize),
            ("text.embedding.max_position_embeddings", text.embedding.maxPositionEmbeddings),
            ("text.embedding.type_vocab_size", text.embedding.typeVocabSize ?? 0),
        ] + vision.imageSize.enumerated().map { ("vision.image_size[\($0.offset)]", $0.element) }
        for (name, value) in sizes where value > Self.maxSize {
            throw fail("\(name) \(value) is above the limit of \(Self.maxSize)")
        }
        for (name, ratio) in [("vision.mlp_ratios", vision.mlpRatios), ("ann_vision.mlp_ratios", annVision?.mlpRatios ?? 1)]
        where !(ratio.isFinite && ratio > 0 && ratio <= 64) {
            throw fail("\(name) \(ratio) must be in (0, 64]")
        }
        guard T >= 1 else { throw fail("T must be >= 1, got \(T)") }
        guard lif.tau > 0 else { throw fail("lif.tau must be > 0") }
        if let kind = lif.kind, !NeuronModels.kinds.contains(kind) {
            throw fail("lif.kind '\(quotedPreview(kind))' is not one of \(NeuronModels.kinds.joined(separator: ", "))")
        }
        guard vision.imageSize.count == 2 else { throw fail("vision.image_size must be [H, W]") }
        let (h, w) = (vision.imageSize[0], vision.imageSize[1])
        guard h > 0, w > 0, h % 4 == 0, w % 4 == 0 else { throw fail("vision.image_size \(vision.imageSize) must be positive multiples of 4") }
        guard vision.inChannels >= 1 else { throw fail("vision.in_channels must be >= 1") }
        guard vision.embedDims > 0, vision.embedDims % 8 == 0 else { throw fail("vision.embed_dims \(vision.embedDims) must be a positive multiple of 8") }
        guard vision.numHeads > 0, vision.embedDims % vision.numHeads == 0 else { throw fail("vision.embed_dims must be divisible by vision.num_heads") }
        if let annVision {
            guard annVision.embedDims > 0, annVision.embedDims % 8 == 0 else { throw fail("ann_vision.embed_dims must be a positive multiple of 8") }
            guard annVision.numHeads > 0, annVision.embedDims % annVision.numHeads == 0 else { throw fail("ann_vision.embed_dims must be divisible by ann_vision.num_heads") }
            guard annVision.depths >= 0 else { throw fail("depths must be >= 0") }
            guard annVision.hiddenDims > 0 else { throw fail("mlp_ratios must give a positive hidden width") }
            guard annVision.targetDim == text.targetDim else {
                throw fail("target_dim differs: ann_vision \(annVision.targetDim), text \(text.targetDim)")
            }
        }
        guard vision.depths >= 0 else { throw fail("depths must be >= 0") }
        guard vision.hiddenDims > 0 else { throw fail("mlp_ratios must give a positive hidden width") }
        guard vision.targetDim == text.targetDim, text.targetDim > 0 else {
            throw fail("target_dim differs: vision \(vision.targetDim), text \(text.targetDim)")
        }
        guard text.contextLength > 0, text.embedDim > 0, text.hiddenDim > 0 else { throw fail("text widths must be positive") }
        guard text.embedding.maxPositionEmbeddings >= text.contextLength else {
            throw fail("text.embedding.max_position_embeddings \(text.embedding.maxPositionEmbeddings) < context_length \(text.contextLength)")
        }
        guard text.embedding.vocabSize > 0 else { throw fail("text.embedding.vocab_size must be positive") }
        switch text.embedding.kind {
        case "bert":
            guard (text.embedding.typeVocabSize ?? 0) >= 1 else { throw fail("bert embedding needs type_vocab_size >= 1") }
        case "clip": break
        default: throw fail("text.embedding.kind '\(text.embedding.kind)' is not 'bert' or 'clip'")
        }
        guard preprocess.mean.count == vision.inChannels, preprocess.std.count == vision.inChannels,
            preprocess.std.allSatisfy({ $0 > 0 })
        else { throw fail("preprocess mean/std need \(vision.inChannels) entries and std > 0") }
        if let kind = preprocess.kind, !PreprocessConfig.kinds.contains(kind) {
            throw fail("preprocess.kind '\(quotedPreview(kind))' is not one of \(PreprocessConfig.kinds.joined(separator: ", "))")
        }
        if preprocess.isCLIPThenResize {
            guard let edge = preprocess.clipShortestEdge, let crop = preprocess.clipCropSize, (1...4096).contains(edge), (1...4096).contains(crop) else {
                throw fail("preprocess kind 'clip-then-resize' needs clip_shortest_edge and clip_crop_size in 1...4096")
            }
            guard preprocess.channels == 3 else { throw fail("preprocess kind 'clip-then-resize' gives 3 channels, not \(preprocess.channels)") }
        }
        if let sha = tokenizer.vocabSha256, !(sha.count == 64 && sha.allSatisfy(\.isHexDigit)) {
            throw fail("tokenizer.vocab_sha256 '\(quotedPreview(sha, limit: 80))' is not 64 hex digits")
        }
        if let ann = annText {
            guard ann.sha256.count == 64, ann.sha256.allSatisfy(\.isHexDigit) else {
                throw fail("ann_text.sha256 '\(quotedPreview(ann.sha256, limit: 80))' is not 64 hex digits")
            }
        }
        guard tokenizer.contextLength == text.contextLength else {
            throw fail("tokenizer.context_length \(tokenizer.contextLength) != text.context_length \(text.contextLength)")
        }
    }
}

/// A coding path as the file spells it (`ann_text.sha256`, not the Swift property names).
private func codingPathString(_ path: [CodingKey]) -> String {
    path.map { key in key.intValue.map { "[\($0)]" } ?? snakeCase(key.stringValue) }.joined(separator: ".")
}

private func snakeCase(_ name: String) -> String {
    var out = ""
    var previous: Character?
    for ch in name {
        // Only a capital after a lower-case letter or digit starts a new word (`annText`; `T` stays `T`).
        if ch.isUppercase, let p = previous, p.isLowercase || p.isNumber { out += "_" + ch.lowercased() } else { out.append(ch) }
        previous = ch
    }
    return out
}

/// A JSON value kept verbatim (provenance, free-form metadata).
public enum JSONValue: Codable, Sendable, Equatable {
    case string(String), number(Double), bool(Bool), null
    case array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        // Reached for text JSON cannot hold (a lone UTF-16 surrogate escape such as \ud800, at any depth).
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a valid JSON value") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n): try c.encode(n)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }
}
