import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let energy = PanelID("energy")
}

/// This image's energy: SNN vs ANN twin, per layer, both conventions, text side per class.
enum EnergyPanel: ExplorerPanel {
    static let id = PanelID.energy
    static let title = "Energy"
    static let helpLines: [String] = ["Energy   u paper <-> fuller  j/k scroll"]
    static let tile: Tile = .share(.right, 30)

    static func boxTitle(_ state: ExplorerState) -> String { "Energy  u:\(state.convention == .paper ? "fuller" : "paper") j/k:scroll" }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        switch key {
        case .char("u"): state.convention = state.convention == .paper ? .fuller : .paper; return .redraw
        case .down, .char("j"): state.energyScroll += 1; return .redraw
        case .up, .char("k"): state.energyScroll = max(0, state.energyScroll - 1); return .redraw
        default: return nil
        }
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 20, height > 4, let a = ctx.analysis else {
            return noAnalysis(width: width, height: height)
        }
        let conv = state.convention
        let snn = a.visionEnergy.totalPJ(conv)
        var title = conv.title
        if let b = a.baseline {
            // Interventions (issue 17): the change against the unmodified model, on the title line.
            let was = b.visionEnergy.totalPJ(conv)
            title = String(format: "%+.1f %% vs unmodified ", (snn - was) / max(was, 1e-30) * 100) + formatEnergy(picojoules: was) + " | " + title
        }
        g.put(fit(title, width), x: 0, y: 0, role: a.baseline == nil ? .accent : .warning)
        if let annReport = a.annEnergy {
            let ann = annReport.totalPJ(conv)
            let name = a.annName == "CLIP" ? "CLIP image tower" : "ANN twin"
            g.put(fit("image: SNN \(formatEnergy(picojoules: snn))  \(name) \(formatEnergy(picojoules: ann))  SNN/ANN \(String(format: "%.3f", snn / max(ann, 1e-30)))", width), x: 0, y: 1)
        } else {
            g.put(fit("image: SNN \(formatEnergy(picojoules: snn))  (no ANN side to compare)", width), x: 0, y: 1)
        }
        if let c = a.compared, c.error == nil {
            // --compare: the second checkpoint's spiking image encoder on the same image, in place of the per-step line.
            let other = c.visionEnergy.totalPJ(conv)
            g.put(fit("\(terminalSafe(c.name)): SNN \(formatEnergy(picojoules: other)) (" + String(format: "%+.1f %%", (other - snn) / max(snn, 1e-30) * 100)
                      + " vs this), \(formatCount(c.visionEnergy.totalACs)) ACs", width), x: 0, y: 2, role: .ann)
        } else {
            let perStep = (0..<a.visionEnergy.steps).map { a.visionEnergy.stepPJ($0, conv) }
            g.put(fit("per step: " + perStep.map { formatEnergy(picojoules: $0) }.joined(separator: "  ") + "  " + sparkline(perStep, glyphs: state.glyphs), width), x: 0, y: 2, role: .dim)
        }
        let nameW = max(10, width - 30)
        g.put(fit(fit("layer", nameW) + rightAligned("MACs", 9) + rightAligned("ACs", 9) + rightAligned("energy", 11), width), x: 0, y: 3, role: .dim)
        let layers = a.visionEnergy.layers.filter { $0.energyPJ(conv, a.visionEnergy.constants) > 0 }
        let textRows = 2
        let rows = max(0, height - 4 - textRows)
        let first = min(state.energyScroll, max(0, layers.count - rows))
        for (i, l) in layers[first..<min(layers.count, first + rows)].enumerated() {
            let e = l.energyPJ(conv, a.visionEnergy.constants)
            let text = fit(l.name.replacingOccurrences(of: "vision.", with: ""), nameW)
                + rightAligned(formatCount(l.totalMACs), 9) + rightAligned(formatCount(l.totalACs), 9) + rightAligned(formatEnergy(picojoules: e), 11)
            g.put(fit(text, width), x: 0, y: 4 + i)
        }
        // Text side: each class summed over its templates.
        let m = max(1, a.templatesPerClass)
        let perClass = a.classNames.indices.map { c in (0..<m).reduce(0.0) { $0 + (c * m + $1 < a.textEnergy.count ? a.textEnergy[c * m + $1].totalPJ(conv) : 0) } }
        // One line at any width: the mean over classes and the extremes (the per-prompt numbers are in `spikeclip energy`).
        var line = "text per class (\(m) template\(m == 1 ? "" : "s")): "
        if let clip = a.annTextEnergy, !clip.isEmpty {
            let mean = clip.reduce(0) { $0 + $1.totalPJ(conv) } / Double(clip.count)
            line = "text per prompt: CLIP \(formatEnergy(picojoules: mean)) mean; SNN per class (\(m) template\(m == 1 ? "" : "s")): "
        }
        if let lo = perClass.indices.min(by: { perClass[$0] < perClass[$1] }), let hi = perClass.indices.max(by: { perClass[$0] < perClass[$1] }) {
            let mean = perClass.reduce(0, +) / Double(perClass.count)
            line += "mean \(formatEnergy(picojoules: mean)), min \(formatEnergy(picojoules: perClass[lo])) \(a.classNames[lo]), "
                + "max \(formatEnergy(picojoules: perClass[hi])) \(a.classNames[hi])"
        }
        g.put(fit(line, width), x: 0, y: height - 2, role: .dim)
        g.put(fit(a.visionEnergy.constants.source, width), x: 0, y: height - 1, role: .dim)
        return g
    }
}

extension EnergyPanel {
    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        guard let a = ctx.analysis else { return ["Energy per image, once an analysis is ready."] }
        let e = a.visionEnergy, k = e.constants
        var lines = ["SNN: \(formatCount(e.totalMACs)) MACs + \(formatCount(e.totalACs)) ACs = \(formatEnergy(picojoules: e.totalPJ(state.convention)))"
            + (a.annEnergy.map { " vs ANN: \(formatCount($0.totalMACs)) MACs = \(formatEnergy(picojoules: $0.totalPJ(state.convention))) (\(String(format: "%.2f", e.totalPJ(state.convention) / max(1e-12, $0.totalPJ(state.convention))))x)" } ?? "")
            + "; \(state.convention.rawValue) convention (u switches)."]
        lines.append("Counted, not measured: a MAC (multiply-accumulate, real-valued input) costs \(String(format: "%g", k.macPJ)) pJ, an AC (accumulate: a spike reaching a synapse) \(String(format: "%g", k.acPJ)) pJ; \(k.source).")
        lines.append("ACs scale with the firing rate: fewer spikes, less energy. Memory traffic is in neither convention.")
        return lines
    }
}
