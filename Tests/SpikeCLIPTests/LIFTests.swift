import XCTest
@testable import SpikeCLIP

final class LIFTests: XCTestCase {
    /// Hand-computed with tau = 2, v_th = 1, v_reset = 0:
    /// t0: h = 0 + (1.2 - 0)/2 = 0.6 -> no spike, v = 0.6
    /// t1: h = 0.6 + (1.4 - 0.6)/2 = 1.0 -> spike (>=), v = 0
    /// t2: h = 0 + (0.5 - 0)/2 = 0.25 -> no spike, v = 0.25
    /// t3: h = 0.25 + (3 - 0.25)/2 = 1.625 -> spike, v = 0
    func testHandComputedSequence() {
        let p = LIFParameters(tau: 2, vThreshold: 1, vReset: 0)
        let (spikes, traces) = lifLayer([1.2, 1.4, 0.5, 3.0], steps: 4, neurons: 1, p, traceNeurons: [0])
        XCTAssertEqual(spikes, [0, 1, 0, 1])
        XCTAssertEqual(traces, [0.6, 1.0, 0.25, 1.625])
    }

    func testThresholdIsInclusiveAndAttentionThresholdIsHalf() {
        // h exactly at threshold fires (h - v_th >= 0).
        XCTAssertTrue(lifStep(x: 2, v: 0, LIFParameters(vThreshold: 1)).spike)
        XCTAssertFalse(lifStep(x: 1.9999, v: 0, LIFParameters(vThreshold: 1)).spike)
        // attn_lif: threshold 0.5, so x = 1 (h = 0.5) fires.
        XCTAssertTrue(lifStep(x: 1, v: 0, LIFParameters(vThreshold: 0.5)).spike)
        XCTAssertFalse(lifStep(x: 1, v: 0, LIFParameters(vThreshold: 1)).spike)
    }

    func testHardResetAndIndependentNeurons() {
        let p = LIFParameters()
        // Two neurons, [T=3, n=2]: neuron 0 gets a large input once, neuron 1 a negative one.
        let (spikes, traces) = lifLayer([4, -2, 0, 0, 0, 0], steps: 3, neurons: 2, p, traceNeurons: [0, 1])
        XCTAssertEqual(spikes, [1, 0, 0, 0, 0, 0])
        // Neuron 0 resets to 0 then decays from 0; neuron 1 decays -1 -> -0.5 -> -0.25.
        XCTAssertEqual(traces, [2, -1, 0, -0.5, 0, -0.25])
    }
}
