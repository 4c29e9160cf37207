import Foundation
import SpikeCLIP
import Visualize

/// Builds an explorer from a checkpoint: model, tokenizer, ANN text model, image catalog and the initial state.
public enum ExplorerSession {
    /// True for an empty or whitespace-only (any Unicode White_Space) text.
    static func isBlank(_ text: String) -> Bool { text.unicodeScalars.allSatisfy { $0.properties.isWhitespace } }

    /// A checkpoint's name in panels: the file name, with its folder when the name alone says nothing
    /// (`official-import/model.safetensors`).
    static func shortName(_ path: String) -> String {
        let name = (path as NSString).lastPathComponent
        let folder = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        return ["model.safetensors", "checkpoint.safetensors", "spikeclip.safetensors"].contains(name) && !folder.isEmpty ? folder + "/" + name : name
    }

    /// - Parameters:
    ///   - checkpoint: a SpikeCLIP checkpoint (docs/CHECKPOINT.md).
    ///   - assets: the assets folder (demo images, MiniLM).
    ///   - verifyANNTextHash: false only on the user's explicit request (`--ignore-ann-text-hash`).
    ///   - compare: a second checkpoint shown beside the first (issue 17), loaded the same way.
    ///   - kernels: which kernels compute the forward passes (`--kernels`).
    /// - Throws: ``BundleError`` (unknown tokenizer kind, missing vocabulary or ANN text model, hash mismatch),
    ///   ``CheckpointError``, ``TokenizerError``, MiniLM loading errors,
    ///   ``ExplorerError/emptyPrompt(index:)`` / ``ExplorerError/emptyTemplate(index:)`` for a blank prompt or template.
    public static func make(checkpoint: String, assets: String, glyphs: GlyphSet, prompts: [String]? = nil,
                            templates: [String]? = nil, verifyANNTextHash: Bool = true, compare: String? = nil,
                            kernels: KernelMode = .fastest) throws -> Explorer {
        // Checked before the checkpoint is read: a typing mistake is reported at once.
        if let i = prompts?.firstIndex(where: isBlank) { throw ExplorerError.emptyPrompt(index: i + 1) }
        if let i = templates?.firstIndex(where: isBlank) { throw ExplorerError.emptyTemplate(index: i + 1) }
        let bundle = try CheckpointBundle(checkpoint: checkpoint, assets: assets, verifyANNTextHash: verifyANNTextHash)
        let catalog = ImageCatalog(preprocessor: bundle.preprocessor, demoDirectory: (assets as NSString).appendingPathComponent("images"),
                                   preferredLabels: prompts ?? bundle.defaultClasses)
        let load: @Sendable (String) throws -> ComparingProvider.Side = { path in
            try comparisonSide(checkpoint: path, assets: assets, verifyANNTextHash: verifyANNTextHash, kernels: kernels)
        }
        let provider = ComparingProvider(first: ModelAnalysisProvider(pipeline: SpikeCLIPPipeline(bundle: bundle), kernels: kernels),
                                         second: try compare.map(load))
        var state = ExplorerState(
            classNames: prompts ?? bundle.defaultClasses, templates: templates ?? bundle.defaultTemplates,
            glyphs: glyphs, directory: FileManager.default.currentDirectoryPath)
        if catalog.demo.isEmpty { state.source = .fashionMNIST }
        let explorer = Explorer(provider: provider, catalog: catalog, state: state, checkpointName: (checkpoint as NSString).lastPathComponent)
        explorer.comparisonLoader = load
        explorer.cardCheckpoint = (checkpoint, bundle.model.config.provenance, bundle.model.config.logitScale)
        return explorer
    }

    /// A second checkpoint to show beside the first, loaded as the first is (its own preprocessing and tokenizer).
    /// - Throws: what ``CheckpointBundle`` throws (one line naming the file).
    public static func comparisonSide(checkpoint: String, assets: String, verifyANNTextHash: Bool = true,
                                      kernels: KernelMode = .fastest) throws -> ComparingProvider.Side {
        let bundle = try CheckpointBundle(checkpoint: checkpoint, assets: assets, verifyANNTextHash: verifyANNTextHash)
        return .init(provider: ModelAnalysisProvider(pipeline: SpikeCLIPPipeline(bundle: bundle), kernels: kernels),
                     catalog: ImageCatalog(preprocessor: bundle.preprocessor, demoDirectory: (assets as NSString).appendingPathComponent("images"),
                                           preferredLabels: bundle.defaultClasses),
                     name: shortName(checkpoint))
    }
}
