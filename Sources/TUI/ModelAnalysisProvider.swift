import Foundation
import SpikeCLIP
import Visualize

/// Errors of the explorer's model session.
public enum ExplorerError: Error, CustomStringConvertible, Equatable {
    case noPrompts
    case noTemplates
    /// A class prompt given at start (`--prompt`) is empty or only whitespace; `index` counts from 1.
    case emptyPrompt(index: Int)
    /// A template given at start (`--template`) is empty or only whitespace; `index` counts from 1.
    case emptyTemplate(index: Int)

    public var description: String {
        switch self {
        case .noPrompts: return "no class prompts: add one in the Prompts panel (a)"
        case .noTemplates: return "no prompt templates: add one in the Prompts panel (m, then a)"
        case let .emptyPrompt(index): return "class prompt \(index) is empty or only whitespace"
        case let .emptyTemplate(index): return "prompt template \(index) is empty or only whitespace"
        }
    }
}

/// The model-backed ``AnalysisProvider``: the engine's ``SpikeCLIPPipeline`` (the same calls the CLI makes), with the
/// text side of the last prompt list kept, so that switching images re-runs only the image encoders.
public final class ModelAnalysisProvider: AnalysisProvider, @unchecked Sendable {
    public let pipeline: SpikeCLIPPipeline
    private let lock = NSLock()
    private var textCache: [TextKey: TextAnalysis] = [:]

    /// What the text side depends on.
    private struct TextKey: Hashable {
        var prompts: [String], perClass: Int, membrane: [String: [Int]], interventions: InterventionSet
    }

    /// Which kernels compute every forward pass (`--kernels`; default the fastest exact path).
    public let kernels: KernelMode

    public init(pipeline: SpikeCLIPPipeline, kernels: KernelMode = .fastest) { self.pipeline = pipeline; self.kernels = kernels }

    public var model: SpikeCLIPModel { pipeline.bundle.model }
    public var contextLength: Int { pipeline.contextLength }
    public var graphs: [LayerGraph] { [pipeline.parts.spikingImage.graph, pipeline.parts.spikingText.graph] }

    /// Token counts of prompt strings already seen: every frame of the Prompts panel asks for each class x template.
    private var tokenCache: [String: PromptTokens] = [:]

    public func tokens(of prompt: String) -> PromptTokens {
        lock.lock()
        if let t = tokenCache[prompt] { lock.unlock(); return t }
        lock.unlock()
        let c = pipeline.tokenCount(prompt)
        let t = PromptTokens(text: prompt, count: c.count, truncated: c.truncated)
        lock.lock()
        if tokenCache.count >= 4096 { tokenCache = [:] }
        tokenCache[prompt] = t
        lock.unlock()
        return t
    }

    /// The text side of `prompts`, cached (the last few prompt lists, membrane requests and intervention sets: the
    /// unmodified one stays beside the intervened one).
    /// - Parameter membrane: text-layer membrane traces wanted (layer -> flat indices into the per-step `[P, n]`).
    private func textSide(_ prompts: PromptSet, membrane: [String: [Int]], interventions: InterventionSet = .none) throws -> TextAnalysis {
        let key = TextKey(prompts: prompts.prompts, perClass: prompts.templatesPerClass, membrane: membrane, interventions: interventions)
        lock.lock()
        if let c = textCache[key] { lock.unlock(); return c }
        lock.unlock()
        let text = try pipeline.encodeText(prompts, mode: kernels, membrane: membrane, interventions: interventions)
        lock.lock()
        if textCache.count >= 4 { textCache = [:] }
        textCache[key] = text
        lock.unlock()
        return text
    }

    public func analyze(_ request: AnalysisRequest) throws -> Analysis {
        let start = DispatchTime.now().uptimeNanoseconds
        guard !request.classNames.isEmpty else { throw ExplorerError.noPrompts }
        guard !request.activeTemplates.isEmpty else { throw ExplorerError.noTemplates }
        let prompts = request.promptSet
        let textLayers = Set(pipeline.parts.spikingText.graph.neuronLayers.map(\.name))
        let textMembrane = request.membrane.filter { textLayers.contains($0.key) }
        let iv = request.interventions
        let text = try textSide(prompts, membrane: textMembrane, interventions: iv)
        let r = try pipeline.analyze(pixels: request.image.pixels, batch: 1, text: text,
                                     options: AnalysisOptions(mode: kernels, membrane: request.membrane, anytime: true, interventions: iv),
                                     annPixels: request.image.clipPixels)
        let image = r.images[0]
        var baseline: Analysis.Baseline?
        if !iv.isEmpty && request.wantBaseline {
            // The unmodified model on the same inputs (no ANN side, no traces): what every delta is against.
            let plain = try textSide(prompts, membrane: [:])
            let b = try pipeline.analyze(pixels: request.image.pixels, batch: 1, text: plain,
                                         options: AnalysisOptions(mode: kernels, ann: false))
            var rates: [String: Double] = [:]
            for l in b.recording.layers + plain.recording.layers { rates[l.name] = l.firingRate(item: 0) }
            baseline = Analysis.Baseline(snn: b.images[0].snn!, visionEnergy: b.images[0].energy!, rates: rates)
        }
        return Analysis(
            generation: request.generation, classNames: request.classNames, prompts: prompts.prompts.map(tokens(of:)),
            templatesPerClass: prompts.templatesPerClass, snn: image.snn!, ann: image.ann, imageCosine: image.imageCosine,
            annName: image.ann == nil ? nil : pipeline.annImageName,
            textCosines: text.textCosines, visionRecording: r.recording, textRecording: text.recording,
            visionEnergy: image.energy!, annEnergy: image.ann == nil ? nil : r.annEnergy, annTextEnergy: text.annTextEnergy,
            textEnergy: try prompts.prompts.indices.map { try text.energy(prompt: $0) }, anytime: image.anytime ?? [],
            milliseconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6, baseline: baseline, interventions: iv)
    }
}

/// Two checkpoints side by side (`--compare`, or loaded from the explorer's directory browser; issue 17): every
/// analysis of the first is followed by the second's on the same image (prepared by its own preprocessing from the
/// decoded file) and prompts (through its own tokenizer); the second's numbers ride along in ``Analysis/compared``.
/// Interventions apply to the first only. Without a second checkpoint it passes the first's analyses through; the
/// second can be set and removed while analyses run (the next analysis sees the change).
public final class ComparingProvider: AnalysisProvider, @unchecked Sendable {
    /// The second checkpoint: its analyses, its image preparation and its name in panels.
    public struct Side: Sendable {
        public var provider: AnalysisProvider
        public var catalog: ImageCatalog
        public var name: String
        public init(provider: AnalysisProvider, catalog: ImageCatalog, name: String) {
            self.provider = provider
            self.catalog = catalog
            self.name = name
        }
    }

    public let first: AnalysisProvider
    private let lock = NSLock()
    private var side: Side?

    public init(first: AnalysisProvider, second: Side? = nil) {
        self.first = first
        self.side = second
    }

    /// The second checkpoint, nil when there is none.
    public var second: Side? {
        get { lock.lock(); defer { lock.unlock() }; return side }
        set { lock.lock(); side = newValue; lock.unlock() }
    }

    public var contextLength: Int { first.contextLength }
    public var graphs: [LayerGraph] { first.graphs }
    public func tokens(of prompt: String) -> PromptTokens { first.tokens(of: prompt) }

    public func analyze(_ request: AnalysisRequest) throws -> Analysis {
        var a = try first.analyze(request)
        // Lesion and sweep runs ask for no baseline: the first checkpoint only.
        guard let side = second, request.wantBaseline, let decoded = request.image.decoded else { return a }
        var r = request
        r.image = side.catalog.input(from: decoded, title: request.image.title, label: request.image.label)
        r.interventions = .none
        r.membrane = [:]
        do {
            let b = try side.provider.analyze(r)
            var rates: [String: Double] = [:]
            for l in b.visionRecording.layers + b.textRecording.layers { rates[l.name] = l.firingRate(item: 0) }
            a.compared = .init(name: side.name, snn: b.snn, ann: b.ann, visionEnergy: b.visionEnergy, rates: rates)
        } catch {
            a.compared = .init(name: side.name, snn: a.snn, ann: nil, visionEnergy: a.visionEnergy, rates: [:], error: "\(error)")
        }
        return a
    }
}
