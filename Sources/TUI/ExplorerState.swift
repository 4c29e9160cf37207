import Foundation
import SpikeCLIP
import Visualize

/// The explorer's panels, in Tab order.
public enum PanelID: Int, CaseIterable, Sendable {
    case prompts, image, spikes, compare, energy, anytime

    public var title: String {
        switch self {
        case .prompts: return "Prompts"
        case .image: return "Image"
        case .spikes: return "Spikes"
        case .compare: return "ANN vs SNN"
        case .energy: return "Energy"
        case .anytime: return "Anytime"
        }
    }
}

/// What a key press asks of the loop.
public enum Effect: Equatable, Sendable {
    case none
    /// Redraw only.
    case redraw
    /// Inputs changed: recompute (and redraw).
    case recompute
    /// Load another image (the loop does the I/O and then recomputes).
    case loadImage
    /// List `directory` (off the input thread) into `directoryEntries`.
    case listDirectory
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
    public var convention: EnergyConvention = .paper
    public var energyScroll = 0

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
    public mutating func handle(_ key: Key, layers: Int, steps: Int, neurons: Int, prompts: Int = 1) -> Effect {
        if editBuffer != nil { return handleEditing(key) }
        if indexBuffer != nil { return handleIndexEntry(key) }
        if showHelp {
            if key == .char("q") { return .quit }
            showHelp = false
            return .redraw
        }
        switch key {
        case .char("q"): return .quit
        case .char("?"): showHelp = true; return .redraw
        case .tab: focus = PanelID(rawValue: (focus.rawValue + 1) % PanelID.allCases.count)!; return .redraw
        case .backTab: focus = PanelID(rawValue: (focus.rawValue + PanelID.allCases.count - 1) % PanelID.allCases.count)!; return .redraw
        case let .char(c) where ("1"..."6").contains(c):
            focus = PanelID(rawValue: Int(String(c))! - 1)!
            return .redraw
        case .char("g"):
            guard unicodeGlyphs else { message = "ASCII only: started with --ascii or a locale without UTF-8"; return .redraw }
            glyphs = GlyphSet.allCases[(GlyphSet.allCases.firstIndex(of: glyphs)! + 1) % GlyphSet.allCases.count]
            return .redraw
        case .resize: return .redraw
        default: break
        }
        switch focus {
        case .prompts: return handlePrompts(key)
        case .image: return handleImage(key)
        case .spikes: return handleSpikes(key, layers: layers, steps: steps, neurons: neurons, prompts: prompts)
        case .compare:
            switch key {
            case .char("c"): showSoftmax.toggle(); return .redraw
            case .down, .char("j"): compareScroll = min(max(0, classNames.count - 1), compareScroll + 1); return .redraw
            case .up, .char("k"): compareScroll = max(0, compareScroll - 1); return .redraw
            default: break
            }
        case .energy:
            switch key {
            case .char("u"): convention = convention == .paper ? .fuller : .paper; return .redraw
            case .down, .char("j"): energyScroll += 1; return .redraw
            case .up, .char("k"): energyScroll = max(0, energyScroll - 1); return .redraw
            default: break
            }
        case .anytime: break
        }
        return .none
    }

    mutating func handlePrompts(_ key: Key) -> Effect {
        // Switching lists first: each list keeps its own selection.
        if key == .char("m") { editingTemplates.toggle(); return .redraw }
        let editingTemplates = self.editingTemplates
        let count = editingTemplates ? templates.count : classNames.count
        var selected = min(max(0, count - 1), editingTemplates ? selectedTemplate : selectedClass)
        defer { if editingTemplates { selectedTemplate = selected } else { selectedClass = selected } }
        switch key {
        case .down, .char("j"): selected = min(max(0, count - 1), selected + 1); return .redraw
        case .up, .char("k"): selected = max(0, selected - 1); return .redraw
        case .char("t"): ensemble.toggle(); return .recompute
        case .char("a"): editBuffer = ""; editIndex = nil; return .redraw
        case .char("e"), .enter:
            guard count > 0 else { return .none }
            editBuffer = editingTemplates ? templates[selected] : classNames[selected]
            editIndex = selected
            return .redraw
        case .char("d"), .delete:
            guard count > 1 else { message = "keep at least one \(editingTemplates ? "template" : "class prompt")"; return .redraw }
            if editingTemplates { templates.remove(at: selected) } else { classNames.remove(at: selected) }
            selected = min(selected, count - 2)
            return .recompute
        default: return .none
        }
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

    mutating func handleImage(_ key: Key) -> Effect {
        switch key {
        case .char("s"):
            source = ImageSourceKind.allCases[(ImageSourceKind.allCases.firstIndex(of: source)! + 1) % ImageSourceKind.allCases.count]
            if source == .directory { return .listDirectory }
            return .loadImage
        default: break
        }
        switch source {
        case .demo:
            switch key {
            case .char("n"), .right, .down: demoIndex += 1; return .loadImage
            case .char("p"), .left, .up: demoIndex -= 1; return .loadImage
            default: return .none
            }
        case .fashionMNIST:
            switch key {
            case .char("n"), .right: fashionIndex += 1; return .loadImage
            case .char("p"), .left: fashionIndex -= 1; return .loadImage
            case .char("N"), .down, .pageDown: fashionIndex += 100; return .loadImage
            case .char("P"), .up, .pageUp: fashionIndex -= 100; return .loadImage
            case .char("i"): indexBuffer = ""; return .redraw
            default: return .none
            }
        case .directory:
            switch key {
            case .down, .char("j"): directorySelection = min(directoryEntries.count - 1, directorySelection + 1); return .redraw
            case .up, .char("k"): directorySelection = max(0, directorySelection - 1); return .redraw
            case .backspace: enter(".."); return .listDirectory
            case .enter, .char("o"):
                guard directoryEntries.indices.contains(directorySelection) else { return .none }
                let entry = directoryEntries[directorySelection]
                if entry.isDirectory { enter(entry.name); return .listDirectory }
                chosenFile = (directory as NSString).appendingPathComponent(entry.name)
                return .loadImage
            default: return .none
            }
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

    mutating func handleSpikes(_ key: Key, layers: Int, steps: Int, neurons: Int, prompts: Int) -> Effect {
        let p = max(1, prompts)
        switch key {
        case .char("n"): textPrompt = (min(textPrompt, p - 1) + 1) % p; return .recomputeIfMembrane(spikeView)
        case .char("N"): textPrompt = (min(textPrompt, p - 1) + p - 1) % p; return .recomputeIfMembrane(spikeView)
        case .char("]"), .char("l"): layerIndex = min(layers - 1, layerIndex + 1); neuronOffset = 0; traceNeuron = 0; return .recomputeIfMembrane(spikeView)
        case .char("["), .char("h"): layerIndex = max(0, layerIndex - 1); neuronOffset = 0; traceNeuron = 0; return .recomputeIfMembrane(spikeView)
        case .char("."), .right: step = (step + 1) % max(1, steps); return .redraw
        case .char(","), .left: step = (step + max(1, steps) - 1) % max(1, steps); return .redraw
        case .char(" "), .char("p"): playing.toggle(); return .redraw
        case .down, .char("j"): neuronOffset = min(max(0, neurons - 1), neuronOffset + 4); return .redraw
        case .up, .char("k"): neuronOffset = max(0, neuronOffset - 4); return .redraw
        case .pageDown: neuronOffset = min(max(0, neurons - 1), neuronOffset + 64); return .redraw
        case .pageUp: neuronOffset = max(0, neuronOffset - 64); return .redraw
        case .char("o"): orderByActivity.toggle(); neuronOffset = 0; return .redraw
        case .char("v"):
            spikeView = SpikeView.allCases[(SpikeView.allCases.firstIndex(of: spikeView)! + 1) % SpikeView.allCases.count]
            return spikeView == .membrane ? .recompute : .redraw
        case .char("+"), .char("="): traceNeuron = min(max(0, neurons - 1), traceNeuron + 1); return .recomputeIfMembrane(spikeView)
        case .char("-"): traceNeuron = max(0, traceNeuron - 1); return .recomputeIfMembrane(spikeView)
        default: return .none
        }
    }
}

extension Effect {
    /// Membrane traces are recorded on request, so changing the traced neuron needs a new forward pass.
    static func recomputeIfMembrane(_ view: SpikeView) -> Effect { view == .membrane ? .recompute : .redraw }
}
