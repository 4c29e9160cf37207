import Foundation
import SpikeCLIP
import Visualize

/// Errors of the explorer's model session.
public enum ExplorerError: Error, CustomStringConvertible, Equatable {
    /// A prompt of an `ids` checkpoint is not a list of integers.
    case notTokenIds(prompt: String)
    case noPrompts
    case noTemplates
    /// A class prompt given at start (`--prompt`) is empty or only whitespace; `index` counts from 1.
    case emptyPrompt(index: Int)
    /// A template given at start (`--template`) is empty or only whitespace; `index` counts from 1.
    case emptyTemplate(index: Int)
    /// The ANN text model returned a different number of embeddings than it was given prompts.
    case annTextRows(prompts: Int, rows: Int)

    public var description: String {
        switch self {
        case let .notTokenIds(prompt):
            return "this checkpoint takes token ids (tokenizer kind 'ids'): '\(quotedPreview(prompt))' is not a list of integers"
        case .noPrompts: return "no class prompts: add one in the Prompts panel (a)"
        case .noTemplates: return "no prompt templates: add one in the Prompts panel (m, then a)"
        case let .emptyPrompt(index): return "class prompt \(index) is empty or only whitespace"
        case let .emptyTemplate(index): return "prompt template \(index) is empty or only whitespace"
        case let .annTextRows(prompts, rows): return "the ANN text model returned \(rows) embeddings for \(prompts) prompts"
        }
    }
}

/// The model-backed ``AnalysisProvider``: spiking encoders and ANN twin from a checkpoint, the WordPiece tokenizer,
/// and optionally the ANN text model (MiniLM) as a closure `prompts -> L2-normalised embeddings`.
public final class ModelAnalysisProvider: AnalysisProvider, @unchecked Sendable {
    public let model: SpikeCLIPModel
    let tokenizer: WordPieceTokenizer?
    let annText: (@Sendable ([String]) throws -> [[Float]])?
    private let lock = NSLock()
    private var textCache: (prompts: [String], membrane: [String: [Int]], embeddings: [[Float]], recording: Recording, ann: [[Float]]?)?
    /// ANN text embeddings per prompt: editing one class prompt re-embeds only its M expanded prompts (MiniLM is
    /// ~10 ms a prompt, the spiking text encoder microseconds, so only the ANN side is worth caching per prompt).
    private var annCache: [String: [Float]] = [:]
    /// Entries kept before the ANN cache is emptied (a few MB of embeddings).
    static let annCacheLimit = 4096

    /// - Parameters:
    ///   - tokenizer: required unless the checkpoint's tokenizer kind is `ids` (then prompts are integer lists).
    ///   - annText: the ANN text encoder; without it the ANN side shows only image-side numbers.
    public init(model: SpikeCLIPModel, tokenizer: WordPieceTokenizer?, annText: (@Sendable ([String]) throws -> [[Float]])?) {
        self.model = model
        self.tokenizer = tokenizer
        self.annText = annText
    }

    public var contextLength: Int { model.config.text.contextLength }

    public var layerNames: [String] { model.vision.lifLayerNames + model.text.lifLayerNames }

    public func tokens(of prompt: String) -> PromptTokens {
        if let tokenizer {
            let t = tokenizer.encode(prompt, contextLength: contextLength)
            return PromptTokens(text: prompt, count: t.untruncatedLength, truncated: t.truncatedCount)
        }
        let n = prompt.split(whereSeparator: \.isWhitespace).count
        return PromptTokens(text: prompt, count: n, truncated: max(0, n - contextLength))
    }

    /// Token ids `[L]` of one prompt.
    func tokenIds(_ prompt: String) throws -> [Int] {
        let l = contextLength
        if let tokenizer { return tokenizer.encode(prompt, contextLength: l).ids }
        var ids: [Int] = []
        for word in prompt.split(whereSeparator: \.isWhitespace) {
            guard let id = Int(word) else { throw ExplorerError.notTokenIds(prompt: prompt) }
            ids.append(id)
        }
        ids = Array(ids.prefix(l))
        return ids + [Int](repeating: model.config.tokenizer.padId, count: l - ids.count)
    }

    /// Spiking (and ANN) text embeddings of `prompts`, cached for the last prompt list and membrane request.
    /// - Parameter membrane: text-layer membrane traces wanted (layer -> flat indices into the per-step `[P, n]`).
    private func textSide(_ prompts: [String], membrane: [String: [Int]]) throws -> (embeddings: [[Float]], recording: Recording, ann: [[Float]]?) {
        lock.lock()
        if let c = textCache, c.prompts == prompts, c.membrane == membrane { lock.unlock(); return (c.embeddings, c.recording, c.ann) }
        lock.unlock()
        let ids = try prompts.map(tokenIds)
        let (flat, recording) = try model.text.forward(tokenIds: ids, mode: .blas, options: RecordingOptions(spikes: true, membrane: membrane))
        let dim = model.config.text.targetDim
        let rows = (0..<prompts.count).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) }
        let ann = try annText.map { try annEmbeddings(prompts, $0) }
        lock.lock()
        textCache = (prompts, membrane, rows, recording, ann)
        lock.unlock()
        return (rows, recording, ann)
    }

    /// ANN text embeddings of `prompts`, computing only those not cached (one call for all missing prompts).
    private func annEmbeddings(_ prompts: [String], _ encode: ([String]) throws -> [[Float]]) throws -> [[Float]] {
        var found: [String: [Float]] = [:]
        lock.lock()
        for p in prompts { found[p] = annCache[p] }
        lock.unlock()
        var missing: [String] = []
        var queued = Set<String>()
        for p in prompts where found[p] == nil && queued.insert(p).inserted { missing.append(p) }
        if !missing.isEmpty {
            let rows = try encode(missing)
            guard rows.count == missing.count else { throw ExplorerError.annTextRows(prompts: missing.count, rows: rows.count) }
            lock.lock()
            if annCache.count + missing.count > Self.annCacheLimit { annCache = [:] }
            for (p, r) in zip(missing, rows) { found[p] = r; annCache[p] = r }
            lock.unlock()
        }
        return prompts.map { found[$0]! }
    }

    public func analyze(_ request: AnalysisRequest) throws -> Analysis {
        let start = DispatchTime.now().uptimeNanoseconds
        guard !request.classNames.isEmpty else { throw ExplorerError.noPrompts }
        guard !request.activeTemplates.isEmpty else { throw ExplorerError.noTemplates }
        let config = model.config
        let prompts = request.expandedPrompts
        let m = request.activeTemplates.count
        let textLayers = Set(model.text.lifLayerNames)
        let text = try textSide(prompts, membrane: request.membrane.filter { textLayers.contains($0.key) })
        let vision = try model.vision.forwardDetailed(
            pixels: request.image.pixels, batch: 1, mode: .blas,
            options: RecordingOptions(spikes: true, membrane: request.membrane))
        let annImage = try model.annVision.forward(pixels: request.image.pixels, batch: 1)
        let scale = Float(config.logitScale)
        let snnClassifier = ZeroShotClassifier(textEmbeddings: text.embeddings, templatesPerClass: m, logitScale: scale)
        let snn = snnClassifier.score(imageEmbedding: vision.embedding)
        var ann: ZeroShotScores?
        var textCosines: [Float]?
        if let annRows = text.ann {
            let annClassifier = ZeroShotClassifier(textEmbeddings: annRows, templatesPerClass: m, logitScale: scale)
            ann = annClassifier.score(imageEmbedding: annImage)
            textCosines = zip(snnClassifier.classEmbeddings, annClassifier.classEmbeddings).map { cosine($0, $1) }
        } else {
            // No ANN text model: the ANN twin image encoder is scored against the spiking text embeddings (as `classify`).
            ann = snnClassifier.score(imageEmbedding: annImage)
        }
        let anytime = (1...config.T).map { t in
            snnClassifier.score(imageEmbedding: model.vision.readout(stepFeatures: vision.stepFeatures, batch: 1, steps: t)).probabilities
        }
        let textEnergy = try (0..<prompts.count).map { try EnergyAccounting.text(text.recording, config: config, prompt: $0) }
        return Analysis(
            generation: request.generation, classNames: request.classNames, prompts: prompts.map(tokens(of:)),
            templatesPerClass: m, snn: snn, ann: ann, imageCosine: cosine(vision.embedding, annImage), textCosines: textCosines,
            visionRecording: vision.recording, textRecording: text.recording,
            visionEnergy: try EnergyAccounting.vision(vision.recording, config: config, item: 0),
            annEnergy: EnergyAccounting.annVision(config: config), textEnergy: textEnergy, anytime: anytime,
            milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
}

/// Cosine similarity (0 when either vector is zero).
func cosine(_ a: [Float], _ b: [Float]) -> Float {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
    return na > 0 && nb > 0 ? Float(dot / (na.squareRoot() * nb.squareRoot())) : 0
}
