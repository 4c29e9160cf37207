import Foundation
import SpikeCLIP
import Visualize

/// Builds an explorer from a checkpoint: model, tokenizer, ANN text model, image catalog and the initial state.
public enum ExplorerSession {
    /// Why the explorer could not start.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// True for an empty or whitespace-only (any Unicode White_Space) text.
    static func isBlank(_ text: String) -> Bool { text.unicodeScalars.allSatisfy { $0.properties.isWhitespace } }

    /// Finds `relative` next to the checkpoint, one folder up, or under `assets`.
    static func resolve(_ relative: String, checkpoint: String, assets: String) -> String? {
        if relative.hasPrefix("/") { return FileManager.default.fileExists(atPath: relative) ? relative : nil }
        let dir = (checkpoint as NSString).deletingLastPathComponent
        for base in [dir, (dir as NSString).deletingLastPathComponent, assets] {
            let p = (base as NSString).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }

    /// - Parameters:
    ///   - checkpoint: a SpikeCLIP checkpoint (docs/CHECKPOINT.md).
    ///   - assets: the assets folder (demo images, MiniLM).
    /// - Throws: ``CheckpointError``, ``TokenizerError``, MiniLM loading errors, ``SetupError``,
    ///   ``ExplorerError/emptyPrompt(index:)`` / ``ExplorerError/emptyTemplate(index:)`` for a blank prompt or template.
    public static func make(checkpoint: String, assets: String, glyphs: GlyphSet, prompts: [String]? = nil,
                            templates: [String]? = nil) throws -> Explorer {
        // Checked before the checkpoint is read: a typing mistake is reported at once.
        if let i = prompts?.firstIndex(where: isBlank) { throw ExplorerError.emptyPrompt(index: i + 1) }
        if let i = templates?.firstIndex(where: isBlank) { throw ExplorerError.emptyTemplate(index: i + 1) }
        let model = try SpikeCLIPModel(path: checkpoint)
        let c = model.config
        var tokenizer: WordPieceTokenizer?
        var classes = c.classes
        if c.tokenizer.kind == "bert-wordpiece" {
            guard let file = c.tokenizer.vocabFile, let vocab = resolve(file, checkpoint: checkpoint, assets: assets) else {
                throw SetupError(description: "\(checkpoint): vocabulary '\(c.tokenizer.vocabFile ?? "")' not found next to the checkpoint or in \(assets)")
            }
            tokenizer = try WordPieceTokenizer(vocabPath: vocab)
        } else {
            // Token-id checkpoints (parity fixtures): prompts are integer lists; take them from a golden file if one is beside it.
            let golden = ((checkpoint as NSString).deletingLastPathComponent as NSString).appendingPathComponent("golden.safetensors")
            if let f = try? SafeTensorsFile(path: golden), let shape = try? f.info("input.token_ids").shape, let ids = try? f.ints("input.token_ids") {
                let m = Int(f.metadata["num_templates"] ?? "1") ?? 1
                classes = stride(from: 0, to: shape[0], by: m).map { row in ids[(row * shape[1])..<((row + 1) * shape[1])].map(String.init).joined(separator: " ") }
            }
        }
        var annText: (@Sendable ([String]) throws -> [[Float]])?
        if let ref = c.annText, let tokenizer {
            guard let path = resolve(ref.file, checkpoint: checkpoint, assets: assets) else {
                throw SetupError(description: "\(checkpoint): ANN text model '\(ref.file)' not found next to the checkpoint or in \(assets)")
            }
            let minilm = try MiniLMTextEncoder(path: path)
            annText = { prompts in prompts.map { minilm.embed($0, tokenizer: tokenizer).embedding } }
        }
        let provider = ModelAnalysisProvider(model: model, tokenizer: tokenizer, annText: annText)
        let preprocessor = try ImagePreprocessor(config: c.preprocess)
        let catalog = ImageCatalog(preprocessor: preprocessor, demoDirectory: (assets as NSString).appendingPathComponent("images"))
        var state = ExplorerState(
            classNames: prompts ?? classes, templates: templates ?? (c.tokenizer.kind == "ids" ? ["{}"] : c.templates),
            glyphs: glyphs, directory: FileManager.default.currentDirectoryPath)
        if catalog.demo.isEmpty { state.source = .fashionMNIST }
        return Explorer(provider: provider, catalog: catalog, state: state, checkpointName: (checkpoint as NSString).lastPathComponent)
    }
}
