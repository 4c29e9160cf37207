import Foundation
import XCTest
@testable import SpikeCLIP

/// CLIP's byte-level BPE against transformers' `CLIPTokenizer` on the corpus in `Tests/Fixtures/clip/tokenizer.json`
/// (`python -m spikeclip_training.clip_fixtures`), from CLIP's real vocabulary in `assets/clip` (issue 13).
final class CLIPTokenizerTests: XCTestCase {
    static let vocabPath = repositoryRoot.appendingPathComponent("assets/clip/bpe_simple_vocab_16e6.txt.gz").path
    static let shared: CLIPTokenizer? = try? CLIPTokenizer(path: vocabPath)

    struct Case: Decodable { let text: String; let ids: [Int]; let full_ids: [Int] }
    struct Fixture: Decodable { let cases: [Case]; let context_length: Int; let pad_id: Int; let vocab_sha256: String }

    func fixture() throws -> Fixture {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: fixturePath("clip", "tokenizer.json")), "missing clip/tokenizer.json")
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    func tokenizer() throws -> CLIPTokenizer { try XCTUnwrap(Self.shared, "\(Self.vocabPath) did not load") }

    func testIdsEqualTransformersOnTheCorpus() throws {
        let f = try fixture()
        let t = try tokenizer()
        XCTAssertGreaterThanOrEqual(f.cases.count, 400)
        XCTAssertEqual(t.vocabulary.count, 49408)
        XCTAssertEqual([t.startId, t.endId, t.padId], [49406, 49407, f.pad_id])
        XCTAssertEqual(try sha256Hex(path: Self.vocabPath), f.vocab_sha256)
        var wrong: [String] = []
        for c in f.cases {
            if t.encodeFull(c.text) != c.full_ids { wrong.append("full \(visible(c.text)): \(t.encodeFull(c.text)) != \(c.full_ids)") }
            let short = t.tokenize(c.text, contextLength: f.context_length)
            if short.ids != c.ids { wrong.append("L \(visible(c.text)): \(short.ids) != \(c.ids)") }
            XCTAssertEqual(short.mask.reduce(0, +), min(c.full_ids.count, f.context_length))
            XCTAssertEqual(short.count, c.full_ids.count)
            XCTAssertEqual(short.truncatedPieces.count, max(0, c.full_ids.count - f.context_length))
        }
        XCTAssertTrue(wrong.isEmpty, "\(wrong.count) of \(f.cases.count) differ:\n" + wrong.prefix(20).joined(separator: "\n"))
    }

    /// The Hugging Face layout (vocab.json + merges.txt + special_tokens_map.json) gives the same ids.
    func testHuggingFaceFolderLoadsTheSameTokenizer() throws {
        let t = try tokenizer()
        let dir = temporaryPath("clip-hf-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let vocab = try JSONSerialization.data(withJSONObject: t.vocabulary)
        try vocab.write(to: URL(fileURLWithPath: dir + "/vocab.json"))
        let merges = t.ranks.sorted { $0.value < $1.value }.map { "\($0.key.a) \($0.key.b)" }
        try ("#version: 0.2\n" + merges.joined(separator: "\n") + "\n").write(toFile: dir + "/merges.txt", atomically: true, encoding: .utf8)
        try #"{"pad_token": {"content": "!", "lstrip": false}}"#.write(toFile: dir + "/special_tokens_map.json", atomically: true, encoding: .utf8)
        let hf = try CLIPTokenizer(path: dir)
        XCTAssertEqual(hf.padId, t.vocabulary["!"])
        for c in try fixture().cases.prefix(200) { XCTAssertEqual(hf.encodeFull(c.text), c.full_ids, visible(c.text)) }
    }

    func testBadVocabulariesAreOneLineErrors() throws {
        assertThrows(CLIPTokenizerError.cannotRead(path: "/nonexistent/bpe.txt.gz", reason: "no such file or folder")) {
            _ = try CLIPTokenizer(path: "/nonexistent/bpe.txt.gz")
        }
        let notText = temporaryPath("clip-bad.txt")
        try Data([0x23, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: notText))
        assertThrows(CLIPTokenizerError.malformed(path: notText, reason: "not UTF-8 text")) { _ = try CLIPTokenizer(path: notText) }
        let threeSymbols = temporaryPath("clip-three.txt")
        try "#version: 0.2\na b c\n".write(toFile: threeSymbols, atomically: true, encoding: .utf8)
        assertThrows(CLIPTokenizerError.malformed(path: threeSymbols, reason: "line 2 is not two symbols")) { _ = try CLIPTokenizer(path: threeSymbols) }
        // Regression (fresh-user trial): any two-symbol text file passed as CLIP's vocabulary.
        let small = temporaryPath("clip-small.txt")
        try "#version: 0.2\nh e\nl l\n".write(toFile: small, atomically: true, encoding: .utf8)
        assertThrows(CLIPTokenizerError.malformed(path: small, reason: "2 merges, CLIP's vocabulary file has 48894 after its header")) { _ = try CLIPTokenizer(path: small) }
        let truncated = temporaryPath("clip-truncated.gz")
        let gz = try XCTUnwrap(FileManager.default.contents(atPath: Self.vocabPath))
        try gz.prefix(5000).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try CLIPTokenizer(path: truncated)) { XCTAssertTrue("\($0)".hasPrefix(truncated), "\($0)") }
    }
}
