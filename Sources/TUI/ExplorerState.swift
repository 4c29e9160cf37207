import Foundation
import SpikeCLIP
import Visualize

/// What a key press asks of the loop.
public enum Effect: Equatable, Sendable {
    case none
    /// Redraw only.
    case redraw
    /// Inputs changed: recompute (and redraw).
    case recompute
    /// Load another image (the loop does the I/O and then recomputes).
    case loadImage
    /// Write a probe card of what is on screen (issue 18, `C`).
    case writeCard
    /// Compute the lesion view in the background (issue 17).
    case startLesion
    /// Compute a sweep over the image on screen in the background (issue 17).
    case startSweep(ProbeKind)
    /// List `directory` (off the input thread) into `directoryEntries`.
    case listDirectory
    /// Load the checkpoint at this path (off the input thread) and show it beside the first (issue 17).
    case loadComparison(String)
    /// Stop showing the second checkpoint.
    case closeComparison
    case quit
}

/// How the Spikes panel draws the selected layer.
public enum SpikeView: String, Sendable, CaseIterable {
    case raster, spatial = "spatial map", heatmap = "layer x step rates", membrane = "membrane trace"
}

/// The explorer's whole UI state: a plain value, changed only by ``handle(_:)``.
public struct ExplorerState: Sendable {
    public var focus: PanelID = .prompts
    public var showHelp = false
    /// First help line shown when the overlay is taller than the terminal (j/k scroll it).
    public var helpScroll = 0
    public var glyphs: GlyphSet

    // Prompts panel.
    public var classNames: [String]
    public var templates: [String]
    public var ensemble = true
    /// Editing the template list instead of the class list.
    public var editingTemplates = false
    public var selectedClass = 0
    public var selectedTemplate = 0
    /// Text being typed (nil when not editing); `editIndex` nil means a new entry.
    public var editBuffer: String?
    public var editIndex: Int?

    // Image panel.
    public var source: ImageSourceKind = .demo
    public var demoIndex = 0
    public var fashionIndex = 0
    public var directory: String
    public var directoryEntries: [DirectoryEntry] = []
    public var directorySelection = 0
    /// File chosen in the browser (loaded by the loop).
    public var chosenFile: String?
    /// Digits typed after `i` (go to a Fashion-MNIST index); nil when not entering one.
    public var indexBuffer: String?
    /// An index just typed, not yet checked against the test set (n/p wrap around; a typed index does not).
    public var typedIndex: Int?

    // Spikes panel.
    public var layerIndex = 0
    public var step = 0
    public var playing = false
    public var neuronOffset = 0
    /// Neurons sorted by spike count (most active first) instead of by index; `o` toggles.
    public var orderByActivity = false
    public var spikeView: SpikeView = .raster
    public var traceNeuron = 0
    /// Which expanded prompt (class-major: prompt `c * M + m`) the text-encoder layers show; `n` / `N` cycle it.
    public var textPrompt = 0

    // ANN vs SNN and Energy panels.
    public var showSoftmax = false
    /// First class row of the ANN vs SNN table when the classes do not fit.
    public var compareScroll = 0
    /// The focused panel alone on a screen large enough to tile (`z`, as tmux's zoom).
    public var zoomed = false
    /// With a second checkpoint: its spiking columns in ANN vs SNN in place of the ANN's (`b` toggles).
    public var compareSecondColumns = true
    public var convention: EnergyConvention = .paper
    public var energyScroll = 0

    // Interventions panel (issue 17).
    /// Interventions added, each with its on/off switch; the analysis applies the ones switched on.
    public var interventions: [(intervention: Intervention, enabled: Bool)] = []
    public var interventionSelection = 0
    /// Stop the spiking forward pass after this many steps (nil: all T).
    public var interventionSteps: Int?
    /// The lesion view: shown instead of the list, its rows (filled in by the loop), sorted by drop or in forward order.
    public var showLesion = false
    public var lesion: LesionState?
    public var lesionByDrop = true
    /// First row shown in the lesion and sweep tables (j/k when they do not fit).
    public var lesionScroll = 0

    /// What the analysis applies: the interventions switched on and the step limit.
    public var activeInterventions: InterventionSet {
        InterventionSet(interventions.filter(\.enabled).map(\.intervention), steps: interventionSteps)
    }

    // Teaching and sharing (issue 18).
    /// Presenter mode: one panel at a time with a large title, an explanation and a narration line (`Z`, `--present`).
    public var presenting = false
    /// `/` search in the focused panel's list: being typed, or done (n/N step through its matches, Esc ends it).
    public var search: Search?
    /// Mouse reporting on (`--mouse`, the config file, `M`).
    public var mouse = false
    /// Key remaps from the config file: pressing the key acts as the other (never while typing text).
    public var keyMap: [Character: Key] = [:]

    /// A `/` search: its text, whether it is still being typed, the panel whose list it searches, and the selection
    /// before it started (Esc while typing goes back there).
    public struct Search: Sendable, Equatable {
        public var query = ""
        public var typing = true
        public var panel: PanelID
        public var origin: Int
    }

    /// Increases whenever inputs change; the worker's results carry it.
    public var generation = 0
    /// A one-line message for the status bar (errors, hints).
    public var message: String?

    /// False when the session started in ASCII (`--ascii` or a locale without UTF-8): `g` then keeps ASCII.
    public var unicodeGlyphs: Bool

    public init(classNames: [String], templates: [String], glyphs: GlyphSet, directory: String) {
        self.classNames = classNames
        self.templates = templates
        self.glyphs = glyphs
        self.unicodeGlyphs = glyphs != .ascii
        self.directory = directory
    }

    /// Longest prompt or template that can be typed, in Characters (far above any context length L).
    public static let maxPromptLength = 500

    /// Handles one key. `layers` is the number of LIF layers, `steps` is T, `neurons` the selected layer's neurons per
    /// item, `prompts` the number of expanded prompts (classes x templates in use) the text layers recorded.
    public mutating func handle(_ key: Key, layers: Int, steps: Int, neurons: Int, prompts: Int = 1,
                                layerName: String = "", layerShape: [Int] = [], heads: Int? = nil, layerNames: [String] = []) -> Effect {
        if editBuffer != nil { return handleEditing(key) }
        if indexBuffer != nil { return handleIndexEntry(key) }
        let input = PanelInput(layers: layers, steps: steps, neurons: neurons, prompts: prompts, layerName: layerName,
                               layerShape: layerShape, heads: heads, layerNames: layerNames)
        if search?.typing == true { return handleSearchTyping(key, input) }
        var key = key
        if case let .char(c) = key, let mapped = keyMap[c] { key = mapped }
        if search != nil {
            switch key {
            case .char("n"), .char("N"): return stepSearch(forward: key == .char("n"), input)
            case .escape: search = nil; return .redraw
            case .char("/"): break
            default: search = nil  // any other key ends the search and acts as usual
            }
        }
        if showHelp {
            switch key {
            case .char("q"): return .quit
            case .down, .char("j"): helpScroll += 1
            case .up, .char("k"): helpScroll = max(0, helpScroll - 1)
            default: showHelp = false; helpScroll = 0
            }
            return .redraw
        }
        switch key {
        case .char("q"): return .quit
        case .char("?"): showHelp = true; return .redraw
        case .tab: focus = PanelID.allCases[(focus.rawValue + 1) % PanelID.allCases.count]; return .redraw
        case .backTab: focus = PanelID.allCases[(focus.rawValue + PanelID.allCases.count - 1) % PanelID.allCases.count]; return .redraw
        case let .char(c) where c.isASCII && c.isNumber && (1...PanelID.allCases.count).contains(Int(String(c)) ?? 0):
            focus = PanelID.allCases[Int(String(c))! - 1]
            return .redraw
        case .char("z"): zoomed.toggle(); return .redraw
        case .char("Z"): presenting.toggle(); return .recompute  // presenting records the traced neuron's potential
        case .char("M"): mouse.toggle(); message = "mouse \(mouse ? "on: click tabs and list rows, wheel scrolls" : "off")"; return .redraw
        case .char("C"): return .writeCard
        case .char("/"): return startSearch(input)
        case let .char(c) where presenting && (c == "," || c == "."):
            let t = max(1, steps)
            step = (step + (c == "." ? 1 : t - 1)) % t
            return .redraw
        case .char("g"):
            guard unicodeGlyphs else { message = "ASCII only: started with --ascii or a locale without UTF-8"; return .redraw }
            glyphs = GlyphSet.allCases[(GlyphSet.allCases.firstIndex(of: glyphs)! + 1) % GlyphSet.allCases.count]
            return .redraw
        case .resize: return .redraw
        default: break
        }
        return ExplorerPanels.panel(focus).handle(key, &self, input) ?? .none
    }

    // MARK: - `/` search (issue 18)

    /// Indices of `items` containing `query`, ignoring case.
    static func matches(_ query: String, in items: [String]) -> [Int] {
        guard !query.isEmpty else { return [] }
        return items.indices.filter { items[$0].range(of: query, options: [.caseInsensitive, .diacriticInsensitive]) != nil }
    }

    mutating func startSearch(_ input: PanelInput) -> Effect {
        let panel = ExplorerPanels.panel(focus)
        guard let list = panel.list(self, input) else {
            message = "/ searches the class and template lists (Prompts), the layers (Spikes) and a directory (Image)"
            return .redraw
        }
        search = Search(panel: focus, origin: list.selected)
        message = "/_  type to search, Enter keeps it, Esc cancels"
        return .redraw
    }

    mutating func handleSearchTyping(_ key: Key, _ input: PanelInput) -> Effect {
        guard var s = search else { return .none }
        let panel = ExplorerPanels.panel(s.panel)
        guard let list = panel.list(self, input) else { search = nil; return .redraw }
        switch key {
        case .escape:
            search = nil
            return panel.select(min(s.origin, max(0, list.items.count - 1)), &self, input)
        case .enter:
            let found = Self.matches(s.query, in: list.items)
            guard !found.isEmpty else { search = nil; message = s.query.isEmpty ? nil : "no match for '\(terminalSafe(s.query))'"; return .redraw }
            s.typing = false
            search = s
            let at = (found.firstIndex(of: list.selected) ?? 0) + 1
            message = "match \(at)/\(found.count) for '\(terminalSafe(s.query))'  n/N next/previous, Esc ends"
            return .redraw
        case .backspace:
            if !s.query.isEmpty { s.query.removeLast() }
        case let .char(c):
            guard !c.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }), s.query.count < 100 else { return .none }
            s.query.append(c)
        default: return .none
        }
        search = s
        // Incremental: the first match from where the search started.
        let found = Self.matches(s.query, in: list.items)
        let next = found.first { $0 >= s.origin } ?? found.first
        message = "/\(terminalSafe(s.query))_  " + (s.query.isEmpty ? "type to search" : found.isEmpty ? "no match" : "\(found.count) match\(found.count == 1 ? "" : "es")") + ", Enter keeps it, Esc cancels"
        return panel.select(next ?? min(s.origin, max(0, list.items.count - 1)), &self, input)
    }

    mutating func stepSearch(forward: Bool, _ input: PanelInput) -> Effect {
        guard let s = search else { return .none }
        let panel = ExplorerPanels.panel(s.panel)
        guard let list = panel.list(self, input) else { search = nil; return .redraw }
        let found = Self.matches(s.query, in: list.items)
        guard !found.isEmpty else { search = nil; return .redraw }
        let next = forward ? (found.first { $0 > list.selected } ?? found[0]) : (found.last { $0 < list.selected } ?? found[found.count - 1])
        message = "match \((found.firstIndex(of: next) ?? 0) + 1)/\(found.count) for '\(terminalSafe(s.query))'  n/N next/previous, Esc ends"
        return panel.select(next, &self, input)
    }

    mutating func handleEditing(_ key: Key) -> Effect {
        switch key {
        case .escape: editBuffer = nil; editIndex = nil; return .redraw
        case .enter:
            let text = (editBuffer ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            editBuffer = nil
            defer { editIndex = nil }
            guard !text.isEmpty else { message = "empty prompt not added"; return .redraw }
            if editingTemplates {
                if let i = editIndex { templates[i] = text } else { templates.append(text); selectedTemplate = templates.count - 1 }
            } else {
                if let i = editIndex { classNames[i] = text } else { classNames.append(text); selectedClass = classNames.count - 1 }
            }
            return .recompute
        case .backspace: if !(editBuffer ?? "").isEmpty { editBuffer!.removeLast() }; return .redraw
        case let .char(c):
            // Control characters and escape sequences are never inserted (they would reach the terminal raw).
            guard !c.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return .none }
            if (editBuffer ?? "").count < Self.maxPromptLength {
                editBuffer!.append(c)
            } else {
                message = "a prompt holds at most \(Self.maxPromptLength) characters"
            }
            return .redraw
        default: return .none
        }
    }

    /// Typing a Fashion-MNIST index after `i`: digits, Backspace, Enter to go, Esc to cancel.
    mutating func handleIndexEntry(_ key: Key) -> Effect {
        switch key {
        case let .char(c) where c.isASCII && c.isNumber:
            if (indexBuffer ?? "").count < 6 { indexBuffer!.append(c) }
            return .redraw
        case .backspace: if !(indexBuffer ?? "").isEmpty { indexBuffer!.removeLast() }; return .redraw
        case .enter:
            defer { indexBuffer = nil }
            guard let n = Int(indexBuffer ?? "") else { return .redraw }
            typedIndex = n  // checked against the test set's size by the loop
            return .loadImage
        case .escape: indexBuffer = nil; return .redraw
        default: return .none
        }
    }

    mutating func enter(_ name: String) {
        let next = name == ".." ? (directory as NSString).deletingLastPathComponent : (directory as NSString).appendingPathComponent(name)
        directory = next.isEmpty ? "/" : (next as NSString).standardizingPath
        directorySelection = 0
    }

}

extension ExplorerState {
    /// Membrane traces are recorded on request (the membrane view, presenter mode), so changing the traced neuron
    /// or its layer then needs a new forward pass.
    var traceEffect: Effect { spikeView == .membrane || presenting ? .recompute : .redraw }
}
