import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let interventions = PanelID("interventions")
}

/// Interventions on the spiking forward pass (issue 17): a list to add to, switch and remove, targets taken from the
/// Spikes panel's layer and traced neuron; every panel then shows the change against the unmodified model.
enum InterventionsPanel: ExplorerPanel {
    static let id = PanelID.interventions
    static let title = "Interventions"
    static let helpLines: [String] = [
        "Interv.  silence, from Spikes: l layer  n neuron",
        "         c channel  h head  t token  f force neuron",
        "         +/- threshold x1.25/x0.8  </> stop at t",
        "         space on/off  d delete  x clear  j/k",
        "         L lesion view: each layer silenced alone",
        "         (o sorts by drop / layer order, Esc back)",
        "         S sweep this image over T, again: threshold",
    ]
    /// Tiled, it takes a quarter of the left column once in use (or focused); until then Anytime keeps the space.
    static let tile: Tile = Tile(.left) { available, _, state in
        // A quarter of the column; the lesion and sweep views say `z` (zoom) shows them on the whole screen.
        return state.focus == .interventions || !state.interventions.isEmpty || state.interventionSteps != nil ? available * 20 / 100 : 0
    }

    static func boxTitle(_ state: ExplorerState) -> String { "Interventions  l/n/c/h/t silence f force +/- space d" }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        let count = state.interventions.count
        if state.showLesion {
            switch key {
            case .char("o"): state.lesionByDrop.toggle(); state.lesionScroll = 0; return .redraw
            case .down, .char("j"): state.lesionScroll = min(max(0, (state.lesion?.rows.count ?? 1) - 1), state.lesionScroll + 1); return .redraw
            case .up, .char("k"): state.lesionScroll = max(0, state.lesionScroll - 1); return .redraw
            case .escape: state.showLesion = false; return .redraw
            case .char("L") where state.lesion?.kind == .lesion: state.showLesion = false; return .redraw
            case .char("r"): return state.lesion?.kind == .lesion || state.lesion == nil ? .startLesion : .startSweep(state.lesion!.kind)
            case .char("S"):
                // T first, then the threshold, then back to the list.
                if state.lesion?.kind == .threshold { state.showLesion = false; return .redraw }
                state.lesionScroll = 0
                return .startSweep(state.lesion?.kind == .steps ? .threshold : .steps)
            default: break
            }
        }
        switch key {
        case .char("S"):
            state.showLesion = true
            state.lesionScroll = 0
            return .startSweep(.steps)
        case .char("L"):
            state.showLesion = true
            state.lesionScroll = 0
            // Computed once per input; `r` recomputes.
            let fresh = state.lesion?.kind == .lesion && state.lesion?.generation == state.generation && state.lesion?.error == nil
            return fresh ? .redraw : .startLesion
        case .down, .char("j"): state.interventionSelection = min(max(0, count - 1), state.interventionSelection + 1); return .redraw
        case .up, .char("k"): state.interventionSelection = max(0, state.interventionSelection - 1); return .redraw
        case .char(" "), .enter:
            guard state.interventionSelection < count else { return .redraw }
            state.interventions[state.interventionSelection].enabled.toggle()
            return .recompute
        case .char("d"), .backspace, .delete:
            guard state.interventionSelection < count else { return .redraw }
            state.interventions.remove(at: state.interventionSelection)
            state.interventionSelection = max(0, min(state.interventionSelection, state.interventions.count - 1))
            return .recompute
        case .char("x"):
            guard count > 0 || state.interventionSteps != nil else { return .redraw }
            state.interventions = []
            state.interventionSteps = nil
            state.interventionSelection = 0
            return .recompute
        case .char("<"), .char(">"):
            let t = max(1, input.steps)
            let current = state.interventionSteps ?? t
            let next = key == .char("<") ? max(1, current - 1) : min(t, current + 1)
            state.interventionSteps = next == t ? nil : next
            return .recompute
        case .char("l"): return state.addIntervention(Intervention(layer: input.layerName, action: .silence), input)
        case .char("n"): return state.addIntervention(Intervention(layer: input.layerName, action: .silence, target: .neuron, index: state.traceNeuron), input)
        case .char("f"): return state.addIntervention(Intervention(layer: input.layerName, action: .force, target: .neuron, index: state.traceNeuron), input)
        case .char("c"), .char("t"), .char("h"):
            guard let target = state.targetOfTracedNeuron(key == .char("c") ? .channel : key == .char("t") ? .token : .head, input) else { return .redraw }
            return state.addIntervention(Intervention(layer: input.layerName, action: .silence, target: target.0, index: target.1), input)
        case .char("+"), .char("="), .char("-"):
            return state.addIntervention(Intervention(layer: input.layerName, action: .threshold, scale: key == .char("-") ? 0.8 : 1.25), input)
        default: return nil
        }
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 10, height > 0 else { return g }
        if state.showLesion { return lesionView(state, ctx, width: width, height: height) }
        let on = state.interventions.filter(\.enabled).count
        var head = "\(on) on of \(state.interventions.count)"
        if let s = state.interventionSteps { head += "; stop after t = \(s)" }
        g.put(fit(head, width), x: 0, y: 0, role: .accent)
        var y = 1
        if state.interventions.isEmpty {
            if y < height { g.put(fit("none: pick a layer and neuron in Spikes (3), then l n c h t f + -", width), x: 0, y: y, role: .dim); y += 1 }
        }
        // Deltas against the unmodified model, when the last analysis applied interventions.
        var deltaLines: [(String, ColorRole)] = []
        if let a = ctx.analysis, let b = a.baseline {
            let k = a.snn.top1, kb = b.snn.top1
            let same = k == kb
            deltaLines.append((
                "SNN top-1 \(terminalSafe(a.classNames[k])) \(String(format: "%.2f", a.snn.probabilities[k]))"
                + (same ? String(format: " (unmodified %.2f, %+.2f)", b.snn.probabilities[kb], a.snn.probabilities[k] - b.snn.probabilities[kb])
                        : " (unmodified \(terminalSafe(a.classNames[kb])) \(String(format: "%.2f", b.snn.probabilities[kb])))"),
                same ? .normal : .warning))
            let now = a.visionEnergy.totalPJ(state.convention), was = b.visionEnergy.totalPJ(state.convention)
            deltaLines.append(("energy \(formatEnergy(picojoules: now)) (unmodified \(formatEnergy(picojoules: was)), "
                               + String(format: "%+.1f %%)", (now - was) / max(was, 1e-30) * 100), .normal))
        }
        let listRows = max(0, height - y - deltaLines.count)
        let first = max(0, min(state.interventionSelection - listRows + 1, state.interventions.count - listRows))
        for (row, i) in (first..<min(state.interventions.count, first + listRows)).enumerated() {
            let item = state.interventions[i]
            let mark = state.glyphs == .ascii ? (item.enabled ? "[x]" : "[ ]") : (item.enabled ? "[✓]" : "[ ]")
            let text = (i == state.interventionSelection && state.focus == .interventions ? "> " : "  ") + mark + " " + terminalSafe(item.intervention.label)
            g.put(fit(text, width), x: 0, y: y + row, role: i == state.interventionSelection ? .accent : (item.enabled ? .normal : .dim))
        }
        for (j, line) in deltaLines.enumerated() where height - deltaLines.count + j >= y {
            g.put(fit(line.0, width), x: 0, y: height - deltaLines.count + j, role: line.1)
        }
        return g
    }
}

extension InterventionsPanel {
    /// For each spiking layer, the top class's probability when that layer alone is silenced: the drop against the
    /// unmodified model, largest first (`o`: forward order), with progress while it computes.
    static func lesionView(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard let l = state.lesion else {
            g.put(fit("lesion view: starting...", width), x: 0, y: 0, role: .dim)
            return g
        }
        let names = ctx.analysis?.classNames ?? state.classNames
        let cls = l.topClass < names.count ? terminalSafe(names[l.topClass]) : "class \(l.topClass)"
        if l.kind != .lesion { return sweepView(state, l, cls: cls, names: names, width: width, height: height) }
        // Progress first, so a narrow panel never cuts it.
        let what = ": p(\(cls)) \(String(format: "%.2f", l.baseProbability)) unmodified; each layer, then head, silenced alone"
        let head: String
        if let e = l.error { head = "lesion failed: " + terminalSafe(e) }
        else if !l.finished { head = "lesion computing \(l.done)/\(l.total)" + what }
        else if l.generation != state.generation { head = "lesion of an earlier input (r recomputes)" + what }
        else { head = "lesion \(l.total) done" + what }
        g.put(fit(head, width), x: 0, y: 0, role: l.error == nil ? .accent : .warning)
        // Narrow (tiled): no top-1 column, image layers without their `vision.` prefix.
        let compact = width < 64
        let order = "(o: \(state.lesionByDrop ? "layer order" : "by drop"), Esc: back)"
        g.put(fit(compact ? " change p(top) layer  o:sort z:zoom" : " change  p(top)  top-1 then        silenced   " + order, width), x: 0, y: 1, role: .dim)
        let rows = state.lesionByDrop ? l.rows.sorted { $0.drop > $1.drop } : l.rows
        let (first, shown, note) = scrollWindow(rows.count, rows: height - 2, scroll: state.lesionScroll)
        if let note { g.put(fit(note, width), x: 0, y: height - 1, role: .dim) }
        for (i, r) in rows[first..<first + shown].enumerated() {
            let then = r.top1 < names.count ? terminalSafe(names[r.top1]) : "\(r.top1)"
            let text = compact
                ? String(format: "%+7.3f %5.2f ", -r.drop, r.probability) + (r.layer.hasPrefix("vision.") ? String(r.layer.dropFirst(7)) : r.layer)
                : String(format: "%+7.3f  %5.2f  ", -r.drop, r.probability) + fit(then, 16) + "  " + r.layer
            g.put(fit(text, width), x: 0, y: 2 + i, role: r.top1 != l.topClass ? .warning : (r.drop > 0.05 ? .accent : .normal))
        }
        return g
    }
}

extension InterventionsPanel {
    /// The image on screen swept over T or the threshold scale: p(top class) and the spiking image encoder's energy
    /// per value, as a terminal plot and a table.
    static func sweepView(_ state: ExplorerState, _ l: LesionState, cls: String, names: [String], width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        let over = l.kind == .steps ? "time steps run" : "threshold scale (every layer)"
        var head = "sweep over \(over): p(\(cls)) \(String(format: "%.2f", l.baseProbability)) unmodified"
        if let e = l.error { head = "sweep failed: " + terminalSafe(e) }
        else if !l.finished { head += "  computing \(l.done)/\(l.total)..." }
        else if l.generation != state.generation { head += "  (for an earlier input: r recomputes)" }
        g.put(fit(head, width), x: 0, y: 0, role: l.error == nil ? .accent : .warning)
        let data = CurveData(title: "", subtitle: "", xLabel: l.kind == .steps ? "T" : "threshold x", xTicks: l.rows.map(\.layer), panels: [
            .init(yLabel: "p(\(cls))", series: [.init(name: "SNN", values: l.rows.map { Double($0.probability) })], yRange: 0...1),
            .init(yLabel: "energy (uJ)", series: [.init(name: "image encoder", values: l.rows.map { $0.energyPJ / 1e6 })]),
        ])
        var scrollNote: String?
        let plotH = max(2, min(6, (height - 4) / 2 - 2))
        if height >= 2 * (plotH + 2) + 3 {
            g.blit(CurvePlot(data).render(width: width, panelHeight: plotH), x: 0, y: 1)
        } else {
            // The last row holds the key hints, and the scroll note when the table does not fit.
            let (first, shown, note) = scrollWindow(l.rows.count, rows: height - 2, scroll: state.lesionScroll, noteRow: false)
            scrollNote = note
            for (i, r) in l.rows[first..<first + shown].enumerated() {
                let then = r.top1 < names.count ? terminalSafe(names[r.top1]) : "\(r.top1)"
                g.put(fit(rightAligned(r.layer, 6) + String(format: "  p %.3f  ", r.probability) + formatEnergy(picojoules: r.energyPJ) + "  " + then, width), x: 0, y: 1 + i)
            }
        }
        g.put(fit((scrollNote.map { $0 + "  " } ?? "") + "S: next sweep  r: recompute  Esc: back  z:zoom", width), x: 0, y: height - 1, role: .dim)
        return g
    }
}

extension ExplorerState {
    /// Adds `iv` (switched on, selected), or switches an identical one back on; recomputes. A threshold scale on a
    /// layer that already has one multiplies into that entry (`+` twice is x1.5625, `+` then `-` is x1 and removes it).
    mutating func addIntervention(_ iv: Intervention, _ input: PanelInput) -> Effect {
        guard !iv.layer.isEmpty else { message = "no layer yet: wait for the first analysis"; return .redraw }
        if iv.action == .threshold, let i = interventions.firstIndex(where: {
            $0.enabled && $0.intervention.action == .threshold && $0.intervention.layer == iv.layer
                && $0.intervention.target == iv.target && $0.intervention.index == iv.index
        }) {
            let scale = interventions[i].intervention.scale * iv.scale
            if abs(scale - 1) < 1e-9 {
                interventions.remove(at: i)
                interventionSelection = max(0, min(interventionSelection, interventions.count - 1))
                message = "threshold of \(iv.layer) back to x1: entry removed"
            } else {
                interventions[i].intervention.scale = scale
                interventionSelection = i
                message = "now: " + interventions[i].intervention.label
            }
            return .recompute
        }
        if let i = interventions.firstIndex(where: { $0.intervention == iv }) {
            interventions[i].enabled = true
            interventionSelection = i
            message = "already listed (switched on): " + iv.label
        } else {
            interventions.append((iv, true))
            interventionSelection = interventions.count - 1
            message = "added: " + iv.label
        }
        return .recompute
    }

    /// The channel, token or head of the traced neuron in the Spikes panel's layer, or nil with a message when the
    /// layer has none.
    mutating func targetOfTracedNeuron(_ target: Intervention.Target, _ input: PanelInput) -> (Intervention.Target, Int)? {
        let shape = input.layerShape
        guard let channels = shape.first else { message = "no layer yet: wait for the first analysis"; return nil }
        let positions = shape.dropFirst().reduce(1, *)
        let neuron = min(traceNeuron, max(0, channels * positions - 1))
        switch target {
        case .channel: return (.channel, neuron / positions)
        case .token:
            guard shape.count >= 2 else { message = "\(input.layerName) has no token positions"; return nil }
            return (.token, neuron % positions)
        case .head:
            guard let heads = input.heads, heads > 0 else { message = "heads exist only inside a transformer block"; return nil }
            return (.head, (neuron / positions) / max(1, channels / heads))
        default: return (target, neuron)
        }
    }
}

extension InterventionsPanel {
    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        var lines = ["An intervention changes the spiking forward pass: silence neurons (S = 0), force them (S = 1), scale the threshold V_th, or stop after t steps. The unmodified model runs beside it, so every panel shows the change."]
        lines.append("The lesion view (L) silences each layer and attention head alone and ranks them by the drop in the top class's probability: which parts the answer depends on.")
        if let a = ctx.analysis, let b = a.baseline {
            lines.append("Now: \(terminalSafe(a.interventions.summary)); SNN top-1 '\(a.classNames[a.snn.top1])' (was '\(a.classNames[b.snn.top1])').")
        }
        return lines
    }
}
