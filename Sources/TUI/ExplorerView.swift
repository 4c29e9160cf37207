import Foundation
import SpikeCLIP
import Visualize

/// Everything a frame shows besides the state and the analysis.
public struct FrameContext: Sendable {
    public var analysis: Analysis?
    /// True while the worker computes a newer generation than `analysis`.
    public var computing: Bool
    public var image: ImageInput?
    /// The model's layer graphs (image encoder, then text encoder).
    public var graphs: [LayerGraph]
    /// The spiking layers in forward order.
    public var layerNames: [String] { graphs.flatMap(\.neuronLayers).map(\.name) }
    public var contextLength: Int
    /// Token use of a prompt (for the live counter).
    public var tokens: @Sendable (String) -> PromptTokens
    public var checkpointName: String
    public var error: String?
    /// Show the computation time in the status line (off for snapshots).
    public var showTimings = true

    public init(analysis: Analysis?, computing: Bool, image: ImageInput?, graphs: [LayerGraph], contextLength: Int,
                tokens: @escaping @Sendable (String) -> PromptTokens, checkpointName: String, error: String?) {
        self.analysis = analysis
        self.computing = computing
        self.image = image
        self.graphs = graphs
        self.contextLength = contextLength
        self.tokens = tokens
        self.checkpointName = checkpointName
        self.error = error
    }
}

/// Draws the explorer: a pure function from state and context to a cell grid (snapshot-tested, no terminal).
public enum ExplorerView {
    /// Smallest usable terminal.
    public static let minimumSize = (width: 60, height: 16)
    /// From this size on, panels are tiled instead of switched.
    public static let tiledSize = (width: 120, height: 36)

    public static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var grid = CellGrid(width: width, height: height)
        guard width >= minimumSize.width, height >= minimumSize.height else {
            let lines = ["Terminal too small", "current \(width)x\(height)", "needed \(minimumSize.width)x\(minimumSize.height)", "q: quit"]
            for (i, l) in lines.enumerated() where i < height { grid.put(String(l.prefix(width)), x: 0, y: i, role: i == 0 ? .warning : .normal) }
            return grid
        }
        let ascii = state.glyphs == .ascii
        drawTabs(&grid, state, width: width)
        for box in layout(state, ctx, width: width, height: height) {
            place(&grid, box.id, state, ctx, x: box.x, y: box.y, w: box.w, h: box.h, ascii: ascii)
        }
        if state.presenting { drawPresenter(&grid, state, ctx, width: width, height: height, ascii: ascii) }
        drawStatus(&grid, state, ctx, width: width, y: height - 1)
        if state.showHelp { drawHelp(&grid, width: width, height: height, scroll: state.helpScroll, ascii: ascii) }
        if ascii {
            // ASCII terminals: cut marks as `~`, everything else that is not ASCII (user text in CJK, emoji,
            // accented letters) as `?`, one per column, so the layout is the UTF-8 one.
            grid.replace(cutMark, with: "~")
            grid.restrictToASCII()
        }
        return grid
    }

    /// Where each panel on screen goes, as boxes (the inside is one cell in from each edge): the focused panel alone
    /// (below 120x36, zoomed, or presenting), or the tiled columns. Drawing and mouse clicks both use it.
    public static func layout(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> [(id: PanelID, x: Int, y: Int, w: Int, h: Int)] {
        guard width >= minimumSize.width, height >= minimumSize.height else { return [] }
        let body = (x: 0, y: 1, w: width, h: height - 2)
        if state.presenting {
            // Title row above; the explanation box below.
            let notes = presenterNotes(state, ctx, width: width - 4, height: height)
            return [(state.focus, 0, 2, width, max(3, height - 3 - (notes.count + 2)))]
        }
        guard width >= tiledSize.width && height >= tiledSize.height && !state.zoomed else {
            return [(state.focus, body.x, body.y, body.w, body.h)]
        }
        // Two columns, each panel where its `tile` says, in registry order (the left column a third wide).
        var boxes: [(id: PanelID, x: Int, y: Int, w: Int, h: Int)] = []
        let left = min(44, width / 3)
        for (column, x, w) in [(Tile.Column.left, 0, left), (.right, left, width - left)] {
            let panels = ExplorerPanels.all.filter { $0.tile.column == column }
            var heights = panels.map { $0.tile.height(body.h, ctx, state) }
            let rest = max(0, body.h - heights.reduce(0) { $0 + ($1 ?? 0) })
            let flexible = heights.filter { $0 == nil }.count
            heights = heights.map { $0 ?? rest / max(1, flexible) }
            var y = body.y
            for (panel, h) in zip(panels, heights) where h! >= 3 {  // a panel with no rows now (Interventions unused) is left out
                boxes.append((panel.id, x, y, w, h!))
                y += h!
            }
        }
        return boxes
    }

    // MARK: - presenter mode (issue 18)

    /// The explanation box's lines: the focused panel's explanation wrapped to `width` (at most 4 lines, fewer on a
    /// short screen), then the narration line of the time step shown.
    static func presenterNotes(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> [String] {
        let most = height >= 30 ? 4 : height >= 20 ? 3 : 2
        var lines = ExplorerPanels.panel(state.focus).explanation(state, ctx).flatMap { wrap(terminalSafe($0), width: width) }
        if lines.count > most {
            lines = Array(lines.prefix(most))
            let last = lines[most - 1]  // cut, with the mark
            lines[most - 1] = displayWidth(last) <= width - 2 ? last + " " + String(cutMark) : displayPrefix(last, columns: width - 1) + String(cutMark)
        }
        return lines + [narration(state, ctx)]
    }

    /// One line on the time step shown: what the Spikes panel's layer did at it and what the readout says after it.
    static func narration(_ state: ExplorerState, _ ctx: FrameContext) -> String {
        guard let a = ctx.analysis, !ctx.layerNames.isEmpty else { return "t: waiting for the analysis" }
        let name = ctx.layerNames[min(state.layerIndex, ctx.layerNames.count - 1)]
        guard let layer = a.visionRecording[name] ?? a.textRecording[name] else { return "" }
        let t = min(state.step, layer.steps - 1)
        let item = a.textRecording[name] != nil ? min(state.textPrompt, max(0, layer.batch - 1)) : 0
        let fired = layer.spikeCount(step: t, item: item)
        // Most important first: a narrow screen cuts the end.
        var line = "t=\(t + 1)/\(layer.steps): " + String(format: "%.1f%%", Double(fired) * 100 / Double(max(1, layer.neuronsPerItem)))
            + " of \(name.hasPrefix("vision.") ? String(name.dropFirst(7)) : name) fired"
        if a.anytime.indices.contains(t) {
            let p = a.anytime[t], k = p.indices.max { p[$0] < p[$1] } ?? 0
            line += "; readout after t=\(t + 1): \(a.classNames[k]) " + String(format: "%.2f", p[k])
        }
        return line + " (\(fired) of \(layer.neuronsPerItem) neurons; , . step t)"
    }

    /// The presenter's large title (spaced capitals: readable from the back of a room) and the explanation box.
    static func drawPresenter(_ grid: inout CellGrid, _ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int, ascii: Bool) {
        let title = ExplorerPanels.panel(state.focus).title.uppercased().map(String.init).joined(separator: " ")
        let position = "panel \(state.focus.rawValue + 1) of \(ExplorerPanels.all.count) (Tab, 1-\(ExplorerPanels.all.count))   Z: leave presenter mode"
        grid.put(fit("  " + title + "    " + position, width - 1), x: 0, y: 1, role: .accent)
        let notes = presenterNotes(state, ctx, width: width - 4, height: height)
        let h = notes.count + 2, y = height - 1 - h
        grid.box(x: 0, y: y, width: width, height: h, title: "What this shows", role: .accent, ascii: ascii)
        for (i, line) in notes.enumerated() {
            grid.put(fit(line, width - 4), x: 2, y: y + 1 + i, role: i == notes.count - 1 ? .accent : .normal)
        }
    }

    /// `text` broken at spaces into lines of at most `width` columns (a longer word is cut).
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
            let candidate = line.isEmpty ? word : line + " " + word
            if displayWidth(candidate) <= width { line = candidate; continue }
            if !line.isEmpty { lines.append(line) }
            line = displayWidth(word) <= width ? word : displayPrefix(word, columns: width)
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    /// The tab bar: the widest layout that fits, so the help hint and the focused panel's name stay visible down to
    /// the minimum width (full names with the product name; full names; the focused name with the others' numbers).
    static func drawTabs(_ grid: inout CellGrid, _ state: ExplorerState, width: Int) {
        let bar = tabBar(state, width: width)
        if bar.brand { grid.put("SpikeCLIP ", x: 0, y: 0, role: .accent) }
        for tab in bar.tabs { grid.put(tab.text, x: tab.x, y: 0, role: tab.id == state.focus ? .accent : .dim) }
        if bar.hint { grid.put(tabHint, x: width - tabHint.count, y: 0, role: .dim) }
    }

    static let tabHint = " ?:help q:quit"

    /// The tab bar's layout: whether the product name and help hint show, and each tab's text and column.
    static func tabBar(_ state: ExplorerState, width: Int) -> (brand: Bool, tabs: [(id: PanelID, text: String, x: Int)], hint: Bool) {
        let brand = "SpikeCLIP "
        func tabs(compact: Bool) -> [(PanelID, String)] {
            PanelID.allCases.map { p in
                let focused = p == state.focus
                let label = compact && !focused ? "\(p.rawValue + 1)" : "\(p.rawValue + 1) \(p.title)"
                return (p, focused ? "[\(label)]" : " \(label) ")
            }
        }
        let layouts: [(brand: Bool, tabs: [(PanelID, String)], hint: Bool)] = [
            (true, tabs(compact: false), true), (false, tabs(compact: false), true),
            (true, tabs(compact: true), true), (false, tabs(compact: true), true), (false, tabs(compact: true), false),
        ]
        let chosen = layouts.first { l in
            (l.brand ? brand.count : 0) + l.tabs.reduce(0) { $0 + $1.1.count } + (l.hint ? tabHint.count : 0) <= width
        } ?? layouts[layouts.count - 1]
        var x = chosen.brand ? brand.count : 0
        var placed: [(id: PanelID, text: String, x: Int)] = []
        for (id, text) in chosen.tabs {
            placed.append((id, text, x))
            x += text.count
        }
        return (chosen.brand, placed, chosen.hint)
    }

    /// The panel whose tab covers column `x` of the tab bar, nil elsewhere.
    public static func tab(at x: Int, _ state: ExplorerState, width: Int) -> PanelID? {
        tabBar(state, width: width).tabs.first { x >= $0.x && x < $0.x + $0.text.count }?.id
    }

    static func place(_ grid: inout CellGrid, _ id: PanelID, _ state: ExplorerState, _ ctx: FrameContext,
                      x: Int, y: Int, w: Int, h: Int, ascii: Bool) {
        let panel = ExplorerPanels.panel(id)
        grid.box(x: x, y: y, width: w, height: h, title: panel.boxTitle(state), role: id == state.focus ? .accent : .dim, ascii: ascii)
        grid.blit(panel.render(state, ctx, width: max(0, w - 2), height: max(0, h - 2)), x: x + 1, y: y + 1)
    }

    static func drawStatus(_ grid: inout CellGrid, _ state: ExplorerState, _ ctx: FrameContext, width: Int, y: Int) {
        let role: ColorRole = ctx.error != nil ? .warning : .normal
        // One column short: the bottom-right cell is never drawn (writing it scrolls some terminals).
        grid.put(fit(statusParts(state, ctx, width: width).joined(separator: " | "), width - 1), x: 0, y: y, role: role)
    }

    /// The status line's parts: an error or message first (so that a narrow terminal cuts the scores, never the
    /// message), both sides' top-1, the energy, the time taken (from 100 columns), "computing...".
    static func statusParts(_ state: ExplorerState, _ ctx: FrameContext, width: Int) -> [String] {
        var parts: [String] = []
        if let e = ctx.error ?? state.message { parts.append(terminalSafe(e)) }
        if let a = ctx.analysis {
            let k = a.snn.top1
            parts.append("SNN: \(terminalSafe(a.classNames[k])) \(String(format: "%.2f", a.snn.probabilities[k]))")
            if let ann = a.ann { parts.append("\(a.annName == "CLIP" ? "CLIP" : "ANN"): \(terminalSafe(a.classNames[ann.top1])) \(String(format: "%.2f", ann.probabilities[ann.top1]))") }
            if let ann = a.annEnergy {
                parts.append("\(formatEnergy(picojoules: a.visionEnergy.totalPJ(state.convention))) vs \(formatEnergy(picojoules: ann.totalPJ(state.convention)))")
            } else {
                parts.append("\(formatEnergy(picojoules: a.visionEnergy.totalPJ(state.convention))) (no ANN side)")
            }
            if ctx.showTimings && width >= 100 { parts.append(String(format: "%.0f ms", a.milliseconds)) }
        }
        if ctx.computing { parts.append("computing...") }
        return parts
    }

    /// The help overlay: the global keys, each registered panel's lines, a footer; at most 54 columns each (the
    /// minimum 60x16 terminal). When there are more lines than rows the overlay scrolls (j/k, shown in its title).
    static var helpLines: [String] {
        ["Tab/Shift-Tab or 1-\(ExplorerPanels.all.count) panel  g glyphs  ? help  q quit",
         "z zoom: the focused panel alone on a large screen",
         "Z presenter mode: one panel, explained; , . step t",
         "/ search the list (n/N next/prev)  C probe card",
         "M mouse on/off (click tabs and rows, wheel)"]
            + ExplorerPanels.all.flatMap { $0.helpLines }
            + ["Letters work everywhere; no function keys needed.", "j/k scroll this help when cut; other keys close it."]
    }

    static func drawHelp(_ grid: inout CellGrid, width: Int, height: Int, scroll: Int, ascii: Bool) {
        let lines = helpLines
        let w = min(width - 2, (lines.map(\.count).max() ?? 0) + 4)
        let h = min(height - 2, lines.count + 2)
        let x = (width - w) / 2, y = (height - h) / 2
        let rows = max(0, h - 2)
        let first = min(max(0, scroll), max(0, lines.count - rows))
        var overlay = CellGrid(width: w, height: h)
        let title = rows < lines.count ? "Help \(first + 1)-\(first + rows)/\(lines.count) j/k" : "Help"
        overlay.box(x: 0, y: 0, width: w, height: h, title: title, role: .accent, ascii: ascii)
        for (i, line) in lines.dropFirst(first).prefix(rows).enumerated() { overlay.put(String(line.prefix(w - 4)), x: 2, y: i + 1) }
        grid.blit(overlay, x: x, y: y)
    }
}

/// `s` made terminal-safe and padded or cut to exactly `n` terminal columns (wide characters count two, and a cut
/// never splits one); a cut ends in ``cutMark`` so that it shows (drawn as `~` with ASCII glyphs, see
/// ``ExplorerView/render(_:_:width:height:)``).
func fit(_ s: String, _ n: Int) -> String {
    let t = terminalSafe(s)
    let w = displayWidth(t)
    if w <= n { return t + String(repeating: " ", count: n - w) }
    guard n >= 2 else { return displayPrefix(t, columns: n) }
    let kept = displayPrefix(t, columns: n - 1)
    return kept + String(cutMark) + String(repeating: " ", count: n - 1 - displayWidth(kept))
}

/// Ends text cut to fit its panel.
let cutMark: Character = "…"
