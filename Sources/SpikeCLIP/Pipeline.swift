import Foundation

/// Class names and prompt templates, expanded class-major (SPEC 1.5; docs/CHECKPOINT.md order): prompt `c * M + m`
/// is template `m` filled with class `c`.
public struct PromptSet: Sendable, Equatable {
    /// `K` class names.
    public let classes: [String]
    /// `M`.
    public let templatesPerClass: Int
    /// `K * M` prompts.
    public let prompts: [String]

    /// - Precondition: `templates` is not empty.
    public init(classes: [String], templates: [String]) {
        precondition(!templates.isEmpty, "a prompt set needs at least one template")
        self.classes = classes
        self.templatesPerClass = templates.count
        self.prompts = classes.flatMap { name in templates.map { Self.fill($0, with: name) } }
    }

    /// Prompts given already expanded (golden fixtures): `prompts.count == classes.count * templatesPerClass`.
    public init(classes: [String], prompts: [String], templatesPerClass: Int) {
        precondition(templatesPerClass > 0 && prompts.count == classes.count * templatesPerClass)
        self.classes = classes
        self.templatesPerClass = templatesPerClass
        self.prompts = prompts
    }

    /// `{}` in `template` replaced by `name`; a template without `{}` gets the name appended.
    public static func fill(_ template: String, with name: String) -> String {
        template.contains("{}") ? template.replacingOccurrences(of: "{}", with: name) : template + " " + name
    }
}

/// The text side of zero-shot scoring: tokens, spiking (and ANN) text embeddings, the class embeddings of both sides.
public struct TextAnalysis: Sendable {
    public let prompts: PromptSet
    /// One per prompt.
    public let tokens: [TokenizedPrompt]
    /// Spiking text embeddings `[P][target]` (not normalised).
    public let snnEmbeddings: [[Float]]
    /// ANN text model embeddings `[P][d]`, nil without one.
    public let annEmbeddings: [[Float]]?
    /// The spiking text encoder's recording (`[T, P, ...]`).
    public let recording: Recording
    /// The spiking side's classifier.
    public let snn: ZeroShotClassifier
    /// The ANN side's: the ANN text model's, or the spiking one when the checkpoint has none.
    public let ann: ZeroShotClassifier
    /// Which text encoder scores the ANN side: the ANN text model's name, or `spiking`.
    public let annTextEncoder: String
    /// The ANN text model's dense counts per prompt (CLIP's text tower); nil when it has none or is not counted.
    public let annTextEnergy: [EnergyReport]?
    /// Per class: cosine between the spiking and ANN class embeddings (nil without an ANN text model).
    public let textCosines: [Float]?
    let graph: LayerGraph
    /// Time steps the text side's readout used (interventions may stop early).
    let steps: Int?

    /// Operation counts of prompt `p` through the spiking text encoder. - Throws: ``EnergyError``.
    public func energy(prompt p: Int, constants: EnergyConstants = .horowitz45nm) throws -> EnergyReport {
        try EnergyAccounting.walk(graph, recording, item: p, constants: constants, steps: steps)
    }
}

/// What ``SpikeCLIPPipeline/analyze(pixels:batch:text:options:)`` computes.
public struct AnalysisOptions: Sendable {
    public var mode: KernelMode
    /// Run the spiking image encoder (scores, recording, energy).
    public var spiking: Bool
    /// Run the ANN image encoder (its scores and the image cosine). An encoder that reads its own view (CLIP) runs
    /// only when the caller gives that view.
    public var ann: Bool
    /// Record every spiking layer's spikes (energy needs them).
    public var spikes: Bool
    /// Membrane traces wanted: layer -> flat indices into the per-step `[B, ...]` tensor.
    public var membrane: [String: [Int]]
    /// Per-image energy reports.
    public var energy: Bool
    /// Class probabilities after each time step (``ImageAnalysis/anytime``).
    public var anytime: Bool
    /// Changes to the spiking image encoder's forward pass (issue 17); the text side takes its own in ``SpikeCLIPPipeline/encodeText(_:mode:membrane:interventions:)``.
    public var interventions: InterventionSet

    public init(mode: KernelMode = .fastest, spiking: Bool = true, ann: Bool = true, spikes: Bool = true,
                membrane: [String: [Int]] = [:], energy: Bool = true, anytime: Bool = false, interventions: InterventionSet = .none) {
        self.interventions = interventions
        self.mode = mode
        self.spiking = spiking
        self.ann = ann
        self.spikes = spikes || energy
        self.membrane = membrane
        self.energy = energy
        self.anytime = anytime
    }
}

/// One image's zero-shot result on both sides.
public struct ImageAnalysis: Sendable {
    /// Spiking image encoder vs spiking text encoder.
    public let snn: ZeroShotScores?
    /// ANN image encoder vs the ANN text model (or the spiking text embeddings without one).
    public let ann: ZeroShotScores?
    /// Cosine between the spiking and ANN image embeddings (both sides run).
    public let imageCosine: Float?
    /// The spiking image encoder's operation counts.
    public let energy: EnergyReport?
    /// Class probabilities after `t = 1...T` steps (partial time-weighted readout), `[T][K]`.
    public let anytime: [[Float]]?
}

/// ``ImageAnalysis`` for every image of a batch, with the batch's recording.
public struct ImageBatchAnalysis: Sendable {
    public let images: [ImageAnalysis]
    /// The spiking image encoder's recording `[T, B, ...]` (empty when it did not run).
    public let recording: Recording
    /// The ANN image encoder's dense counts for one image; nil without one.
    public let annEnergy: EnergyReport?
}

/// The one analysis API behind the CLI and the explorer (issue 12): tokenize, encode the prompts, score images on the
/// spiking side and the ANN side, with recordings, energy and anytime readouts. Thread-safe; the ANN text embeddings
/// are cached per prompt (MiniLM costs ~10 ms a prompt, the spiking text encoder microseconds).
public final class SpikeCLIPPipeline: @unchecked Sendable {
    public let bundle: CheckpointBundle
    /// The parts in use: the bundle's, unless the caller substituted some (a test's stand-in ANN text model, an
    /// experiment's encoder).
    public let parts: ModelParts
    private let lock = NSLock()
    private var annCache: [[Int]: [Float]] = [:]
    /// Entries kept before the ANN cache is emptied (a few MB of embeddings).
    static let annCacheLimit = 4096

    public init(bundle: CheckpointBundle, parts: ModelParts? = nil) {
        self.bundle = bundle
        self.parts = parts ?? bundle.parts
    }

    public var config: ModelConfig { bundle.config }
    public var contextLength: Int { config.text.contextLength }
    /// Spiking layer names, image encoder then text encoder, in forward order.
    public var neuronLayerNames: [String] { (parts.spikingImage.graph.neuronLayers + parts.spikingText.graph.neuronLayers).map(\.name) }

    /// One prompt as the spiking text encoder sees it. - Throws: ``PromptError``.
    public func tokenize(_ text: String) throws -> TokenizedPrompt { try parts.tokenizer.tokenize(text, contextLength: contextLength) }

    /// Token count and truncation of one prompt (cheap, total).
    public func tokenCount(_ text: String) -> (count: Int, truncated: Int) { parts.tokenizer.count(text, contextLength: contextLength) }

    /// Decodes and preprocesses an image file to `[C, H, W]`. - Throws: ``ImageError`` (its message starts with the path).
    public func loadImage(_ path: String) throws -> [Float] { parts.preprocessor(try ImageDecoder.decode(path: path)) }

    /// Both sides' inputs of an image file (``PreparedImage``). - Throws: ``ImageError``.
    public func prepare(_ path: String) throws -> PreparedImage { prepare(try ImageDecoder.decode(path: path)) }

    /// Both sides' inputs of a decoded image; CLIP's view only when the ANN image encoder reads it.
    public func prepare(_ image: DecodedImage) -> PreparedImage {
        var p = parts.preprocessor.views(image)
        if parts.annImage?.ownInput == nil { p.clip = nil }
        return p
    }

    /// What the ANN side is, for display: `ANN twin`, `CLIP`, or nil when there is none.
    public var annImageName: String? { parts.annImage.map { $0.name == "clip" ? "CLIP" : "ANN twin" } }

    /// Encodes every prompt on both sides and builds the two classifiers.
    /// - Parameters: `membrane`: text-layer traces (layer -> flat indices into the per-step `[P, n]` tensor).
    ///   `interventions`: changes to the spiking text encoder's forward pass (issue 17).
    /// - Throws: ``PromptError`` (untokenizable prompt, ANN text model row count), ``InputError``, ``InterventionError``,
    ///   the ANN text model's errors.
    public func encodeText(_ prompts: PromptSet, mode: KernelMode = .fastest, membrane: [String: [Int]] = [:],
                           interventions: InterventionSet = .none) throws -> TextAnalysis {
        let tokens = try prompts.prompts.map(tokenize)
        let rows: [[Float]], recording: Recording
        if membrane.isEmpty && interventions.isEmpty {
            (rows, recording) = try spikingTextCached(tokens.map(\.ids), mode: mode)
        } else {
            let (flat, rec) = try parts.spikingText.forward(tokenIds: tokens.map(\.ids), mode: mode,
                                                            options: RecordingOptions(spikes: true, membrane: membrane),
                                                            interventions: interventions)
            let dim = config.text.targetDim
            rows = (0..<tokens.count).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) }
            recording = rec
        }
        let scale = Float(config.logitScale), m = prompts.templatesPerClass
        let snn = ZeroShotClassifier(textEmbeddings: rows, templatesPerClass: m, logitScale: scale)
        let annRows = try parts.annText.map { try annEmbeddings(tokens, $0) }
        let ann = annRows.map { ZeroShotClassifier(textEmbeddings: $0, templatesPerClass: m, logitScale: scale) }
        let textCosines = ann.map { a in zip(snn.classEmbeddings, a.classEmbeddings).map { cosine($0, $1) } }
        var annTextEnergy: [EnergyReport]?
        if let encoder = parts.annText {
            let reports = tokens.compactMap { encoder.energy($0, constants: .horowitz45nm) }
            annTextEnergy = reports.count == tokens.count ? reports : nil
        }
        return TextAnalysis(prompts: prompts, tokens: tokens, snnEmbeddings: rows, annEmbeddings: annRows, recording: recording,
                            snn: snn, ann: ann ?? snn, annTextEncoder: parts.annText?.name ?? "spiking", annTextEnergy: annTextEnergy,
                            textCosines: textCosines, graph: parts.spikingText.graph, steps: interventions.steps)
    }

    /// One prompt's spiking text result: its embedding and, per text layer, its spikes `[T, n]`.
    struct SpikingTextRow { var embedding: [Float]; var spikes: [SpikeBits] }
    private var spikingTextCache: [[Int]: SpikingTextRow] = [:]
    private var spikingTextCacheMode: KernelMode?
    /// The text layers' names, per-prompt shapes and thresholds (from the first forward pass).
    private var spikingTextLayout: [(name: String, itemShape: [Int], threshold: Float)]?

    /// The spiking text encoder over `ids`, encoding only the prompts not cached (issue 15: adding a class prompt
    /// encodes its M prompts, not all K x M). Prompts are independent in the encoder, so a prompt's embedding and
    /// spikes do not depend on the others; the recording is assembled in `[T, P, ...]` order as a single pass gives it.
    private func spikingTextCached(_ ids: [[Int]], mode: KernelMode) throws -> (rows: [[Float]], recording: Recording) {
        var found: [[Int]: SpikingTextRow] = [:]
        lock.lock()
        if spikingTextCacheMode != mode { spikingTextCache = [:]; spikingTextCacheMode = mode }
        for row in ids { found[row] = spikingTextCache[row] }
        var layout = spikingTextLayout
        lock.unlock()
        var missing: [[Int]] = [], queued = Set<[Int]>()
        for row in ids where found[row] == nil && queued.insert(row).inserted { missing.append(row) }
        if !missing.isEmpty {
            let (flat, rec) = try parts.spikingText.forward(tokenIds: missing, mode: mode, options: RecordingOptions(spikes: true), interventions: .none)
            let dim = config.text.targetDim
            layout = rec.layers.map { ($0.name, Array($0.shape.dropFirst(2)), $0.threshold) }
            for (m, row) in missing.enumerated() {
                let spikes = rec.layers.map { l -> SpikeBits in
                    var own = SpikeBits(zeros: l.steps * l.neuronsPerItem)
                    for t in 0..<l.steps {
                        let base = t * l.neuronsPerStep + m * l.neuronsPerItem
                        own.insert(l.spikes, base..<(base + l.neuronsPerItem), at: t * l.neuronsPerItem)
                    }
                    return own
                }
                found[row] = SpikingTextRow(embedding: Array(flat[(m * dim)..<((m + 1) * dim)]), spikes: spikes)
            }
            lock.lock()
            spikingTextLayout = layout
            if spikingTextCache.count + missing.count > Self.annCacheLimit { spikingTextCache = [:] }
            for row in missing { spikingTextCache[row] = found[row] }
            lock.unlock()
        }
        var recording = Recording()
        let steps = config.T
        for (l, spec) in (layout ?? []).enumerated() {
            let n = spec.itemShape.reduce(1, *)
            var spikes = SpikeBits(zeros: steps * ids.count * n)
            for (p, row) in ids.enumerated() {
                let own = found[row]!.spikes[l]
                for t in 0..<steps { spikes.insert(own, (t * n)..<((t + 1) * n), at: (t * ids.count + p) * n) }
            }
            recording.append(LayerRecording(name: spec.name, shape: [steps, ids.count] + spec.itemShape, threshold: spec.threshold, spikes: spikes, membrane: [:]))
        }
        return (ids.map { found[$0]!.embedding }, recording)
    }

    /// ANN text embeddings, computing only the token rows not cached (one call for all missing rows).
    private func annEmbeddings(_ tokens: [TokenizedPrompt], _ encoder: any ANNTextEncoding) throws -> [[Float]] {
        var found: [[Int]: [Float]] = [:]
        lock.lock()
        for t in tokens { found[t.ids] = annCache[t.ids] }
        lock.unlock()
        var missing: [TokenizedPrompt] = []
        var queued = Set<[Int]>()
        for t in tokens where found[t.ids] == nil && queued.insert(t.ids).inserted { missing.append(t) }
        if !missing.isEmpty {
            let rows = try encoder.embed(missing)
            guard rows.count == missing.count else { throw PromptError.annTextRows(prompts: missing.count, rows: rows.count) }
            lock.lock()
            if annCache.count + missing.count > Self.annCacheLimit { annCache = [:] }
            for (t, r) in zip(missing, rows) { found[t.ids] = r; annCache[t.ids] = r }
            lock.unlock()
        }
        return tokens.map { found[$0.ids]! }
    }

    /// Scores prepared images (both sides' views) against the prompts of `text`.
    /// - Throws: as ``analyze(pixels:batch:text:options:annPixels:)``.
    public func analyze(images: [PreparedImage], text: TextAnalysis, options: AnalysisOptions = AnalysisOptions()) throws -> ImageBatchAnalysis {
        let clip = images.allSatisfy { $0.clip != nil } ? images.flatMap { $0.clip! } : nil
        return try analyze(pixels: images.flatMap(\.spiking), batch: images.count, text: text, options: options, annPixels: clip)
    }

    /// Scores `B` images against the prompts of `text`.
    /// - Parameters: `pixels` preprocessed `[B, C, H, W]`; `annPixels` the ANN image encoder's own view `[B, 3, S, S]`
    ///   when it reads one (CLIP), else ignored: without it such an encoder does not run.
    /// - Throws: ``InputError`` (wrong pixel count), ``CLIPInputError``, ``EnergyError``.
    public func analyze(pixels: [Float], batch b: Int, text: TextAnalysis, options: AnalysisOptions = AnalysisOptions(),
                        annPixels: [Float]? = nil) throws -> ImageBatchAnalysis {
        let dim = config.text.targetDim, t = config.T
        let image = parts.spikingImage
        let side = try imageSide(ImageSideKey(pixels: pixels, annPixels: annPixels, batch: b, options: options))
        let (snnOut, annOut) = (side.snn, side.ann)
        func row(_ flat: [Float], _ i: Int) -> [Float] { Array(flat[(i * dim)..<((i + 1) * dim)]) }
        var images: [ImageAnalysis] = []
        for i in 0..<b {
            let snnEmbedding = snnOut.map { row($0.embedding, i) }
            let annEmbedding = annOut.map { row($0, i) }
            var anytime: [[Float]]?
            if options.anytime, let out = snnOut {
                // Only the steps run when the pass stops early (issue 17).
                anytime = (1...min(t, options.interventions.steps ?? t)).map { steps in
                    text.snn.score(imageEmbedding: row(image.readout(stepFeatures: out.stepFeatures, batch: b, steps: steps, mode: options.mode), i)).probabilities
                }
            }
            var imageCosine: Float?
            if let s = snnEmbedding, let a = annEmbedding { imageCosine = cosine(s, a) }
            images.append(ImageAnalysis(
                snn: snnEmbedding.map { text.snn.score(imageEmbedding: $0) }, ann: annEmbedding.map { text.ann.score(imageEmbedding: $0) },
                imageCosine: imageCosine,
                energy: side.energy[i],
                anytime: anytime))
        }
        return ImageBatchAnalysis(images: images, recording: snnOut?.recording ?? Recording(), annEnergy: parts.annImage?.energy(constants: .horowitz45nm))
    }

    /// What the image side of an analysis depends on: its inputs and every option that changes its forward passes.
    struct ImageSideKey: Equatable {
        var pixels: [Float], annPixels: [Float]?, batch: Int
        var mode: KernelMode, spiking: Bool, ann: Bool, spikes: Bool, energy: Bool
        var membrane: [String: [Int]], interventions: InterventionSet
        init(pixels: [Float], annPixels: [Float]?, batch: Int, options o: AnalysisOptions) {
            self.pixels = pixels; self.annPixels = annPixels; self.batch = batch
            mode = o.mode; spiking = o.spiking; ann = o.ann; spikes = o.spikes; energy = o.energy
            membrane = o.membrane; interventions = o.interventions
        }
    }

    /// Both image encoders' outputs and the per-image energy walks; independent of the prompts.
    final class Box<T> { var value: T; init(_ v: T) { value = v } }

    struct ImageSide {
        let snn: SpikingVisionEncoder.Output?
        let ann: [Float]?
        let energy: [EnergyReport?]
    }

    /// The image side of the last analysis, reused when only the prompts changed (adding a class prompt in the
    /// explorer re-scores the image instead of re-running both encoders; issue 15). One entry: a batch evaluation
    /// never repeats a key and keeps at most its last batch here.
    private var lastImageSide: (key: ImageSideKey, side: ImageSide)?
    /// Image sides computed (not reused) so far; for tests.
    private(set) var imageSideRuns = 0

    func imageSide(_ key: ImageSideKey) throws -> ImageSide {
        lock.lock()
        if let last = lastImageSide, last.key == key { lock.unlock(); return last.side }
        lock.unlock()
        let image = parts.spikingImage, b = key.batch
        // The ANN encoder runs beside the spiking one (each splits its products over the cores too; together they
        // also fill each other's serial stretches: LIF, event lists, LayerNorm).
        let annResult = UnsafeSendable(Box<Result<[Float]?, Error>>(.success(nil)))
        let group = DispatchGroup()
        if key.ann, let encoder = parts.annImage {
            let input = encoder.ownInput == nil ? key.pixels : key.annPixels
            let mode: KernelMode = key.mode == .reference ? .reference : .blas
            let box = annResult
            DispatchQueue.global().async(group: group) {
                box.value.value = Result { try input.map { try encoder.forward(pixels: $0, batch: b, mode: mode) } }
            }
        }
        var snnOut: SpikingVisionEncoder.Output?
        var snnError: Error?
        if key.spiking {
            do {
                snnOut = try image.forwardDetailed(pixels: key.pixels, batch: b, mode: key.mode,
                                                   options: RecordingOptions(spikes: key.spikes, membrane: key.membrane),
                                                   interventions: key.interventions)
            } catch { snnError = error }
        }
        group.wait()
        if let snnError { throw snnError }
        let annOut = try annResult.value.value.get()
        let energy = try (0..<b).map { i in
            try snnOut.flatMap { key.energy ? try EnergyAccounting.walk(image.graph, $0.recording, item: i, steps: key.interventions.steps) : nil }
        }
        let side = ImageSide(snn: snnOut, ann: annOut, energy: energy)
        lock.lock()
        lastImageSide = (key, side)
        imageSideRuns += 1
        lock.unlock()
        return side
    }
}

/// Cosine similarity (0 when either vector is zero).
func cosine(_ a: [Float], _ b: [Float]) -> Float {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
    return na > 0 && nb > 0 ? Float(dot / (na.squareRoot() * nb.squareRoot())) : 0
}
