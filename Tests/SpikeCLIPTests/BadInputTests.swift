import Foundation
import XCTest
@testable import SpikeCLIP

/// Hostile input the other suites do not cover (issue 7): checkpoint configs that are not text or hold absurd sizes,
/// non-image files under image names, and prompts a user may paste. Every failure is a typed, one-line error.
final class BadInputTests: XCTestCase {
    let source = fixturePath("tiny-default", "model.safetensors")

    /// The fixture checkpoint rewritten with its `config` metadata replaced by `edit(config)`.
    func checkpoint(_ name: String, config edit: (String) -> String) throws -> String {
        let file = try SafeTensorsFile(path: source)
        var metadata = file.metadata
        metadata["config"] = edit(metadata["config"]!)
        let path = temporaryPath(name)
        try writeSafeTensors(path, tensors: rawTensors(of: file), metadata: metadata)
        return path
    }

    /// The fixture checkpoint with `marker` in its config (a string placeholder) replaced by raw header bytes.
    func checkpoint(_ name: String, rawConfigBytes bytes: [UInt8]) throws -> String {
        let marker = "@@MARKER@@"
        let path = try checkpoint(name) { editedJSON($0) { $0["provenance"] = ["note": marker] } }
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(UInt64(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
        let m = Array(marker.utf8)
        let at = try XCTUnwrap((8..<(8 + headerLength - m.count)).first { Array(data[$0..<($0 + m.count)]) == m })
        data.replaceSubrange(at..<(at + m.count), with: bytes)
        data.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(headerLength - m.count + bytes.count).littleEndian) { Array($0) })
        try Data(data).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testConfigWithInvalidUTF8IsABadHeader() throws {
        // Latin-1 "é" (0xE9) and a lone continuation byte inside the config string: the header is not UTF-8.
        let path = try checkpoint("config-latin1.safetensors", rawConfigBytes: [0x63, 0x61, 0x66, 0xE9, 0x80])
        assertThrows(CheckpointError.file(.badHeader(path: path, reason: "header is not valid UTF-8")), mentions: [path, "UTF-8"]) {
            _ = try SpikeCLIPModel(path: path)
        }
    }

    /// Regression: a string with a lone surrogate escape (valid UTF-8 bytes, but no Unicode text can hold \ud800) in
    /// the free-form provenance was reported as "wrong type at 'provenance.note'".
    func testConfigWithLoneSurrogateEscapeIsInvalidJSONText() throws {
        let path = try checkpoint("config-surrogate.safetensors", rawConfigBytes: Array(#"x\\ud800y"#.utf8))
        assertThrows(CheckpointError.badConfig(path: path, reason: "invalid JSON text at 'provenance'"), mentions: [path, "invalid JSON text"]) {
            _ = try SpikeCLIPModel(path: path)
        }
        // The same in a required field (Foundation's decoder reports it without a coding path).
        let kind = try checkpoint("kind-surrogate.safetensors") { $0.replacingOccurrences(of: #""kind":"ids""#, with: #""kind":"i\ud800ds""#) }
        assertThrows(CheckpointError.badConfig(path: kind, reason: "config is not valid JSON")) { _ = try SpikeCLIPModel(path: kind) }
    }

    /// Regression: `hiddenDims` converted `embed_dims * mlp_ratios` to Int before any check, which trapped (crashed
    /// the process) for a huge or negative ratio; and huge sizes overflowed shape products.
    func testAbsurdConfigSizesAreRejectedNotTrapped() throws {
        func vision(_ key: String, _ value: Any) -> (String) -> String {
            { json in editedJSON(json) { c in
                var v = c["vision"] as! [String: Any]
                v[key] = value
                c["vision"] = v
            } }
        }
        let ratio = try checkpoint("ratio.safetensors", config: vision("mlp_ratios", 1e300))
        assertThrows(CheckpointError.badConfig(path: ratio, reason: "vision.mlp_ratios 1e+300 must be in (0, 64]"), mentions: ["mlp_ratios"]) {
            _ = try SpikeCLIPModel(path: ratio)
        }
        let negative = try checkpoint("negative-ratio.safetensors", config: vision("mlp_ratios", -1e300))
        assertThrows(CheckpointError.badConfig(path: negative, reason: "vision.mlp_ratios -1e+300 must be in (0, 64]")) {
            _ = try SpikeCLIPModel(path: negative)
        }
        let wide = try checkpoint("wide.safetensors", config: vision("embed_dims", 1 << 62))
        assertThrows(CheckpointError.badConfig(path: wide, reason: "vision.embed_dims 4611686018427387904 is above the limit of 1048576"),
                     mentions: ["embed_dims", "1048576"]) {
            _ = try SpikeCLIPModel(path: wide)
        }
        let steps = try checkpoint("steps.safetensors") { editedJSON($0) { $0["T"] = 1 << 40 } }
        assertThrows(CheckpointError.badConfig(path: steps, reason: "T 1099511627776 is above the limit of 1048576")) {
            _ = try SpikeCLIPModel(path: steps)
        }
    }

    // MARK: - images

    func testNonImageFilesUnderImageNames() throws {
        // A checkpoint, an HTML error page from a failed download and a JSON file, each saved under an image name.
        let html = temporaryPath("download.jpg")
        try Data("<!DOCTYPE html><html><body>404 Not Found</body></html>\n".utf8).write(to: URL(fileURLWithPath: html))
        let json = temporaryPath("labels.png")
        try Data("{\"images\": []}".utf8).write(to: URL(fileURLWithPath: json))
        let model = temporaryPath("model.pgm")
        try Data(contentsOf: URL(fileURLWithPath: source)).prefix(4096).write(to: URL(fileURLWithPath: model))
        for path in [html, json, model] {
            assertThrows(ImageError.notAnImage(path: path), mentions: [path, "not an image"]) { _ = try ImageDecoder.decode(path: path) }
        }
        // A directory under an image name cannot be read as a file.
        let folder = temporaryPath("folder.png")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        assertThrows(ImageError.cannotOpen(path: folder, reason: "is a directory"), mentions: [folder, "is a directory"]) { _ = try ImageDecoder.decode(path: folder) }
    }

    func testPNMHeaderPromisingMoreThanTheFileHoldsIsTruncated() {
        // 16384 x 4096 is within the limits; the raster is missing (rejected before the 256 MB sample buffer is made).
        for (name, header) in [("big.pgm", "P5 16384 4096 255\n"), ("big-ascii.pgm", "P2 16384 4096 255\n0 1 2\n")] {
            assertThrows(ImageError.truncated(path: name, format: "PNM"), mentions: ["truncated PNM"]) {
                _ = try ImageDecoder.decode(data: Array(header.utf8) + [1, 2, 3], path: name)
            }
        }
    }

    // MARK: - prompts

    static let tokenizer: WordPieceTokenizer? = try? WordPieceTokenizer(vocabPath: minilmAssetPath("vocab.txt"))

    func testHostilePromptsTokenizeSanely() throws {
        let t = try XCTUnwrap(Self.tokenizer, "assets/minilm/vocab.txt did not load")
        let l = 20
        let empty = t.encode("", contextLength: l)
        // Whitespace only (ASCII, tab, newline, no-break and ideographic spaces) is the empty prompt.
        XCTAssertEqual(t.encode(" \t\n\u{A0}\u{3000} ", contextLength: l), empty)
        // 10,000 characters: cut to L with [SEP] last, and the cut counted.
        let long = String(repeating: "dress ", count: 1667)
        XCTAssertEqual(long.count, 10_002)
        let cut = t.encode(long, contextLength: l)
        XCTAssertEqual(cut.ids.count, l)
        XCTAssertEqual(cut.ids.last, t.sepId)
        XCTAssertEqual(cut.untruncatedLength, 1667 + 2)
        XCTAssertEqual(cut.truncatedCount, 1667 + 2 - l)
        // One 10,000-character word is [UNK].
        XCTAssertEqual(t.tokenize(String(repeating: "x", count: 10_000)), ["[UNK]"])
        // Control characters and escape sequences: the controls vanish, the printable rest is tokenized as text.
        XCTAssertEqual(t.tokenize("\u{1B}[31mred\u{1B}[0m\u{07}\u{9B}2J"), t.tokenize("[31mred[0m2J"))
        // Bidi overrides and zero-width joiners are format characters and vanish too.
        XCTAssertEqual(t.tokenize("\u{202E}dress\u{202C}\u{200D}"), ["dress"])
        // Combining marks are stripped with the accents: decomposed and precomposed forms agree.
        XCTAssertEqual(t.tokenize("dre\u{0301}ss"), ["dress"])
        XCTAssertEqual(t.tokenize("caf\u{E9}"), t.tokenize("cafe\u{0301}"))
        // Emoji the vocabulary lacks become one [UNK] each and do not disturb the words around them.
        let emoji = t.tokenize("a 👩‍👩‍👧 dress 🙂")
        XCTAssertEqual(emoji.first, "a")
        XCTAssertTrue(emoji.contains("dress"), "\(emoji)")
        XCTAssertTrue(emoji.allSatisfy { t.vocabulary.contains($0) }, "\(emoji)")
        // Right-to-left text: Hebrew and Arabic letters are known pieces; the mixed prompt keeps its Latin word.
        let rtl = t.tokenize("שלום dress مرحبا")
        XCTAssertTrue(rtl.contains("dress"), "\(rtl)")
        XCTAssertGreaterThan(rtl.count, 2)
        for text in ["", long, "\u{1B}[2J", "👩‍👩‍👧", "שלום"] {
            let e = t.encode(text, contextLength: l)
            XCTAssertEqual(e.ids.count, l)
            XCTAssertEqual(e.ids.first, t.clsId)
            XCTAssertEqual(e.ids[e.length - 1], t.sepId)
        }
    }
}
