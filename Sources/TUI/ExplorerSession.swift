import Foundation
import SpikeCLIP
import Visualize

/// Builds an explorer from a checkpoint: model, tokenizer, ANN text model, image catalog and the initial state.
public enum ExplorerSession {
    /// True for an empty or whitespace-only (any Unicode White_Space) text.
    static func isBlank(_ text: String) -> Bool { text.unicodeScalars.allSatisfy { $0.properties.isWhitespace } }

    /// - Parameters:
    ///   - checkpoint: a SpikeCLIP checkpoint (docs/CHECKPOINT.md).
    ///   - assets: the assets folder (demo images, MiniLM).
    ///   - verifyANNTextHash: false only on the user's explicit request (`--ignore-ann-text-hash`).
    /// - Throws: ``BundleError`` (unknown tokenizer kind, missing vocabulary or ANN text model, hash mismatch),
    ///   ``CheckpointError``, ``TokenizerError``, MiniLM loading errors,
    ///   ``ExplorerError/emptyPrompt(index:)`` / ``ExplorerError/emptyTemplate(index:)`` for a blank prompt or template.
    public static func make(checkpoint: String, assets: String, glyphs: GlyphSet, prompts: [String]? = nil,
                            templates: [String]? = nil, verifyANNTextHash: Bool = true) throws -> Explorer {
        // Checked before the checkpoint is read: a typing mistake is reported at once.
        if let i = prompts?.firstIndex(where: isBlank) { throw ExplorerError.emptyPrompt(index: i + 1) }
        if let i = templates?.firstIndex(where: isBlank) { throw ExplorerError.emptyTemplate(index: i + 1) }
        let bundle = try CheckpointBundle(checkpoint: checkpoint, assets: assets, verifyANNTextHash: verifyANNTextHash)
        let provider = ModelAnalysisProvider(pipeline: SpikeCLIPPipeline(bundle: bundle))
        let catalog = ImageCatalog(preprocessor: bundle.preprocessor, demoDirectory: (assets as NSString).appendingPathComponent("images"))
        var state = ExplorerState(
            classNames: prompts ?? bundle.defaultClasses, templates: templates ?? bundle.defaultTemplates,
            glyphs: glyphs, directory: FileManager.default.currentDirectoryPath)
        if catalog.demo.isEmpty { state.source = .fashionMNIST }
        return Explorer(provider: provider, catalog: catalog, state: state, checkpointName: (checkpoint as NSString).lastPathComponent)
    }
}
