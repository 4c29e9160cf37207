import Foundation

/// Why a WordPiece vocabulary could not be loaded. Every case names the file.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The vocabulary file could not be read (missing, a directory, unreadable).
    case cannotRead(path: String, reason: String)
    /// The file is not UTF-8 text.
    case notUTF8(path: String)
    /// The file holds no tokens.
    case emptyVocabulary(path: String)
    /// A token the tokenizer needs (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`) is not in the vocabulary.
    case missingSpecialToken(path: String, token: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "\(path): cannot read vocabulary: \(reason)"
        case let .notUTF8(path): return "\(path): vocabulary is not UTF-8 text"
        case let .emptyVocabulary(path): return "\(path): vocabulary is empty"
        case let .missingSpecialToken(path, token): return "\(path): vocabulary lacks the special token \(token)"
        }
    }
}

/// The result of tokenizing one text for a context length `L`.
public struct TokenizedText: Sendable, Equatable {
    /// Token ids `[L]`: `[CLS]`, word pieces, `[SEP]`, then `[PAD]`.
    public var ids: [Int]
    /// The token strings of `ids` (word pieces keep their `##`), `[L]`.
    public var pieces: [String]
    /// 1 for real tokens (including `[CLS]` and `[SEP]`), 0 for padding, `[L]`.
    public var attentionMask: [Int]
    /// How many word-piece tokens were cut to fit `L` (0 when the text fits). Equals
    /// `untruncatedLength - L` when positive.
    public var truncatedCount: Int
    /// Number of real tokens (`[CLS]` + kept pieces + `[SEP]`), at most `L`.
    public var length: Int
    /// Length the text would have without truncation: word pieces + 2.
    public var untruncatedLength: Int { length + truncatedCount }
}

/// BERT uncased WordPiece tokenizer, as used by all-MiniLM-L6-v2 (SPEC section 2).
///
/// Implements the Hugging Face `tokenizers` pipeline of the model's `tokenizer.json` (BertNormalizer with
/// `clean_text`, `handle_chinese_chars`, `strip_accents` and `lowercase`; BertPreTokenizer; WordPiece with `##` and
/// `max_input_chars_per_word = 100`; the `[CLS] A [SEP]` template), reimplemented from its documentation:
/// 1. special tokens (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`) written verbatim in the text are kept as
///    themselves (case-sensitive, not normalised), as Hugging Face's added-token matching does;
/// 2. cleanup: NUL, U+FFFD and control characters (general category C*, except tab, newline, carriage return)
///    are dropped, whitespace (Unicode White_Space) becomes a space;
/// 3. CJK ideographs (the BERT ranges) get a space on each side;
/// 4. accents: NFD, then combining nonspacing marks (Mn) are dropped; then every scalar is lowercased with its full
///    Unicode lowercase mapping, without context (so a final capital sigma becomes `σ`, as in `tokenizers`);
/// 5. words are split on whitespace, and every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, or
///    Unicode category P*) becomes a word of its own;
/// 6. each word is split greedily, longest match first, into vocabulary pieces (continuations prefixed `##`);
///    a word with more than 100 Unicode scalars, or one that cannot be fully split, becomes `[UNK]`.
///
/// Vocabulary lookups compare UTF-8 bytes, never Swift's canonical string equivalence: after NFD a Hangul syllable
/// is a jamo sequence and must not match the precomposed syllable in the vocabulary.
public struct WordPieceTokenizer: Sendable {
    /// Longest word, in Unicode scalars, that WordPiece splits; longer words become `[UNK]`.
    public static let maxInputCharsPerWord = 100

    /// Tokens by id (the line number of `vocab.txt`, from 0).
    public let vocabulary: [String]
    public let padId: Int
    public let unkId: Int
    public let clsId: Int
    public let sepId: Int
    /// `[MASK]`'s id, when the vocabulary has it.
    public let maskId: Int?

    private let idsByBytes: [[UInt8]: Int]
    /// Special tokens matched verbatim in the input, with their UTF-8 bytes.
    private let specialTokens: [(bytes: [UInt8], id: Int)]

    /// Loads `vocab.txt`: one token per line, id = line number. A trailing newline ends the last token; trailing
    /// whitespace of a line is not part of its token; a token that appears twice keeps its later id.
    /// - Throws: ``TokenizerError`` naming the file: unreadable, not UTF-8, empty, or lacking `[PAD]`, `[UNK]`,
    ///   `[CLS]` or `[SEP]`.
    public init(vocabPath: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: vocabPath))
        } catch {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: vocabPath, isDirectory: &isDirectory)
            let reason = !exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "unreadable"
            throw TokenizerError.cannotRead(path: vocabPath, reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TokenizerError.notUTF8(path: vocabPath) }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var scalars = Substring(line).unicodeScalars
            while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
            return String(scalars)
        }
        if lines.last == "" { lines.removeLast() }
        guard lines.contains(where: { !$0.isEmpty }) else { throw TokenizerError.emptyVocabulary(path: vocabPath) }
        try self.init(vocabulary: lines, path: vocabPath)
    }

    /// Builds a tokenizer from tokens in id order. `path` only names the source in errors.
    /// - Throws: ``TokenizerError/missingSpecialToken(path:token:)``.
    public init(vocabulary: [String], path: String = "<memory>") throws {
        var map: [[UInt8]: Int] = [:]
        map.reserveCapacity(vocabulary.count)
        for (id, token) in vocabulary.enumerated() { map[Array(token.utf8)] = id }
        func id(_ token: String) throws -> Int {
            guard let id = map[Array(token.utf8)] else { throw TokenizerError.missingSpecialToken(path: path, token: token) }
            return id
        }
        self.vocabulary = vocabulary
        self.idsByBytes = map
        self.padId = try id("[PAD]")
        self.unkId = try id("[UNK]")
        self.clsId = try id("[CLS]")
        self.sepId = try id("[SEP]")
        self.maskId = map[Array("[MASK]".utf8)]
        self.specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { token in
            map[Array(token.utf8)].map { (Array(token.utf8), $0) }
        }
    }

    /// Tokenizes `text` into exactly `contextLength` ids: `[CLS]`, word pieces, `[SEP]`, `[PAD]`... If the pieces do
    /// not fit, the first `L - 2` are kept, `[SEP]` stays last, and ``TokenizedText/truncatedCount`` says how many
    /// were cut (SPEC section 1.3: the UI must say so).
    /// - Parameter contextLength: `L`, at least 2 (a smaller value is a programmer error and traps).
    /// - Returns: ids, pieces and attention mask `[L]`.
    public func encode(_ text: String, contextLength: Int) -> TokenizedText {
        precondition(contextLength >= 2, "contextLength must hold [CLS] and [SEP]")
        let all = wordPieceIds(text)
        let kept = min(all.count, contextLength - 2)
        var ids = [clsId] + all.prefix(kept) + [sepId]
        let length = ids.count
        ids += [Int](repeating: padId, count: contextLength - length)
        return TokenizedText(
            ids: ids, pieces: ids.map { vocabulary[$0] },
            attentionMask: (0..<contextLength).map { $0 < length ? 1 : 0 },
            truncatedCount: all.count - kept, length: length)
    }

    /// The word-piece ids of `text`, without `[CLS]`, `[SEP]`, padding or truncation.
    public func wordPieceIds(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in splitOnSpecialTokens(Array(text.unicodeScalars)) {
            switch segment {
            case let .special(id): ids.append(id)
            case let .text(scalars):
                for word in preTokenize(normalize(scalars)) { appendWordPieces(of: word, to: &ids) }
            }
        }
        return ids
    }

    /// The word pieces of `text` as strings (word-piece continuations keep `##`).
    public func tokenize(_ text: String) -> [String] { wordPieceIds(text).map { vocabulary[$0] } }

    // MARK: - Pipeline steps

    private enum Segment {
        case text([Unicode.Scalar])
        case special(Int)
    }

    /// Splits the raw text at verbatim special tokens (leftmost match; none is a prefix of another).
    private func splitOnSpecialTokens(_ scalars: [Unicode.Scalar]) -> [Segment] {
        var segments: [Segment] = []
        var current: [Unicode.Scalar] = []
        var i = 0
        outer: while i < scalars.count {
            if scalars[i] == "[" {
                for (bytes, id) in specialTokens where i + bytes.count <= scalars.count {
                    // Special tokens are ASCII: one byte per scalar.
                    if (0..<bytes.count).allSatisfy({ scalars[i + $0].value == UInt32(bytes[$0]) }) {
                        if !current.isEmpty { segments.append(.text(current)); current = [] }
                        segments.append(.special(id))
                        i += bytes.count
                        continue outer
                    }
                }
            }
            current.append(scalars[i])
            i += 1
        }
        if !current.isEmpty { segments.append(.text(current)) }
        return segments
    }

    /// BertNormalizer: cleanup, CJK spacing, NFD + drop Mn, lowercase.
    private func normalize(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        for s in scalars {
            if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
            if Self.isWhitespace(s) {
                cleaned.append(" ")
            } else if Self.isCJKIdeograph(s) {
                cleaned.append(" "); cleaned.append(s); cleaned.append(" ")
            } else {
                cleaned.append(s)
            }
        }
        let decomposed = String(cleaned).decomposedStringWithCanonicalMapping
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(cleaned.count)
        for s in decomposed.unicodeScalars where s.properties.generalCategory != .nonspacingMark {
            if s.isASCII {
                out.append(s.value >= 65 && s.value <= 90 ? Unicode.Scalar(s.value + 32)! : s)
            } else {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// BertPreTokenizer: split on whitespace, isolate every punctuation character. Returns words as UTF-8 bytes
    /// with their scalar count.
    private func preTokenize(_ scalars: [Unicode.Scalar]) -> [(bytes: [UInt8], scalarCount: Int)] {
        var words: [(bytes: [UInt8], scalarCount: Int)] = []
        var current: [UInt8] = []
        var count = 0
        func flush() {
            if count > 0 { words.append((current, count)); current = []; count = 0 }
        }
        for s in scalars {
            if Self.isWhitespace(s) {
                flush()
            } else if Self.isPunctuation(s) {
                flush()
                words.append((Array(String(s).utf8), 1))
            } else {
                current.append(contentsOf: String(s).utf8)
                count += 1
            }
        }
        flush()
        return words
    }

    /// Greedy longest-match-first WordPiece over one word; the whole word becomes `[UNK]` if any part fails.
    private func appendWordPieces(of word: (bytes: [UInt8], scalarCount: Int), to ids: inout [Int]) {
        guard word.scalarCount <= Self.maxInputCharsPerWord else { ids.append(unkId); return }
        let bytes = word.bytes
        // Scalar boundaries: byte offsets where a UTF-8 sequence starts, plus the end.
        var boundaries = bytes.indices.filter { bytes[$0] & 0xC0 != 0x80 }
        boundaries.append(bytes.count)
        var pieces: [Int] = []
        var startIndex = 0
        let prefix: [UInt8] = Array("##".utf8)
        while startIndex < boundaries.count - 1 {
            var endIndex = boundaries.count - 1
            var found: Int? = nil
            while endIndex > startIndex {
                let slice = bytes[boundaries[startIndex]..<boundaries[endIndex]]
                let key = startIndex > 0 ? prefix + slice : Array(slice)
                if let id = idsByBytes[key] { found = id; break }
                endIndex -= 1
            }
            guard let id = found else { ids.append(unkId); return }
            pieces.append(id)
            startIndex = endIndex
        }
        ids.append(contentsOf: pieces)
    }

    // MARK: - Character classes (BERT's definitions)

    /// Tab, newline and carriage return count as whitespace, not control; otherwise general category C*
    /// (Cc, Cf, Cs, Co, Cn).
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// Tab, newline, carriage return, or the Unicode White_Space property.
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    /// ASCII 33-47, 58-64, 91-96, 123-126 (all ASCII non-alphanumeric printables), or Unicode category P*.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT splits around (not Hiragana, Katakana or Hangul).
    static func isCJKIdeograph(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
            0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
