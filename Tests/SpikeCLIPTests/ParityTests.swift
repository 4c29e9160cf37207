import Foundation
import XCTest
@testable import SpikeCLIP

/// The Swift engine against the PyTorch reference (golden fixtures written by `training/`, float64 reference).
/// Acceptance (issue "Swift SpikeCLIP engine"): encoder outputs relative L2 <= 1e-4; every LIF layer's spikes
/// identical (flips reported; a flip is only tolerable within 1e-4 of threshold, and the committed fixtures must have
/// none); zero-shot top-1 identical.
final class ParityTests: XCTestCase {
    /// (label, checkpoint, golden file): the three random-weight fixtures (`official-import`: what convert_official
    /// writes, no ANN twin) and the shipped trained checkpoint (its golden file holds 2 validation images and the class
    /// prompts, written by the training pipeline's `fixtures` stage).
    static let fixtures: [(name: String, model: String, golden: String)] = ["tiny-default", "tiny-official", "official-import"].map {
        ($0, fixturePath($0, "model.safetensors"), fixturePath($0, "golden.safetensors"))
    } + [(
        "default", repositoryRoot.appendingPathComponent("assets/checkpoints/default.safetensors").path,
        repositoryRoot.appendingPathComponent("assets/checkpoints/default.golden.safetensors").path
    )]

    struct Golden {
        let file: SafeTensorsFile
        let batch: Int
        let pixels: [Float]
        let tokenIds: [[Int]]
        let numClasses: Int
        let numTemplates: Int

        init(path: String) throws {
            file = try SafeTensorsFile(path: path)
            XCTAssertEqual(file.metadata["fixture_format"], "spikeclip-golden")
            XCTAssertEqual(file.metadata["fixture_version"], "1")
            batch = try file.info("input.pixel_values").shape[0]
            pixels = try file.floats("input.pixel_values")
            let idShape = try file.info("input.token_ids").shape
            let ids = try file.ints("input.token_ids")
            tokenIds = (0..<idShape[0]).map { Array(ids[($0 * idShape[1])..<(($0 + 1) * idShape[1])]) }
            numClasses = Int(file.metadata["num_classes"] ?? "") ?? -1
            numTemplates = Int(file.metadata["num_templates"] ?? "") ?? -1
        }

        /// Membrane neurons the fixture recorded, per layer.
        var membraneRequests: [String: [Int]] {
            var r: [String: [Int]] = [:]
            for key in file.tensors.keys where key.hasPrefix("membrane_index.") {
                r[String(key.dropFirst("membrane_index.".count))] = try? file.ints(key)
            }
            return r
        }
    }

    static func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
        return (num / max(den, 1e-30)).squareRoot()
    }

    /// Compares every recorded layer with the fixture; returns the total flip count. Flips are reported with where
    /// they are and how far the Swift membrane was from threshold.
    func compareSpikes(_ rec: Recording, golden: Golden, prefix: String, fixture: String) throws -> Int {
        var flips = 0
        let goldenLayers = golden.file.tensors.keys.filter { $0.hasPrefix("spikes." + prefix) }.sorted()
        XCTAssertFalse(goldenLayers.isEmpty, "\(fixture): no \(prefix) spikes in the fixture")
        let recorded = rec.layers.map(\.name)
        XCTAssertEqual(Set(recorded), Set(goldenLayers.map { String($0.dropFirst("spikes.".count)) }), "\(fixture): LIF layer names differ")
        for key in goldenLayers {
            let name = String(key.dropFirst("spikes.".count))
            guard let layer = rec[name] else { continue }
            XCTAssertEqual(layer.shape, try golden.file.info(key).shape, "\(fixture) \(name): shape")
            let expected = try golden.file.ints(key)
            var layerFlips: [Int] = []
            for (i, (a, b)) in zip(layer.spikes, expected).enumerated() where Int(a) != b { layerFlips.append(i) }
            if !layerFlips.isEmpty {
                print("\(fixture) \(name): \(layerFlips.count) spike flips, first at flat index \(layerFlips.prefix(5))")
            }
            flips += layerFlips.count
            // Membrane traces of the chosen neurons.
            if let index = try? golden.file.ints("membrane_index." + name) {
                let traces = try golden.file.floats("membrane." + name)  // [T, k]
                for (j, neuron) in index.enumerated() {
                    guard let mine = layer.membrane[neuron] else { XCTFail("\(fixture) \(name): no trace for \(neuron)"); continue }
                    for t in 0..<layer.steps {
                        let ref = traces[t * index.count + j]
                        XCTAssertEqual(mine[t], ref, accuracy: 1e-4 + 1e-4 * abs(ref), "\(fixture) \(name) neuron \(neuron) t=\(t)")
                    }
                }
            }
        }
        return flips
    }

    func testEncodersMatchPyTorch() throws {
        for (fixture, modelPath, goldenPath) in Self.fixtures {
            let model = try SpikeCLIPModel(path: modelPath)
            let golden = try Golden(path: goldenPath)
            let options = RecordingOptions(spikes: true, membrane: golden.membraneRequests)

            let (image, visionRec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch, options: options)
            let refImage = try golden.file.floats("output.vision")
            let imageErr = Self.relativeL2(image, refImage)
            XCTAssertLessThanOrEqual(imageErr, 1e-4, "\(fixture): spiking image embedding relative L2")
            let visionFlips = try compareSpikes(visionRec, golden: golden, prefix: "vision.", fixture: fixture)

            let (text, textRec) = try model.text.forward(tokenIds: golden.tokenIds, options: options)
            let textErr = Self.relativeL2(text, try golden.file.floats("output.text"))
            XCTAssertLessThanOrEqual(textErr, 1e-4, "\(fixture): spiking text embedding relative L2")
            let textFlips = try compareSpikes(textRec, golden: golden, prefix: "text.", fixture: fixture)

            var annErr = Double.nan
            if let twin = model.annVision {
                annErr = Self.relativeL2(try twin.forward(pixels: golden.pixels, batch: golden.batch), try golden.file.floats("output.ann_vision"))
                XCTAssertLessThanOrEqual(annErr, 1e-4, "\(fixture): ANN twin embedding relative L2")
            } else {
                XCTAssertNil(golden.file.tensors["output.ann_vision"], "\(fixture): a golden ANN output without a twin")
            }

            print("\(fixture): relative L2 image \(imageErr), text \(textErr), ann \(annErr); spike flips vision \(visionFlips), text \(textFlips)")
            XCTAssertEqual(visionFlips + textFlips, 0, "\(fixture): the committed fixtures must reproduce every spike")

            // Zero-shot with template ensembling.
            let dim = model.config.text.targetDim
            let rows = (0..<golden.tokenIds.count).map { Array(text[($0 * dim)..<(($0 + 1) * dim)]) }
            let classifier = ZeroShotClassifier(textEmbeddings: rows, templatesPerClass: golden.numTemplates, logitScale: Float(model.config.logitScale))
            XCTAssertEqual(classifier.classEmbeddings.count, golden.numClasses)
            let refClasses = try golden.file.floats("output.class_embeddings")
            XCTAssertLessThanOrEqual(Self.relativeL2(classifier.classEmbeddings.flatMap { $0 }, refClasses), 1e-4)
            let refLogits = try golden.file.floats("output.logits")
            let refProbs = try golden.file.floats("output.probs")
            let refTop1 = try golden.file.ints("output.top1")
            for b in 0..<golden.batch {
                let scores = classifier.score(imageEmbedding: Array(image[(b * dim)..<((b + 1) * dim)]))
                XCTAssertEqual(scores.top1, refTop1[b], "\(fixture) image \(b): top-1")
                for c in 0..<golden.numClasses {
                    XCTAssertEqual(scores.logits[c], refLogits[b * golden.numClasses + c], accuracy: 1e-4, "\(fixture) image \(b) class \(c): logit")
                    XCTAssertEqual(scores.probabilities[c], refProbs[b * golden.numClasses + c], accuracy: 1e-4)
                }
            }
        }
    }

    /// The plain reference kernels and the event kernels give the same spikes and outputs as BLAS.
    func testKernelModesAgree() throws {
        for (fixture, modelPath, goldenPath) in Self.fixtures {
            let model = try SpikeCLIPModel(path: modelPath)
            let golden = try Golden(path: goldenPath)
            let (dense, denseRec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch, mode: .blas)
            let (denseText, denseTextRec) = try model.text.forward(tokenIds: golden.tokenIds, mode: .blas)
            for mode in [KernelMode.reference, .event] {
                let (out, rec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch, mode: mode)
                XCTAssertLessThanOrEqual(Self.relativeL2(out, dense), 1e-5, "\(fixture) \(mode): vision output")
                for (a, b) in zip(rec.layers, denseRec.layers) {
                    XCTAssertEqual(a.name, b.name)
                    XCTAssertEqual(a.spikes, b.spikes, "\(fixture) \(mode): \(a.name) spikes differ from the dense path")
                }
                let (text, textRec) = try model.text.forward(tokenIds: golden.tokenIds, mode: mode)
                XCTAssertLessThanOrEqual(Self.relativeL2(text, denseText), 1e-5, "\(fixture) \(mode): text output")
                for (a, b) in zip(textRec.layers, denseTextRec.layers) { XCTAssertEqual(a.spikes, b.spikes, "\(fixture) \(mode): \(a.name)") }
                if let twin = model.annVision {
                    let ann = try twin.forward(pixels: golden.pixels, batch: golden.batch, mode: mode)
                    let annDense = try twin.forward(pixels: golden.pixels, batch: golden.batch, mode: .blas)
                    XCTAssertLessThanOrEqual(Self.relativeL2(ann, annDense), 1e-5, "\(fixture) \(mode): ANN output")
                }
            }
        }
    }

    /// Energy from the fixture's own spikes: every AC count is reproducible from the golden spikes alone.
    func testEnergyFromRecordedSpikesIsConsistent() throws {
        let model = try SpikeCLIPModel(path: fixturePath("tiny-official", "model.safetensors"))
        let golden = try Golden(path: fixturePath("tiny-official", "golden.safetensors"))
        let (_, rec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch)
        let report = try EnergyAccounting.vision(rec, config: model.config, item: 1)
        let d = model.config.vision.embedDims
        let projLIF = try golden.file.ints("spikes.vision.block.1.attn.proj_lif")  // [T, B, D, H/4, W/4]
        let perItem = projLIF.count / (model.config.T * golden.batch)
        for t in 0..<model.config.T {
            let start = (t * golden.batch + 1) * perItem
            let count = projLIF[start..<(start + perItem)].reduce(0, +)
            XCTAssertEqual(report["vision.block.1.attn.q_conv"]?.acs[t], Double(count * d))
        }
        XCTAssertGreaterThan(report.totalACs, 0)
        XCTAssertGreaterThan(report.totalPJ(.fuller), report.totalPJ(.paper))
        let ann = EnergyAccounting.annVision(config: model.config)!
        XCTAssertGreaterThan(ann.totalMACs, 0)
    }

    /// `text.embedding.signed` (docs/CHECKPOINT.md) feeds `[e, -e]` per position to `mlp_lif1`. Pinned against the
    /// golden-tested unsigned encoder of `tiny-default`: with `fc1` = `[W_l, 0]` per position the `-e` half adds
    /// nothing, and with `[0, W_l]` and the LayerNorm's affine negated the `-e` half is the original `e`; both must
    /// give the unsigned encoder's spikes and embeddings, which fixes the layout (which half, which columns).
    func testSignedTextInputMatchesItsUnsignedEquivalents() throws {
        let source = try SafeTensorsFile(path: fixturePath("tiny-default", "model.safetensors"))
        let base = try SpikeCLIPModel(path: fixturePath("tiny-default", "model.safetensors"))
        let t = base.config.text, l = t.contextLength, e = t.embedDim, hidden = t.hiddenDim
        XCTAssertEqual(t.embedding.kind, "bert")
        let w = try source.floats("text.fc1.weight")  // [hidden, L*E]
        func variant(_ name: String, negativeHalf: Bool) throws -> SpikeCLIPModel {
            var tensors: [RawTensor] = []
            for key in source.keys {
                var values = try source.floats(key), shape = try source.info(key).shape
                if key == "text.fc1.weight" {
                    var signed = [Float](repeating: 0, count: hidden * l * 2 * e)
                    for o in 0..<hidden { for pos in 0..<l { for j in 0..<e {
                        signed[o * l * 2 * e + pos * 2 * e + (negativeHalf ? e : 0) + j] = w[o * l * e + pos * e + j]
                    } } }
                    (values, shape) = (signed, [hidden, l * 2 * e])
                }
                if negativeHalf && key.hasPrefix("text.clip_embedding.LayerNorm.") { values = values.map { -$0 } }
                tensors.append(.f32(key, shape, values))
            }
            var metadata = source.metadata
            metadata["config"] = editedJSON(metadata["config"]!) { c in
                var text = c["text"] as! [String: Any]
                var emb = text["embedding"] as! [String: Any]
                emb["signed"] = true
                text["embedding"] = emb
                c["text"] = text
            }
            let path = temporaryPath(name)
            try writeSafeTensors(path, tensors: tensors, metadata: metadata)
            return try SpikeCLIPModel(path: path)
        }
        let ids: [[Int]] = (0..<3).map { r in (0..<l).map { ($0 * 7 + r * 13 + 1) % t.embedding.vocabSize } }
        for mode in [KernelMode.event, .blas, .reference] {
            let (want, wantRec) = try base.text.forward(tokenIds: ids, mode: mode)
            for negative in [false, true] {
                let model = try variant("signed-\(negative)-\(mode).safetensors", negativeHalf: negative)
                XCTAssertEqual(model.text.graph.layers[0].shape, [l * 2 * e])
                let (got, rec) = try model.text.forward(tokenIds: ids, mode: mode)
                XCTAssertLessThanOrEqual(Self.relativeL2(got, want), 1e-6, "\(mode), -e half carries W: \(negative)")
                XCTAssertEqual(rec["text.mlp_lif2"]?.spikes, wantRec["text.mlp_lif2"]?.spikes, "\(mode) \(negative)")
                // Both halves fire (the test would not see a wrong half otherwise).
                func ones(_ r: Recording) -> Int { r.layers.first { $0.name == "text.mlp_lif1" }.map { Int($0.spikes.ones) } ?? 0 }
                XCTAssertGreaterThan(ones(rec), ones(wantRec))
            }
        }
    }
}
