import Foundation
import XCTest
@testable import SpikeCLIP

/// The layer graph, the neuron protocol and the analysis pipeline (issue 12).
final class PipelineTests: XCTestCase {
    /// Issue 15: the spiking text side is cached per prompt, so adding a class encodes only its prompts; the result
    /// (embeddings, every text layer's spikes in `[T, P, ...]` order, energy per prompt) equals one pass over all of
    /// them in a fresh pipeline. Reordered and repeated prompts too.
    func testPerPromptTextCacheEqualsOnePass() throws {
        let checkpoint = fixturePath("tiny-default", "model.safetensors")
        let assets = URL(fileURLWithPath: checkpoint).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("assets").path
        let cached = SpikeCLIPPipeline(bundle: try CheckpointBundle(checkpoint: checkpoint, assets: assets))
        let classes = cached.bundle.defaultClasses, templates = cached.bundle.defaultTemplates
        _ = try cached.encodeText(PromptSet(classes: classes, templates: templates))
        let grown = PromptSet(classes: [classes[1]] + classes + ["7 8 9"], templates: templates)
        let a = try cached.encodeText(grown)
        let b = try SpikeCLIPPipeline(bundle: cached.bundle).encodeText(grown)
        XCTAssertEqual(a.snnEmbeddings, b.snnEmbeddings)
        XCTAssertEqual(a.recording.layers.map(\.name), b.recording.layers.map(\.name))
        for (x, y) in zip(a.recording.layers, b.recording.layers) {
            XCTAssertEqual(x.shape, y.shape, x.name)
            XCTAssertEqual(x.threshold, y.threshold, x.name)
            XCTAssertEqual(x.spikes, y.spikes, x.name)
        }
        for p in grown.prompts.indices { XCTAssertEqual(try a.energy(prompt: p), try b.energy(prompt: p)) }
        XCTAssertEqual(a.snn.classEmbeddings, b.snn.classEmbeddings)
        // Membrane requests and interventions bypass the cache and still record what they ask for.
        let layer = try XCTUnwrap(b.recording.layers.first?.name)
        let traced = try cached.encodeText(grown, membrane: [layer: [3]])
        XCTAssertNotNil(traced.recording[layer]?.membrane[3])
        XCTAssertEqual(traced.snnEmbeddings, b.snnEmbeddings)
    }

    /// Issue 15: a new prompt set on the same image re-scores the cached image side instead of re-running the encoders,
    /// and gives what a fresh pipeline gives; other pixels, interventions or membrane requests run them again.
    func testImageSideIsReusedWhenOnlyThePromptsChange() throws {
        let checkpoint = fixturePath("tiny-default", "model.safetensors")
        let assets = URL(fileURLWithPath: checkpoint).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("assets").path
        let bundle = try CheckpointBundle(checkpoint: checkpoint, assets: assets)
        let p = SpikeCLIPPipeline(bundle: bundle)
        let classes = bundle.defaultClasses, templates = bundle.defaultTemplates
        let v = bundle.model.config.vision
        let pixels = (0..<(v.inChannels * v.imageSize[0] * v.imageSize[1])).map { Float(($0 * 37) % 101) / 101 }
        let small = try p.encodeText(PromptSet(classes: Array(classes.prefix(3)), templates: templates))
        let grown = try p.encodeText(PromptSet(classes: classes + ["7 8 9"], templates: templates))
        let options = AnalysisOptions(anytime: true)
        _ = try p.analyze(pixels: pixels, batch: 1, text: small, options: options)
        let reused = try p.analyze(pixels: pixels, batch: 1, text: grown, options: options)
        XCTAssertEqual(p.imageSideRuns, 1)
        let fresh = try SpikeCLIPPipeline(bundle: bundle).analyze(pixels: pixels, batch: 1, text: grown, options: options)
        XCTAssertEqual(reused.images[0].snn?.probabilities, fresh.images[0].snn?.probabilities)
        XCTAssertEqual(reused.images[0].ann?.probabilities, fresh.images[0].ann?.probabilities)
        XCTAssertEqual(reused.images[0].anytime, fresh.images[0].anytime)
        XCTAssertEqual(reused.images[0].energy, fresh.images[0].energy)
        XCTAssertEqual(reused.recording.layers.map(\.spikes), fresh.recording.layers.map(\.spikes))
        XCTAssertEqual(reused.images[0].snn?.probabilities.count, classes.count + 1)
        var silenced = options
        silenced.interventions.steps = 2
        _ = try p.analyze(pixels: pixels, batch: 1, text: grown, options: silenced)
        XCTAssertEqual(p.imageSideRuns, 2)
        _ = try p.analyze(pixels: pixels.map { 1 - $0 }, batch: 1, text: grown, options: silenced)
        XCTAssertEqual(p.imageSideRuns, 3)
        _ = try p.analyze(pixels: pixels.map { 1 - $0 }, batch: 1, text: grown, options: AnalysisOptions(membrane: ["vision.patch_embed.proj_lif": [0]]))
        XCTAssertEqual(p.imageSideRuns, 4)
    }

    /// Issue 15: spikes are recorded bit-packed. Packing from floats and from bytes agree, read back element by element,
    /// popcounts and set-bit walks over arbitrary ranges (word-aligned or not, empty, clamped) equal a byte scan, `insert` places a range
    /// at an unaligned offset, and equal trains compare equal whatever they were built from.
    func testSpikeBitsPackCountAndInsertLikeBytes() {
        var rng = SystemRandomNumberGenerator()
        for n in [0, 1, 63, 64, 65, 130, 1000] {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...1, using: &rng) }
            let bits = SpikeBits(bytes)
            XCTAssertEqual(bits.count, n)
            XCTAssertEqual(Array(bits), bytes)
            XCTAssertEqual(bits, SpikeBits(floats: bytes.map { $0 == 0 ? 0 : Float.random(in: 0.5...2, using: &rng) }))
            XCTAssertEqual(bits.ones, bytes.reduce(0) { $0 + Int($1) })
            for _ in 0..<50 {
                let a = Int.random(in: -3...(n + 3), using: &rng), b = Int.random(in: a...(n + 5), using: &rng)
                let lo = max(0, min(n, a)), hi = max(lo, min(n, b))
                XCTAssertEqual(bits.ones(in: a..<b), bytes[lo..<hi].reduce(0) { $0 + Int($1) }, "n \(n), \(a)..<\(b)")
                var found: [Int] = []
                bits.forEachOne(in: a..<b) { found.append($0) }
                XCTAssertEqual(found, (lo..<hi).filter { bytes[$0] != 0 }, "n \(n), \(a)..<\(b)")
                var offsets: [Int] = []
                bits[lo..<hi].forEachOne { offsets.append($0) }
                XCTAssertEqual(offsets, found.map { $0 - lo })
            }
            guard n > 2 else { continue }
            let range = 1..<(n - 1), offset = 5
            var target = SpikeBits(zeros: n + offset)
            target.insert(bits, range, at: offset)
            XCTAssertEqual(Array(target), [UInt8](repeating: 0, count: offset) + Array(bytes[range]) + [0, 0])
        }
        let layer = LayerRecording(name: "x", shape: [2, 3, 4], threshold: 1, spikes: (0..<24).map { UInt8($0 % 3 == 0 ? 1 : 0) }, membrane: [:])
        XCTAssertEqual(layer.spikeCount(step: 1, item: 2), layer.spikes(step: 1, item: 2).reduce(0) { $0 + Int($1) })
        XCTAssertEqual(Array(layer.spikes(step: 1, item: 0)), [1, 0, 0, 1])  // elements 12..<16
        XCTAssertEqual(layer.firingRate(), 8.0 / 24.0)
    }

    /// The graph is what the forward pass records: every spiking layer, in order, with shape `[T, B] + shape` and its
    /// threshold; energy rows follow the graph (attention as `qk`, `av`).
    func testGraphDescribesTheRecordingAndTheEnergyRows() throws {
        for name in ["tiny-default", "tiny-official"] {
            let model = try SpikeCLIPModel(path: fixturePath(name, "model.safetensors"))
            let golden = try ParityTests.Golden(path: fixturePath(name, "golden.safetensors"))
            let c = model.config
            let (_, rec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch)
            let (_, textRec) = try model.text.forward(tokenIds: golden.tokenIds)
            for (graph, recording, batch) in [(model.vision.graph, rec, golden.batch), (model.text.graph, textRec, golden.tokenIds.count)] {
                XCTAssertEqual(graph.neuronLayers.map(\.name), recording.layers.map(\.name), name)
                for (spec, layer) in zip(graph.neuronLayers, recording.layers) {
                    XCTAssertEqual([c.T, batch] + spec.shape, layer.shape, spec.name)
                    XCTAssertEqual(spec.neuron?.vThreshold, layer.threshold, spec.name)
                }
                // Every layer but the input reads layers before it.
                for (i, l) in graph.layers.enumerated() {
                    for input in l.inputs { XCTAssertLessThan(try XCTUnwrap(graph.layers.firstIndex { $0.name == input }), i, l.name) }
                }
            }
            XCTAssertEqual(model.vision.graph.neuronLayers.filter { $0.name.hasSuffix("attn_lif") }.map { $0.neuron!.vThreshold },
                           [Float](repeating: Float(c.lif.attnVThreshold), count: c.vision.depths))
            let rows = try EnergyAccounting.vision(rec, config: c, item: 0).layers.map(\.name)
            let expected = model.vision.graph.layers.flatMap { l -> [String] in
                switch l.kind {
                case .input: return []
                case .attention: return [String(l.name.dropLast("attention".count)) + "qk", String(l.name.dropLast("attention".count)) + "av"]
                default: return [l.name]
                }
            }
            XCTAssertEqual(rows, expected, name)
        }
    }

    func testPromptSetIsClassMajor() {
        let set = PromptSet(classes: ["cat", "dog"], templates: ["a photo of a {}.", "drawing:"])
        XCTAssertEqual(set.prompts, ["a photo of a cat.", "drawing: cat", "a photo of a dog.", "drawing: dog"])
        XCTAssertEqual(set.templatesPerClass, 2)
    }

    /// The pipeline's numbers equal the encoders, classifier and energy accounting called directly.
    func testPipelineEqualsDirectEngineCalls() throws {
        let path = fixturePath("tiny-official", "model.safetensors")
        let pipeline = SpikeCLIPPipeline(bundle: try CheckpointBundle(checkpoint: path, assets: "assets"))
        let golden = try ParityTests.Golden(path: fixturePath("tiny-official", "golden.safetensors"))
        let model = pipeline.bundle.model, c = model.config
        let m = golden.numTemplates, k = golden.tokenIds.count / m
        let prompts = PromptSet(classes: (0..<k).map { "class \($0)" }, prompts: golden.tokenIds.map { $0.map(String.init).joined(separator: " ") },
                                templatesPerClass: m)
        let text = try pipeline.encodeText(prompts)
        XCTAssertEqual(text.tokens.map(\.ids), golden.tokenIds)
        XCTAssertEqual(text.annTextEncoder, "spiking")
        let r = try pipeline.analyze(pixels: golden.pixels, batch: golden.batch, text: text, options: AnalysisOptions(anytime: true))

        let (flat, _) = try model.text.forward(tokenIds: golden.tokenIds)
        let dim = c.text.targetDim
        let classifier = ZeroShotClassifier(textEmbeddings: rows(flat, dim), templatesPerClass: m, logitScale: Float(c.logitScale))
        let (images, rec) = try model.vision.forward(pixels: golden.pixels, batch: golden.batch)
        let ann = try model.annVision!.forward(pixels: golden.pixels, batch: golden.batch)
        XCTAssertEqual(r.images.count, golden.batch)
        for (b, image) in r.images.enumerated() {
            XCTAssertEqual(image.snn, classifier.score(imageEmbedding: rows(images, dim)[b]))
            XCTAssertEqual(image.ann, classifier.score(imageEmbedding: rows(ann, dim)[b]))
            XCTAssertEqual(image.energy, try EnergyAccounting.vision(rec, config: c, item: b))
            XCTAssertEqual(image.anytime?.count, c.T)
            XCTAssertEqual(image.anytime?.last, image.snn?.probabilities)
        }
        XCTAssertEqual(r.annEnergy, EnergyAccounting.annVision(config: c)!)
    }

    func rows(_ flat: [Float], _ dim: Int) -> [[Float]] { (0..<(flat.count / dim)).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) } }

    /// `lif.kind` names the neuron model; `lif` when absent; anything else is a config error naming the key.
    func testNeuronKindIsCheckedAgainstTheRegistry() throws {
        // Stated from the registry: a new neuron model is one file and one registry line, no test to edit.
        XCTAssertEqual(NeuronModels.kinds.first, "lif")
        XCTAssertEqual(Set(NeuronModels.kinds).count, NeuronModels.kinds.count, "kinds are unique")
        let lif = try rewrittenFixture("tiny-default", as: "kind-lif.safetensors") { c in
            var l = c["lif"] as! [String: Any]; l["kind"] = "lif"; c["lif"] = l
        }
        let golden = try ParityTests.Golden(path: fixturePath("tiny-default", "golden.safetensors"))
        let explicit = try SpikeCLIPModel(path: lif).vision.forward(pixels: golden.pixels, batch: golden.batch).embedding
        let implicit = try SpikeCLIPModel(path: fixturePath("tiny-default", "model.safetensors")).vision.forward(pixels: golden.pixels, batch: golden.batch).embedding
        XCTAssertEqual(explicit, implicit)
        let bad = try rewrittenFixture("tiny-default", as: "kind-bad.safetensors") { c in
            var l = c["lif"] as! [String: Any]; l["kind"] = "izhikevich\u{1B}[2J"; c["lif"] = l
        }
        assertThrows(CheckpointError.badConfig(path: bad, reason: "lif.kind 'izhikevich\\u{1b}[2J' is not one of \(NeuronModels.kinds.joined(separator: ", "))"), mentions: ["lif.kind"]) {
            _ = try SpikeCLIPModel(path: bad)
        }
    }

    /// The CLIP family's text tower as the ANN text model: a prompt's real tokens through CLIP (the full family,
    /// with CLIP's image tower, is in ``OfficialImportTests``).
    func testCLIPTextTowerEmbedsTheRealTokens() throws {
        let model = try CLIPModel(folder: fixturePath("clip", "tiny"))
        let ann: any ANNTextEncoding = model
        XCTAssertEqual(ann.name, "clip")
        let ids = TokenizedPrompt(text: "", ids: [998, 5, 7, 999, 999], mask: [1, 1, 1, 1, 0], pieces: [], count: 4, truncatedPieces: [])
        XCTAssertEqual(try ann.embed([ids]), [try model.textFeatures(tokenIds: [[998, 5, 7, 999]])])
        XCTAssertEqual(ann.energy(ids, constants: .horowitz45nm), EnergyAccounting.clipText(model.config, tokens: 4))
    }

    /// A model family is chosen by `tokenizer.kind` from the registry, the same rule for every front end.
    func testFamiliesAreKeyedByTokenizerKind() throws {
        // The families this build must have; a new family adds a registry line without editing this test.
        let kinds = ModelFamilies.all.map(\.kind)
        XCTAssertEqual(Array(kinds.prefix(3)), ["bert-wordpiece", "ids", "clip-bpe"])
        XCTAssertEqual(Set(kinds).count, kinds.count, "kinds are unique")
        let bundle = try CheckpointBundle(checkpoint: fixturePath("tiny-default", "model.safetensors"), assets: "assets")
        XCTAssertEqual(bundle.family.kind, "ids")
        XCTAssertTrue(bundle.parts.tokenizer is TokenIDTokenizer)
        XCTAssertNil(bundle.parts.annText)
        XCTAssertThrowsError(try bundle.parts.tokenizer.tokenize("a cat", contextLength: 4)) { error in
            XCTAssertEqual(error as? PromptError, .notTokenIds(prompt: "a cat"))
        }
        let t = try bundle.parts.tokenizer.tokenize("5 6 7", contextLength: 2)
        XCTAssertEqual(t.ids, [5, 6])
        XCTAssertEqual(t.truncatedPieces, ["7"])
    }
}
