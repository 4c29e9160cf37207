import Foundation

/// One change to the spiking forward pass (issue 17), addressed to a LIF layer by its recording name.
///
/// - `silence` / `force`: the target's output spikes are 0 / 1 at every step; the neurons' own membranes evolve as
///   without the intervention (membrane traces show that) and every layer downstream sees the changed spikes.
/// - `threshold`: the layer's `v_threshold` times `scale` (layer `"*"`: every layer), which changes the dynamics.
///
/// Targets (per item, in the layer's per-step shape `[C, ...]`): the whole `layer`; `channel` c (first dimension);
/// `head` h (channels `h*D/heads ..< (h+1)*D/heads` of a layer inside a transformer block); `token` p (position p of
/// every channel: `p = y * W + x` on the token grid or the image); `neuron` j (flat index). The reference is
/// `training/spikeclip_training/interventions.py`; `Tests/Fixtures/tiny-default/interventions.safetensors` pins it.
public struct Intervention: Sendable, Equatable, Hashable, Codable {
    public enum Action: String, Sendable, Codable, CaseIterable { case silence, force, threshold }
    public enum Target: String, Sendable, Codable, CaseIterable { case layer, channel, head, token, neuron }

    public var layer: String
    public var action: Action
    public var target: Target
    /// Channel, head, token or neuron index (unused for `layer`).
    public var index: Int
    /// Threshold multiplier (`threshold` only).
    public var scale: Double

    public init(layer: String, action: Action, target: Target = .layer, index: Int = 0, scale: Double = 1) {
        self.layer = layer
        self.action = action
        self.target = target
        self.index = index
        self.scale = scale
    }

    enum CodingKeys: String, CodingKey { case layer, action, target, index, scale }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layer = try c.decode(String.self, forKey: .layer)
        action = try c.decode(Action.self, forKey: .action)
        target = try c.decodeIfPresent(Target.self, forKey: .target) ?? .layer
        // A channel, head, token or neuron needs its index (no silent neuron 0).
        index = target == .layer ? (try c.decodeIfPresent(Int.self, forKey: .index) ?? 0) : try c.decode(Int.self, forKey: .index)
        scale = try c.decodeIfPresent(Double.self, forKey: .scale) ?? 1
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layer, forKey: .layer)
        try c.encode(action, forKey: .action)
        try c.encode(target, forKey: .target)
        if target != .layer { try c.encode(index, forKey: .index) }
        if action == .threshold { try c.encode(scale, forKey: .scale) }
    }

    /// Short label for lists: `silence head 1 of vision.block.0.attn.k_lif`, `threshold x0.85 of *`.
    public var label: String {
        let what = target == .layer ? "" : "\(target.rawValue) \(index) of "
        switch action {
        case .threshold: return "threshold x\(String(format: "%g", scale)) of \(what)\(layer)"
        default: return "\(action.rawValue) \(what)\(layer)"
        }
    }
}

/// Why an intervention cannot be applied; one line naming it.
public enum InterventionError: Error, Equatable, CustomStringConvertible, Sendable {
    case unknownLayer(String)
    case badTarget(intervention: String, reason: String)
    case badSteps(Int, max: Int)
    case badScale(Double)

    public var description: String {
        switch self {
        case let .unknownLayer(name): return "intervention: no spiking layer named '\(quotedPreview(name))'"
        case let .badTarget(label, reason): return "intervention '\(quotedPreview(label, limit: 120))': \(reason)"
        case let .badSteps(steps, max): return "intervention: steps \(steps) out of range 1...\(max)"
        case let .badScale(s): return "intervention: threshold scale \(s) must be a finite number > 0"
        }
    }
}

/// The interventions of one forward pass, plus two whole-pass settings: stop after `steps` time steps (the readout sums
/// the first `steps`; the network is causal in time, so this equals running `steps` steps) and seeded Gaussian input
/// noise on the pixels (``gaussianNoise(count:seed:)``).
public struct InterventionSet: Sendable, Equatable, Hashable, Codable {
    public var interventions: [Intervention]
    public var steps: Int?
    public var noise: Noise?

    public struct Noise: Sendable, Equatable, Hashable, Codable {
        /// Standard deviation in preprocessed (normalised) pixel units.
        public var std: Double
        public var seed: UInt32
        public init(std: Double, seed: UInt32) {
            self.std = std
            self.seed = seed
        }
    }

    public init(_ interventions: [Intervention] = [], steps: Int? = nil, noise: Noise? = nil) {
        self.interventions = interventions
        self.steps = steps
        self.noise = noise
    }

    public static let none = InterventionSet()

    /// One line for outputs: the labels, then the step limit and noise.
    public var summary: String {
        var parts = interventions.map(\.label)
        if let steps { parts.append("stop after t = \(steps)") }
        if let n = noise, n.std != 0 { parts.append("input noise std \(n.std) seed \(n.seed)") }
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }
    public var isEmpty: Bool { interventions.isEmpty && steps == nil && (noise?.std ?? 0) == 0 }

    /// Checks every intervention against `graph` (layer names, target ranges) and `steps` against `T`.
    /// - Throws: ``InterventionError``.
    public func validate(against graphs: [LayerGraph], steps t: Int) throws {
        if let s = steps, !(1...t).contains(s) { throw InterventionError.badSteps(s, max: t) }
        if let n = noise, !(n.std.isFinite && n.std >= 0) { throw InterventionError.badScale(n.std) }
        let layers = graphs.flatMap(\.neuronLayers)
        for iv in interventions {
            if iv.action == .threshold, !(iv.scale.isFinite && iv.scale > 0) { throw InterventionError.badScale(iv.scale) }
            if iv.layer == "*" { continue }
            guard let l = layers.first(where: { $0.name == iv.layer }) else { throw InterventionError.unknownLayer(iv.layer) }
            _ = try Self.mask(for: iv, shape: l.shape, heads: Self.heads(of: l.name, graphs: graphs))
        }
    }

    /// Attention heads of the transformer block holding `layer`, nil outside a block.
    static func heads(of layer: String, graphs: [LayerGraph]) -> Int? {
        guard layer.hasPrefix("vision.block.") else { return nil }
        return graphs.lazy.compactMap(\.attentionHeads).first
    }

    /// Flat indices (per item) of `iv`'s target in a layer of per-step shape `shape`.
    /// - Throws: ``InterventionError/badTarget(intervention:reason:)``.
    static func mask(for iv: Intervention, shape: [Int], heads: Int?) throws -> [Int] {
        let n = shape.reduce(1, *)
        let positions = shape.dropFirst().reduce(1, *)
        func fail(_ r: String) -> InterventionError { .badTarget(intervention: iv.label, reason: r) }
        switch iv.target {
        case .layer: return Array(0..<n)
        case .neuron:
            guard (0..<n).contains(iv.index) else { throw fail("neuron \(iv.index) out of range 0...\(n - 1)") }
            return [iv.index]
        case .channel:
            guard (0..<shape[0]).contains(iv.index) else { throw fail("channel \(iv.index) out of range 0...\(shape[0] - 1)") }
            return Array((iv.index * positions)..<((iv.index + 1) * positions))
        case .head:
            guard let heads else { throw fail("head targets need a layer inside a transformer block") }
            guard (0..<heads).contains(iv.index) else { throw fail("head \(iv.index) out of range 0...\(heads - 1)") }
            let per = shape[0] / heads
            return Array((iv.index * per * positions)..<((iv.index + 1) * per * positions))
        case .token:
            guard shape.count >= 2 else { throw fail("token targets need a layer with positions") }
            guard (0..<positions).contains(iv.index) else { throw fail("token \(iv.index) out of range 0...\(positions - 1)") }
            return (0..<shape[0]).map { $0 * positions + iv.index }
        }
    }

    /// What one layer does under this set: its threshold multiplier and its output overrides (flat per-item indices,
    /// value 0 or 1), in order (a later override wins where two overlap).
    func plan(layer: String, shape: [Int], heads: Int?) throws -> (scale: Float, overrides: [(indices: [Int], value: Float)]) {
        var scale: Double = 1
        var overrides: [(indices: [Int], value: Float)] = []
        for iv in interventions where iv.layer == layer || iv.layer == "*" {
            if iv.action == .threshold, !(iv.scale.isFinite && iv.scale > 0) { throw InterventionError.badScale(iv.scale) }
            switch iv.action {
            case .threshold: scale *= iv.scale
            case .silence, .force:
                overrides.append((try Self.mask(for: iv, shape: shape, heads: heads), iv.action == .force ? 1 : 0))
            }
        }
        return (Float(scale), overrides)
    }

    /// `count` standard normal values, element `i` from two uniforms (the top 53 bits of SplitMix64 of
    /// `seed * 2^32 + 2i` and `+ 2i + 1`, as `(k + 1) / 2^53`) by the Box-Muller cosine, in Double: the same numbers as
    /// `interventions.gaussian_noise` in `training/`.
    public static func gaussianNoise(count: Int, seed: UInt32) -> [Double] {
        func splitmix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let base = UInt64(seed) << 32
        return (0..<count).map { i in
            let a = splitmix(base &+ 2 &* UInt64(i)), b = splitmix(base &+ 2 &* UInt64(i) &+ 1)
            let u1 = (Double(a >> 11) + 1) / 9_007_199_254_740_992, u2 = (Double(b >> 11) + 1) / 9_007_199_254_740_992
            return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        }
    }

    /// `pixels` plus this set's noise (each value rounded to Float and added in Float).
    func noisy(_ pixels: [Float]) -> [Float] {
        guard let noise, noise.std != 0 else { return pixels }
        let g = Self.gaussianNoise(count: pixels.count, seed: noise.seed)
        return zip(pixels, g).map { $0 + Float($1 * noise.std) }
    }
}
