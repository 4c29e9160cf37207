import Foundation

/// One prompt after tokenization: `L` ids and what it cost.
public struct TokenizedPrompt: Sendable, Equatable {
    public var text: String
    /// `[L]`, padded with the pad id.
    public var ids: [Int]
    /// Attention mask `[L]` (1 for real tokens).
    public var mask: [Int]
    /// Token strings of the real tokens (word pieces keep `##`; for token-id checkpoints the ids as text).
    public var pieces: [String]
    /// Tokens before truncation (with `[CLS]`/`[SEP]` for WordPiece).
    public var count: Int
    /// The pieces cut to fit `L`.
    public var truncatedPieces: [String]

    public init(text: String, ids: [Int], mask: [Int], pieces: [String], count: Int, truncatedPieces: [String]) {
        self.text = text
        self.ids = ids
        self.mask = mask
        self.pieces = pieces
        self.count = count
        self.truncatedPieces = truncatedPieces
    }
}

/// Why a prompt could not be tokenized.
public enum PromptError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A prompt of an `ids` checkpoint is not a list of integers.
    case notTokenIds(prompt: String)
    /// The ANN text model returned a different number of embeddings than it was given prompts.
    case annTextRows(prompts: Int, rows: Int)

    public var description: String {
        switch self {
        case let .notTokenIds(prompt):
            return "this checkpoint takes token ids (tokenizer kind 'ids'): '\(quotedPreview(prompt))' is not a list of integers"
        case let .annTextRows(prompts, rows): return "the ANN text model returned \(rows) embeddings for \(prompts) prompts"
        }
    }
}

/// Turns a prompt into the `L` token ids the spiking text encoder reads (a model family's tokenizer).
public protocol PromptTokenizer: Sendable {
    /// - Returns: exactly `contextLength` ids (truncated or padded) with mask, pieces and what was cut.
    /// - Throws: ``PromptError`` when the text cannot be tokenized (token-id checkpoints given words).
    func tokenize(_ text: String, contextLength: Int) throws -> TokenizedPrompt
    /// Token count before truncation and tokens cut to fit `contextLength`; cheap and total (the explorer calls it
    /// on every key while a prompt is typed).
    func count(_ text: String, contextLength: Int) -> (count: Int, truncated: Int)
}

/// The ANN text model a family scores the ANN side with (MiniLM for WordPiece checkpoints, CLIP's text tower).
public protocol ANNTextEncoding: Sendable {
    /// Short name shown in outputs (`minilm`).
    var name: String { get }
    /// Embeddings `[P][d]` of the same `L` tokens the spiking text encoder sees (as `training/` evaluates).
    /// - Throws: whatever the model throws (one line, naming the model).
    func embed(_ prompts: [TokenizedPrompt]) throws -> [[Float]]
    /// Dense operation counts of one prompt; nil when the model's are not counted (MiniLM).
    func energy(_ prompt: TokenizedPrompt, constants: EnergyConstants) -> EnergyReport?
}

extension ANNTextEncoding {
    public func energy(_ prompt: TokenizedPrompt, constants: EnergyConstants) -> EnergyReport? { nil }
}

/// A spiking image encoder: the layer graph, the forward pass with recording and per-step features, the readout.
public protocol SpikingImageEncoding: Sendable {
    var graph: LayerGraph { get }
    /// - Parameters: `pixels` `[B, C, H, W]`. - Throws: ``InputError``, ``InterventionError``.
    func forwardDetailed(pixels: [Float], batch: Int, mode: KernelMode, options: RecordingOptions,
                         interventions: InterventionSet) throws -> SpikingVisionEncoder.Output
    /// Embeddings `[B, target]` after the first `steps` time steps, from `stepFeatures` `[T, B, D]`.
    func readout(stepFeatures: [Float], batch: Int, steps: Int, mode: KernelMode) -> [Float]
}

/// A spiking text encoder: token ids `[P][L]` -> embeddings `[P * target]` and the recording.
public protocol SpikingTextEncoding: Sendable {
    var graph: LayerGraph { get }
    /// - Throws: ``InputError``, ``InterventionError``.
    func forward(tokenIds: [[Int]], mode: KernelMode, options: RecordingOptions,
                 interventions: InterventionSet) throws -> (embedding: [Float], recording: Recording)
}

extension SpikingImageEncoding {
    /// Without interventions.
    public func forwardDetailed(pixels: [Float], batch: Int, mode: KernelMode, options: RecordingOptions) throws -> SpikingVisionEncoder.Output {
        try forwardDetailed(pixels: pixels, batch: batch, mode: mode, options: options, interventions: .none)
    }
}

extension SpikingTextEncoding {
    /// Without interventions.
    public func forward(tokenIds: [[Int]], mode: KernelMode, options: RecordingOptions) throws -> (embedding: [Float], recording: Recording) {
        try forward(tokenIds: tokenIds, mode: mode, options: options, interventions: .none)
    }
}

/// The non-spiking image encoder compared against the spiking one (the ANN twin, or CLIP's image tower).
public protocol ANNImageEncoding: Sendable {
    /// Short name shown in outputs (`twin`, `clip`).
    var name: String { get }
    /// The input `[C, H, W]` it reads when that is not the spiking encoder's (CLIP: `[3, 224, 224]`), else nil.
    var ownInput: [Int]? { get }
    /// Embeddings `[B * target]` of `pixels` `[B, C, H, W]`. - Throws: ``InputError``, ``CLIPInputError``.
    func forward(pixels: [Float], batch: Int, mode: KernelMode) throws -> [Float]
    /// Dense operation counts of one image.
    func energy(constants: EnergyConstants) -> EnergyReport
}

extension SpikingVisionEncoder: SpikingImageEncoding {}
extension SpikingTextEncoder: SpikingTextEncoding {}
extension ANNVisionEncoder: ANNImageEncoding {
    public var name: String { "twin" }
    public var ownInput: [Int]? { nil }
    public func energy(constants: EnergyConstants) -> EnergyReport { EnergyAccounting.annVision(twin: twin, vision: config.vision, constants: constants) }
}

/// CLIP's image tower as the ANN image side of a checkpoint without a twin (converted official files, issue 14).
public struct CLIPImageTower: ANNImageEncoding {
    public let clip: CLIPModel

    public init(_ clip: CLIPModel) { self.clip = clip }

    public var name: String { "clip" }
    public var ownInput: [Int]? { [clip.config.numChannels, clip.config.imageSize, clip.config.imageSize] }
    /// Projected image features `[B * projection_dim]` of `pixels` `[B, 3, S, S]` (CLIP's processor output).
    public func forward(pixels: [Float], batch: Int, mode: KernelMode) throws -> [Float] {
        try clip.imageFeatures(pixels: pixels, batch: batch)
    }
    public func energy(constants: EnergyConstants) -> EnergyReport { EnergyAccounting.clipVision(clip.config, constants: constants) }
}

/// How a bundle is loaded.
public struct LoadOptions: Sendable {
    /// Load the ANN text model the config names (and check its hash).
    public var loadANNText: Bool
    /// False only on the user's explicit request (`--ignore-ann-text-hash`).
    public var verifyANNTextHash: Bool

    public init(loadANNText: Bool = true, verifyANNTextHash: Bool = true) {
        self.loadANNText = loadANNText
        self.verifyANNTextHash = verifyANNTextHash
    }
}

/// Where the files a config names are looked for: next to the checkpoint, one folder up, then `assets`.
public struct CompanionFiles: Sendable {
    public let checkpoint: String
    public let assets: String

    public init(checkpoint: String, assets: String) {
        self.checkpoint = checkpoint
        self.assets = assets
    }

    /// `relative` next to the checkpoint, one folder up, or under `assets` (an absolute path as is), if it exists.
    /// - Parameter accept: whether a candidate that exists is the kind of file wanted (a CLIP folder must hold its
    ///   files: `assets/clip` holds only the BPE vocabulary and must not stand in for a moved model folder `clip`).
    public func locate(_ relative: String, accept: (String) -> Bool = { _ in true }) -> String? {
        guard !relative.isEmpty else { return nil }
        if relative.hasPrefix("/") { return FileManager.default.fileExists(atPath: relative) && accept(relative) ? relative : nil }
        let dir = (checkpoint as NSString).deletingLastPathComponent
        for base in [dir, (dir as NSString).deletingLastPathComponent, assets] {
            let p = (base as NSString).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: p), accept(p) { return p }
        }
        return nil
    }

    /// A file, or a folder holding every one of `files`.
    public static func fileOrFolder(holding files: [String]) -> (String) -> Bool {
        { path in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return false }
            return !isFolder.boolValue || files.allSatisfy { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }
        }
    }

    /// The ANN text model the config names, found and, unless the user opted out, checked against `ann_text.sha256`.
    /// - Parameter weights: the file whose hash the config states, given the found path (itself, or a folder's
    ///   `model.safetensors`).
    /// - Throws: ``BundleError/missingFile(path:what:file:assets:)``, ``BundleError/annTextHashMismatch(path:file:expected:actual:)``.
    public func verifiedANNText(_ ref: ModelConfig.ANNTextReference, what: String, options: LoadOptions,
                                accept: (String) -> Bool = { _ in true }, weights: (String) -> String = { $0 }) throws -> String {
        let found = try require(ref.file, what: what, accept: accept)
        if options.verifyANNTextHash {
            let file = weights(found)
            let actual = try sha256Hex(path: file)
            guard actual == ref.sha256.lowercased() else {
                throw BundleError.annTextHashMismatch(path: checkpoint, file: file, expected: ref.sha256, actual: actual)
            }
        }
        return found
    }

    /// `relative`, found, or ``BundleError/missingFile(path:what:file:assets:)``.
    public func require(_ relative: String, what: String, accept: (String) -> Bool = { _ in true }) throws -> String {
        guard let p = locate(relative, accept: accept) else { throw BundleError.missingFile(path: checkpoint, what: what, file: relative, assets: assets) }
        return p
    }
}

/// Everything a model family supplies for one checkpoint.
public struct ModelParts: Sendable {
    public var tokenizer: any PromptTokenizer
    /// nil when the config names none, it was not requested, or the family has none.
    public var annText: (any ANNTextEncoding)?
    public var spikingImage: any SpikingImageEncoding
    public var spikingText: any SpikingTextEncoding
    /// The ANN twin, CLIP's image tower, or nil (an official file opened without its CLIP folder).
    public var annImage: (any ANNImageEncoding)?
    public var preprocessor: ImagePreprocessor
    public var defaultClasses: [String]
    public var defaultTemplates: [String]

    /// The checkpoint's own encoders and preprocessing, with the family's tokenizer and ANN text model.
    /// - Throws: ``ImageError`` from an unusable preprocessing config.
    /// - Parameter annImage: the ANN image encoder when the checkpoint has no twin (CLIP's image tower).
    public init(model: SpikeCLIPModel, tokenizer: any PromptTokenizer, annText: (any ANNTextEncoding)?,
                annImage: (any ANNImageEncoding)? = nil, defaultClasses: [String], defaultTemplates: [String]) throws {
        self.tokenizer = tokenizer
        self.annText = annText
        self.spikingImage = model.vision
        self.spikingText = model.text
        self.annImage = model.annVision ?? annImage
        self.preprocessor = try ImagePreprocessor(config: model.config.preprocess)
        self.defaultClasses = defaultClasses
        self.defaultTemplates = defaultTemplates
    }
}

/// A model family: the `tokenizer.kind` a config names it by, and how it builds its parts for a loaded checkpoint.
public struct ModelFamily: Sendable {
    /// The config's `tokenizer.kind`.
    public let kind: String
    /// One line for `inspect` and errors.
    public let summary: String
    public let build: @Sendable (_ model: SpikeCLIPModel, _ files: CompanionFiles, _ options: LoadOptions) throws -> ModelParts

    public init(kind: String, summary: String,
                build: @escaping @Sendable (_ model: SpikeCLIPModel, _ files: CompanionFiles, _ options: LoadOptions) throws -> ModelParts) {
        self.kind = kind
        self.summary = summary
        self.build = build
    }
}

/// The model families this build knows, keyed by `tokenizer.kind` (issue 12). A new family is one file defining a
/// ``ModelFamily`` plus one line here.
public enum ModelFamilies {
    public static let all: [ModelFamily] = [.wordPieceMiniLM, .tokenIDs, .clipBPE]

    /// The family a config names; the one rule for the CLI and the explorer.
    /// - Throws: ``BundleError/unsupportedTokenizer(path:kind:)`` for any other kind (never a silent fallback).
    public static func family(for config: ModelConfig, path: String) throws -> ModelFamily {
        guard let f = all.first(where: { $0.kind == config.tokenizer.kind }) else {
            throw BundleError.unsupportedTokenizer(path: path, kind: config.tokenizer.kind)
        }
        return f
    }
}

// MARK: - WordPiece + MiniLM

extension WordPieceTokenizer: PromptTokenizer {
    public func tokenize(_ text: String, contextLength l: Int) -> TokenizedPrompt {
        let t = encode(text, contextLength: l)
        let all = tokenize(text)
        let kept = max(0, l - 2)
        return TokenizedPrompt(text: text, ids: t.ids, mask: t.attentionMask, pieces: Array(t.pieces.prefix(t.length)),
                               count: t.untruncatedLength, truncatedPieces: all.count > kept ? Array(all[kept...]) : [])
    }

    public func count(_ text: String, contextLength l: Int) -> (count: Int, truncated: Int) {
        let t = encode(text, contextLength: l)
        return (t.untruncatedLength, t.truncatedCount)
    }
}

extension MiniLMTextEncoder: ANNTextEncoding {
    public var name: String { "minilm" }

    public func embed(_ prompts: [TokenizedPrompt]) -> [[Float]] {
        guard !prompts.isEmpty else { return [] }
        let flat = forward(tokenIds: prompts.flatMap(\.ids), attentionMask: prompts.flatMap(\.mask), batch: prompts.count)
        let d = dimension
        return (0..<prompts.count).map { Array(flat[($0 * d)..<(($0 + 1) * d)]) }
    }
}

extension ModelFamily {
    /// BERT WordPiece with the vocabulary the config names, MiniLM as the ANN text model (its SHA-256 checked
    /// against `ann_text.sha256`): the trained Fashion-MNIST default.
    public static let wordPieceMiniLM = ModelFamily(kind: "bert-wordpiece", summary: "BERT WordPiece tokenizer, MiniLM ANN text model") { model, files, options in
        let c = model.config
        let tokenizer = try WordPieceTokenizer(vocabPath: try files.require(c.tokenizer.vocabFile ?? "", what: "vocabulary"))
        var annText: MiniLMTextEncoder?
        if options.loadANNText, let ref = c.annText {
            annText = try MiniLMTextEncoder(path: try files.verifiedANNText(ref, what: "ANN text model", options: options))
        }
        return try ModelParts(model: model, tokenizer: tokenizer, annText: annText, defaultClasses: c.classes, defaultTemplates: c.templates)
    }
}

// MARK: - Token ids

/// Prompts are whitespace-separated token ids (the random-weight parity fixtures), cut or padded to `L`.
public struct TokenIDTokenizer: PromptTokenizer {
    public let padId: Int

    public init(padId: Int) { self.padId = padId }

    public func tokenize(_ text: String, contextLength l: Int) throws -> TokenizedPrompt {
        var ids: [Int] = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            guard let id = Int(word) else { throw PromptError.notTokenIds(prompt: text) }
            ids.append(id)
        }
        let kept = Array(ids.prefix(l))
        return TokenizedPrompt(
            text: text, ids: kept + [Int](repeating: padId, count: l - kept.count),
            mask: [Int](repeating: 1, count: kept.count) + [Int](repeating: 0, count: l - kept.count),
            pieces: kept.map(String.init), count: ids.count, truncatedPieces: ids.dropFirst(l).map(String.init))
    }

    public func count(_ text: String, contextLength l: Int) -> (count: Int, truncated: Int) {
        let n = text.split(whereSeparator: \.isWhitespace).count
        return (n, max(0, n - l))
    }
}

extension ModelFamily {
    /// No tokenizer and no ANN text model; the default classes are the prompt rows of a golden file beside the
    /// checkpoint (one per class), the template `{}`.
    public static let tokenIDs = ModelFamily(kind: "ids", summary: "token ids given directly, no ANN text model") { model, files, _ in
        var classes = model.config.classes
        let golden = ((files.checkpoint as NSString).deletingLastPathComponent as NSString).appendingPathComponent("golden.safetensors")
        if let f = try? SafeTensorsFile(path: golden), let shape = try? f.info("input.token_ids").shape, shape.count == 2,
           let ids = try? f.ints("input.token_ids") {
            let m = max(1, Int(f.metadata["num_templates"] ?? "1") ?? 1)
            classes = stride(from: 0, to: shape[0], by: m).map { row in
                ids[(row * shape[1])..<((row + 1) * shape[1])].map(String.init).joined(separator: " ")
            }
        }
        return try ModelParts(model: model, tokenizer: TokenIDTokenizer(padId: model.config.tokenizer.padId), annText: nil,
                              defaultClasses: classes, defaultTemplates: ["{}"])
    }
}

// MARK: - CLIP BPE + CLIP text tower

extension CLIPModel: ANNTextEncoding {
    public var name: String { "clip" }

    /// CLIP text features `[P][projection_dim]` of the real tokens of each prompt (`<|startoftext|>` ...
    /// `<|endoftext|>`), in batches (issue 15): prompts sorted by length, 32 to a pass, each pass cut to its longest
    /// prompt. The causal mask keeps every real token, the end token included, blind to the padding after it, so a
    /// prompt's features do not depend on its batch (the end token is found first, before any padding). Padding is the
    /// tokenizer's own, beyond each prompt's mask.
    /// - Throws: ``CLIPInputError`` (token ids outside the vocabulary, prompts longer than the positions).
    public func embed(_ prompts: [TokenizedPrompt]) throws -> [[Float]] {
        let d = config.projectionDim
        let lengths = prompts.map { max(1, $0.mask.reduce(0, +)) }
        let order = prompts.indices.sorted { lengths[$0] < lengths[$1] }
        var out = [[Float]](repeating: [], count: prompts.count)
        for start in stride(from: 0, to: order.count, by: 32) {
            let chunk = Array(order[start..<min(order.count, start + 32)])
            let l = chunk.map { lengths[$0] }.max()!
            let rows = chunk.map { i -> [Int] in
                let p = prompts[i].ids
                return p.count >= l ? Array(p.prefix(l)) : p + [Int](repeating: p.last ?? 0, count: l - p.count)
            }
            let features = try textFeatures(tokenIds: rows)
            let width = features.count / max(1, chunk.count)
            for (r, i) in chunk.enumerated() { out[i] = Array(features[(r * width)..<(r * width + min(d, width))]) }
        }
        return out
    }

    public func energy(_ prompt: TokenizedPrompt, constants: EnergyConstants) -> EnergyReport? {
        EnergyAccounting.clipText(config, tokens: prompt.mask.reduce(0, +), constants: constants)
    }
}

extension ModelFamily {
    /// CLIP's byte-level BPE (the vocabulary file the config names, by default CLIP's own in `assets/clip`, checked
    /// against `tokenizer.vocab_sha256` when given) and, when `ann_text.file` names a Hugging Face `CLIPModel` folder
    /// (its SHA-256 is that of the folder's `model.safetensors`), its text tower as the ANN text model and, for a
    /// checkpoint without a twin, its image tower as the ANN image model. The models trained with the official code.
    public static let clipBPE = ModelFamily(kind: "clip-bpe", summary: "CLIP byte-level BPE tokenizer, CLIP towers as the ANN side") { model, files, options in
        let c = model.config
        let vocab = try files.require(c.tokenizer.vocabFile ?? "clip/bpe_simple_vocab_16e6.txt.gz", what: "CLIP vocabulary",
                                      accept: CompanionFiles.fileOrFolder(holding: ["vocab.json", "merges.txt"]))
        if let want = c.tokenizer.vocabSha256 {
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: vocab, isDirectory: &isFolder)
            let file = isFolder.boolValue ? (vocab as NSString).appendingPathComponent("vocab.json") : vocab
            let actual = try sha256Hex(path: file)
            guard actual == want.lowercased() else {
                throw BundleError.vocabularyHashMismatch(path: files.checkpoint, file: file, expected: want, actual: actual)
            }
        }
        let tokenizer = try CLIPTokenizer(path: vocab)
        guard tokenizer.tokens.count == c.text.embedding.vocabSize else {
            throw BundleError.vocabularySizeMismatch(path: files.checkpoint, file: vocab, tokens: tokenizer.tokens.count, rows: c.text.embedding.vocabSize)
        }
        var clip: CLIPModel?
        if options.loadANNText, let ref = c.annText {
            clip = try CLIPModel(folder: try files.verifiedANNText(
                ref, what: "CLIP model folder", options: options, accept: CompanionFiles.fileOrFolder(holding: ["config.json", "model.safetensors"])
            ) { ($0 as NSString).appendingPathComponent("model.safetensors") })
        }
        if let clip, clip.config.projectionDim != c.text.targetDim {
            throw BundleError.unreadable(path: files.checkpoint, reason: "CLIP projection_dim \(clip.config.projectionDim) differs from the target width \(c.text.targetDim)")
        }
        if let clip, let crop = c.preprocess.clipCropSize, model.annVision == nil, crop != clip.config.imageSize {
            throw BundleError.unreadable(path: files.checkpoint, reason: "CLIP takes \(clip.config.imageSize) px images, the preprocessing crops \(crop)")
        }
        return try ModelParts(model: model, tokenizer: tokenizer, annText: clip, annImage: clip.map(CLIPImageTower.init),
                              defaultClasses: c.classes, defaultTemplates: c.templates)
    }
}
