import Foundation
import XCTest
@testable import SpikeCLIP

/// Interventions against the Python reference (issue 17): `Tests/Fixtures/tiny-default/interventions.safetensors`
/// (`python -m spikeclip_training.intervention_fixtures`) holds, per case, the reference embeddings and every LIF
/// layer's spikes of item 0 (bit-packed) under that case's intervention set.
final class InterventionTests: XCTestCase {
    func testEveryCaseMatchesTheReference() throws {
        let model = try SpikeCLIPModel(path: fixturePath("tiny-default", "model.safetensors"))
        let golden = try ParityTests.Golden(path: fixturePath("tiny-default", "golden.safetensors"))
        let f = try SafeTensorsFile(path: fixturePath("tiny-default", "interventions.safetensors"))
        XCTAssertEqual(f.metadata["fixture_format"], "spikeclip-interventions")
        let cases = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((f.metadata["cases"] ?? "").utf8)) as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        var kinds = Set<String>()
        let unchanged = try model.vision.forward(pixels: golden.pixels, batch: golden.batch).embedding
        let unchangedText = try model.text.forward(tokenIds: golden.tokenIds).embedding
        for c in cases {
            let name = try XCTUnwrap(c["name"] as? String)
            let setJSON = try JSONSerialization.data(withJSONObject: try XCTUnwrap(c["set"]))
            let set = try JSONDecoder().decode(InterventionSet.self, from: setJSON)
            for iv in set.interventions { kinds.insert("\(iv.action.rawValue)/\(iv.target.rawValue)") }
            if set.steps != nil { kinds.insert("steps") }
            if set.noise != nil { kinds.insert("noise") }
            let vision = try model.vision.forwardDetailed(pixels: golden.pixels, batch: golden.batch, interventions: set)
            let text = try model.text.forward(tokenIds: golden.tokenIds, interventions: set)
            let ve = ParityTests.relativeL2(vision.embedding, try f.floats("\(name).vision"))
            let te = ParityTests.relativeL2(text.embedding, try f.floats("\(name).text"))
            XCTAssertLessThanOrEqual(ve, 1e-4, "\(name): vision relative L2")
            XCTAssertLessThanOrEqual(te, 1e-4, "\(name): text relative L2")
            for layer in vision.recording.layers + text.recording.layers {
                let packed = try f.ints("\(name).spikes.\(layer.name)")
                let perStep = layer.spikes.count / layer.shape[0], items = layer.shape[1], perItem = perStep / items
                var expected: [UInt8] = []
                for t in 0..<layer.shape[0] { expected += layer.spikes[(t * perStep)..<(t * perStep + perItem)] }
                var bits: [UInt8] = []
                for i in 0..<expected.count {
                    let byte: Int = packed[i / 8]
                    bits.append(UInt8((byte >> (7 - i % 8)) & 1))
                }
                XCTAssertEqual(bits, expected, "\(name): \(layer.name) spikes of item 0")
            }
            XCTAssertTrue(vision.embedding != unchanged || text.embedding != unchangedText, "\(name) changes nothing")
        }
        // Every action, every target kind, time steps and noise are covered.
        for k in ["silence/layer", "force/channel", "silence/head", "silence/token", "force/neuron", "silence/neuron", "threshold/layer", "steps", "noise"] {
            XCTAssertTrue(kinds.contains(k), "no case for \(k)")
        }
    }

    func testSilencingALayerSilencesItAndForcingFires() throws {
        let model = try SpikeCLIPModel(path: fixturePath("tiny-default", "model.safetensors"))
        let golden = try ParityTests.Golden(path: fixturePath("tiny-default", "golden.safetensors"))
        let q = "vision.block.0.attn.q_lif"
        let silent = try model.vision.forwardDetailed(pixels: golden.pixels, batch: golden.batch,
                                                      interventions: InterventionSet([Intervention(layer: q, action: .silence)]))
        XCTAssertEqual(silent.recording[q]?.spikes.reduce(0) { $0 + Int($1) }, 0)
        XCTAssertEqual(silent.recording["vision.block.0.attn.attn_lif"]?.spikes.reduce(0) { $0 + Int($1) }, 0, "no q: no attention output")
        let forced = try model.vision.forwardDetailed(pixels: golden.pixels, batch: golden.batch, interventions: InterventionSet([
            Intervention(layer: q, action: .force, target: .head, index: 2)]))
        let rec = try XCTUnwrap(forced.recording[q])
        let d = rec.shape[2], n = rec.shape[3], per = d / 4
        for t in 0..<rec.shape[0] {
            for c in 0..<d {
                let v = rec.spikes[((t * rec.shape[1]) * d + c) * n]
                if c / per == 2 { XCTAssertEqual(v, 1, "t \(t) channel \(c)") }
            }
        }
        // Stopping at t = 1 equals the anytime readout after one step.
        let full = try model.vision.forwardDetailed(pixels: golden.pixels, batch: golden.batch)
        let one = try model.vision.forwardDetailed(pixels: golden.pixels, batch: golden.batch, interventions: InterventionSet(steps: 1))
        XCTAssertEqual(one.embedding, model.vision.readout(stepFeatures: full.stepFeatures, batch: golden.batch, steps: 1))
    }

    func testBadInterventionsAreOneLineErrors() throws {
        let model = try SpikeCLIPModel(path: fixturePath("tiny-default", "model.safetensors"))
        let golden = try ParityTests.Golden(path: fixturePath("tiny-default", "golden.safetensors"))
        let cases: [(InterventionSet, String)] = [
            (InterventionSet([Intervention(layer: "vision.nope", action: .silence)]), "no spiking layer named 'vision.nope'"),
            (InterventionSet([Intervention(layer: "vision.patch_embed.block1_lif", action: .silence, target: .head, index: 0)]), "head targets need a layer inside a transformer block"),
            (InterventionSet([Intervention(layer: "vision.block.0.attn.q_lif", action: .silence, target: .channel, index: 999)]), "channel 999 out of range"),
            (InterventionSet([Intervention(layer: "*", action: .threshold, scale: -1)]), "threshold scale -1.0 must be"),
            (InterventionSet(steps: 9), "steps 9 out of range 1...4"),
        ]
        for (set, message) in cases {
            XCTAssertThrowsError(try set.validate(against: [model.vision.graph, model.text.graph], steps: model.config.T)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
                XCTAssertFalse("\($0)".contains("\n"))
            }
        }
        XCTAssertThrowsError(try model.vision.forwardDetailed(pixels: golden.pixels, batch: golden.batch, interventions: cases[0].0)) {
            XCTAssertEqual("\($0)", "intervention: no spiking layer named 'vision.nope'")
        }
    }

    /// The noise generator is the one `training/` uses (its first values, from `interventions.gaussian_noise`).
    func testNoiseIsSeededAndStandardNormal() {
        let g = InterventionSet.gaussianNoise(count: 20_000, seed: 7)
        XCTAssertEqual(g, InterventionSet.gaussianNoise(count: 20_000, seed: 7))
        XCTAssertNotEqual(Array(g.prefix(10)), Array(InterventionSet.gaussianNoise(count: 10, seed: 8)))
        let mean = g.reduce(0, +) / Double(g.count)
        let variance = g.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(g.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
    }
}
