import XCTest
@testable import SpikeCLIP

/// A tiny config: 1x4x4 image, D = 8, 2 heads, depth 1, T = 2, hidden 32, target 4; text L = 3, E = 2, hidden 5.
func tinyConfig() throws -> ModelConfig {
    let json = """
    {"T": 2, "lif": {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "attn_v_threshold": 0.5}, "batch_norm_eps": 1e-5,
     "vision": {"in_channels": 1, "image_size": [4, 4], "embed_dims": 8, "num_heads": 2, "mlp_ratios": 4, "depths": 1, "target_dim": 4},
     "ann_vision": {"embed_dims": 8, "num_heads": 2, "mlp_ratios": 4, "depths": 1, "target_dim": 4, "layer_norm_eps": 1e-5},
     "text": {"context_length": 3, "embed_dim": 2, "hidden_dim": 5, "target_dim": 4,
              "embedding": {"kind": "clip", "vocab_size": 10, "max_position_embeddings": 3}},
     "logit_scale": 1.0, "preprocess": {"image_size": [4, 4], "channels": 1, "mean": [0.5], "std": [0.5]},
     "tokenizer": {"kind": "ids", "context_length": 3, "pad_id": 0},
     "classes": ["a", "b"], "templates": ["{}"], "ann_text": null, "provenance": {"kind": "test"}}
    """
    return try ModelConfig.decode(json, path: "tiny")
}

/// A recording with the given spikes set: layer -> shape and list of (step, flat index within the item).
func syntheticRecording(_ layers: [(String, [Int], [(Int, Int)])]) -> Recording {
    var rec = Recording()
    for (name, shape, active) in layers {
        var spikes = [UInt8](repeating: 0, count: shape.reduce(1, *))
        let perStep = shape.dropFirst().reduce(1, *)
        for (t, i) in active { spikes[t * perStep + i] = 1 }
        rec.append(LayerRecording(name: name, shape: shape, threshold: 1, spikes: spikes, membrane: [:]))
    }
    return rec
}

final class EnergyTests: XCTestCase {
    /// Spikes on every spiking layer of ``tinyConfig()``'s vision encoder, with the accumulates they cause worked out
    /// by hand in the comments (checked by ``testVisionEnergyHandComputed()``).
    static func handComputedVisionRecording() -> Recording {
        syntheticRecording([
            // [T, B, C, H, W] = [2, 1, 1, 4, 4]: corner (0,0) reaches 2x2 positions, (1,1) reaches 3x3; x 2 out channels = 8 + 18.
            ("vision.patch_embed.block1_lif", [2, 1, 1, 4, 4], [(0, 0), (0, 5)]),
            // [2, 1, 2, 4, 4]: channel 1, (0,1) reaches 2x3 = 6 positions x 4 out channels = 24, at t = 1.
            ("vision.patch_embed.block2_lif", [2, 1, 2, 4, 4], [(1, 16 + 1)]),
            // [2, 1, 4, 2, 2]: (0,0) on a 2x2 map reaches 4 positions x 8 out channels = 32.
            ("vision.patch_embed.block3_lif", [2, 1, 4, 2, 2], [(0, 0)]),
            // [2, 1, 8, 1, 1]: 1x1 map, each spike reaches 1 position x 8 channels; 3 spikes at t = 1 -> 24.
            ("vision.patch_embed.block4_lif", [2, 1, 8, 1, 1], [(1, 0), (1, 3), (1, 7)]),
            // 5 spikes feed q, k and v convs (fan-out 8 each): 3 x 40.
            ("vision.block.0.attn.proj_lif", [2, 1, 8, 1, 1], [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]),
            // Head 0 = channels 0-3, head 1 = 4-7. q: {0, 1 | 4}, k: {0 | 5}, v: {0, 2 | 4, 5, 6}.
            // q k^T: head 0 has one coincidence (channel 0), head 1 none -> 1 AC.
            // attn v: head 0 attn[0,0] = 1 != 0 -> v of head 0 at token 0 has 2 spikes -> 2 ACs; head 1 attn = 0 -> 0.
            ("vision.block.0.attn.q_lif", [2, 1, 8, 1], [(0, 0), (0, 1), (0, 4)]),
            ("vision.block.0.attn.k_lif", [2, 1, 8, 1], [(0, 0), (0, 5)]),
            ("vision.block.0.attn.v_lif", [2, 1, 8, 1], [(0, 0), (0, 2), (0, 4), (0, 5), (0, 6)]),
            // 3 spikes x fan-out 8 = 24.
            ("vision.block.0.attn.attn_lif", [2, 1, 8, 1], [(0, 1), (0, 2), (0, 3)]),
            // 4 spikes x hidden 32 = 128 at t = 1.
            ("vision.block.0.mlp.mlp1_lif", [2, 1, 8, 1, 1], [(1, 0), (1, 1), (1, 2), (1, 3)]),
            // 10 spikes x 8 = 80 at t = 1.
            ("vision.block.0.mlp.mlp2_lif", [2, 1, 32, 1, 1], (0..<10).map { (1, $0) }),
        ])
    }

    /// Known spikes, known fan-out, hand-computed pJ (see the comments for each count).
    func testVisionEnergyHandComputed() throws {
        let config = try tinyConfig()
        let rec = Self.handComputedVisionRecording()
        let report = try EnergyAccounting.vision(rec, config: config, item: 0)
        XCTAssertEqual(report["vision.patch_embed.block0_conv"]?.macs, [100, 100])  // 1x1 channels, 10 x 10 valid taps
        XCTAssertEqual(report["vision.patch_embed.block1_conv"]?.acs, [26, 0])
        XCTAssertEqual(report["vision.patch_embed.block2_conv"]?.acs, [0, 24])
        XCTAssertEqual(report["vision.patch_embed.block3_conv"]?.acs, [32, 0])
        XCTAssertEqual(report["vision.patch_embed.block4_conv"]?.acs, [0, 24])
        for conv in ["q_conv", "k_conv", "v_conv"] { XCTAssertEqual(report["vision.block.0.attn." + conv]?.acs, [40, 0]) }
        XCTAssertEqual(report["vision.block.0.attn.qk"]?.acs, [1, 0])
        XCTAssertEqual(report["vision.block.0.attn.av"]?.acs, [2, 0])
        XCTAssertEqual(report["vision.block.0.attn.proj_conv"]?.acs, [24, 0])
        XCTAssertEqual(report["vision.block.0.mlp.mlp1_conv"]?.acs, [0, 128])
        XCTAssertEqual(report["vision.block.0.mlp.mlp2_conv"]?.acs, [0, 80])
        XCTAssertEqual(report["vision.proj"]?.macs, [0, 32])
        XCTAssertEqual(report.totalMACs, 232)
        XCTAssertEqual(report.totalACs, 461)
        // Paper convention: 232 x 4.6 + 461 x 0.9 = 1067.2 + 414.9 = 1482.1 pJ; per step 644.5 and 837.6.
        XCTAssertEqual(report.totalPJ(.paper), 1482.1, accuracy: 1e-9)
        XCTAssertEqual(report.stepPJ(0, .paper), 644.5, accuracy: 1e-9)
        XCTAssertEqual(report.stepPJ(1, .paper), 837.6, accuracy: 1e-9)
        // Fuller: 152 neuron updates per step (tokenizer 16 + 32 + 16 + 8, block 6 x 8 + 32), 6.4 pJ each, on top.
        let updates = report.layers.reduce(0) { $0 + $1.neuronUpdates.reduce(0, +) }
        XCTAssertEqual(updates, 304)
        XCTAssertGreaterThan(report.totalPJ(.fuller), report.totalPJ(.paper) + 304 * 6.4 - 1e-9)
        XCTAssertEqual(report.constants.macPJ, 4.6)
        XCTAssertEqual(report.constants.acPJ, 0.9)
        XCTAssertEqual(report.constants.neuronUpdatePJ, 6.4, accuracy: 1e-12)
    }

    /// The floor `spikeclip bench` prints: each layer at the better of its accumulates at the event rate and its dense
    /// MACs at the SGEMM rate, real-valued layers at the SGEMM rate, attention left out; worked by hand on the
    /// accumulates above (1 AC = 1 ns or 10 ns, 1 MAC = 2 ns at 1 GFLOP/s).
    func testKernelFloorTakesTheBetterPathPerLayer() throws {
        let config = try tinyConfig()
        let graph = LayerGraph.spikingVision(config)
        let report = try EnergyAccounting.vision(Self.handComputedVisionRecording(), config: config, item: 0)
        // Dense MACs (T = 2, all 9 taps): block1 576, block2 2304, block3 2304, block4 1152, q/k/v/proj 128 each,
        // mlp1 and mlp2 512 each. At 1 ns per AC every spiking layer is faster on events: block0 400 (200 MACs) + 26
        // + 24 + 32 + 24 + 3 x 40 + 24 + 128 + 80 + the projection's 64 (32 MACs) = 922 ns.
        XCTAssertEqual(EventKernels.floorMilliseconds(graph: graph, energy: report, accumulateRate: 1e9, sgemmGflops: 1),
                       922e-6, accuracy: 1e-12)
        // At 10 ns per AC q, k and v (400 > 256) and mlp1 (1280 > 1024) go dense: 400 + 260 + 240 + 320 + 240
        // + 3 x 256 + 240 + 1024 + 800 + 64 = 4356 ns.
        XCTAssertEqual(EventKernels.floorMilliseconds(graph: graph, energy: report, accumulateRate: 1e8, sgemmGflops: 1),
                       4356e-6, accuracy: 1e-12)
        // The per-layer dense MACs add up to the graph's.
        XCTAssertEqual(graph.layers.reduce(0) { $0 + graph.denseMACs(of: $1) }, graph.denseMACs)
        let tokenizer: Double = 288 + 576 + 2304 + 2304 + 1152
        let block: Double = 4 * 128 + 2 * 512 + 32  // q, k, v, proj; mlp1, mlp2; attention
        XCTAssertEqual(graph.denseMACs, tokenizer + block + 32)  // + the projection
    }

    func testTextEnergyHandComputed() throws {
        let config = try tinyConfig()
        let rec = syntheticRecording([
            ("text.mlp_lif1", [2, 2, 6], [(0, 0), (0, 3), (0, 5), (1, 6)]),  // prompt 0: 3 spikes at t0; prompt 1: index 6 -> (p1, 0)
            ("text.mlp_lif2", [2, 2, 5], [(1, 1), (1, 4)]),
        ])
        let r0 = try EnergyAccounting.text(rec, config: config, prompt: 0)
        XCTAssertEqual(r0["text.fc1"]?.acs, [15, 0])  // 3 spikes x hidden 5
        XCTAssertEqual(r0["text.fc2"]?.acs, [0, 8])  // 2 spikes x target 4
        XCTAssertEqual(r0.totalPJ(.paper), 23 * 0.9, accuracy: 1e-9)
        let r1 = try EnergyAccounting.text(rec, config: config, prompt: 1)
        XCTAssertEqual(r1["text.fc1"]?.acs, [0, 5])
        XCTAssertEqual(r1.totalACs, 5)
        XCTAssertThrowsError(try EnergyAccounting.text(rec, config: config, prompt: 2)) { error in
            XCTAssertEqual(error as? EnergyError, .itemOutOfRange(index: 2, count: 2))
        }
    }

    func testANNEnergyHandComputed() throws {
        let config = try tinyConfig()
        let r = EnergyAccounting.annVision(config: config)!
        // Convs: 1->1, 1->2, 2->4 at 4x4 (100 taps), 4->8 at 2x2 (16 taps), 8->8 at 1x1 (1 tap).
        XCTAssertEqual(r["ann_vision.embeddings.block0_conv"]?.macs, [100])
        XCTAssertEqual(r["ann_vision.embeddings.block3_conv"]?.macs, [512])
        // Attention with N = 1, D = 8, h = 2: 4 N D^2 + 2 N^2 D + h N^2 + 2 N D = 256 + 16 + 2 + 16.
        XCTAssertEqual(r["ann_vision.encoder.layers.0.self_attn"]?.macs, [290])
        // Total: convs 1676 + pre LN 16 + attn 290 + MLP 560 + post LN 16 + proj 32 = 2590 MACs.
        XCTAssertEqual(r.totalMACs, 2590)
        XCTAssertEqual(r.totalPJ(.paper), 2590 * 4.6, accuracy: 1e-9)
        XCTAssertEqual(r.totalACs, 0)
    }

    func testMissingLayerIsATypedError() throws {
        let config = try tinyConfig()
        XCTAssertThrowsError(try EnergyAccounting.vision(Recording(), config: config, item: 0)) { error in
            XCTAssertEqual(error as? EnergyError, .missingLayer("vision.patch_embed.block1_lif"))
        }
    }
}
