import Foundation
import XCTest
@testable import SpikeCLIP

/// Cosine of two vectors, in Double.
func cosine64(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in 0..<a.count { dot += Double(a[i]) * Double(b[i]); na += Double(a[i]) * Double(a[i]); nb += Double(b[i]) * Double(b[i]) }
    return dot / (na.squareRoot() * nb.squareRoot())
}

/// A tiny random BERT (D 8, 2 heads, 1 layer, intermediate 16, V 12, 6 positions) written as safetensors, for
/// loader tests that must not rewrite the 45 MB asset.
enum TinyBert {
    static let config = #"{"hidden_size":8,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":16,"vocab_size":12,"max_position_embeddings":6,"type_vocab_size":2,"layer_norm_eps":1e-12,"hidden_act":"gelu","max_seq_length":6}"#

    /// Every parameter key (without prefix) and its shape.
    static let shapes: [(String, [Int])] = {
        var s: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [12, 8]), ("embeddings.position_embeddings.weight", [6, 8]),
            ("embeddings.token_type_embeddings.weight", [2, 8]), ("embeddings.LayerNorm.weight", [8]), ("embeddings.LayerNorm.bias", [8]),
        ]
        let p = "encoder.layer.0."
        for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
            s += [(p + name + ".weight", [8, 8]), (p + name + ".bias", [8])]
        }
        s += [(p + "attention.output.LayerNorm.weight", [8]), (p + "attention.output.LayerNorm.bias", [8]),
              (p + "intermediate.dense.weight", [16, 8]), (p + "intermediate.dense.bias", [16]),
              (p + "output.dense.weight", [8, 16]), (p + "output.dense.bias", [8]),
              (p + "output.LayerNorm.weight", [8]), (p + "output.LayerNorm.bias", [8])]
        return s
    }()

    /// Deterministic pseudo-random tensors (LayerNorm weights near 1).
    static func tensors(prefix: String) -> [RawTensor] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int((state >> 33) % 2001) - 1000) / 1000
        }
        return shapes.map { key, shape in
            let n = shape.reduce(1, *)
            let isGain = key.hasSuffix("LayerNorm.weight")
            return .f32(prefix + key, shape, (0..<n).map { _ in isGain ? 1 + 0.1 * next() : 0.5 * next() })
        }
    }

    static func write(_ name: String, prefix: String = "ann_text.", metadata: [String: String]? = ["config": config],
                      change: (inout [RawTensor]) -> Void = { _ in }) throws -> String {
        var t = tensors(prefix: prefix)
        change(&t)
        let path = temporaryPath(name)
        try writeSafeTensors(path, tensors: t, metadata: metadata)
        return path
    }
}

/// The ANN text encoder against sentence-transformers all-MiniLM-L6-v2 (issue 3 acceptance: cosine >= 0.9999 on
/// >= 100 prompts, F16 asset), and its strict loader.
final class MiniLMTests: XCTestCase {
    static let encoder = Result { try MiniLMTextEncoder(path: minilmAssetPath("model.f16.safetensors")) }

    func encoder() throws -> MiniLMTextEncoder { try Self.encoder.get() }

    func testAssetConfigIsAllMiniLML6v2() throws {
        let e = try encoder()
        XCTAssertEqual(e.config, MiniLMConfig(hiddenSize: 384, numAttentionHeads: 12, numHiddenLayers: 6, intermediateSize: 1536,
                                              vocabSize: 30522, maxPositionEmbeddings: 512, typeVocabSize: 2, layerNormEps: 1e-12,
                                              maxSeqLength: 256))
        XCTAssertEqual(e.keyPrefix, "ann_text.")
    }

    func testEmbeddingsMatchSentenceTransformers() throws {
        let e = try encoder()
        let tokenizer = try XCTUnwrap(TokenizerTests.tokenizer)
        let golden = try SafeTensorsFile(path: fixturePath("text", "embeddings.safetensors"))
        let promptsJSON = try XCTUnwrap(golden.metadata["prompts"])
        let prompts = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(promptsJSON.utf8)) as? [String])
        let reference = try golden.floats("embedding")
        let referenceIds = try golden.ints("input_ids"), lengths = try golden.ints("length")
        let d = e.dimension
        XCTAssertEqual(try golden.info("embedding").shape, [prompts.count, d])
        XCTAssertGreaterThanOrEqual(prompts.count, 100)
        let lmax = referenceIds.count / prompts.count
        var worst = (cosine: 1.0, prompt: "")
        for (p, prompt) in prompts.enumerated() {
            let (embedding, tokens) = e.embed(prompt, tokenizer: tokenizer)
            XCTAssertEqual(Array(tokens.ids.prefix(tokens.length)), Array(referenceIds[(p * lmax)..<(p * lmax + lengths[p])]), visible(prompt))
            let c = cosine64(embedding, Array(reference[(p * d)..<((p + 1) * d)]))
            if c < worst.cosine { worst = (c, prompt) }
            XCTAssertGreaterThanOrEqual(c, 0.9999, "\"\(visible(prompt))\"")
            XCTAssertEqual(cosine64(embedding, embedding), 1, accuracy: 1e-6)
        }
        print("MiniLM vs sentence-transformers: min cosine \(worst.cosine) over \(prompts.count) prompts (\"\(visible(worst.prompt))\")")
    }

    func testPaddedBatchEqualsSinglePrompts() throws {
        let e = try encoder()
        let tokenizer = try XCTUnwrap(TokenizerTests.tokenizer)
        let texts = ["a photo of a sandal.", "an ankle boot", "a black and white photo of the small pullover."]
        let encoded = texts.map { tokenizer.encode($0, contextLength: 16) }
        XCTAssertTrue(encoded.contains { $0.length < 16 }, "the batch must contain padding")
        let batch = e.forward(tokenIds: encoded.flatMap(\.ids), attentionMask: encoded.flatMap(\.attentionMask), batch: 3)
        for (i, text) in texts.enumerated() {
            let single = e.embed(text, tokenizer: tokenizer).embedding
            XCTAssertGreaterThan(cosine64(Array(batch[(i * 384)..<((i + 1) * 384)]), single), 0.99999, text)
        }
        // The mask matters: attending to the padding changes the embedding.
        let unmasked = e.forward(tokenIds: encoded[1].ids, attentionMask: [Int](repeating: 1, count: 16), batch: 1)
        XCTAssertLessThan(cosine64(unmasked, Array(batch[384..<768])), 0.999)
    }

    /// Issue 15: a batch runs packed (real tokens only); the result is the padded computation's: hidden states
    /// over the full `[B, L]` with the mask, mean-pooled over the mask. A mask that is not real tokens then padding
    /// takes the padded path.
    func testPackedBatchEqualsThePaddedComputation() throws {
        let e = try encoder()
        let tokenizer = try XCTUnwrap(TokenizerTests.tokenizer)
        let texts = ["a photo of a sandal.", "an ankle boot", "coat", "a black and white photo of the small pullover."]
        let encoded = texts.map { tokenizer.encode($0, contextLength: 20) }
        let ids = encoded.flatMap(\.ids), mask = encoded.flatMap(\.attentionMask)
        let packed = e.forward(tokenIds: ids, attentionMask: mask, batch: texts.count)
        let hidden = e.hiddenStates(tokenIds: ids, attentionMask: mask, batch: texts.count)
        for b in texts.indices {
            var sum = [Double](repeating: 0, count: 384), n = 0.0
            for l in 0..<20 where mask[b * 20 + l] == 1 {
                n += 1
                for i in 0..<384 { sum[i] += Double(hidden[(b * 20 + l) * 384 + i]) }
            }
            let padded = l2Normalized(sum.map { Float($0 / n) })
            let mine = Array(packed[(b * 384)..<((b + 1) * 384)])
            let err = zip(mine, padded).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot()
            XCTAssertLessThan(err, 1e-5, texts[b])
        }
        // A mask with a hole (not produced by tokenizers) is honoured as given.
        var holed = encoded[0].attentionMask
        holed[1] = 0
        let odd = e.forward(tokenIds: encoded[0].ids, attentionMask: holed, batch: 1)
        XCTAssertLessThan(cosine64(odd, Array(packed[0..<384])), 0.99999, "the hole changes the embedding")
    }

    func testTinyModelBareAndPrefixedKeysAgreeAndKernelModesMatch() throws {
        let prefixed = try MiniLMTextEncoder(path: try TinyBert.write("tiny-bert-prefixed.safetensors"))
        let bare = try MiniLMTextEncoder(path: try TinyBert.write("tiny-bert-bare.safetensors", prefix: ""))
        XCTAssertEqual(bare.keyPrefix, "")
        let ids = [2, 5, 7, 3, 0, 0], mask = [1, 1, 1, 1, 0, 0]
        let a = prefixed.forward(tokenIds: ids, attentionMask: mask, batch: 1)
        XCTAssertEqual(a, bare.forward(tokenIds: ids, attentionMask: mask, batch: 1))
        let reference = prefixed.forward(tokenIds: ids, attentionMask: mask, batch: 1, mode: .reference)
        XCTAssertGreaterThan(cosine64(a, reference), 0.999999)
        XCTAssertEqual(a.count, 8)
    }

    func testHuggingFaceExtrasAreIgnoredWhenShapedRight() throws {
        let path = try TinyBert.write("tiny-bert-extras.safetensors", prefix: "") { t in
            t.append(RawTensor(key: "embeddings.position_ids", dtype: "I64", shape: [1, 6], bytes: [UInt8](repeating: 0, count: 48)))
            t.append(.f32("pooler.dense.weight", [8, 8], [Float](repeating: 0, count: 64)))
            t.append(.f32("pooler.dense.bias", [8], [Float](repeating: 0, count: 8)))
        }
        XCTAssertNoThrow(try MiniLMTextEncoder(path: path))
        let bad = try TinyBert.write("tiny-bert-bad-pooler.safetensors", prefix: "") { t in
            t.append(.f32("pooler.dense.bias", [9], [Float](repeating: 0, count: 9)))
        }
        assertThrows(CheckpointError.wrongShape(path: bad, key: "pooler.dense.bias", expected: [8], actual: [9]), mentions: ["'pooler.dense.bias'", "[9]", "[8]"]) {
            _ = try MiniLMTextEncoder(path: bad)
        }
    }

    func testMissingKey() throws {
        let key = "ann_text.encoder.layer.0.attention.self.key.weight"
        let path = try TinyBert.write("tiny-bert-missing.safetensors") { t in t.removeAll { $0.key == key } }
        assertThrows(CheckpointError.missingKey(path: path, key: key, expectedShape: [8, 8]), mentions: ["'\(key)'", "[8, 8]", path]) {
            _ = try MiniLMTextEncoder(path: path)
        }
    }

    func testWrongShapeNamesKeyAndBothShapes() throws {
        let key = "ann_text.encoder.layer.0.intermediate.dense.weight"
        let path = try TinyBert.write("tiny-bert-shape.safetensors") { t in
            let i = t.firstIndex { $0.key == key }!
            t[i] = .f32(key, [8, 16], [Float](repeating: 0.1, count: 128))
        }
        assertThrows(CheckpointError.wrongShape(path: path, key: key, expected: [16, 8], actual: [8, 16]), mentions: ["'\(key)'", "[16, 8]", "[8, 16]"]) {
            _ = try MiniLMTextEncoder(path: path)
        }
    }

    func testUnknownKey() throws {
        let path = try TinyBert.write("tiny-bert-unknown.safetensors") { t in t.append(.f32("ann_text.encoder.layer.1.output.dense.bias", [8], [Float](repeating: 0, count: 8))) }
        assertThrows(CheckpointError.unknownKeys(path: path, keys: ["ann_text.encoder.layer.1.output.dense.bias"]), mentions: ["'ann_text.encoder.layer.1.output.dense.bias'"]) {
            _ = try MiniLMTextEncoder(path: path)
        }
    }

    func testMixedPrefixesAreUnknownKeys() throws {
        let path = try TinyBert.write("tiny-bert-mixed.safetensors") { t in t.append(.f32("embeddings.LayerNorm.bias", [8], [Float](repeating: 0, count: 8))) }
        assertThrows(CheckpointError.unknownKeys(path: path, keys: ["embeddings.LayerNorm.bias"]), mentions: ["'embeddings.LayerNorm.bias'"]) {
            _ = try MiniLMTextEncoder(path: path)
        }
    }

    func testMissingConfig() throws {
        let path = try TinyBert.write("tiny-bert-noconfig.safetensors", metadata: nil)
        assertThrows(CheckpointError.badConfig(path: path, reason: "no __metadata__.config and no config.json beside the file"), mentions: [path, "config"]) {
            _ = try MiniLMTextEncoder(path: path)
        }
    }

    func testInconsistentConfig() throws {
        let config = TinyBert.config.replacingOccurrences(of: #""num_attention_heads":2"#, with: #""num_attention_heads":3"#)
        let path = try TinyBert.write("tiny-bert-heads.safetensors", metadata: ["config": config])
        assertThrows(CheckpointError.badConfig(path: path, reason: "hidden_size 8 is not divisible by num_attention_heads 3"), mentions: [path]) {
            _ = try MiniLMTextEncoder(path: path)
        }
    }

    func testMissingFile() {
        let path = temporaryPath("no-such-minilm.safetensors")
        XCTAssertThrowsError(try MiniLMTextEncoder(path: path)) { error in
            guard case .file(.cannotOpen(let p, _))? = error as? CheckpointError else { return XCTFail("got \(error)") }
            XCTAssertEqual(p, path)
        }
    }

    func testGELUIsExactErf() {
        // Phi(1) = 0.841344746..., so gelu(1) = 0.8413447; the tanh approximation gives 0.8411920.
        XCTAssertEqual(gelu(1), 0.8413447, accuracy: 1e-6)
        XCTAssertEqual(gelu(-3), -0.0040496, accuracy: 1e-6)
        XCTAssertEqual(gelu(0), 0)
    }

    /// The vectorised activations the models run (issue 15) against the libm scalar references, on a dense grid of
    /// [-12, 12] plus extremes, for every instruction set: within 2 float ulps (relative 2.4e-7) or 1e-30 absolute
    /// (GELU's far negative tail underflows), and exact at 0; infinities and huge inputs stay finite where they should.
    func testVectorisedGELUAndQuickGELUMatchLibm() {
        let saved = EventKernels.isa
        defer { EventKernels.useISA(saved) }
        var grid = stride(from: -12.0, through: 12.0, by: 0.000731).map { Float($0) } + [0, 1e-30, -1e-30, 30, -30, 1e6, -1e6, 88, -88]
        grid += (0..<2000).map { _ in Float.random(in: -6...6) }
        for isa in ["scalar", "avx2", "avx512"] where EventKernels.useISA(isa) {
            for (name, fast, reference) in [("gelu", geluInPlace, gelu), ("quick_gelu", quickGELUInPlace, quickGELU)] as [(String, (inout [Float]) -> Void, (Float) -> Float)] {
                var y = grid
                fast(&y)
                var worst: Float = 0
                for (x, v) in zip(grid, y) {
                    let r = reference(x)
                    let err = abs(v - r)
                    if err > 1e-30 { worst = max(worst, err / max(abs(r), Float.leastNormalMagnitude)) }
                }
                XCTAssertLessThanOrEqual(worst, 2.4e-7, "\(isa) \(name)")
                XCTAssertEqual(y[grid.firstIndex(of: 0)!], 0, "\(isa) \(name)")
                XCTAssertTrue(y.allSatisfy(\.isFinite), "\(isa) \(name)")
            }
        }
    }
}
