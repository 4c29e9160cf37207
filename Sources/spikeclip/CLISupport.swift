import ArgumentParser
import Foundation
import SpikeCLIP
import TUI
import Visualize

#if canImport(Glibc)
import Glibc
#endif

/// Options shared by the scripted subcommands that load a checkpoint.
struct ModelOptions: ParsableArguments {
    @Option(help: "SpikeCLIP checkpoint (default: \(ExplorerOptions.defaultCheckpoint), else the parity fixture \(ExplorerOptions.fallbackCheckpoint)).")
    var checkpoint: String?

    @Option(help: "Assets folder (MiniLM, vocabulary) searched after the checkpoint's folder and its parent.")
    var assets = "assets"

    /// The checkpoint to load, with a note when the parity fixture stands in for the missing trained default.
    var resolvedCheckpoint: (path: String, note: String?) { get throws { try ExplorerOptions.resolve(checkpoint) } }

    func load(annText: Bool = true) throws -> ModelContext {
        let (path, note) = try resolvedCheckpoint
        return try ModelContext(checkpoint: path, assets: ExplorerOptions.resolveAssets(assets), note: note, loadANNText: annText)
    }
}

/// One prompt after tokenization: `L` ids and what it cost.
struct PromptTokenization {
    var text: String
    /// `[L]`, padded.
    var ids: [Int]
    /// Attention mask `[L]` (1 for real tokens).
    var mask: [Int]
    /// Token strings of the real tokens (word pieces keep `##`; for token-id checkpoints the ids as text).
    var pieces: [String]
    /// Tokens before truncation (with `[CLS]`/`[SEP]` for WordPiece).
    var count: Int
    /// The pieces cut to fit `L`.
    var truncatedPieces: [String]
}

/// A checkpoint with everything needed around it: tokenizer (or token-id prompts), ANN text model, preprocessing.
/// Mirrors `ExplorerSession.make` (checkpoint -> vocabulary next to it / one folder up / assets -> MiniLM -> preprocessing).
final class ModelContext: @unchecked Sendable {
    let path: String
    let note: String?
    let model: SpikeCLIPModel
    let tokenizer: WordPieceTokenizer?
    let minilm: MiniLMTextEncoder?
    let preprocessor: ImagePreprocessor
    /// The checkpoint's class names (for token-id checkpoints: the golden file's prompt rows, if one is beside it).
    let defaultClasses: [String]
    let defaultTemplates: [String]

    init(checkpoint: String, assets: String, note: String?, loadANNText: Bool) throws {
        self.path = checkpoint
        self.note = note
        guard FileManager.default.fileExists(atPath: checkpoint) else {
            throw UserError(description: "\(checkpoint): no such checkpoint file")
        }
        let model = try SpikeCLIPModel(path: checkpoint)
        let c = model.config
        var classes = c.classes
        var tokenizer: WordPieceTokenizer?
        switch c.tokenizer.kind {
        case "bert-wordpiece":
            guard let file = c.tokenizer.vocabFile, let vocab = Self.resolve(file, checkpoint: checkpoint, assets: assets) else {
                throw UserError(description: "\(checkpoint): vocabulary '\(c.tokenizer.vocabFile ?? "")' not found next to the checkpoint, one folder up or in \(assets)")
            }
            tokenizer = try WordPieceTokenizer(vocabPath: vocab)
        case "ids":
            let golden = ((checkpoint as NSString).deletingLastPathComponent as NSString).appendingPathComponent("golden.safetensors")
            if let f = try? SafeTensorsFile(path: golden), let shape = try? f.info("input.token_ids").shape, let ids = try? f.ints("input.token_ids") {
                let m = Int(f.metadata["num_templates"] ?? "1") ?? 1
                classes = stride(from: 0, to: shape[0], by: m).map { row in
                    ids[(row * shape[1])..<((row + 1) * shape[1])].map(String.init).joined(separator: " ")
                }
            }
        default:
            throw UserError(description: "\(checkpoint): tokenizer kind '\(c.tokenizer.kind)' is not supported (bert-wordpiece or ids)")
        }
        var minilm: MiniLMTextEncoder?
        if loadANNText, let ref = c.annText, tokenizer != nil {
            guard let p = Self.resolve(ref.file, checkpoint: checkpoint, assets: assets) else {
                throw UserError(description: "\(checkpoint): ANN text model '\(ref.file)' not found next to the checkpoint, one folder up or in \(assets)")
            }
            minilm = try MiniLMTextEncoder(path: p)
        }
        self.model = model
        self.tokenizer = tokenizer
        self.minilm = minilm
        self.preprocessor = try ImagePreprocessor(config: c.preprocess)
        self.defaultClasses = classes
        self.defaultTemplates = c.tokenizer.kind == "ids" ? ["{}"] : c.templates
    }

    /// Finds `relative` next to the checkpoint, one folder up, or under `assets` (as the explorer does).
    static func resolve(_ relative: String, checkpoint: String, assets: String) -> String? {
        if relative.hasPrefix("/") { return FileManager.default.fileExists(atPath: relative) ? relative : nil }
        let dir = (checkpoint as NSString).deletingLastPathComponent
        for base in [dir, (dir as NSString).deletingLastPathComponent, assets] {
            let p = (base as NSString).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }

    var config: ModelConfig { model.config }
    var contextLength: Int { model.config.text.contextLength }

    /// Tokenizes one prompt to `L` ids. Token-id checkpoints take whitespace-separated integers.
    /// - Throws: ``UserError`` when a token-id prompt holds something else.
    func tokenize(_ text: String) throws -> PromptTokenization {
        let l = contextLength
        if let tokenizer {
            let t = tokenizer.encode(text, contextLength: l)
            let all = tokenizer.tokenize(text)
            let kept = max(0, l - 2)
            return PromptTokenization(
                text: text, ids: t.ids, mask: t.attentionMask, pieces: Array(t.pieces.prefix(t.length)),
                count: t.untruncatedLength, truncatedPieces: all.count > kept ? Array(all[kept...]) : [])
        }
        var ids: [Int] = []
        for word in text.split(whereSeparator: \.isWhitespace) {
            guard let id = Int(word) else {
                throw UserError(description: "this checkpoint takes token ids (tokenizer kind 'ids'): '\(quotedPreview(text))' is not a list of integers")
            }
            ids.append(id)
        }
        let kept = Array(ids.prefix(l))
        let pad = model.config.tokenizer.padId
        return PromptTokenization(
            text: text, ids: kept + [Int](repeating: pad, count: l - kept.count),
            mask: [Int](repeating: 1, count: kept.count) + [Int](repeating: 0, count: l - kept.count),
            pieces: kept.map(String.init), count: ids.count, truncatedPieces: ids.dropFirst(l).map(String.init))
    }

    /// Spiking text embeddings `[P][target_dim]` (spike-aware kernels) and the recording.
    func spikingText(_ tokens: [PromptTokenization]) throws -> (rows: [[Float]], recording: Recording) {
        let (flat, recording) = try model.text.forward(tokenIds: tokens.map(\.ids), mode: .spikeAware)
        let dim = config.text.targetDim
        return ((0..<tokens.count).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) }, recording)
    }

    /// MiniLM embeddings of the same `L` tokens the spiking encoder sees (as the Python `evaluate` does), or nil
    /// without an ANN text model.
    func annText(_ tokens: [PromptTokenization]) -> [[Float]]? {
        guard let minilm, !tokens.isEmpty else { return nil }
        let flat = minilm.forward(tokenIds: tokens.flatMap(\.ids), attentionMask: tokens.flatMap(\.mask), batch: tokens.count)
        let d = minilm.dimension
        return (0..<tokens.count).map { Array(flat[($0 * d)..<(($0 + 1) * d)]) }
    }

    /// Decodes and preprocesses an image file to `[C, H, W]`.
    /// - Throws: ``ImageError`` (its message starts with the path).
    func loadImage(_ path: String) throws -> [Float] {
        preprocessor(try ImageDecoder.decode(path: path))
    }
}

/// `{}` in `template` replaced by `name` (a template without `{}` gets the name appended), as the explorer does.
func fillTemplate(_ template: String, with name: String) -> String {
    template.contains("{}") ? template.replacingOccurrences(of: "{}", with: name) : template + " " + name
}

/// Class-major prompts: prompt `c * M + m` is template `m` filled with class `c` (docs/CHECKPOINT.md order).
func expandPrompts(classes: [String], templates: [String]) -> [String] {
    classes.flatMap { name in templates.map { fillTemplate($0, with: name) } }
}

/// Rows `[K]` of `[dim]` from a flat `[K * dim]` buffer.
func rows(_ flat: [Float], dim: Int) -> [[Float]] {
    (0..<(flat.count / dim)).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) }
}

/// `x` rounded to 12 significant digits: sums of per-layer energies carry float noise in the last digits
/// (`28851.199999999997`), which JSON output should not show. Exact to far below every tolerance that matters.
func tidy(_ x: Double) -> Double {
    guard x.isFinite, x != 0 else { return x }
    return Double(String(format: "%.12g", x)) ?? x
}

/// Prints `value` as pretty JSON (sorted keys, snake_case) on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Writes one line to stderr.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Pads or truncates `s` to `width` columns (left-aligned).
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}


/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename. Without `force` an
/// existing file is never replaced (the final step is `link(2)`, which fails if the name exists, so a file that
/// appears meanwhile is not clobbered either).
/// - Throws: ``UserError`` naming the path.
func writeAtomically(_ bytes: [UInt8], to path: String, force: Bool) throws {
    let fm = FileManager.default
    if !force && fm.fileExists(atPath: path) {
        throw UserError(description: "\(path): file exists (use --force to overwrite)")
    }
    let dir = (path as NSString).deletingLastPathComponent
    let directory = dir.isEmpty ? "." : dir
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
        throw UserError(description: "\(path): directory '\(directory)' does not exist")
    }
    var template = Array(((directory as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).XXXXXX")).utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw UserError(description: "\(path): cannot create a temporary file in '\(directory)': \(String(cString: strerror(errno)))") }
    let temp = String(cString: template.map { $0 })
    var ok = true
    var written = 0
    bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            if n <= 0 { ok = false; break }
            written += n
        }
    }
    ok = ok && fsync(fd) == 0
    fchmod(fd, 0o644)
    close(fd)
    guard ok else {
        unlink(temp)
        throw UserError(description: "\(path): write failed: \(String(cString: strerror(errno)))")
    }
    if force {
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw UserError(description: "\(path): cannot rename into place: \(reason)")
        }
    } else {
        guard link(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw UserError(description: code == EEXIST ? "\(path): file exists (use --force to overwrite)"
                                                        : "\(path): cannot create: \(String(cString: strerror(code)))")
        }
        unlink(temp)
    }
}

/// True when stderr is a terminal (progress bars go there only then).
var stderrIsTerminal: Bool { isatty(2) != 0 }

/// SHA-256 (FIPS 180-4) of a file, streamed in 1 MiB chunks; lowercase hex.
/// - Throws: ``UserError`` when the file cannot be read.
func sha256Hex(path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw UserError(description: "\(path): cannot read file") }
    defer { try? handle.close() }
    var hasher = SHA256()
    while true {
        let chunk = handle.readData(ofLength: 1 << 20)
        if chunk.isEmpty { break }
        hasher.update([UInt8](chunk))
    }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// Streaming SHA-256 (FIPS 180-4). Foundation on Linux has no CryptoKit, and the package has no crypto dependency.
struct SHA256 {
    private var state: [UInt32] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    mutating func update(_ bytes: [UInt8]) {
        length += UInt64(bytes.count)
        buffer += bytes
        let blocks = buffer.count / 64
        for b in 0..<blocks { compress(buffer, offset: b * 64) }
        buffer.removeFirst(blocks * 64)
    }

    mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var tail = buffer + [0x80]
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        for b in 0..<(tail.count / 64) { compress(tail, offset: b * 64) }
        return state.flatMap { word in (0..<4).reversed().map { UInt8(truncatingIfNeeded: word >> (UInt32($0) * 8)) } }
    }

    private mutating func compress(_ data: [UInt8], offset: Int) {
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var w = [UInt32](repeating: 0, count: 64)
        for i in 0..<16 {
            let o = offset + i * 4
            w[i] = UInt32(data[o]) << 24 | UInt32(data[o + 1]) << 16 | UInt32(data[o + 2]) << 8 | UInt32(data[o + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, h) = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = h &+ s1 &+ ch &+ Self.k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
        }
        state[0] = state[0] &+ a; state[1] = state[1] &+ b; state[2] = state[2] &+ c; state[3] = state[3] &+ d
        state[4] = state[4] &+ e; state[5] = state[5] &+ f; state[6] = state[6] &+ g; state[7] = state[7] &+ h
    }
}
