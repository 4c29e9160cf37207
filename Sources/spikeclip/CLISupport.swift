import ArgumentParser
import Foundation
import SpikeCLIP
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

    @Flag(help: "Load the ANN text model even when its sha256 differs from the one the checkpoint names.")
    var ignoreAnnTextHash = false

    /// The checkpoint to load, with a note when the parity fixture stands in for the missing trained default.
    var resolvedCheckpoint: (path: String, note: String?) { get throws { try ExplorerOptions.resolve(checkpoint) } }

    func load(annText: Bool = true) throws -> ModelContext {
        let (path, note) = try resolvedCheckpoint
        return try ModelContext(checkpoint: path, assets: ExplorerOptions.resolveAssets(assets), note: note, loadANNText: annText,
                                verifyANNTextHash: !ignoreAnnTextHash)
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

/// A checkpoint with everything needed around it (``CheckpointBundle``, the loader the explorer uses too) and the
/// CLI's prompt handling.
final class ModelContext: @unchecked Sendable {
    let path: String
    let note: String?
    let bundle: CheckpointBundle
    var model: SpikeCLIPModel { bundle.model }
    var tokenizer: WordPieceTokenizer? { bundle.tokenizer }
    var minilm: MiniLMTextEncoder? { bundle.annText }
    var preprocessor: ImagePreprocessor { bundle.preprocessor }
    /// The checkpoint's class names (for token-id checkpoints: the golden file's prompt rows, if one is beside it).
    var defaultClasses: [String] { bundle.defaultClasses }
    var defaultTemplates: [String] { bundle.defaultTemplates }

    init(checkpoint: String, assets: String, note: String?, loadANNText: Bool, verifyANNTextHash: Bool = true) throws {
        self.path = checkpoint
        self.note = note
        self.bundle = try CheckpointBundle(checkpoint: checkpoint, assets: assets, loadANNText: loadANNText,
                                           verifyANNTextHash: verifyANNTextHash)
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

/// Writes one line of human-readable output to stdout through ``terminalText(_:)``, the one escaping rule: text from
/// arguments and files (prompts, class and template files, checkpoint strings, tensor names, paths) is in almost
/// every line, and no control character, escape sequence or bidi override in it reaches the terminal raw (issue 11).
/// A newline inside `line` is escaped too, so one call is one line. JSON goes through ``printJSON(_:)``.
func say(_ line: String = "") {
    FileHandle.standardOutput.write(Data((terminalText(line) + "\n").utf8))
}

/// Writes one line to stderr through ``terminalText(_:)``.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((terminalText(line) + "\n").utf8))
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
