import Crypto
import Foundation

/// Why a checkpoint's companion files (vocabulary, ANN text model) could not be opened. One line each, naming the
/// checkpoint and the file.
public enum BundleError: Error, Equatable, CustomStringConvertible, Sendable {
    case noSuchCheckpoint(path: String)
    /// `tokenizer.kind` is none of ``TokenizerKind``.
    case unsupportedTokenizer(path: String, kind: String)
    /// A file the config names (`what`: "vocabulary", "ANN text model") is not next to the checkpoint, one folder up
    /// or under `assets`.
    case missingFile(path: String, what: String, file: String, assets: String)
    /// The ANN text model's SHA-256 differs from `ann_text.sha256` in the config.
    case annTextHashMismatch(path: String, file: String, expected: String, actual: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .noSuchCheckpoint(path): return "\(quotedPreview(path, limit: 400)): no such checkpoint file"
        case let .unsupportedTokenizer(path, kind):
            let known = TokenizerKind.allCases.map(\.rawValue).joined(separator: " or ")
            return "\(quotedPreview(path, limit: 400)): tokenizer kind '\(quotedPreview(kind))' is not supported (\(known))"
        case let .missingFile(path, what, file, assets):
            return "\(quotedPreview(path, limit: 400)): \(what) '\(quotedPreview(file, limit: 200))' not found next to the checkpoint, one folder up or in \(quotedPreview(assets, limit: 200))"
        case let .annTextHashMismatch(path, file, expected, actual):
            return "\(quotedPreview(path, limit: 400)): ANN text model '\(quotedPreview(file, limit: 200))' has sha256 \(actual), the checkpoint expects \(quotedPreview(expected, limit: 80)) (a different or damaged file; --ignore-ann-text-hash loads it anyway)"
        case let .unreadable(path, reason): return "\(quotedPreview(path, limit: 400)): cannot read: \(quotedPreview(reason, limit: 120))"
        }
    }
}

/// How prompts become token ids (`tokenizer.kind` in the config, docs/CHECKPOINT.md).
public enum TokenizerKind: String, Sendable, CaseIterable {
    /// BERT WordPiece with the vocabulary file the config names (the MiniLM family).
    case bertWordPiece = "bert-wordpiece"
    /// No tokenizer: prompts are whitespace-separated token ids (the random-weight parity fixtures).
    case ids

    /// The kind a config states; the one rule for the CLI and the explorer.
    /// - Throws: ``BundleError/unsupportedTokenizer(path:kind:)`` for any other string (never a silent fallback).
    public init(config: ModelConfig, path: String) throws {
        guard let kind = TokenizerKind(rawValue: config.tokenizer.kind) else {
            throw BundleError.unsupportedTokenizer(path: path, kind: config.tokenizer.kind)
        }
        self = kind
    }
}

/// A checkpoint with the files it names, found and checked: the model, its tokenizer, the ANN text model (MiniLM,
/// its SHA-256 checked against `ann_text.sha256`), the image preprocessor and the default classes and templates.
/// The one loader behind the CLI and the explorer.
public final class CheckpointBundle: @unchecked Sendable {
    public let path: String
    public let model: SpikeCLIPModel
    public let tokenizerKind: TokenizerKind
    /// The WordPiece tokenizer; nil for token-id checkpoints.
    public let tokenizer: WordPieceTokenizer?
    /// The ANN text model; nil when the config names none, it was not requested, or the checkpoint takes token ids.
    public let annText: MiniLMTextEncoder?
    public let preprocessor: ImagePreprocessor
    /// The config's class names; for token-id checkpoints the prompt rows of a golden file beside it (ids as text).
    public let defaultClasses: [String]
    /// The config's templates; `["{}"]` for token-id checkpoints.
    public let defaultTemplates: [String]

    /// - Parameters:
    ///   - checkpoint: a SpikeCLIP checkpoint (docs/CHECKPOINT.md).
    ///   - assets: the folder searched after the checkpoint's folder and its parent for the files the config names.
    ///   - loadANNText: load the ANN text model the config names (and check its hash).
    ///   - verifyANNTextHash: false only on the user's explicit request (`--ignore-ann-text-hash`).
    /// - Throws: ``BundleError``, ``CheckpointError``, ``TokenizerError``, MiniLM and preprocessing errors.
    public init(checkpoint: String, assets: String, loadANNText: Bool = true, verifyANNTextHash: Bool = true) throws {
        guard FileManager.default.fileExists(atPath: checkpoint) else { throw BundleError.noSuchCheckpoint(path: checkpoint) }
        let model = try SpikeCLIPModel(path: checkpoint)
        let c = model.config
        let kind = try TokenizerKind(config: c, path: checkpoint)
        var classes = c.classes
        var tokenizer: WordPieceTokenizer?
        switch kind {
        case .bertWordPiece:
            let file = c.tokenizer.vocabFile ?? ""
            guard let vocab = Self.locate(file, checkpoint: checkpoint, assets: assets) else {
                throw BundleError.missingFile(path: checkpoint, what: "vocabulary", file: file, assets: assets)
            }
            tokenizer = try WordPieceTokenizer(vocabPath: vocab)
        case .ids:
            let golden = ((checkpoint as NSString).deletingLastPathComponent as NSString).appendingPathComponent("golden.safetensors")
            if let f = try? SafeTensorsFile(path: golden), let shape = try? f.info("input.token_ids").shape, shape.count == 2,
               let ids = try? f.ints("input.token_ids") {
                let m = max(1, Int(f.metadata["num_templates"] ?? "1") ?? 1)
                classes = stride(from: 0, to: shape[0], by: m).map { row in
                    ids[(row * shape[1])..<((row + 1) * shape[1])].map(String.init).joined(separator: " ")
                }
            }
        }
        var annText: MiniLMTextEncoder?
        if loadANNText, let ref = c.annText, tokenizer != nil {
            guard let p = Self.locate(ref.file, checkpoint: checkpoint, assets: assets) else {
                throw BundleError.missingFile(path: checkpoint, what: "ANN text model", file: ref.file, assets: assets)
            }
            if verifyANNTextHash {
                let actual = try sha256Hex(path: p)
                guard actual == ref.sha256.lowercased() else {
                    throw BundleError.annTextHashMismatch(path: checkpoint, file: p, expected: ref.sha256, actual: actual)
                }
            }
            annText = try MiniLMTextEncoder(path: p)
        }
        self.path = checkpoint
        self.model = model
        self.tokenizerKind = kind
        self.tokenizer = tokenizer
        self.annText = annText
        self.preprocessor = try ImagePreprocessor(config: c.preprocess)
        self.defaultClasses = classes
        self.defaultTemplates = kind == .ids ? ["{}"] : c.templates
    }

    public var config: ModelConfig { model.config }

    /// `relative` next to the checkpoint, one folder up, or under `assets` (an absolute path as is), if it exists.
    public static func locate(_ relative: String, checkpoint: String, assets: String) -> String? {
        guard !relative.isEmpty else { return nil }
        if relative.hasPrefix("/") { return FileManager.default.fileExists(atPath: relative) ? relative : nil }
        let dir = (checkpoint as NSString).deletingLastPathComponent
        for base in [dir, (dir as NSString).deletingLastPathComponent, assets] {
            let p = (base as NSString).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }
}

/// SHA-256 of a file (swift-crypto, streamed in 1 MiB chunks), lowercase hex.
/// - Throws: ``BundleError/unreadable(path:reason:)``.
public func sha256Hex(path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw BundleError.unreadable(path: path, reason: "cannot open") }
    defer { try? handle.close() }
    var hasher = SHA256()
    while true {
        let chunk: Data
        do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch { throw BundleError.unreadable(path: path, reason: "\(error)") }
        if chunk.isEmpty { break }
        hasher.update(data: chunk)
    }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}
