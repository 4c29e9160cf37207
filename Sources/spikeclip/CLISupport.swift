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

    @Option(help: "Kernels: event (default: events on spikes, BLAS elsewhere), blas or reference (docs/PERFORMANCE.md).")
    var kernels: KernelMode = .fastest

    /// The checkpoint to load, with a note when the parity fixture stands in for the missing trained default.
    var resolvedCheckpoint: (path: String, note: String?) { get throws { try ExplorerOptions.resolve(checkpoint) } }

    func load(annText: Bool = true) throws -> ModelContext {
        let (path, note) = try resolvedCheckpoint
        return try ModelContext(checkpoint: path, assets: ExplorerOptions.resolveAssets(assets), note: note, loadANNText: annText,
                                verifyANNTextHash: !ignoreAnnTextHash, kernels: kernels)
    }
}

/// A checkpoint loaded through the engine's ``SpikeCLIPPipeline`` (the explorer's loader and analysis API too), with
/// the note shown when the parity fixture stands in for the trained default.
final class ModelContext: @unchecked Sendable {
    let path: String
    let note: String?
    let pipeline: SpikeCLIPPipeline
    var bundle: CheckpointBundle { pipeline.bundle }
    var model: SpikeCLIPModel { bundle.model }
    var preprocessor: ImagePreprocessor { bundle.preprocessor }
    /// The checkpoint's class names (for token-id checkpoints: the golden file's prompt rows, if one is beside it).
    var defaultClasses: [String] { bundle.defaultClasses }
    var defaultTemplates: [String] { bundle.defaultTemplates }
    var config: ModelConfig { model.config }

    /// Which kernels the command's forward passes use (`--kernels`).
    let kernels: KernelMode

    init(checkpoint: String, assets: String, note: String?, loadANNText: Bool, verifyANNTextHash: Bool = true,
         kernels: KernelMode = .fastest) throws {
        self.path = checkpoint
        self.note = note
        self.kernels = kernels
        self.pipeline = SpikeCLIPPipeline(bundle: try CheckpointBundle(checkpoint: checkpoint, assets: assets, loadANNText: loadANNText,
                                                                       verifyANNTextHash: verifyANNTextHash))
    }

    /// One prompt as the spiking text encoder sees it. - Throws: ``PromptError``.
    func tokenize(_ text: String) throws -> TokenizedPrompt { try pipeline.tokenize(text) }

    /// Decodes and preprocesses an image file to `[C, H, W]`. - Throws: ``ImageError``.
    func loadImage(_ path: String) throws -> [Float] { try pipeline.loadImage(path) }
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
