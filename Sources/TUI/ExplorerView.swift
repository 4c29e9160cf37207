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
        let body = (x: 0, y: 1, w: width, h: height - 2)
        if width >= tiledSize.width && height >= tiledSize.height && !state.zoomed {
            // Two columns, each panel where its `tile` says, in registry order (the left column a third wide).
            let left = min(44, width / 3)
            for (column, x, w) in [(Tile.Column.left, 0, left), (.right, left, width - left)] {
                let panels = ExplorerPanels.all.filter { $0.tile.column == column }
                var heights = panels.map { $0.tile.height(body.h, ctx, state) }
                let rest = max(0, body.h - heights.reduce(0) { $0 + ($1 ?? 0) })
                let flexible = heights.filter { $0 == nil }.count
                heights = heights.map { $0 ?? rest / max(1, flexible) }
                var y = body.y
                for (panel, h) in zip(panels, heights) where h! >= 3 {  // a panel with no rows now (Interventions unused) is left out
                    place(&grid, panel.id, state, ctx, x: x, y: y, w: w, h: h!, ascii: ascii)
                    y += h!
                }
            }
        } else {
            place(&grid, state.focus, state, ctx, x: 0, y: body.y, w: width, h: body.h, ascii: ascii)
        }
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

    /// The tab bar: the widest layout that fits, so the help hint and the focused panel's name stay visible down to
    /// the minimum width (full names with the product name; full names; the focused name with the others' numbers).
    static func drawTabs(_ grid: inout CellGrid, _ state: ExplorerState, width: Int) {
        let brand = "SpikeCLIP "
        let hint = " ?:help q:quit"
        func tabs(compact: Bool) -> [(String, Bool)] {
            PanelID.allCases.map { p in
                let focused = p == state.focus
                let label = compact && !focused ? "\(p.rawValue + 1)" : "\(p.rawValue + 1) \(p.title)"
                return (focused ? "[\(label)]" : " \(label) ", focused)
            }
        }
        let layouts: [(brand: Bool, tabs: [(String, Bool)], hint: Bool)] = [
            (true, tabs(compact: false), true), (false, tabs(compact: false), true),
            (true, tabs(compact: true), true), (false, tabs(compact: true), true), (false, tabs(compact: true), false),
        ]
        let chosen = layouts.first { l in
            (l.brand ? brand.count : 0) + l.tabs.reduce(0) { $0 + $1.0.count } + (l.hint ? hint.count : 0) <= width
        } ?? layouts[layouts.count - 1]
        var x = 0
        if chosen.brand { grid.put(brand, x: x, y: 0, role: .accent); x += brand.count }
        for (text, focused) in chosen.tabs {
            grid.put(text, x: x, y: 0, role: focused ? .accent : .dim)
            x += text.count
        }
        if chosen.hint { grid.put(hint, x: width - hint.count, y: 0, role: .dim) }
    }

    static func place(_ grid: inout CellGrid, _ id: PanelID, _ state: ExplorerState, _ ctx: FrameContext,
                      x: Int, y: Int, w: Int, h: Int, ascii: Bool) {
        let panel = ExplorerPanels.panel(id)
        grid.box(x: x, y: y, width: w, height: h, title: panel.boxTitle(state), role: id == state.focus ? .accent : .dim, ascii: ascii)
        grid.blit(panel.render(state, ctx, width: max(0, w - 2), height: max(0, h - 2)), x: x + 1, y: y + 1)
    }

    static func drawStatus(_ grid: inout CellGrid, _ state: ExplorerState, _ ctx: FrameContext, width: Int, y: Int) {
        var parts: [String] = []
        var role: ColorRole = .normal
        // An error or message comes first, so that a narrow terminal cuts the scores, never the message.
        if let e = ctx.error ?? state.message { parts.append(terminalSafe(e)); role = ctx.error != nil ? .warning : .normal }
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
        // One column short: the bottom-right cell is never drawn (writing it scrolls some terminals).
        grid.put(fit(parts.joined(separator: " | "), width - 1), x: 0, y: y, role: role)
    }

    /// The help overlay: the global keys, each registered panel's lines, a footer; at most 54 columns each (the
    /// minimum 60x16 terminal). When there are more lines than rows the overlay scrolls (j/k, shown in its title).
    static var helpLines: [String] {
        ["Tab/Shift-Tab or 1-\(ExplorerPanels.all.count) panel  g glyphs  ? help  q quit",
         "z zoom: the focused panel alone on a large screen"]
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
