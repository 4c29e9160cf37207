import SpikeCLIP

/// An image ready for the model plus what the Image panel shows about it.
public struct ImageInput: Sendable {
    /// Preprocessed pixels `[C, H, W]` (normalised per the checkpoint config).
    public var pixels: [Float]
    /// Gray preview `[h, w]` in `[0, 1]` for the thumbnail.
    public var preview: [Float]
    public var previewHeight: Int
    public var previewWidth: Int
    /// Where it came from (file name or "Fashion-MNIST test #17").
    public var title: String
    /// The true label when known.
    public var label: String?
    /// CLIP's view `[3, S, S]` (preprocessing `clip-then-resize`: what CLIP reads; the spiking pixels are it resized).
    public var clipPixels: [Float]?
    /// Grey preview `[S, S]` of CLIP's view, in `[0, 1]`.
    public var clipPreview: [Float]?
    public var clipSide: Int
    /// The decoded image it came from (a second checkpoint prepares its own input from it, `--compare`).
    public var decoded: DecodedImage?

    public init(pixels: [Float], preview: [Float], previewHeight: Int, previewWidth: Int, title: String, label: String?,
                clipPixels: [Float]? = nil, clipPreview: [Float]? = nil, clipSide: Int = 0) {
        self.pixels = pixels
        self.preview = preview
        self.previewHeight = previewHeight
        self.previewWidth = previewWidth
        self.title = title
        self.label = label
        self.clipPixels = clipPixels
        self.clipPreview = clipPreview
        self.clipSide = clipSide
    }
}

/// Which image the explorer shows; decoded by the analysis worker, never on the input thread.
public enum ImageSpec: Sendable, Equatable {
    /// An image file (a demo image or one opened in the directory browser), with its true label when known.
    case file(path: String, label: String?)
    /// Fashion-MNIST test record `index`; with `wrap` (n/p/N/P) taken modulo the set's size, without (a typed
    /// index) refused when out of range.
    case fashionMNIST(index: Int, wrap: Bool)
}

/// What the worker is asked to compute: one image against the class prompts.
public struct AnalysisRequest: Sendable {
    /// Increases with every change of input; results for older generations are dropped.
    public var generation: Int
    public var classNames: [String]
    public var templates: [String]
    /// Prompt-template ensembling on (all templates) or off (the first template only).
    public var ensemble: Bool
    public var image: ImageInput
    /// Membrane traces wanted: layer -> flat indices into the layer's per-step tensor (`[1, n]` for the image's
    /// layers, `[P, n]` for the text layers: prompt `p`, neuron `j` is `p * n + j`).
    public var membrane: [String: [Int]]
    /// Changes to the spiking forward pass (issue 17); the analysis then also carries the unmodified model's numbers.
    public var interventions: InterventionSet = .none
    /// Compute the unmodified model too when there are interventions (the lesion view does not need it).
    public var wantBaseline = true

    /// The templates in use.
    public var activeTemplates: [String] { ensemble ? templates : Array(templates.prefix(1)) }

    /// The class prompts with the templates in use, expanded class-major (prompt `c * M + m`).
    public var promptSet: PromptSet { PromptSet(classes: classNames, templates: activeTemplates) }
}

/// Token use of one expanded prompt against the model's L.
public struct PromptTokens: Sendable, Equatable {
    public var text: String
    /// Word-piece tokens including [CLS] and [SEP] before truncation.
    public var count: Int
    /// Tokens cut to fit L.
    public var truncated: Int
}

/// Everything the explorer shows for one request, computed off the input thread by an ``AnalysisProvider``.
public struct Analysis: Sendable {
    public var generation: Int
    public var classNames: [String]
    public var prompts: [PromptTokens]
    public var templatesPerClass: Int
    /// Spiking model: spiking image encoder vs spiking text encoder.
    public var snn: ZeroShotScores
    /// ANN side: the ANN twin image encoder vs the ANN text model, or vs the spiking text embeddings when the
    /// checkpoint has no ANN text model (then ``textCosines`` is nil).
    public var ann: ZeroShotScores?
    /// Cosine between the spiking and ANN image embeddings (nil without an ANN image side).
    public var imageCosine: Float?
    /// The ANN side's name (`ANN twin`, `CLIP`), nil when the checkpoint has none.
    public var annName: String?
    /// Per class: cosine between the spiking and ANN text class embeddings (nil without an ANN text model).
    public var textCosines: [Float]?
    public var visionRecording: Recording
    public var textRecording: Recording
    public var visionEnergy: EnergyReport
    /// The ANN image encoder's dense counts for one image; nil without one.
    public var annEnergy: EnergyReport?
    /// The ANN text model's dense counts per expanded prompt (CLIP's text tower), nil when not counted.
    public var annTextEnergy: [EnergyReport]?
    /// One report per expanded prompt (class-major).
    public var textEnergy: [EnergyReport]
    /// Softmax over classes after t = 1...T steps (partial time-weighted readout), `[T][K]`.
    public var anytime: [[Float]]
    /// Wall time of the computation (ms).
    public var milliseconds: Double
    /// The unmodified model on the same inputs when interventions were applied (nil otherwise).
    public var baseline: Baseline?
    /// The interventions this analysis applied.
    public var interventions: InterventionSet = .none
    /// The second checkpoint on the same image and prompts (`--compare`), nil without one.
    public var compared: Comparison?

    /// A second checkpoint's numbers beside the first's (issue 17: after alignment vs after fine-tuning, two seeds,
    /// two sizes).
    public struct Comparison: Sendable {
        /// Its file name.
        public var name: String
        public var snn: ZeroShotScores
        public var ann: ZeroShotScores?
        public var visionEnergy: EnergyReport
        /// Firing rate per spiking layer.
        public var rates: [String: Double]
        /// Why it could not be computed (then the scores are the first checkpoint's placeholders).
        public var error: String?
    }

    /// What the panels compare an intervened analysis with.
    public struct Baseline: Sendable {
        public var snn: ZeroShotScores
        public var visionEnergy: EnergyReport
        /// Firing rate per spiking layer (image and text encoders) of the unmodified model.
        public var rates: [String: Double]
        public init(snn: ZeroShotScores, visionEnergy: EnergyReport, rates: [String: Double]) {
            self.snn = snn
            self.visionEnergy = visionEnergy
            self.rates = rates
        }
    }

    /// KL(ANN || SNN) between the two class distributions (nats), when the ANN side exists.
    public var klANNtoSNN: Double? {
        guard let ann else { return nil }
        var kl = 0.0
        for (p, q) in zip(ann.probabilities, snn.probabilities) where p > 0 {
            kl += Double(p) * (log(Double(p)) - log(max(Double(q), 1e-30)))
        }
        return kl
    }

    /// True when both sides pick the same class.
    public var top1Agrees: Bool? { ann.map { $0.top1 == snn.top1 } }
}

/// Computes analyses. The model-backed implementation is ``ModelAnalysisProvider``; tests may substitute their own.
public protocol AnalysisProvider: Sendable {
    /// The model's text length `L` (for the live token counter).
    var contextLength: Int { get }
    /// Token count and truncation of one prompt (fast; called on the input thread while typing).
    func tokens(of prompt: String) -> PromptTokens
    /// The model's layer graphs as data (issue 12): the spiking image encoder's, then the spiking text encoder's.
    /// Panels read names, kinds, shapes and neuron parameters from here.
    var graphs: [LayerGraph] { get }
    func analyze(_ request: AnalysisRequest) throws -> Analysis
}

extension AnalysisProvider {
    /// The spiking layers, in forward order (vision then text).
    public var layerNames: [String] { graphs.flatMap(\.neuronLayers).map(\.name) }
    /// Attention heads of the spiking image encoder's blocks (for head interventions; 0 without attention).
    public var attentionHeads: Int { graphs.first.flatMap(\.attentionHeads) ?? 0 }
}

import Foundation
