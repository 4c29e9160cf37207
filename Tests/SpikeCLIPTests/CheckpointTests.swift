import Foundation
import XCTest
@testable import SpikeCLIP

/// `json` with `edit` applied to its top-level object.
func editedJSON(_ json: String, _ edit: (inout [String: Any]) -> Void) -> String {
    var object = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    edit(&object)
    return String(data: try! JSONSerialization.data(withJSONObject: object), encoding: .utf8)!
}

/// Strict loading (SPEC section 3): each failure is a typed error naming the file, the key and both shapes.
final class CheckpointTests: XCTestCase {
    let source = fixturePath("tiny-default", "model.safetensors")

    /// Rewrites the fixture checkpoint with `change` applied to its tensors and metadata.
    func rewritten(_ name: String, _ change: (inout [RawTensor], inout [String: String]) -> Void) throws -> String {
        let file = try SafeTensorsFile(path: source)
        var tensors = rawTensors(of: file)
        var metadata = file.metadata
        change(&tensors, &metadata)
        let path = temporaryPath(name)
        try writeSafeTensors(path, tensors: tensors, metadata: metadata)
        return path
    }

    func testFixtureLoadsAndRoundTripsUnchanged() throws {
        let path = try rewritten("same.safetensors") { _, _ in }
        let model = try SpikeCLIPModel(path: path)
        XCTAssertEqual(model.config.vision.inChannels, 1)
        XCTAssertEqual(model.vision.lifLayerNames.count, 4 + 7 * model.config.vision.depths)
    }

    func testUnknownKey() throws {
        let path = try rewritten("unknown.safetensors") { t, _ in t.append(.f32("vision.extra.weight", [1], [0])) }
        assertThrows(CheckpointError.unknownKeys(path: path, keys: ["vision.extra.weight"]), mentions: ["'vision.extra.weight'", "unknown"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    func testNumBatchesTrackedIsIgnored() throws {
        let path = try rewritten("nbt.safetensors") { t, _ in
            t.append(RawTensor(key: "vision.patch_embed.block0_bn.num_batches_tracked", dtype: "I64", shape: [], bytes: [UInt8](repeating: 0, count: 8)))
        }
        XCTAssertNoThrow(try SpikeCLIPModel(path: path))
    }

    func testMissingKey() throws {
        let path = try rewritten("missing.safetensors") { t, _ in t.removeAll { $0.key == "vision.proj.weight" } }
        assertThrows(CheckpointError.missingKey(path: path, key: "vision.proj.weight", expectedShape: [24, 32]), mentions: ["'vision.proj.weight'", "[24, 32]"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    func testWrongShapeNamesKeyAndBothShapes() throws {
        let path = try rewritten("shape.safetensors") { t, _ in
            let i = t.firstIndex { $0.key == "text.fc2.bias" }!
            t[i] = .f32("text.fc2.bias", [2, 12], [Float](repeating: 0, count: 24))
        }
        assertThrows(CheckpointError.wrongShape(path: path, key: "text.fc2.bias", expected: [24], actual: [2, 12]), mentions: ["'text.fc2.bias'", "[2, 12]", "[24]"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    func testIntegerParameterIsWrongDType() throws {
        let path = try rewritten("dtype.safetensors") { t, _ in
            let i = t.firstIndex { $0.key == "text.fc2.bias" }!
            t[i].dtype = "I32"
        }
        assertThrows(CheckpointError.wrongDType(path: path, key: "text.fc2.bias", dtype: "I32"), mentions: ["'text.fc2.bias'", "I32"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    func testUnsupportedDTypeWrapsReaderError() throws {
        let path = try rewritten("f64.safetensors") { t, _ in
            let i = t.firstIndex { $0.key == "text.fc2.bias" }!
            t[i] = RawTensor(key: "text.fc2.bias", dtype: "F64", shape: [12], bytes: [UInt8](repeating: 0, count: 96))
        }
        assertThrows(CheckpointError.file(.unsupportedDType(path: path, key: "text.fc2.bias", dtype: "F64")), mentions: ["F64"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    func testNaNAndInfWeightsAreCounted() throws {
        let path = try rewritten("nan.safetensors") { t, _ in
            var values = [Float](repeating: 0.5, count: 24)
            values[3] = .nan; values[7] = .infinity
            let i = t.firstIndex { $0.key == "vision.proj.bias" }!
            t[i] = .f32("vision.proj.bias", [24], values)
        }
        assertThrows(CheckpointError.nonFinite(path: path, key: "vision.proj.bias", count: 2), mentions: ["'vision.proj.bias'", "2 NaN"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    func testFormatAndConfigErrors() throws {
        let noFormat = try rewritten("noformat.safetensors") { _, m in m["format"] = nil }
        assertThrows(CheckpointError.badFormat(path: noFormat, reason: "__metadata__.format is absent, expected 'spikeclip'")) {
            _ = try SpikeCLIPModel(path: noFormat)
        }
        let version = try rewritten("version.safetensors") { _, m in m["format_version"] = "2" }
        assertThrows(CheckpointError.badFormat(path: version, reason: "format_version '2' is not supported (expected '1')")) {
            _ = try SpikeCLIPModel(path: version)
        }
        let badJSON = try rewritten("badconfig.safetensors") { _, m in m["config"] = "{not json" }
        assertThrows(CheckpointError.badConfig(path: badJSON, reason: "config is not valid JSON")) { _ = try SpikeCLIPModel(path: badJSON) }
        let missing = try rewritten("noT.safetensors") { _, m in m["config"] = editedJSON(m["config"]!) { $0["T"] = nil } }
        assertThrows(CheckpointError.badConfig(path: missing, reason: "missing 'T'")) { _ = try SpikeCLIPModel(path: missing) }
        let invariant = try rewritten("heads.safetensors") { _, m in
            m["config"] = editedJSON(m["config"]!) { c in
                var vision = c["vision"] as! [String: Any]
                vision["num_heads"] = 5
                c["vision"] = vision
            }
        }
        assertThrows(CheckpointError.badConfig(path: invariant, reason: "vision.embed_dims must be divisible by vision.num_heads")) {
            _ = try SpikeCLIPModel(path: invariant)
        }
    }

    func testTruncatedCheckpoint() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let path = temporaryPath("truncated.safetensors")
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SpikeCLIPModel(path: path)
            XCTFail("truncated checkpoint loaded")
        } catch let CheckpointError.file(.offsetsOutOfRange(p, key, _, end, size)) {
            XCTAssertEqual(p, path)
            XCTAssertGreaterThan(end, size)
            XCTAssertFalse(key.isEmpty)
        }
    }

    func testBadTokenIdsAndImageSizeAreInputErrors() throws {
        let model = try SpikeCLIPModel(path: source)
        let l = model.config.text.contextLength
        assertThrows(InputError.tokenOutOfRange(row: 0, position: 1, id: 100, vocabSize: 100), mentions: ["token id 100"]) {
            _ = try model.text.forward(tokenIds: [[1, 100] + [Int](repeating: 0, count: l - 2)])
        }
        assertThrows(InputError.wrongTokenCount(row: 0, expected: l, actual: 3)) { _ = try model.text.forward(tokenIds: [[1, 2, 3]]) }
        assertThrows(InputError.wrongImageSize(expected: [1, 1, 28, 28], count: 5)) { _ = try model.vision.forward(pixels: [0, 0, 0, 0, 0], batch: 1) }
    }
}
