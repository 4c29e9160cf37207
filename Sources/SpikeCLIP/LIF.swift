/// Parameters of a LIF neuron (SPEC 1.1; spikingjelly `MultiStepLIFNode(tau=2.0)` with `decay_input=True`, hard reset).
public struct LIFParameters: Sendable, Equatable {
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
}

/// One LIF time step for one neuron, as pure function of explicit state:
///
///     h[t] = v[t-1] + (x[t] - (v[t-1] - v_reset)) / tau     (charge)
///     s[t] = 1 if h[t] - v_threshold >= 0 else 0            (fire; note >=)
///     v[t] = h[t] * (1 - s[t]) + v_reset * s[t]             (hard reset)
///
/// - Parameters: `x` input current, `v` membrane potential after the previous step (`v_reset` before the first).
/// - Returns: the spike, the next membrane potential and the charge `h` (what membrane traces show).
@inline(__always)
public func lifStep(x: Float, v: Float, _ p: LIFParameters) -> (spike: Bool, v: Float, h: Float) {
    let h = v + (x - (v - p.vReset)) / p.tau
    let spike = h - p.vThreshold >= 0
    return (spike, spike ? p.vReset : h, h)
}

/// Runs a LIF layer over `T` steps for `n` independent neurons.
/// - Parameters:
///   - x: input currents `[T, n]`.
///   - traceNeurons: flat neuron indices (in `0..<n`) whose charge `h[t]` is returned.
/// - Returns: spikes `[T, n]` as 0/1 floats, and the traces `[T, k]` for the `k` requested neurons.
func lifLayer(_ x: [Float], steps: Int, neurons n: Int, _ p: LIFParameters, traceNeurons: [Int] = [])
    -> (spikes: [Float], traces: [Float])
{
    precondition(x.count == steps * n)
    var v = [Float](repeating: p.vReset, count: n)
    var s = [Float](repeating: 0, count: steps * n)
    var traces = [Float](repeating: 0, count: steps * traceNeurons.count)
    for t in 0..<steps {
        let base = t * n
        for j in 0..<traceNeurons.count {
            // Record h for traced neurons before the state is updated.
            let i = traceNeurons[j]
            traces[t * traceNeurons.count + j] = lifStep(x: x[base + i], v: v[i], p).h
        }
        for i in 0..<n {
            let r = lifStep(x: x[base + i], v: v[i], p)
            v[i] = r.v
            s[base + i] = r.spike ? 1 : 0
        }
    }
    return (s, traces)
}
