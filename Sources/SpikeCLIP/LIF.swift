import CSpikeKernels
/// A spiking neuron model (issue 12): one time step as three pure functions over explicit state, the membrane potential
/// `v`. A model runs a whole layer through ``simulate(_:steps:neurons:traceNeurons:)``; conformers implement it by calling
/// ``simulateNeurons(_:_:steps:neurons:traceNeurons:)`` so the loop is specialised for them (no dynamic dispatch per neuron).
///
/// A new neuron model is one file: a conforming type plus an entry in ``NeuronModels/make(_:layer:store:)``.
public protocol NeuronModel: Sendable {
    /// Firing threshold `v_threshold` (what rasters and membrane traces draw as the threshold line).
    var vThreshold: Float { get }
    /// The membrane potential before the first step.
    var initialPotential: Float { get }
    /// Charge: the potential `h[t]` after integrating input current `x[t]` into `v[t-1]`.
    func charge(x: Float, v: Float) -> Float
    /// Fire: whether `h[t]` emits a spike.
    func fire(h: Float) -> Bool
    /// Reset: the potential `v[t]` carried to the next step.
    func reset(h: Float, spike: Bool) -> Float
    /// Runs the layer: input currents `[T, n]` -> spikes `[T, n]` (0/1) and the charge `h[t]` of `traceNeurons` `[T, k]`.
    func simulate(_ x: [Float], steps: Int, neurons n: Int, traceNeurons: [Int]) -> (spikes: [Float], traces: [Float])
    /// The same model with `v_threshold` multiplied by `scale` (the threshold intervention, issue 17).
    func scalingThreshold(by scale: Float) -> any NeuronModel
}

extension NeuronModel {
    /// One step: charge, fire, reset.
    @inline(__always)
    public func step(x: Float, v: Float) -> (spike: Bool, v: Float, h: Float) {
        let h = charge(x: x, v: v)
        let s = fire(h: h)
        return (s, reset(h: h, spike: s), h)
    }
}

/// The layer loop every ``NeuronModel`` shares, generic so each conformer gets its own specialised copy.
/// - Parameters: `x` input currents `[T, n]`; `traceNeurons` flat indices in `0..<n` whose charge is returned.
/// - Returns: spikes `[T, n]` as 0/1 floats, traces `[T, k]`.
@inlinable @inline(__always)
public func simulateNeurons<N: NeuronModel>(_ model: N, _ x: [Float], steps: Int, neurons n: Int, traceNeurons: [Int])
    -> (spikes: [Float], traces: [Float])
{
    precondition(x.count == steps * n)
    var v = [Float](repeating: model.initialPotential, count: n)
    var s = [Float](repeating: 0, count: steps * n)
    var traces = [Float](repeating: 0, count: steps * traceNeurons.count)
    for t in 0..<steps {
        let base = t * n
        for (j, i) in traceNeurons.enumerated() {
            // The charge of traced neurons, before the state is updated.
            traces[t * traceNeurons.count + j] = model.charge(x: x[base + i], v: v[i])
        }
        for i in 0..<n {
            let r = model.step(x: x[base + i], v: v[i])
            v[i] = r.v
            s[base + i] = r.spike ? 1 : 0
        }
    }
    return (s, traces)
}

/// Parameters of a LIF neuron (SPEC 1.1; spikingjelly `MultiStepLIFNode(tau=2.0)` with `decay_input=True`, hard reset),
/// the first ``NeuronModel``:
///
///     h[t] = v[t-1] + (x[t] - (v[t-1] - v_reset)) / tau     (charge)
///     s[t] = 1 if h[t] - v_threshold >= 0 else 0            (fire; note >=)
///     v[t] = h[t] * (1 - s[t]) + v_reset * s[t]             (hard reset)
public struct LIFParameters: NeuronModel, Equatable {
    /// Membrane time constant (dimensionless, in time steps).
    public var tau: Float
    /// Firing threshold `v_threshold`.
    public var vThreshold: Float
    /// Reset potential `v_reset` (also the initial membrane potential).
    public var vReset: Float

    public init(tau: Float = 2, vThreshold: Float = 1, vReset: Float = 0) {
        self.tau = tau
        self.vThreshold = vThreshold
        self.vReset = vReset
    }

    public var initialPotential: Float { vReset }
    @inline(__always) public func charge(x: Float, v: Float) -> Float { v + (x - (v - vReset)) / tau }
    @inline(__always) public func fire(h: Float) -> Bool { h - vThreshold >= 0 }
    @inline(__always) public func reset(h: Float, spike: Bool) -> Float { spike ? vReset : h }
    public func simulate(_ x: [Float], steps: Int, neurons n: Int, traceNeurons: [Int]) -> (spikes: [Float], traces: [Float]) {
        guard traceNeurons.isEmpty, x.count == steps * n else {
            return simulateNeurons(self, x, steps: steps, neurons: n, traceNeurons: traceNeurons)
        }
        // The vectorised C loop (CSpikeKernels `sk_lif`): the same operations, so the same bits (ParityTests). Neurons
        // are independent: split across threads, each writing its own columns of every step.
        let s = [Float](unsafeUninitializedCapacity: x.count) { sp, initialized in
            x.withUnsafeBufferPointer { xp in
                if let xb = xp.baseAddress, let sb = sp.baseAddress {
                    let (xs, ss) = (UnsafeSendable(xb), UnsafeSendable(sb))
                    parallelRanges(n, cost: x.count) { r in
                        sk_lif(xs.value + r.lowerBound, Int32(steps), Int64(r.count), Int64(n), tau, vThreshold, vReset,
                               ss.value + r.lowerBound)
                    }
                }
            }
            initialized = x.count
        }
        return (s, [])
    }
    public func scalingThreshold(by scale: Float) -> any NeuronModel {
        LIFParameters(tau: tau, vThreshold: vThreshold * scale, vReset: vReset)
    }
}

/// One LIF time step for one neuron (see ``LIFParameters``).
/// - Returns: the spike, the next membrane potential and the charge `h` (what membrane traces show).
@inline(__always)
public func lifStep(x: Float, v: Float, _ p: LIFParameters) -> (spike: Bool, v: Float, h: Float) { p.step(x: x, v: v) }

/// Runs a LIF layer over `T` steps for `n` independent neurons.
/// - Parameters: `x` input currents `[T, n]`; `traceNeurons` flat neuron indices (in `0..<n`) whose charge is returned.
/// - Returns: spikes `[T, n]` as 0/1 floats, and the traces `[T, k]` for the `k` requested neurons.
func lifLayer(_ x: [Float], steps: Int, neurons n: Int, _ p: LIFParameters, traceNeurons: [Int] = []) -> (spikes: [Float], traces: [Float]) {
    p.simulate(x, steps: steps, neurons: n, traceNeurons: traceNeurons)
}

extension LIFParameters {
    /// The LIF of one layer from the config (no per-layer tensors).
    static func make(_ spec: NeuronSpec, layer: String, store: inout ParameterStore) throws -> any NeuronModel {
        LIFParameters(tau: spec.tau, vThreshold: spec.vThreshold, vReset: spec.vReset)
    }
}

/// The neuron models a checkpoint may name (`lif.kind` in the config), built per layer. A new model is one file with
/// a ``NeuronModel`` and its `make`, plus one line in ``registry``.
public enum NeuronModels {
    /// Builds one layer's neuron from the config's parameters, the layer's module path and the checkpoint (for
    /// per-layer tensors such as a learned time constant, `<layer>.<tensor>`).
    typealias Factory = @Sendable (_ spec: NeuronSpec, _ layer: String, _ store: inout ParameterStore) throws -> any NeuronModel

    static let registry: [(kind: String, make: Factory)] = [
        ("lif", LIFParameters.make),
    ]

    /// Kinds known to this build.
    public static var kinds: [String] { registry.map(\.kind) }

    /// The neuron model of one layer.
    /// - Throws: ``CheckpointError/badConfig(path:reason:)`` for an unknown kind; ``CheckpointError`` for missing tensors.
    static func make(_ spec: NeuronSpec, layer: String, store: inout ParameterStore) throws -> any NeuronModel {
        guard let entry = registry.first(where: { $0.kind == spec.kind }) else {
            throw CheckpointError.badConfig(path: store.file.path, reason: "lif.kind '\(quotedPreview(spec.kind))' is not one of \(kinds.joined(separator: ", "))")
        }
        return try entry.make(spec, layer, &store)
    }
}
