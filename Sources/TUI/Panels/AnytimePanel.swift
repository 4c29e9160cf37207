import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let anytime = PanelID("anytime")
}

/// Top-k after t = 1..T time steps (partial time-weighted readout).
enum AnytimePanel: ExplorerPanel {
    static let id = PanelID.anytime
    static let title = "Anytime"
    static let helpLines: [String] = []
    static let tile: Tile = .rest(.left)

    static func boxTitle(_ state: ExplorerState) -> String { "Anytime: top-3 after t steps" }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        nil
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 10, height > 1, let a = ctx.analysis else {
            return noAnalysis(width: width, height: height)
        }
        for (t, probs) in a.anytime.enumerated() where t < height - 1 {
            let top = probs.indices.sorted { probs[$0] > probs[$1] }.prefix(3)
            let text = "t=\(t + 1) " + top.map { "\(terminalSafe(a.classNames[$0])) \(String(format: "%.3f", probs[$0]))" }.joined(separator: "  ")
            g.put(fit(text, width), x: 0, y: t, role: top.first == a.snn.top1 ? .normal : .warning)
        }
        let final = a.snn.top1
        let curve = a.anytime.map { Double($0[final]) }
        if a.anytime.count < height {
            g.put(fit("p(\(terminalSafe(a.classNames[final]))) over t: " + sparkline(curve, glyphs: state.glyphs), width), x: 0, y: a.anytime.count, role: .dim)
        }
        return g
    }
}

/// The panel body shown before the first analysis arrives.
func noAnalysis(width: Int, height: Int) -> CellGrid {
    var g = CellGrid(width: width, height: height)
    if width > 0 && height > 0 { g.put(fit("no analysis yet", width), x: 0, y: 0, role: .dim) }
    return g
}

extension AnytimePanel {
    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        guard let a = ctx.analysis, !a.anytime.isEmpty else { return ["The prediction after each time step, once an analysis is ready."] }
        let t = min(state.step, a.anytime.count - 1)
        let p = a.anytime[t], k = p.indices.max { p[$0] < p[$1] } ?? 0
        return ["Anytime readout: the image embedding averaged over the first t of T = \(a.anytime.count) time steps, scored like the full one. A spiking network can answer early and refine its answer as spikes arrive.",
                "After t = \(t + 1): '\(a.classNames[k])' with p \(String(format: "%.2f", p[k])) (, and . step t)."]
    }
}
