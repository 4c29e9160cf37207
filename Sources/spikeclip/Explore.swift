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

    @Option(help: "Kernels: event (default: events on spikes, BLAS elsewhere), blas or reference (docs/PERFORMANCE.md).")
    var kernels: KernelMode = .fastest

    @Option(help: "Settings file (default: $XDG_CONFIG_HOME/spikeclip/config.toml, else ~/.config/spikeclip/config.toml).")
    var config: String?

    @Flag(help: "Ignore the settings file: start with the defaults.")
    var noConfig = false

    @Option(help: "Colour theme: dark, light or monochrome (default: the settings file's, else dark).")
    var theme: Theme?

    @Flag(inversion: .prefixedNo, help: "Mouse: click tabs and list rows, wheel scrolls (default: the settings file's, else off).")
    var mouse: Bool?

    @Flag(help: "Start in presenter mode: one panel at a time, explained (Z toggles).")
    var present = false

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

    /// The settings file's contents (none with `--no-config`; a missing default file is no error, a missing
    /// `--config` file is). - Throws: ``ConfigError``, one line naming the file and the key.
    func loadConfig() throws -> ExplorerConfig {
        if noConfig { return ExplorerConfig() }
        guard let path = config ?? ExplorerConfig.defaultPath() else { return ExplorerConfig() }
        return try ExplorerConfig.load(path: path, mustExist: config != nil)
    }

    /// The explorer for these options and `settings` (command-line options win over the settings file).
    func makeExplorer(settings: ExplorerConfig = ExplorerConfig()) throws -> (Explorer, String?) {
        let (path, note) = try Self.resolve(checkpoint ?? settings.checkpoint)
        let chosen: GlyphSet = ascii || glyphs == .ascii ? .ascii : settings.glyphs ?? glyphs
        let explorer = try ExplorerSession.make(
            checkpoint: path, assets: Self.resolveAssets(assets), glyphs: chosen, prompts: prompt.isEmpty ? nil : prompt,
            templates: template.isEmpty ? nil : template, verifyANNTextHash: !ignoreAnnTextHash, compare: compare, kernels: kernels)
        explorer.update { state in
            state.keyMap = settings.keys
            state.mouse = mouse ?? settings.mouse
            state.presenting = present
            if let dir = settings.imageDirectory { state.directory = dir }
        }
        return (explorer, note)
    }

    /// The theme drawn: `--theme`, else the settings file's; monochrome without colors (`--no-color`, NO_COLOR).
    func chosenTheme(_ settings: ExplorerConfig) -> Theme { color ? theme ?? settings.theme : .monochrome }
}

extension Theme: ExpressibleByArgument {}

struct Explore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The ncurses explorer: type class prompts, pick images, watch spikes, ANN vs SNN and energy.")

    @OptionGroup var options: ExplorerOptions

    @Flag(help: "Cap redraws at two frames a second for slow links (keys still act at once).")
    var slow = false

    @Flag(help: "No drawing: read keys from standard input and print one line per change of state (logs, screen readers, scripts).")
    var plain = false

    @Option(help: "Write every input, the state it changed and the frame it drew to this file (JSON lines; see 'spikeclip replay').")
    var record: String?

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let settings = try options.loadConfig()
            if plain {
                let (explorer, note) = try options.makeExplorer(settings: settings)
                if let note { explorer.note(note) }
                explorer.runPlain(keys: StandardInputKeys(), output: { say($0) })
                Self.leave(0)
            }
            // Refuse an unusable terminal before the explorer exists: making it starts the first analysis on a
            // worker, and a process that exits while the worker is inside OpenBLAS crashes in OpenBLAS's exit
            // handler (TERM=dumb segfaulted in CI this way).
            try NcursesTerminal.preflight()
            let (explorer, note) = try options.makeExplorer(settings: settings)
            if slow || settings.slow { explorer.minFrameIntervalMS = 500 }
            let recorder = try record.map { path in
                try SessionRecorder(path: path, header: try sessionHeader(explorer, note: note))
            }
            let terminal: NcursesTerminal
            do {
                terminal = try NcursesTerminal(color: options.color, theme: options.chosenTheme(settings), mouse: explorer.state.mouse)
            } catch {
                printError("error: \(error)")
                Self.leave(1)
            }
            if let note { explorer.note(note) }
            explorer.recorder = recorder
            explorer.run(on: terminal)
            terminal.end()
            if let recorder { say("recorded the session to \(recorder.path) (spikeclip replay \(recorder.path))") }
            Self.leave(0)
        }
    }

    /// What `spikeclip replay` needs to rebuild this explorer.
    func sessionHeader(_ explorer: Explorer, note: String?) throws -> SessionRecord.Header {
        let (path, _) = try ExplorerOptions.resolve(options.checkpoint ?? (try options.loadConfig()).checkpoint)
        let s = explorer.state
        var keys: [String: String] = [:]
        for (c, k) in s.keyMap { keys[String(c)] = k.name }
        return SessionRecord.Header(
            checkpoint: path, checkpointSHA256: try sha256Hex(path: path), assets: ExplorerOptions.resolveAssets(options.assets),
            prompts: options.prompt.isEmpty ? nil : options.prompt, templates: options.template.isEmpty ? nil : options.template,
            compare: options.compare, glyphs: s.glyphs.rawValue, directory: s.directory, presenting: s.presenting, mouse: s.mouse,
            keys: keys, note: note)
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
    var parsedSize: (width: Int, height: Int)? { parseFrameSize(size) }

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
            let (explorer, note) = try options.makeExplorer(settings: try options.loadConfig())
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

/// `spikeclip replay`: rebuilds a recorded session and compares every frame with the record.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a session recorded with 'explore --record FILE' frame by frame and check each frame against the record.")

    @Argument(help: "The session record (JSON lines).")
    var file: String

    @Option(help: "Frame size WIDTHxHEIGHT instead of the recorded sizes (frames are then not compared).")
    var size: String?

    @Flag(help: "Print only the summary, not the frames.")
    var quiet = false

    @Option(help: "Assets folder (default: the one recorded).")
    var assets: String?

    func validate() throws {
        if let size {
            guard let s = parseFrameSize(size), (1...1000).contains(s.width), (1...1000).contains(s.height) else {
                throw ValidationError("--size '\(quotedPreview(size))' is not WIDTHxHEIGHT with 1-1000 each (e.g. 80x24)")
            }
        }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let (header, events) = try SessionRecord.read(file)
            guard FileManager.default.fileExists(atPath: header.checkpoint) else {
                throw UserError(description: "\(file): the recorded checkpoint \(header.checkpoint) is not here")
            }
            let sha = try sha256Hex(path: header.checkpoint)
            guard sha == header.checkpointSHA256 else {
                throw UserError(description: "\(file): \(header.checkpoint) has sha256 \(sha), the record was made with \(header.checkpointSHA256)")
            }
            guard let glyphs = GlyphSet(rawValue: header.glyphs) else { throw UserError(description: "\(file):1: unknown glyphs '\(quotedPreview(header.glyphs))'") }
            let explorer = try ExplorerSession.make(
                checkpoint: header.checkpoint, assets: assets ?? header.assets, glyphs: glyphs, prompts: header.prompts, templates: header.templates,
                compare: header.compare)
            var keys: [Character: Key] = [:]
            for (from, to) in header.keys {
                guard from.count == 1, let c = from.first, let k = Key(name: to) else { throw UserError(description: "\(file):1: bad key remap '\(quotedPreview(from))'") }
                keys[c] = k
            }
            explorer.update { s in
                s.directory = header.directory
                s.presenting = header.presenting
                s.mouse = header.mouse
                s.keyMap = keys
            }
            if let note = header.note { explorer.note(note) }
            let forced = size.flatMap(parseFrameSize)
            let frames = explorer.replay(events, size: forced)
            var differ: [Int] = []
            for (e, frame) in zip(events, frames) {
                let same = forced == nil && e.frameSHA256 == SessionRecord.hash(frame.lines)
                if forced == nil && !same { differ.append(e.n) }
                if !quiet {
                    say("-- event \(e.n): \(e.input)" + (forced != nil ? "" : same ? " (frame as recorded)" : " (FRAME DIFFERS from the record)"))
                    frame.lines.forEach { say($0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)) }
                }
            }
            let framed = events.filter { $0.frameSHA256 != nil }.count
            if forced != nil {
                say("replayed \(frames.count) of \(events.count) events at \(forced!.width)x\(forced!.height) (frames not compared: the record is at other sizes)")
            } else if differ.isEmpty {
                say("replayed \(frames.count) of \(events.count) events: all \(min(framed, frames.count)) frames identical to the record")
            } else {
                say("replayed \(frames.count) of \(events.count) events: \(differ.count) frames differ from the record (first: event \(differ[0]))")
                throw ExitCode(1)
            }
        }
    }

}

/// `WIDTHxHEIGHT` (`snapshot --size`, `replay --size`) as numbers, nil when it is not two integers around an `x`.
func parseFrameSize(_ s: String) -> (width: Int, height: Int)? {
    let parts = s.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
    guard parts.count == 2, let w = parts[0], let h = parts[1] else { return nil }
    return (w, h)
}

/// `spikeclip card`: the probe card of one image against class prompts (the explorer's `C` writes the same).
struct Card: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a probe card (Markdown, JSON, raster and spatial map as PNG and SVG) of one image against class prompts.")

    @OptionGroup var options: ExplorerOptions

    @Option(help: "Image file: PNG, JPEG, PGM/PPM or IDX.")
    var image: String

    @Option(help: "Output folder (created; refused when it exists unless --force).")
    var out: String

    @Flag(help: "Replace an existing probe card folder.")
    var force = false

    @Option(help: "Spiking layer drawn in the raster (default: the first, as in the explorer; see 'spikeclip inspect').")
    var layer: String?

    @Flag(help: "Print card.json on stdout.")
    var json = false

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let (explorer, note) = try options.makeExplorer(settings: try options.loadConfig())
            try explorer.open(imagePath: image)
            if let layer {
                guard let i = explorer.layerNames.firstIndex(of: layer) else {
                    throw UserError(description: "--layer '\(quotedPreview(layer))' is not a spiking layer of this model; known: \(explorer.layerNames.joined(separator: ", "))")
                }
                explorer.update { $0.layerIndex = i }
            }
            explorer.settle()
            if let error = explorer.error { throw UserError(description: error) }
            try explorer.writeCard(to: out, force: force)
            if json {
                say(try String(contentsOfFile: (out as NSString).appendingPathComponent("card.json"), encoding: .utf8).trimmingCharacters(in: .newlines))
                return
            }
            if let note { say("note: \(note)") }
            say("wrote probe card \(out)/: card.md, card.json, raster.png, raster.svg, spatial.png, spatial.svg")
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
    func p(_ xs: [Double], _ q: Double) -> Double { Timing.quantile(xs, q) }
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
