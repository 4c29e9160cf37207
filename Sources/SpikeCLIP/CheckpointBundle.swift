import Foundation

/// Why a checkpoint's companion files (vocabulary, ANN text model) could not be opened. One line each, naming the
/// checkpoint and the file.
public enum BundleError: Error, Equatable, CustomStringConvertible, Sendable {
    case noSuchCheckpoint(path: String)
    /// `tokenizer.kind` names none of ``ModelFamilies/all``.
    case unsupportedTokenizer(path: String, kind: String)
    /// A file the config names (`what`: "vocabulary", "ANN text model") is not next to the checkpoint, one folder up
    /// or under `assets`.
    case missingFile(path: String, what: String, file: String, assets: String)
    /// The ANN text model's SHA-256 differs from `ann_text.sha256` in the config.
    case annTextHashMismatch(path: String, file: String, expected: String, actual: String)
    /// The vocabulary's SHA-256 differs from `tokenizer.vocab_sha256`.
    case vocabularyHashMismatch(path: String, file: String, expected: String, actual: String)
    /// The vocabulary has another number of tokens than the text embedding has rows.
    case vocabularySizeMismatch(path: String, file: String, tokens: Int, rows: Int)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .noSuchCheckpoint(path): return "\(quotedPreview(path, limit: 400)): no such checkpoint file"
        case let .unsupportedTokenizer(path, kind):
            let known = ModelFamilies.all.map(\.kind).joined(separator: " or ")
            return "\(quotedPreview(path, limit: 400)): tokenizer kind '\(quotedPreview(kind))' is not supported (\(known))"
        case let .missingFile(path, what, file, assets):
            return "\(quotedPreview(path, limit: 400)): \(what) '\(quotedPreview(file, limit: 200))' not found next to the checkpoint, one folder up or in \(quotedPreview(assets, limit: 200))"
        case let .annTextHashMismatch(path, file, expected, actual):
            return "\(quotedPreview(path, limit: 400)): ANN text model '\(quotedPreview(file, limit: 200))' has sha256 \(actual), the checkpoint expects \(quotedPreview(expected, limit: 80)) (a different or damaged file; --ignore-ann-text-hash loads it anyway)"
        case let .vocabularyHashMismatch(path, file, expected, actual):
            return "\(quotedPreview(path, limit: 400)): vocabulary '\(quotedPreview(file, limit: 200))' has sha256 \(actual), the checkpoint expects \(quotedPreview(expected, limit: 80))"
        case let .vocabularySizeMismatch(path, file, tokens, rows):
            return "\(quotedPreview(path, limit: 400)): vocabulary '\(quotedPreview(file, limit: 200))' has \(tokens) tokens, the text embedding \(rows) rows"
        case let .unreadable(path, reason): return "\(quotedPreview(path, limit: 400)): cannot read: \(quotedPreview(reason, limit: 120))"
        }
    }
}

/// A checkpoint with the files it names, found and checked, and the parts its model family supplies (tokenizer, ANN
/// text model, encoders, preprocessing, default classes and templates). The one loader behind the CLI and the explorer.
public final class CheckpointBundle: @unchecked Sendable {
    public let path: String
    public let model: SpikeCLIPModel
    public let family: ModelFamily
    public let parts: ModelParts

    /// - Parameters:
    ///   - checkpoint: a SpikeCLIP checkpoint (docs/CHECKPOINT.md).
    ///   - assets: the folder searched after the checkpoint's folder and its parent for the files the config names.
    ///   - loadANNText: load the ANN text model the config names (and check its hash).
    ///   - verifyANNTextHash: false only on the user's explicit request (`--ignore-ann-text-hash`).
    /// - Throws: ``BundleError``, ``CheckpointError``, ``TokenizerError``, MiniLM and preprocessing errors.
    public init(checkpoint: String, assets: String, loadANNText: Bool = true, verifyANNTextHash: Bool = true) throws {
        guard FileManager.default.fileExists(atPath: checkpoint) else { throw BundleError.noSuchCheckpoint(path: checkpoint) }
        let model = try SpikeCLIPModel(path: checkpoint)
        let family = try ModelFamilies.family(for: model.config, path: checkpoint)
        self.parts = try family.build(model, CompanionFiles(checkpoint: checkpoint, assets: assets),
                                      LoadOptions(loadANNText: loadANNText, verifyANNTextHash: verifyANNTextHash))
        self.path = checkpoint
        self.model = model
        self.family = family
    }

    public var config: ModelConfig { model.config }
    public var preprocessor: ImagePreprocessor { parts.preprocessor }
    /// The family's default class names (for token-id checkpoints the prompt rows of a golden file beside it).
    public var defaultClasses: [String] { parts.defaultClasses }
    public var defaultTemplates: [String] { parts.defaultTemplates }
}
