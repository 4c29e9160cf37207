import Foundation

/// Why a CLIP BPE vocabulary could not be loaded. Every case names the file.
public enum CLIPTokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    case cannotRead(path: String, reason: String)
    /// The vocabulary or merges are not what CLIP's files hold (`reason` says what).
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason): return "\(quotedPreview(path, limit: 400)): cannot read CLIP vocabulary: \(quotedPreview(reason, limit: 200))"
        case let .malformed(path, reason): return "\(quotedPreview(path, limit: 400)): not a CLIP BPE vocabulary: \(reason)"
        }
    }
}

/// CLIP's byte-level BPE tokenizer (Radford et al. 2021), as transformers' `CLIPTokenizer` (the Rust `tokenizers`
/// pipeline, v4's `CLIPTokenizerFast`) does it:
///
/// 1. the special tokens `<|startoftext|>` and `<|endoftext|>` are taken from the raw text first;
/// 2. the rest is normalised: NFC, every run of Unicode white space replaced by one space, lowercased per scalar;
/// 3. split with CLIP's pattern `'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+` (the gaps dropped);
/// 4. each piece's UTF-8 bytes mapped to printable characters (GPT-2's byte-to-unicode table), `</w>` on the last;
/// 5. BPE merges by rank, cached per piece; then `<|startoftext|>` ... `<|endoftext|>`.
///
/// Where OpenAI's original tokenizer differs (it runs ftfy and HTML unescaping first) is listed in
/// `Tests/Fixtures/clip/tokenizer.json` (`reference_differs`). Thread-safe (the merge cache is locked).
public final class CLIPTokenizer: PromptTokenizer, @unchecked Sendable {
    public let vocabulary: [String: Int]
    /// Token strings by id.
    public let tokens: [String]
    let ranks: [Pair: Int]
    public let startId: Int
    public let endId: Int
    /// The pad id of fixed-length encodings (`<|endoftext|>` in every released CLIP).
    public let padId: Int
    private var cache: [String: [Int]] = [:]
    private let lock = NSLock()
    /// Pieces kept in the merge cache before it is emptied.
    static let cacheLimit = 1 << 16

    struct Pair: Hashable { let a: String, b: String }

    /// The special tokens.
    public static let start = "<|startoftext|>", end = "<|endoftext|>"

    /// Builds the tokenizer from merges (in rank order) and a vocabulary.
    /// - Throws: ``CLIPTokenizerError/malformed(path:reason:)`` when a special token or a merge result is missing.
    public init(vocabulary: [String: Int], merges: [(String, String)], padToken: String = CLIPTokenizer.end, path: String = "<memory>") throws {
        var ranks: [Pair: Int] = [:]
        for (i, m) in merges.enumerated() where ranks[Pair(a: m.0, b: m.1)] == nil { ranks[Pair(a: m.0, b: m.1)] = i }
        guard let s = vocabulary[Self.start], let e = vocabulary[Self.end] else {
            throw CLIPTokenizerError.malformed(path: path, reason: "the vocabulary lacks \(Self.start) or \(Self.end)")
        }
        guard let p = vocabulary[padToken] else { throw CLIPTokenizerError.malformed(path: path, reason: "the pad token '\(quotedPreview(padToken))' is not in the vocabulary") }
        for b in byteEncoder where vocabulary[String(b)] == nil {
            throw CLIPTokenizerError.malformed(path: path, reason: "the byte symbol '\(b)' is not in the vocabulary")
        }
        guard let maxId = vocabulary.values.max(), maxId < 1 << 24, vocabulary.values.allSatisfy({ $0 >= 0 }) else {
            throw CLIPTokenizerError.malformed(path: path, reason: "token ids must be in 0..<2^24")
        }
        var tokens = [String](repeating: "", count: maxId + 1)
        for (t, i) in vocabulary { tokens[i] = t }
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.ranks = ranks
        self.startId = s
        self.endId = e
        self.padId = p
    }

    /// Loads CLIP's original `bpe_simple_vocab_16e6.txt.gz` (the 48,894 merges after the header line; the vocabulary
    /// is bytes, bytes + `</w>`, the merge results, the two special tokens: 49,408 ids) or a Hugging Face folder
    /// (`vocab.json` + `merges.txt`, pad token from `special_tokens_map.json` or `tokenizer_config.json`).
    /// - Throws: ``CLIPTokenizerError``.
    public convenience init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CLIPTokenizerError.cannotRead(path: path, reason: "no such file or folder") }
        if isDir.boolValue {
            let folder = path as NSString
            let vocabPath = folder.appendingPathComponent("vocab.json"), mergesPath = folder.appendingPathComponent("merges.txt")
            let vocabData = try Self.read(vocabPath)
            guard let vocab = (try? JSONSerialization.jsonObject(with: Data(vocabData))) as? [String: Int] else {
                throw CLIPTokenizerError.malformed(path: vocabPath, reason: "vocab.json is not a JSON object of token -> id")
            }
            let merges = try Self.parseMerges(try Self.text(try Self.read(mergesPath), path: mergesPath), path: mergesPath, limit: nil)
            var pad = Self.end
            for name in ["special_tokens_map.json", "tokenizer_config.json"] {
                let p = folder.appendingPathComponent(name)
                guard let d = FileManager.default.contents(atPath: p), let o = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { continue }
                if let s = o["pad_token"] as? String { pad = s; break }
                if let s = (o["pad_token"] as? [String: Any])?["content"] as? String { pad = s; break }
            }
            try self.init(vocabulary: vocab, merges: merges, padToken: pad, path: path)
        } else {
            var bytes = try Self.read(path)
            if bytes.starts(with: [0x1F, 0x8B]) {
                do { bytes = try IDXFile.gunzip(bytes, path: path) } catch { throw CLIPTokenizerError.cannotRead(path: path, reason: "\(error)") }
            }
            let expected = 49152 - 256 - 2
            let merges = try Self.parseMerges(try Self.text(bytes, path: path), path: path, limit: expected)
            guard merges.count == expected else {
                throw CLIPTokenizerError.malformed(path: path, reason: "\(merges.count) merges, CLIP's vocabulary file has \(expected) after its header")
            }
            var vocab: [String] = byteSymbolsInVocabularyOrder.map { String($0) }
            vocab += byteSymbolsInVocabularyOrder.map { String($0) + "</w>" }
            vocab += merges.map { $0.0 + $0.1 }
            vocab += [Self.start, Self.end]
            var table: [String: Int] = [:]
            for (i, t) in vocab.enumerated() where table[t] == nil { table[t] = i }
            try self.init(vocabulary: table, merges: merges, path: path)
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let d = FileManager.default.contents(atPath: path) else { throw CLIPTokenizerError.cannotRead(path: path, reason: "cannot open") }
        return [UInt8](d)
    }

    static func text(_ bytes: [UInt8], path: String) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw CLIPTokenizerError.malformed(path: path, reason: "not UTF-8 text") }
        return s
    }

    /// Merge lines after the `#version` header: two space-separated symbols each (`limit`: at most that many).
    static func parseMerges(_ text: String, path: String, limit: Int?) throws -> [(String, String)] {
        var out: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if n == 0 && (line.hasPrefix("#version") || line.contains("#version")) { continue }
            if let limit, out.count >= limit { break }
            if line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else { throw CLIPTokenizerError.malformed(path: path, reason: "line \(n + 1) is not two symbols") }
            out.append((String(parts[0]), String(parts[1])))
        }
        guard !out.isEmpty else { throw CLIPTokenizerError.malformed(path: path, reason: "no merges") }
        return out
    }

    // MARK: - Encoding

    /// All ids of `text`, `<|startoftext|>` and `<|endoftext|>` included, no truncation (the CLIP text tower cuts at 77).
    public func encodeFull(_ text: String) -> [Int] {
        var ids = [startId]
        for segment in Self.splitSpecial(text) {
            switch segment {
            case let .special(name): ids.append(name == Self.start ? startId : endId)
            case let .text(t): for piece in Self.pieces(Self.normalize(t)) { ids += bpe(piece) }
            }
        }
        ids.append(endId)
        return ids
    }

    /// Exactly `contextLength` ids, as SpikeCLIP feeds its text encoder (`padding="max_length", truncation=True`):
    /// cut to `L - 1` and the end token put back last, then padded with ``padId``.
    public func tokenize(_ text: String, contextLength l: Int) -> TokenizedPrompt {
        let full = encodeFull(text)
        var kept = Array(full.prefix(l))
        if full.count > l, l > 0 { kept[l - 1] = endId }
        let cut = full.count > l ? Array(full[(l - 1)..<(full.count - 1)]) : []
        return TokenizedPrompt(
            text: text, ids: kept + [Int](repeating: padId, count: max(0, l - kept.count)),
            mask: [Int](repeating: 1, count: kept.count) + [Int](repeating: 0, count: max(0, l - kept.count)),
            pieces: kept.map(token), count: full.count, truncatedPieces: cut.map(token))
    }

    public func count(_ text: String, contextLength l: Int) -> (count: Int, truncated: Int) {
        let n = encodeFull(text).count
        return (n, max(0, n - l))
    }

    /// The token string of `id` (`</w>` kept), or `<id>` outside the vocabulary.
    public func token(_ id: Int) -> String { id >= 0 && id < tokens.count ? tokens[id] : "<\(id)>" }

    enum Segment: Equatable { case text(String), special(String) }

    /// The raw text split around the literal special tokens (matched before normalisation, case-sensitive).
    static func splitSpecial(_ text: String) -> [Segment] {
        var out: [Segment] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            let hits = [start, end].compactMap { s in rest.range(of: s).map { (s, $0) } }
            guard let (name, range) = hits.min(by: { $0.1.lowerBound < $1.1.lowerBound }) else { out.append(.text(String(rest))); break }
            if range.lowerBound > rest.startIndex { out.append(.text(String(rest[..<range.lowerBound]))) }
            out.append(.special(name))
            rest = rest[range.upperBound...]
        }
        return out
    }

    /// NFC, white-space runs to one space, per-scalar lowercase (the `tokenizers` normaliser of CLIP).
    static func normalize(_ text: String) -> String {
        let nfc = text.precomposedStringWithCanonicalMapping
        var out = String.UnicodeScalarView()
        var inSpace = false
        for s in nfc.unicodeScalars {
            if s.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
        }
        return String(out)
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// CLIP's split pattern, leftmost-first as the regex engine runs it; white space between matches is dropped.
    static func pieces(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var out: [String] = []
        var i = 0
        func emit(_ from: Int, _ to: Int) { var v = String.UnicodeScalarView(); v.append(contentsOf: s[from..<to]); out.append(String(v)) }
        while i < s.count {
            let c = s[i]
            if c == "'" {
                var matched = 0
                for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
                    let u = Array(suffix.unicodeScalars)
                    if i + u.count < s.count + 0, i + 1 + u.count <= s.count, Array(s[(i + 1)..<(i + 1 + u.count)]) == u { matched = 1 + u.count; break }
                }
                if matched > 0 { emit(i, i + matched); i += matched; continue }
            }
            if isLetter(c) {
                var j = i + 1
                while j < s.count, isLetter(s[j]) { j += 1 }
                emit(i, j); i = j
            } else if isNumber(c) {
                emit(i, i + 1); i += 1
            } else if c.properties.isWhitespace {
                i += 1
            } else {
                var j = i + 1
                while j < s.count, !isLetter(s[j]), !isNumber(s[j]), !s[j].properties.isWhitespace { j += 1 }
                emit(i, j); i = j
            }
        }
        return out
    }

    /// BPE of one piece: its bytes as symbols (`</w>` on the last), the lowest-ranked adjacent pair merged until none
    /// is in the merges; ids from the vocabulary (cached).
    func bpe(_ piece: String) -> [Int] {
        lock.lock()
        if let hit = cache[piece] { lock.unlock(); return hit }
        lock.unlock()
        var symbols = piece.utf8.map { String(byteEncoder[Int($0)]) }
        guard !symbols.isEmpty else { return [] }
        symbols[symbols.count - 1] += "</w>"
        while symbols.count > 1 {
            var best = Int.max, at = -1
            for k in 0..<(symbols.count - 1) {
                if let r = ranks[Pair(a: symbols[k], b: symbols[k + 1])], r < best { best = r; at = k }
            }
            guard at >= 0 else { break }
            let (a, b) = (symbols[at], symbols[at + 1])
            // Merge every occurrence of the pair, left to right (as the reference implementations do).
            var merged: [String] = []
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count, symbols[k] == a, symbols[k + 1] == b { merged.append(a + b); k += 2 } else { merged.append(symbols[k]); k += 1 }
            }
            symbols = merged
        }
        // Every byte symbol is in the vocabulary (checked at load); a merge result missing from it falls back to bytes.
        let ids = symbols.flatMap { sym -> [Int] in
            if let id = vocabulary[sym] { return [id] }
            return sym.unicodeScalars.map { vocabulary[String($0)] ?? endId }
        }
        lock.lock()
        if cache.count >= Self.cacheLimit { cache = [:] }
        cache[piece] = ids
        lock.unlock()
        return ids
    }
}

/// GPT-2's reversible byte -> printable character table (CLIP uses the same): printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 upwards in byte order. `byteEncoder` is indexed by byte;
/// `byteSymbolsInVocabularyOrder` lists the 256 symbols in the order CLIP's vocabulary numbers them (the printable
/// bytes first, then the others).
let (byteEncoder, byteSymbolsInVocabularyOrder): ([Character], [Character]) = {
    var keep = Array(33...126) + Array(161...172) + Array(174...255)
    var chars = keep
    var n = 0
    for b in 0..<256 where !keep.contains(b) {
        keep.append(b)
        chars.append(256 + n)
        n += 1
    }
    var table = [Character](repeating: " ", count: 256)
    for (b, c) in zip(keep, chars) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
    return (table, chars.map { Character(Unicode.Scalar(UInt32($0))!) })
}()
