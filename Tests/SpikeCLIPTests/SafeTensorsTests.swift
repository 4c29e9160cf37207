import Foundation
import XCTest
@testable import SpikeCLIP

final class SafeTensorsTests: XCTestCase {
    func testReadsEveryDTypeExactly() throws {
        let path = temporaryPath("dtypes.safetensors")
        let halves: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00, 0x3555]  // 1, -2, 2^-24, +inf, 0.333251953125
        let bf16: [UInt16] = [0x3F80, 0xC040]  // 1, -3
        try writeSafeTensors(path, tensors: [
            .f32("a", [2, 2], [1.5, -2, 0, 3.25]),
            RawTensor(key: "h", dtype: "F16", shape: [5], bytes: halves.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }),
            RawTensor(key: "b", dtype: "BF16", shape: [2], bytes: bf16.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }),
            RawTensor(key: "i", dtype: "I32", shape: [3], bytes: [Int32(-7), 0, 42].flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }),
            RawTensor(key: "u", dtype: "U8", shape: [3], bytes: [0, 1, 255]),
        ], metadata: ["format": "spikeclip"])
        let f = try SafeTensorsFile(path: path)
        XCTAssertEqual(f.metadata["format"], "spikeclip")
        XCTAssertEqual(try f.info("a").shape, [2, 2])
        XCTAssertEqual(try f.floats("a"), [1.5, -2, 0, 3.25])
        XCTAssertEqual(try f.floats("h"), [1, -2, Float(bitPattern: 0x3380_0000), .infinity, 0.333251953125])
        XCTAssertEqual(try f.floats("b"), [1, -3])
        XCTAssertEqual(try f.ints("i"), [-7, 0, 42])
        XCTAssertEqual(try f.ints("u"), [0, 1, 255])
        XCTAssertEqual(f.keys, ["a", "h", "b", "i", "u"])
    }

    func testHalfConversionMatchesFloat16ForAllBitPatterns() {
        #if arch(x86_64) || arch(arm64)
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = floatFromHalf(bits)
            if expected.isNaN { XCTAssertTrue(actual.isNaN) } else { XCTAssertEqual(actual.bitPattern, expected.bitPattern, "bits \(bits)") }
        }
        #endif
    }

    func testTruncatedFiles() throws {
        let tiny = temporaryPath("tiny.safetensors")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: tiny))
        assertThrows(SafeTensorsError.truncated(path: tiny, needed: 8, actual: 3), mentions: ["truncated", tiny]) { _ = try SafeTensorsFile(path: tiny) }

        let empty = temporaryPath("empty.safetensors")
        try Data().write(to: URL(fileURLWithPath: empty))
        assertThrows(SafeTensorsError.truncated(path: empty, needed: 8, actual: 0)) { _ = try SafeTensorsFile(path: empty) }

        // Header length larger than the file.
        let short = temporaryPath("short-header.safetensors")
        var bytes: [UInt8] = withUnsafeBytes(of: UInt64(1000).littleEndian) { Array($0) }
        bytes += Array("{}".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: short))
        assertThrows(SafeTensorsError.truncated(path: short, needed: 1008, actual: 10)) { _ = try SafeTensorsFile(path: short) }

        // Data section cut: the header promises 16 bytes, 8 are there.
        let cut = temporaryPath("cut-data.safetensors")
        try writeSafeTensors(cut, tensors: [.f32("w", [4], [1, 2, 3, 4])], dataOverride: [0, 0, 0, 0, 0, 0, 0, 0])
        assertThrows(SafeTensorsError.offsetsOutOfRange(path: cut, key: "w", begin: 0, end: 16, dataSize: 8), mentions: ["'w'"]) {
            _ = try SafeTensorsFile(path: cut)
        }
    }

    func testHeaderOver100MBIsRejectedBeforeReading() throws {
        let path = temporaryPath("huge-header.safetensors")
        let bytes: [UInt8] = withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { Array($0) } + Array("{}".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        assertThrows(SafeTensorsError.headerTooLarge(path: path, size: 200_000_000, limit: 100_000_000), mentions: ["200000000", "limit"]) {
            _ = try SafeTensorsFile(path: path)
        }
    }

    func testBadJSONAndBadUTF8() throws {
        let path = temporaryPath("bad-json.safetensors")
        try writeSafeTensors(path, tensors: [], header: "{\"a\": [1, 2")
        assertThrows(SafeTensorsError.badHeader(path: path, reason: "header is not valid JSON"), mentions: ["JSON"]) { _ = try SafeTensorsFile(path: path) }

        let notObject = temporaryPath("array.safetensors")
        try writeSafeTensors(notObject, tensors: [], header: "[1, 2]")
        assertThrows(SafeTensorsError.badHeader(path: notObject, reason: "header is not a JSON object")) { _ = try SafeTensorsFile(path: notObject) }

        let utf8 = temporaryPath("bad-utf8.safetensors")
        var bytes: [UInt8] = withUnsafeBytes(of: UInt64(4).littleEndian) { Array($0) }
        bytes += [0x7B, 0xFF, 0xFE, 0x7D]
        try Data(bytes).write(to: URL(fileURLWithPath: utf8))
        assertThrows(SafeTensorsError.badHeader(path: utf8, reason: "header is not valid UTF-8"), mentions: ["UTF-8"]) { _ = try SafeTensorsFile(path: utf8) }

        let missingField = temporaryPath("no-dtype.safetensors")
        try writeSafeTensors(missingField, tensors: [], header: "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}")
        assertThrows(SafeTensorsError.badHeader(path: missingField, reason: "entry 'w' lacks dtype, shape or data_offsets")) {
            _ = try SafeTensorsFile(path: missingField)
        }
    }

    func testOffsetsOutOfRangeReversedAndMismatched() throws {
        let path = temporaryPath("offsets.safetensors")
        try writeSafeTensors(path, tensors: [], header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", dataOverride: [0, 0, 0, 0])
        assertThrows(SafeTensorsError.offsetsOutOfRange(path: path, key: "w", begin: 0, end: 8, dataSize: 4), mentions: ["data_offsets [0, 8]"]) {
            _ = try SafeTensorsFile(path: path)
        }
        let reversed = temporaryPath("reversed.safetensors")
        try writeSafeTensors(reversed, tensors: [], header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", dataOverride: [0, 0, 0, 0])
        assertThrows(SafeTensorsError.offsetsOutOfRange(path: reversed, key: "w", begin: 4, end: 0, dataSize: 4)) { _ = try SafeTensorsFile(path: reversed) }

        let mismatch = temporaryPath("mismatch.safetensors")
        try writeSafeTensors(mismatch, tensors: [], header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", dataOverride: [UInt8](repeating: 0, count: 8))
        assertThrows(SafeTensorsError.sizeMismatch(path: mismatch, key: "w", bytes: 8, expected: 12, shape: [3]), mentions: ["'w'", "[3]"]) {
            _ = try SafeTensorsFile(path: mismatch)
        }
    }

    func testOverlappingTensors() throws {
        let path = temporaryPath("overlap.safetensors")
        let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}"
        try writeSafeTensors(path, tensors: [], header: header, dataOverride: [UInt8](repeating: 0, count: 12))
        assertThrows(SafeTensorsError.overlapping(path: path, key: "b", other: "a"), mentions: ["'b'", "'a'"]) { _ = try SafeTensorsFile(path: path) }
    }

    func testUnsupportedDTypeAndMissingTensor() throws {
        let path = temporaryPath("f64.safetensors")
        try writeSafeTensors(path, tensors: [RawTensor(key: "w", dtype: "F64", shape: [1], bytes: [UInt8](repeating: 0, count: 8))])
        assertThrows(SafeTensorsError.unsupportedDType(path: path, key: "w", dtype: "F64"), mentions: ["F64", "'w'"]) { _ = try SafeTensorsFile(path: path) }

        let ok = temporaryPath("ok.safetensors")
        try writeSafeTensors(ok, tensors: [.f32("w", [1], [1])])
        let f = try SafeTensorsFile(path: ok)
        assertThrows(SafeTensorsError.missingTensor(path: ok, key: "nope"), mentions: ["'nope'"]) { _ = try f.floats("nope") }
        assertThrows(SafeTensorsError.wrongDType(path: ok, key: "w", dtype: "F32", expected: "I32, I64 or U8")) { _ = try f.ints("w") }
    }

    func testMissingFileAndDirectory() {
        let path = temporaryPath("does-not-exist.safetensors")
        assertThrows(SafeTensorsError.cannotOpen(path: path, reason: "No such file or directory")) { _ = try SafeTensorsFile(path: path) }
        let dir = FileManager.default.temporaryDirectory.path
        assertThrows(SafeTensorsError.cannotOpen(path: dir, reason: "is a directory")) { _ = try SafeTensorsFile(path: dir) }
    }
}

extension SafeTensorsTests {
    /// Regression (found by fuzz/run.sh safetensors): a dtype or key holding a newline made a two-line error.
    func testKeysAndDTypesFromTheFileAreEscapedInMessages() throws {
        let path = temporaryPath("newline-dtype.safetensors")
        try writeSafeTensors(path, tensors: [], header: "{\"a\\nb\":{\"dtype\":\"F\\n32\\u001b[31m\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                             dataOverride: [0, 0, 0, 0])
        assertThrows(SafeTensorsError.unsupportedDType(path: path, key: "a\nb", dtype: "F\n32\u{1B}[31m"), mentions: ["a\\u{a}b", "F\\u{a}32\\u{1b}[31m"]) {
            _ = try SafeTensorsFile(path: path)
        }
    }

    /// Reading a tensor releases its mapped pages (MADV_DONTNEED); reading it again, or its neighbours, or the raw
    /// bytes, still gives the file's values.
    func testReleasedPagesReadBackUnchanged() throws {
        let file = try SafeTensorsFile(path: fixturePath("tiny-official", "model.safetensors"))
        for key in file.keys {
            let first = try file.floats(key)
            XCTAssertEqual(try file.floats(key).map(\.bitPattern), first.map(\.bitPattern), key)
            XCTAssertEqual(file.rawBytes(key), first.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }, key)
        }
    }
}
