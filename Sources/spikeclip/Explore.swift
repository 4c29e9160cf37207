import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SpikeCLIP
import TUI
import Visualize

/// Options shared by `explore` and `snapshot`.
struct ExplorerOptions: ParsableArguments {
    @Option(help: "SpikeCLIP checkpoint (default: assets/checkpoints/default.safetensors, else the parity fixture).")
    var checkpoint: String?

    @Option(help: "Assets folder (demo images, MiniLM).")
    var assets = "assets"

    @Flag(help: "Load the ANN text model even when its sha256 differs from the one the checkpoint names.")
    var ignoreAnnTextHash = false

    @Flag(help: "Plain ASCII glyphs (automatic when the locale is not UTF-8).")
    var ascii = false

    @Flag(help: "No colors (also when NO_COLOR is set).")
    var noColor = false

    @Option(parsing: .singleValue, help: "A class prompt (repeat for several; default: the checkpoint's classes).")
    var prompt: [String] = []

    @Option(parsing: .singleValue, help: "A prompt template with {} (repeat; default: the checkpoint's templates).")
    var template: [String] = []

    @Option(help: "A second checkpoint shown beside the first (ANN vs SNN, Energy and Spikes show both).")
    var compare: String?

    static let defaultCheckpoint = "assets/checkpoints/default.safetensors"
    static let fallbackCheckpoint = "Tests/Fixtures/tiny-default/model.safetensors"

    /// `checkpoint` if given, else the trained default, else the parity fixture with a note saying so.
    /// - Throws: ``UserError`` when no checkpoint is given and neither the default nor the fixture is found.
    static func resolve(_ checkpoint: String?) throws -> (path: String, note: String?) {
        if let checkpoint { return (checkpoint, nil) }
        if let path = findInRoots(defaultCheckpoint) { return (path, nil) }
        if let path = findInRoots(fallbackCheckpoint) {
            return (path, "the trained default \(defaultCheckpoint) was not found: using the random-weight parity fixture (prompts are token ids)")
        }
        throw UserError(description: "no --checkpoint given and \(defaultCheckpoint) is neither under the working directory nor in the source tree of this binary; pass --checkpoint PATH")
    }

    /// The project folders searched for default files, in order: the working directory, then the source tree this
    /// binary was built in (found by walking up from the executable, `.build/<triple>/<configuration>/spikeclip`), so
    /// the defaults work from any directory.
    static var searchRoots: [String] {
        var roots = [FileManager.default.currentDirectoryPath]
        guard var dir = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() else { return roots }
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                if dir.path != roots[0] { roots.append(dir.path) }
                break
            }
            dir.deleteLastPathComponent()
        }
        return roots
    }

    /// `relative` under the first search root holding it (kept relative for the working directory), or nil.
    static func findInRoots(_ relative: String) -> String? {
        for (i, root) in searchRoots.enumerated() {
            let path = (root as NSString).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: path) { return i == 0 ? relative : path }
        }
        return nil
    }

    /// The assets folder: `assets` as given when it exists or was given explicitly, else the default `assets`
    /// folder of the source tree.
    static func resolveAssets(_ assets: String) -> String {
        if assets != "assets" || FileManager.default.fileExists(atPath: assets) { return assets }
        return findInRoots("assets") ?? assets
    }

    var resolvedCheckpoint: (path: String, note: String?) { get throws { try Self.resolve(checkpoint) } }

    var glyphs: GlyphSet {
        if ascii { return .ascii }
        let env = ProcessInfo.processInfo.environment
        let locale = env["LC_ALL"].flatMap { $0.isEmpty ? nil : $0 } ?? env["LC_CTYPE"].flatMap { $0.isEmpty ? nil : $0 } ?? env["LANG"] ?? ""
        let utf8 = locale.lowercased().replacingOccurrences(of: "-", with: "").contains("utf8")
        return utf8 ? .braille : .ascii
    }

    var color: Bool { !noColor && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty }

    func makeExplorer() throws -> (Explorer, String?) {
        let (path, note) = try resolvedCheckpoint
        let explorer = try ExplorerSession.make(
            checkpoint: path, assets: Self.resolveAssets(assets), glyphs: glyphs, prompts: prompt.isEmpty ? nil : prompt,
            templates: template.isEmpty ? nil : template, verifyANNTextHash: !ignoreAnnTextHash, compare: compare)
        return (explorer, note)
    }
}

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The ncurses explorer: type class prompts, pick images, watch spikes, ANN vs SNN and energy.")

    @OptionGroup var options: ExplorerOptions

    func run() throws {
        try SpikeCLIPCommand.guarded {
            // Refuse an unusable terminal before the explorer exists: making it starts the first analysis on a
            // worker, and a process that exits while the worker is inside OpenBLAS crashes in OpenBLAS's exit
            // handler (TERM=dumb segfaulted in CI this way).
            try NcursesTerminal.preflight()
            let (explorer, note) = try options.makeExplorer()
            let terminal: NcursesTerminal
            do {
                terminal = try NcursesTerminal(color: options.color)
            } catch {
                printError("error: \(error)")
                Self.leave(1)
            }
            if let note { explorer.note(note) }
            explorer.run(on: terminal)
            terminal.end()
            Self.leave(0)
        }
    }

    /// Leaves at once, skipping exit-time cleanup: an analysis may still be running on the worker inside OpenBLAS,
    /// whose own exit handler then waits for it forever or crashes (q, Ctrl-C, SIGTERM or a dropped terminal while
    /// "computing...": found by a fresh-user trial). Nothing is left to save; stdio is flushed.
    static func leave(_ status: Int32) -> Never {
        fflush(nil)
        _exit(status)
    }
}

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one explorer frame as plain text (same code path as the explorer; no terminal needed).")

    @OptionGroup var options: ExplorerOptions

    @Option(help: "Frame size WIDTHxHEIGHT.")
    var size = "120x40"

    @Option(help: "Image file to show instead of the first demo image.")
    var image: String?

    @Option(help: "Panel to focus: prompts, image, spikes, compare, energy, anytime.")
    var focus: String?

    @Option(help: "Keys to type before the frame is taken, as a string (e.g. ']]v' picks the third layer's spatial map).")
    var keys = ""

    /// `--size` as (width, height), nil when malformed.
    var parsedSize: (width: Int, height: Int)? {
        let parts = size.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let w = parts[0], let h = parts[1] else { return nil }
        return (w, h)
    }

    func validate() throws {
        guard let s = parsedSize else { throw ValidationError("--size '\(quotedPreview(size))' is not WIDTHxHEIGHT (e.g. 120x40)") }
        guard (1...1000).contains(s.width), (1...1000).contains(s.height) else {
            throw ValidationError("--size \(s.width)x\(s.height): width and height must be 1-1000")
        }
        if let focus, PanelID.allCases.first(where: { "\($0)" == focus.lowercased() || $0.title.lowercased() == focus.lowercased() }) == nil {
            throw ValidationError("--focus '\(quotedPreview(focus))' is not one of: \(PanelID.allCases.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let parts = parsedSize.map { [$0.width, $0.height] } ?? [80, 24]  // checked in validate()
            let (explorer, note) = try options.makeExplorer()
            if let note { explorer.note(note) }
            if let image { try explorer.open(imagePath: image) }
            if let focus {
                if let panel = PanelID.allCases.first(where: { "\($0)" == focus.lowercased() || $0.title.lowercased() == focus.lowercased() }) {
                    explorer.focus(panel)  // validate() refused any other name
                }
            }
            explorer.settle()
            for ch in keys {
                _ = explorer.handle(.char(ch))
                explorer.settle()
            }
            let frame = explorer.frame(width: parts[0], height: parts[1])
            frame.lines.forEach { say($0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)) }
        }
    }
}

// MARK: - the explorer's latency lines of `spikeclip bench` (here, beside the explore command: the CLI's one TUI import)

/// Keypress-to-frame latency of the explorer at `width` x `height`: handling a key and rendering the whole frame
/// (what the input thread does before drawing), and keypress-to-updated-analysis for keys that recompute.
func benchExplorer(checkpoint: String, assets: String, iterations: Int, width: Int = 120, height: Int = 40) throws {
    let explorer = try ExplorerSession.make(checkpoint: checkpoint, assets: assets, glyphs: .braille)
    explorer.settle()
    let keys: [Key] = [.char("3"), .char("]"), .char("."), .char("v"), .char("o"), .char("4"), .char("c"), .char("5"), .char("u"), .tab]
    var frameMS: [Double] = []
    for i in 0..<(iterations * keys.count) {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(keys[i % keys.count])
        _ = explorer.frame(width: width, height: height)
        frameMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    var analysisMS: [Double] = []
    explorer.focus(.image)
    for i in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char(i % 2 == 0 ? "n" : "p"))  // new image -> new analysis
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        analysisMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    // Fashion-MNIST by index (n/p): the test set is read once, then each key is one record plus its analysis.
    var fashionMS: [Double] = []
    _ = explorer.handle(.char("s"))  // demo -> Fashion-MNIST
    explorer.settle()
    let fashion = explorer.image?.title.hasPrefix("Fashion-MNIST") == true
    for i in 0..<(fashion ? iterations : 0) {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char(i % 3 == 2 ? "p" : "n"))
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        fashionMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    _ = explorer.handle(.char("s")); _ = explorer.handle(.char("s"))  // back to the demo images
    explorer.settle()
    // Adding a class prompt (new text, so its M prompts miss the ANN text cache), then deleting it again.
    var promptMS: [Double] = []
    explorer.focus(.prompts)
    for i in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char("a"))
        for c in "wool scarf \(i)" { _ = explorer.handle(.char(c)) }
        _ = explorer.handle(.enter)
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        promptMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        _ = explorer.handle(.char("d"))
        explorer.settle()
    }
    // Toggling an intervention (issue 17): silence the Spikes panel's layer (a block's q_lif when there is one), then
    // switch it off and on; each toggle is a new analysis of the image with the unmodified model beside it.
    var toggleMS: [Double] = []
    explorer.focus(.spikes)
    for _ in 0..<6 { _ = explorer.handle(.char("]")) }
    explorer.focus(.interventions)
    _ = explorer.handle(.char("l"))
    explorer.settle()
    for _ in 0..<iterations {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = explorer.handle(.char(" "))
        explorer.settle()
        _ = explorer.frame(width: width, height: height)
        toggleMS.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    func p(_ xs: [Double], _ q: Double) -> Double {
        let s = xs.sorted()
        return s[min(s.count - 1, max(0, Int((Double(s.count) * q).rounded(.up)) - 1))]
    }
    func line(_ label: String, _ xs: [Double]) -> String {
        label.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: " p50 %8.3f ms   p95 %8.3f ms", p(xs, 0.5), p(xs, 0.95))
    }
    say(line("explorer keypress -> frame (\(width)x\(height))", frameMS))
    say(line("explorer new image -> updated frame", analysisMS))
    if fashion {
        say(line("explorer Fashion-MNIST n/p -> updated frame", fashionMS))
    } else {
        say("explorer Fashion-MNIST n/p -> updated frame: not run (apt-get install dataset-fashion-mnist)")
    }
    say(line("explorer add a class prompt -> updated frame", promptMS))
    say(line("explorer toggle an intervention -> updated frame", toggleMS))
}
