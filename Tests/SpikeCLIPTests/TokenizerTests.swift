import Foundation
import XCTest
@testable import SpikeCLIP

/// `assets/minilm/<file>`.
func minilmAssetPath(_ file: String) -> String {
    repositoryRoot.appendingPathComponent("assets/minilm/\(file)").path
}

/// One corpus string with the ids Hugging Face gives it (Tests/Fixtures/text/tokenizer.json).
struct TokenizerCase {
    var text: String
    /// `[L]`: padding to L, truncation.
    var ids: [Int]
    /// `[CLS]` + every word piece + `[SEP]`, no truncation.
    var fullIds: [Int]
}

/// The tokenizer fixture written by `python -m spikeclip_training.text_fixtures`.
func loadTokenizerFixture() throws -> (contextLength: Int, cases: [TokenizerCase]) {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("text", "tokenizer.json")))
    let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let contextLength = try XCTUnwrap(object["context_length"] as? Int)
    let raw = try XCTUnwrap(object["cases"] as? [[String: Any]])
    let cases = try raw.map { c in
        TokenizerCase(text: try XCTUnwrap(c["text"] as? String), ids: try XCTUnwrap(c["ids"] as? [Int]),
                      fullIds: try XCTUnwrap(c["full_ids"] as? [Int]))
    }
    return (contextLength, cases)
}

/// Swift escape of a string for failure messages (control characters visible).
func visible(_ s: String) -> String {
    s.unicodeScalars.map { $0.isASCII && $0.value >= 32 && $0.value < 127 ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
}

/// Token ids must equal Hugging Face's for all-MiniLM-L6-v2 on every corpus string (issue 3 acceptance).
final class TokenizerTests: XCTestCase {
    static let tokenizer: WordPieceTokenizer? = try? WordPieceTokenizer(vocabPath: minilmAssetPath("vocab.txt"))

    func tokenizer() throws -> WordPieceTokenizer { try XCTUnwrap(Self.tokenizer, "assets/minilm/vocab.txt did not load") }

    func testIdsMatchHuggingFaceOnTheWholeCorpus() throws {
        let t = try tokenizer()
        let (L, cases) = try loadTokenizerFixture()
        XCTAssertEqual(L, 20)
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        var mismatches: [String] = []
        var truncatedCases = 0
        for c in cases {
            let encoded = t.encode(c.text, contextLength: L)
            let full = t.encode(c.text, contextLength: max(c.fullIds.count, 2) + 5)
            if encoded.ids != c.ids {
                mismatches.append("\"\(visible(c.text))\": swift \(encoded.ids) hf \(c.ids)")
            }
            if Array(full.ids.prefix(full.length)) != c.fullIds {
                mismatches.append("\"\(visible(c.text))\" (untruncated): swift \(full.ids.prefix(full.length)) hf \(c.fullIds)")
            }
            XCTAssertEqual(encoded.truncatedCount, max(0, c.fullIds.count - L), visible(c.text))
            XCTAssertEqual(encoded.untruncatedLength, c.fullIds.count, visible(c.text))
            // A verbatim "[PAD]" in the text is a real token (mask 1); only the padding is masked.
            XCTAssertEqual(encoded.attentionMask, (0..<L).map { $0 < min(L, c.fullIds.count) ? 1 : 0 }, visible(c.text))
            XCTAssertEqual(encoded.length, min(L, c.fullIds.count))
            if encoded.truncatedCount > 0 { truncatedCases += 1 }
        }
        XCTAssertTrue(mismatches.isEmpty, "\(mismatches.count) of \(cases.count) strings differ:\n" + mismatches.prefix(20).joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(truncatedCases, 5, "the corpus must exercise truncation")
    }

    func testCorpusCoversTheRequiredCategories() throws {
        let (_, cases) = try loadTokenizerFixture()
        let texts = cases.map(\.text)
        XCTAssertTrue(texts.contains(""))
        XCTAssertTrue(texts.contains { $0.unicodeScalars.count > 100 && !$0.contains(" ") })
        XCTAssertTrue(texts.contains { $0.unicodeScalars.contains { $0.value == 0 } })
        XCTAssertTrue(texts.contains { $0.contains("\t") })
        XCTAssertTrue(texts.contains { $0.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) } })
        XCTAssertTrue(texts.contains { $0.unicodeScalars.contains { $0.properties.isEmojiPresentation } })
    }

    func testHandWrittenCases() throws {
        let t = try tokenizer()
        // Accents stripped, lowercased, punctuation split.
        XCTAssertEqual(t.tokenize("Héllo, WÖRLD!"), ["hello", ",", "world", "!"])
        // Every CJK ideograph is its own word.
        XCTAssertEqual(t.tokenize("中文"), ["中", "文"])
        // Continuations carry ##.
        XCTAssertEqual(t.tokenize("tokenization"), ["token", "##ization"])
        // Control characters vanish, whitespace runs collapse.
        XCTAssertEqual(t.tokenize("a\u{0}\u{7}b \t\n c"), ["ab", "c"])
        // Over-long words are [UNK].
        XCTAssertEqual(t.tokenize(String(repeating: "a", count: 101)), ["[UNK]"])
        XCTAssertNotEqual(t.tokenize(String(repeating: "a", count: 100)), ["[UNK]"])
        // Verbatim special tokens are kept; lowercase look-alikes are not special.
        XCTAssertEqual(t.tokenize("a [MASK] b"), ["a", "[MASK]", "b"])
        XCTAssertEqual(t.tokenize("[mask]"), ["[", "mask", "]"])
        // Final capital sigma lowercases to σ without context, as in Hugging Face tokenizers.
        XCTAssertEqual(t.tokenize("ΟΔΟΣ").joined(), t.tokenize("οδοσ").joined())
    }

    func testPaddingAndMask() throws {
        let t = try tokenizer()
        let e = t.encode("a photo of a dress.", contextLength: 10)
        XCTAssertEqual(e.pieces, ["[CLS]", "a", "photo", "of", "a", "dress", ".", "[SEP]", "[PAD]", "[PAD]"])
        XCTAssertEqual(e.attentionMask, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
        XCTAssertEqual(e.length, 8)
        XCTAssertEqual(e.truncatedCount, 0)
        let empty = t.encode("", contextLength: 4)
        XCTAssertEqual(empty.ids, [t.clsId, t.sepId, t.padId, t.padId])
    }

    func testTruncationKeepsSEPAndCountsCutPieces() throws {
        let t = try tokenizer()
        let e = t.encode("one two three four five six", contextLength: 5)
        XCTAssertEqual(e.pieces, ["[CLS]", "one", "two", "three", "[SEP]"])
        XCTAssertEqual(e.truncatedCount, 3)
        XCTAssertEqual(e.untruncatedLength, 8)
        let exact = t.encode("one two three", contextLength: 5)
        XCTAssertEqual(exact.truncatedCount, 0)
        XCTAssertEqual(exact.attentionMask, [1, 1, 1, 1, 1])
    }

    func testDuplicateTokenKeepsLaterIdAndLookupIsByteExact() throws {
        // Precomposed "한" and its jamo sequence are canonically equivalent in Swift but different tokens.
        let t = try WordPieceTokenizer(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "x", "x", "\u{D55C}", "\u{1112}", "##\u{1161}", "##\u{11AB}"])
        XCTAssertEqual(t.wordPieceIds("x"), [5])
        XCTAssertEqual(t.wordPieceIds("\u{D55C}"), [7, 8, 9])
    }

    func testMissingFile() {
        let path = temporaryPath("no-such-vocab.txt")
        assertThrows(TokenizerError.cannotRead(path: path, reason: "no such file"), mentions: [path]) {
            _ = try WordPieceTokenizer(vocabPath: path)
        }
    }

    func testEmptyVocabulary() throws {
        let path = temporaryPath("empty-vocab.txt")
        try Data("\n\n".utf8).write(to: URL(fileURLWithPath: path))
        assertThrows(TokenizerError.emptyVocabulary(path: path), mentions: [path, "empty"]) {
            _ = try WordPieceTokenizer(vocabPath: path)
        }
    }

    func testMissingSpecialToken() throws {
        let path = temporaryPath("no-sep-vocab.txt")
        try Data("[PAD]\n[UNK]\n[CLS]\nhello\n".utf8).write(to: URL(fileURLWithPath: path))
        assertThrows(TokenizerError.missingSpecialToken(path: path, token: "[SEP]"), mentions: [path, "[SEP]"]) {
            _ = try WordPieceTokenizer(vocabPath: path)
        }
    }

    func testNotUTF8() throws {
        let path = temporaryPath("latin1-vocab.txt")
        try Data([0x5B, 0x50, 0x41, 0x44, 0x5D, 0x0A, 0xE9, 0xFF, 0x0A]).write(to: URL(fileURLWithPath: path))
        assertThrows(TokenizerError.notUTF8(path: path), mentions: [path]) {
            _ = try WordPieceTokenizer(vocabPath: path)
        }
    }

    func testShippedVocabularyIsTheMiniLMOne() throws {
        let t = try tokenizer()
        XCTAssertEqual(t.vocabulary.count, 30522)
        XCTAssertEqual([t.padId, t.unkId, t.clsId, t.sepId, t.maskId], [0, 100, 101, 102, 103])
    }
}
