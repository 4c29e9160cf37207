/// Errors from running a model on bad input (not from loading it).
public enum InputError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Pixel buffer size differs from `B * C * H * W` of the checkpoint.
    case wrongImageSize(expected: [Int], count: Int)
    /// A token-id row is not `L` long.
    case wrongTokenCount(row: Int, expected: Int, actual: Int)
    /// A token id is outside the embedding table.
    case tokenOutOfRange(row: Int, position: Int, id: Int, vocabSize: Int)

    public var description: String {
        switch self {
        case let .wrongImageSize(expected, count):
            return "image tensor has \(count) values, the model expects shape \(expected)"
        case let .wrongTokenCount(row, expected, actual):
            return "prompt \(row) has \(actual) token ids, the model expects L = \(expected)"
        case let .tokenOutOfRange(row, position, id, vocab):
            return "prompt \(row), position \(position): token id \(id) outside the vocabulary of \(vocab)"
        }
    }
}

/// The spiking image encoder (SPEC 1.2; official `Vision_Encoder`, Spikingformer-style), BatchNorm folded at load.
///
/// Input `[B, C, H, W]` is repeated over `T` steps (direct coding). The conv tokenizer (`patch_embed`) gives real-valued
/// tokens `[T, B, D, N]`, `N = H*W/16`; `depths` spiking transformer blocks follow; the readout is the mean over tokens,
/// a weighted sum over time with `weights_tensor` (raw multipliers), and `proj`. The layers are
/// ``LayerGraph/spikingVision(_:)``; the forward pass walks them.
public struct SpikingVisionEncoder: Sendable {
    public let config: ModelConfig
    let network: SpikingNetwork

    init(config: ModelConfig, store: inout ParameterStore) throws {
        self.config = config
        self.network = try SpikingNetwork(graph: .spikingVision(config), config: config, store: &store)
    }

    /// The layers, in forward order.
    public var graph: LayerGraph { network.graph }

    /// Names of every spiking layer, in forward order (docs/CHECKPOINT.md).
    public var lifLayerNames: [String] { graph.neuronLayers.map(\.name) }

    /// Runs the encoder.
    /// - Parameters:
    ///   - pixels: preprocessed images `[B, C, H, W]`, row-major.
    ///   - batch: `B`.
    ///   - mode: which kernels compute the products.
    ///   - options: what to record.
    /// - Returns: image embeddings `[B, target_dim]` (not normalised) and the recording.
    /// - Throws: ``InputError/wrongImageSize(expected:count:)``.
    public func forward(pixels: [Float], batch b: Int, mode: KernelMode = .fastest, options: RecordingOptions = RecordingOptions())
        throws -> (embedding: [Float], recording: Recording)
    {
        let r = try forwardDetailed(pixels: pixels, batch: b, mode: mode, options: options)
        return (r.embedding, r.recording)
    }

    /// One forward pass with everything the explorer shows.
    public struct Output: Sendable {
        /// Image embeddings `[B, target_dim]` (not normalised).
        public let embedding: [Float]
        public let recording: Recording
        /// Token-mean features per step `[T, B, D]`, before the time weighting.
        public let stepFeatures: [Float]
    }

    /// Like ``forward(pixels:batch:mode:options:)`` but also returns the per-step features for anytime readouts.
    /// - Parameter interventions: changes to the forward pass (issue 17): silenced or forced spikes, scaled
    ///   thresholds, the readout stopped after `steps`, seeded input noise. `stepFeatures` always covers the `T` steps
    ///   run; `embedding` is the readout after `steps ?? T`.
    /// - Throws: ``InputError/wrongImageSize(expected:count:)``, ``InterventionError``.
    public func forwardDetailed(pixels: [Float], batch b: Int, mode: KernelMode = .fastest, options: RecordingOptions = RecordingOptions(),
                                interventions: InterventionSet = .none) throws -> Output
    {
        let v = config.vision
        let c = v.inChannels, h = v.imageSize[0], w = v.imageSize[1]
        guard pixels.count == b * c * h * w, b > 0 else { throw InputError.wrongImageSize(expected: [b, c, h, w], count: pixels.count) }
        if let s = interventions.steps, !(1...config.T).contains(s) { throw InterventionError.badSteps(s, max: config.T) }
        let plans = try network.plans(interventions, heads: config.vision.numHeads)
        let (features, rec) = network.run(input: interventions.noisy(pixels), batch: b, mode: mode, options: options, plans: plans)
        let embedding = readout(stepFeatures: features, batch: b, steps: interventions.steps ?? config.T, mode: mode)
        return Output(embedding: embedding, recording: rec, stepFeatures: features)
    }

    /// The readout after the first `steps` time steps: `proj(sum_{t < steps} w[t] * features[t])`.
    /// - Parameters: `stepFeatures` `[T, B, D]` from ``forwardDetailed(pixels:batch:mode:options:)``; `steps` in `1...T`.
    /// - Returns: `[B, target_dim]`. With `steps == T` this is the model's embedding ("anytime" readout otherwise).
    public func readout(stepFeatures: [Float], batch b: Int, steps: Int, mode: KernelMode = .fastest) -> [Float] {
        network.readout(stepFeatures: stepFeatures, batch: b, steps: steps, mode: mode)
    }
}
