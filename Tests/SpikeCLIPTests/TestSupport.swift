import Foundation
import XCTest
@testable import SpikeCLIP

/// Repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `Tests/Fixtures/<name>/<file>`.
func fixturePath(_ name: String, _ file: String) -> String {
    repositoryRoot.appendingPathComponent("Tests/Fixtures/\(name)/\(file)").path
}

/// A fresh temporary directory, removed at process exit is not needed: each test writes unique names.
func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spikeclip-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// One tensor to write: raw little-endian bytes with a dtype string (any string, to test unsupported ones).
struct RawTensor {
    var key: String
    var dtype: String
    var shape: [Int]
    var bytes: [UInt8]

    static func f32(_ key: String, _ shape: [Int], _ values: [Float]) -> RawTensor {
        RawTensor(key: key, dtype: "F32", shape: shape, bytes: values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) })
    }
}

/// Writes a safetensors file. `header` overrides the generated JSON header when given (to write malformed files).
func writeSafeTensors(_ path: String, tensors: [RawTensor], metadata: [String: String]? = nil, header: String? = nil,
                      dataOverride: [UInt8]? = nil) throws {
    var data: [UInt8] = []
    var entries: [String] = []
    for t in tensors {
        let begin = data.count
        data += t.bytes
        let shape = t.shape.map(String.init).joined(separator: ",")
        entries.append("\(jsonString(t.key)):{\"dtype\":\(jsonString(t.dtype)),\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(data.count)]}")
    }
    if let metadata {
        let m = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",")
        entries.insert("\"__metadata__\":{\(m)}", at: 0)
    }
    let json = header ?? "{" + entries.joined(separator: ",") + "}"
    var file: [UInt8] = withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { Array($0) }
    file += Array(json.utf8)
    file += dataOverride ?? data
    try Data(file).write(to: URL(fileURLWithPath: path))
}

func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s], options: [])
    let text = String(data: data, encoding: .utf8)!
    return String(text.dropFirst().dropLast())
}

/// Every tensor of an existing file as raw tensors (to rewrite it with a change).
func rawTensors(of file: SafeTensorsFile) -> [RawTensor] {
    file.keys.map { key in
        let info = file.tensors[key]!
        return RawTensor(key: key, dtype: info.dtype.rawValue, shape: info.shape, bytes: file.rawBytes(key))
    }
}

/// Asserts that `body` throws an error equal to `expected` whose description contains every string in `mentions`.
func assertThrows<E: Error & Equatable & CustomStringConvertible>(
    _ expected: E, mentions: [String] = [], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) {
    do {
        try body()
        XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
    } catch let error as E {
        XCTAssertEqual(error, expected, file: file, line: line)
        for m in mentions { XCTAssertTrue(error.description.contains(m), "'\(error.description)' lacks '\(m)'", file: file, line: line) }
        XCTAssertFalse(error.description.contains("\n"), "error message must be one line", file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}

/// A copy of fixture `name`'s checkpoint under a temporary `file` name, with its config JSON and tensors edited.
func rewrittenFixture(_ name: String, as file: String, config edit: (inout [String: Any]) -> Void = { _ in },
                      tensors change: (inout [RawTensor]) -> Void = { _ in }) throws -> String {
    let source = try SafeTensorsFile(path: fixturePath(name, "model.safetensors"))
    var metadata = source.metadata
    metadata["config"] = editedJSON(metadata["config"]!, edit)
    var tensors = rawTensors(of: source)
    change(&tensors)
    let path = temporaryPath(file)
    try writeSafeTensors(path, tensors: tensors, metadata: metadata)
    return path
}
