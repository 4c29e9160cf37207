import Foundation
import XCTest
@testable import SpikeCLIP

/// CLIP towers from Hugging Face folders against transformers in float64 (`Tests/Fixtures/clip/<name>`, written by
/// `python -m spikeclip_training.clip_fixtures`; issue 13).
final class CLIPModelTests: XCTestCase {
    func relL2(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    func testTowersMatchTransformers() throws {
        for name in ["tiny", "vitb16-geometry"] {
            let model = try CLIPModel(folder: fixturePath("clip", name))
            let golden = try SafeTensorsFile(path: fixturePath("clip", name + "/golden.safetensors"))
            XCTAssertEqual(golden.metadata["fixture_format"], "spikeclip-clip-golden")
            let pixels = try golden.floats("pixel_values")
            let b = try golden.info("pixel_values").shape[0]
            let idShape = try golden.info("input_ids").shape
            let flat = try golden.ints("input_ids")
            let ids = (0..<idShape[0]).map { Array(flat[($0 * idShape[1])..<(($0 + 1) * idShape[1])]) }
            let image = try model.imageFeatures(pixels: pixels, batch: b)
            let text = try model.textFeatures(tokenIds: ids)
            let ri = relL2(image, try golden.floats("image_features")), rt = relL2(text, try golden.floats("text_features"))
            // logits_per_image = logit_scale * cos(image, text), [B, P].
            let dim = model.config.projectionDim
            var worst: Float = 0
            let reference = try golden.floats("logits_per_image")
            for i in 0..<b {
                let u = l2Normalized(Array(image[(i * dim)..<((i + 1) * dim)]))
                for p in 0..<ids.count {
                    let t = l2Normalized(Array(text[(p * dim)..<((p + 1) * dim)]))
                    let logit = model.logitScale * zip(u, t).reduce(0) { $0 + $1.0 * $1.1 }
                    worst = max(worst, abs(logit - reference[i * ids.count + p]))
                }
            }
            print("CLIP \(name): relative L2 image \(ri), text \(rt); logits max |diff| \(worst)")
            XCTAssertLessThanOrEqual(ri, 1e-4, name)
            XCTAssertLessThanOrEqual(rt, 1e-4, name)
            XCTAssertLessThanOrEqual(worst, 1e-3, name)
            XCTAssertEqual(model.logitScale, Float(exp(2.0)), accuracy: 1e-4)
        }
    }

    /// Issue 15: prompts are embedded in padded batches; each prompt's features equal those of its real tokens alone
    /// (within 1e-5 relative L2), whatever its batch, for an end-token config and for the legacy arg-max one, with
    /// padding that repeats the end token or is 0, over 40 prompts (two batches) of lengths 2..20.
    func testBatchedPromptsEqualOnePromptAtATime() throws {
        var rng = SystemRandomNumberGenerator()
        for name in ["tiny", "vitb16-geometry"] {
            let model = try CLIPModel(folder: fixturePath("clip", name))
            let eos = model.config.eosTokenId == 2 ? model.config.vocabSize - 1 : model.config.eosTokenId
            let context = model.config.maxPositionEmbeddings
            let prompts = (0..<40).map { i -> TokenizedPrompt in
                let l = Int.random(in: 2...20, using: &rng)
                let real = [0] + (0..<(l - 2)).map { _ in Int.random(in: 1..<(eos - 1), using: &rng) } + [eos]
                let pad = i % 2 == 0 ? eos : 0
                return TokenizedPrompt(text: "\(i)", ids: real + [Int](repeating: pad, count: context - l),
                                       mask: [Int](repeating: 1, count: l) + [Int](repeating: 0, count: context - l),
                                       pieces: [], count: l, truncatedPieces: [])
            }
            let batched = try model.embed(prompts)
            XCTAssertEqual(batched.count, prompts.count)
            for (p, row) in zip(prompts, batched) {
                let alone = try model.textFeatures(tokenIds: [Array(p.ids.prefix(p.count))])
                XCTAssertEqual(row.count, model.config.projectionDim)
                XCTAssertLessThanOrEqual(relL2(row, alone), 1e-5, "\(name) prompt \(p.text) of \(p.count) tokens")
            }
        }
    }

    /// BF16 weights (the F32 fixture's values truncated to their top 16 bits) load and give nearly the same features.
    func testBF16WeightsLoad() throws {
        let dir = temporaryPath("clip-bf16-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixturePath("clip", "tiny/config.json"), toPath: dir + "/config.json")
        let source = try SafeTensorsFile(path: fixturePath("clip", "tiny/model.safetensors"))
        let tensors = rawTensors(of: source).map { t -> RawTensor in
            guard t.dtype == "F32" else { return t }
            let bytes = stride(from: 0, to: t.bytes.count, by: 4).flatMap { [t.bytes[$0 + 2], t.bytes[$0 + 3]] }
            return RawTensor(key: t.key, dtype: "BF16", shape: t.shape, bytes: bytes)
        }
        try writeSafeTensors(dir + "/model.safetensors", tensors: tensors)
        let bf16 = try CLIPModel(folder: dir), f32 = try CLIPModel(folder: fixturePath("clip", "tiny"))
        let golden = try SafeTensorsFile(path: fixturePath("clip", "tiny/golden.safetensors"))
        let pixels = try golden.floats("pixel_values")
        let b = try golden.info("pixel_values").shape[0]
        let (x, y) = (try bf16.imageFeatures(pixels: pixels, batch: b), try f32.imageFeatures(pixels: pixels, batch: b))
        XCTAssertNotEqual(x, y)
        XCTAssertLessThan(relL2(x, y), 0.05)
    }

    func testStrictLoadingNamesTheKey() throws {
        let dir = temporaryPath("clip-strict-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixturePath("clip", "tiny/config.json"), toPath: dir + "/config.json")
        let source = try SafeTensorsFile(path: fixturePath("clip", "tiny/model.safetensors"))
        var tensors = rawTensors(of: source).filter { $0.key != "text_projection.weight" }
        try writeSafeTensors(dir + "/model.safetensors", tensors: tensors)
        assertThrows(CheckpointError.missingKey(path: dir + "/model.safetensors", key: "text_projection.weight", expectedShape: [16, 32])) {
            _ = try CLIPModel(folder: dir)
        }
        tensors = rawTensors(of: source) + [.f32("vision_model.extra", [1], [0])]
        try writeSafeTensors(dir + "/model.safetensors", tensors: tensors)
        assertThrows(CheckpointError.unknownKeys(path: dir + "/model.safetensors", keys: ["vision_model.extra"])) { _ = try CLIPModel(folder: dir) }
        // Regression (fresh-user trial): a mistyped folder was reported as its parent's config.json.
        assertThrows(CheckpointError.badConfig(path: dir + "y", reason: "no such folder (a Hugging Face CLIPModel folder holds config.json and model.safetensors)")) {
            _ = try CLIPModel(folder: dir + "y")
        }
        try #"{"vision_config": {"hidden_act": "relu"}}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CLIPModel(folder: dir)) { XCTAssertTrue("\($0)".contains("vision_config.hidden_act"), "\($0)") }
        try #"{"text_config": {"hidden_size": 1e300}}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CLIPModel(folder: dir)) { XCTAssertTrue("\($0)".contains("text_config.hidden_size"), "\($0)") }
        // Regression: the integers 0 and 1 were taken for booleans (Linux JSON bridging), so a one-layer tower was
        // refused; a real boolean still is.
        let one = try CLIPConfig.decode(Data(#"{"vision_config": {"num_hidden_layers": 1}, "text_config": {"num_hidden_layers": 0}}"#.utf8), path: "c")
        XCTAssertEqual([one.vision.numHiddenLayers, one.text.numHiddenLayers], [1, 0])
        XCTAssertThrowsError(try CLIPConfig.decode(Data(#"{"vision_config": {"num_hidden_layers": true}}"#.utf8), path: "c")) {
            XCTAssertTrue("\($0)".contains("vision_config.num_hidden_layers"), "\($0)")
        }
    }
}

/// CLIP preprocessing against transformers' `CLIPImageProcessor` on the 12 images of `Tests/Fixtures/clip/images`.
final class CLIPPreprocessTests: XCTestCase {
    func testEqualsCLIPImageProcessorWithinOneLevel() throws {
        let expected = try SafeTensorsFile(path: fixturePath("clip", "images/expected.safetensors"))
        let sizes = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((expected.metadata["sizes"] ?? "").utf8)) as? [String: Int])
        XCTAssertGreaterThanOrEqual(sizes.count, 10)
        var worstAll = 0, differing = 0, total = 0
        for (name, size) in sizes.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder.decode(path: fixturePath("clip", "images/\(name).png"))
            let ours = CLIPImagePreprocessor(shortestEdge: size, cropSize: size).eightBit(image)
            let theirs = expected.rawBytes(name)
            XCTAssertEqual(ours.count, theirs.count, name)
            let worst = zip(ours, theirs).map { abs(Int($0) - Int($1)) }.max() ?? 0
            differing += zip(ours, theirs).filter { $0 != $1 }.count
            total += ours.count
            worstAll = max(worstAll, worst)
            if worst > 0 { print("  \(name): max |diff| \(worst)/255") }
            XCTAssertLessThanOrEqual(worst, 2, "\(name): max |diff| \(worst)/255")
        }
        print("CLIP preprocessing vs CLIPImageProcessor: \(sizes.count) images, max |diff| \(worstAll)/255, \(differing) of \(total) values differ")
        // Normalisation: (x / 255 - mean) / std.
        let one = try ImageDecoder.decode(path: fixturePath("clip", "images/exact-96.png"))
        let p = CLIPImagePreprocessor(shortestEdge: 96, cropSize: 96)
        let (raw, normalized) = (p.eightBit(one), p(one))
        XCTAssertEqual(normalized[0], (Float(raw[0]) / 255 - CLIPImagePreprocessor.clipMean[0]) / CLIPImagePreprocessor.clipStd[0], accuracy: 1e-6)
    }
}
