/// What a forward pass records (SPEC section 5).
public struct RecordingOptions: Sendable {
    /// Record every LIF layer's spikes.
    public var spikes: Bool
    /// Membrane traces wanted: layer name -> flat neuron indices into the per-step tensor (`[B, ...]` or `[P, ...]`).
    public var membrane: [String: [Int]]

    public init(spikes: Bool = true, membrane: [String: [Int]] = [:]) {
        self.spikes = spikes
        self.membrane = membrane
    }

    /// Record nothing (fastest forward).
    public static let none = RecordingOptions(spikes: false)
}

/// One LIF layer's recorded activity for one forward pass.
public struct LayerRecording: Sendable {
    /// Module path, e.g. `vision.block.0.attn.q_lif` (docs/CHECKPOINT.md).
    public let name: String
    /// Full spike tensor shape `[T, B, ...]` in PyTorch order (e.g. `[T, B, C, H, W]`, `[T, B, D, N]`, `[T, P, L*E]`).
    public let shape: [Int]
    /// Firing threshold of this layer.
    public let threshold: Float
    /// Spikes, 0 or 1, flat in `shape` order (empty when spikes were not requested).
    public let spikes: [UInt8]
    /// Membrane charge `h[t]`, `t = 0..<T`, for each requested neuron (flat index into the per-step tensor).
    public let membrane: [Int: [Float]]

    /// `T`.
    public var steps: Int { shape[0] }
    /// Batch items recorded: `B` images (vision) or `P` prompts (text), `shape[1]`.
    public var batch: Int { shape.count > 1 ? shape[1] : 1 }
    /// Neurons per time step, all batch items together.
    public var neuronsPerStep: Int { shape.dropFirst().reduce(1, *) }
    /// Neurons per time step and batch item.
    public var neuronsPerItem: Int { shape.dropFirst(2).reduce(1, *) }

    /// Spike count at step `t` for batch item `b`.
    public func spikeCount(step t: Int, item b: Int) -> Int {
        let base = t * neuronsPerStep + b * neuronsPerItem
        var count = 0
        for i in base..<(base + neuronsPerItem) { count += Int(spikes[i]) }
        return count
    }

    /// Spikes at step `t` for batch item `b`, flat over the item's neurons.
    public func spikes(step t: Int, item b: Int) -> ArraySlice<UInt8> {
        let base = t * neuronsPerStep + b * neuronsPerItem
        return spikes[base..<(base + neuronsPerItem)]
    }

    /// Mean firing rate (spikes per neuron per step, in [0, 1]) of batch item `b`, or of all items when `nil`.
    public func firingRate(item b: Int? = nil) -> Double {
        if let b {
            let total = (0..<steps).reduce(0) { $0 + spikeCount(step: $1, item: b) }
            return Double(total) / Double(steps * neuronsPerItem)
        }
        let total = spikes.reduce(0) { $0 + Int($1) }
        return Double(total) / Double(max(1, spikes.count))
    }
}

/// All LIF layers of one forward pass, in forward order.
public struct Recording: Sendable {
    public private(set) var layers: [LayerRecording] = []

    public init() {}

    mutating func append(_ layer: LayerRecording) { layers.append(layer) }

    /// The layer named `name`, if recorded.
    public subscript(name: String) -> LayerRecording? { layers.first { $0.name == name } }
}
