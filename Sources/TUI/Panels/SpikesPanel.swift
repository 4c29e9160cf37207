import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let spikes = PanelID("spikes")
}

/// Spikes of any LIF layer: raster, spatial map, layer x step heatmap, membrane trace.
enum SpikesPanel: ExplorerPanel {
    static let id = PanelID.spikes
    static let title = "Spikes"
    static let helpLines: [String] = ["Spikes   [ ] layer  , . step  space play  o order", "         v view: raster/spatial/rates/membrane", "         j/k PgUp/PgDn scroll  + - neuron  n/N prompt", "         x silence this layer  X silence traced neuron"]
    static let tile: Tile = .rest(.right)

    static func boxTitle(_ state: ExplorerState) -> String { "Spikes  [/]:layer ,/.:step space:play v:view o:order j/k:scroll n/N:prompt" }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        switch key {
        // Interventions from here (issue 17): silence this layer, or the traced neuron.
        case .char("x"): return state.addIntervention(Intervention(layer: input.layerName, action: .silence), input)
        case .char("X"): return state.addIntervention(Intervention(layer: input.layerName, action: .silence, target: .neuron, index: state.traceNeuron), input)
        default: return state.handleSpikes(key, layers: input.layers, steps: input.steps, neurons: input.neurons, prompts: input.prompts)
        }
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 20, height > 3 else { return g }
        guard let a = ctx.analysis, !ctx.layerNames.isEmpty else {
            g.put(fit(ctx.computing ? "computing..." : "no analysis yet", width), x: 0, y: 0, role: .dim)
            return g
        }
        let name = ctx.layerNames[min(state.layerIndex, ctx.layerNames.count - 1)]
        guard let layer = a.visionRecording[name] ?? a.textRecording[name] else {
            g.put(fit("layer \(name) was not recorded", width), x: 0, y: 0, role: .warning)
            return g
        }
        let steps = layer.steps
        let isText = a.textRecording[name] != nil
        // Text layers record one item per expanded prompt; the image side has one item.
        let item = isText ? min(state.textPrompt, max(0, min(layer.batch, a.prompts.count) - 1)) : 0
        let shape = layer.shape.map(String.init).joined(separator: "x")
        let rate = layer.firingRate(item: item) * 100
        // With interventions: the unmodified model's rate beside (for the image, and prompt 1 of the text side).
        var was = a.baseline?.rates[name].map { String(format: " (unmodified %.1f%%)", $0 * 100) } ?? ""
        if let c = a.compared, let r = c.rates[name] { was += " (\(terminalSafe(c.name)) " + String(format: "%.1f%%)", r * 100) }
        g.put(fit("\(state.layerIndex + 1)/\(ctx.layerNames.count) \(name) [\(shape)] rate \(String(format: "%.1f%%", rate))" + was, width), x: 0, y: 0, role: .accent)
        let play = state.playing ? "playing" : "paused"
        let itemName = isText ? "prompt \(item + 1)/\(a.prompts.count) (n/N): \(a.prompts.indices.contains(item) ? a.prompts[item].text : "")" : "image"
        g.put(fit("step \(state.step + 1)/\(steps) (\(play))  view: \(state.spikeView.rawValue)  \(itemName)", width), x: 0, y: 1, role: .dim)
        let bodyH = height - 2
        // Per-neuron statistics of the traced neuron (+/-), the numbers a student reads off one raster row.
        let traced = min(state.traceNeuron, max(0, layer.neuronsPerItem - 1))
        let stats = "neuron \(traced) (+/-): " + neuronStats(layer, item: item, neuron: traced).summary
        switch state.spikeView {
        case .raster:
            let n = layer.neuronsPerItem
            var order = Array(0..<n)
            if state.orderByActivity {
                var counts = [Int](repeating: 0, count: n)
                for t in 0..<steps { for (i, s) in layer.spikes(step: t, item: item).enumerated() { counts[i] += Int(s) } }
                order.sort { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
            }
            g.put(fit(stats, width), x: 0, y: 2, role: .dim)
            let dotsY = state.glyphs.dotsPerCell.y
            let shown = min(n - min(state.neuronOffset, n), max(0, bodyH - 2) * dotsY)
            var spikes = [UInt8](repeating: 0, count: steps * shown)
            for t in 0..<steps {
                let s = layer.spikes(step: t, item: item)
                for j in 0..<shown { spikes[t * shown + j] = s[s.startIndex + order[state.neuronOffset + j]] }
            }
            let rasterW = min(width, 5 + min(24, (width - 5) / steps) * steps)
            let raster = SpikeRaster(spikes: spikes, steps: steps, neurons: shown)
            g.blit(raster.render(width: rasterW, height: bodyH - 2, glyphs: state.glyphs), x: 0, y: 3)
            // Mark the current time step under its columns.
            let cols = (rasterW - 5)
            let perStep = max(1, cols / steps)
            let markFrom = state.step * perStep, markTo = min(cols, (state.step + 1) * perStep)
            for x in markFrom..<markTo { g[x, height - 1] = Cell("^", .accent) }
            // The neuron range goes on whichever side of the step marker has more room.
            let range = "\(state.neuronOffset)-\(state.neuronOffset + max(0, shown - 1))/\(n)"
            let ordering = state.orderByActivity ? "by activity" : "by index"
            let right = width - markTo - 1, left = markFrom - 1
            let room = max(right, left)
            let footer = ["neurons \(range) \(ordering) (o)", "\(range) \(ordering) (o)", "\(range) \(ordering)", range].first { $0.count <= room } ?? range
            if right >= left {
                let text = String(footer.prefix(max(0, right)))
                g.put(text, x: width - text.count, y: height - 1, role: .dim)
            } else {
                g.put(String(footer.prefix(max(0, left))), x: 0, y: height - 1, role: .dim)
            }
        case .spatial:
            guard let (gh, gw, channels) = spatialGrid(layer) else {
                g.put(fit("no spatial layout for this layer (text encoder): use the raster", width), x: 0, y: 2, role: .dim)
                return g
            }
            // A grid taller than the panel (28x28 at 80x24) is pooled f x f so that all of it shows.
            let f = max(1, (gh + bodyH - 1) / max(1, bodyH), (gw * 2 + width - 1) / max(1, width))
            let ph = (gh + f - 1) / f, pw = (gw + f - 1) / f
            var counts = [Int](repeating: 0, count: ph * pw)
            let s = layer.spikes(step: state.step, item: item)
            for c in 0..<channels {
                for y in 0..<gh { for x in 0..<gw { counts[(y / f) * pw + x / f] += Int(s[s.startIndex + c * gh * gw + y * gw + x]) } }
            }
            let maximum = channels * f * f
            let map = SpatialSpikeMap(counts: counts, gridHeight: ph, gridWidth: pw, maximum: maximum)
            let mapW = min(width, pw * 2)
            g.blit(map.render(width: mapW, height: bodyH, glyphs: state.glyphs), x: 0, y: 2)
            if width > mapW + 16 {
                var legend = ["spikes per position", "summed over \(channels)", "channels, step \(state.step + 1)/\(steps)", "grid \(gh)x\(gw)"]
                if f > 1 { legend.append("shown pooled \(f)x\(f)") }
                legend.append("max here: \(counts.max() ?? 0) of \(maximum)")
                for (i, line) in legend.enumerated() where 2 + i < height {
                    g.put(fit(line, width - mapW - 2), x: mapW + 2, y: 2 + i, role: .dim)
                }
            }
        case .heatmap:
            // Vision layers for the image; text layers for the prompt chosen with n/N.
            let textItem = min(state.textPrompt, max(0, a.prompts.count - 1))
            let layers = a.visionRecording.layers.map { ($0, 0) } + a.textRecording.layers.map { ($0, min(textItem, $0.batch - 1)) }
            let rates = layers.map { l, i in (0..<l.steps).map { Double(l.spikeCount(step: $0, item: i)) / Double(max(1, l.neuronsPerItem)) } }
            let map = RateHeatmap(labels: layers.map { $0.0.name.replacingOccurrences(of: "vision.", with: "") }, rates: rates, highlightRow: state.layerIndex)
            g.blit(map.render(width: width, height: bodyH, glyphs: state.glyphs), x: 0, y: 2)
        case .membrane:
            let neuron = min(state.traceNeuron, layer.neuronsPerItem - 1)
            // Traces are keyed by the flat index into the per-step tensor: item * n + neuron.
            guard let trace = layer.membrane[item * layer.neuronsPerItem + neuron] else {
                g.put(fit(ctx.computing ? "recording neuron \(neuron)..." : "no trace recorded for neuron \(neuron)", width), x: 0, y: 2, role: .dim)
                return g
            }
            let fired = (0..<steps).map { t in let s = layer.spikes(step: t, item: item); return s[s.startIndex + neuron] != 0 }
            g.put(fit("neuron \(neuron) (+/-): h[t] " + trace.map { String(format: "%.3f", $0) }.joined(separator: " ") + "  threshold \(layer.threshold)", width), x: 0, y: 2)
            g.put(fit(String(stats.drop { $0 != ":" }.dropFirst(2)), width), x: 0, y: 3, role: .dim)
            g.blit(MembraneTrace(values: trace, threshold: layer.threshold, spikes: fired).render(width: min(width, 60), height: bodyH - 3), x: 0, y: 4)
            g.put(fit("t = 1..\(steps) across  o h[t]  * spike (h >= threshold, then reset)  - threshold", width), x: 0, y: height - 1, role: .dim)
        }
        return g
    }

    /// Spike count, firing rate, first-spike time and inter-spike intervals of `neuron` of batch item `item`.
    static func neuronStats(_ layer: LayerRecording, item: Int, neuron: Int) -> NeuronStats {
        let times = (0..<layer.steps).filter { t in let s = layer.spikes(step: t, item: item); return s[s.startIndex + neuron] != 0 }
        return NeuronStats(steps: layer.steps, spikeTimes: times)
    }

    static func list(_ state: ExplorerState, _ input: PanelInput) -> (items: [String], selected: Int)? {
        input.layerNames.isEmpty ? nil : (input.layerNames, state.layerIndex)
    }

    static func select(_ index: Int, _ state: inout ExplorerState, _ input: PanelInput) -> Effect {
        state.layerIndex = index
        state.neuronOffset = 0
        state.traceNeuron = 0
        return state.traceEffect
    }

    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        guard let a = ctx.analysis, !ctx.layerNames.isEmpty else { return ["Spikes of one layer of LIF neurons, once an analysis is ready."] }
        let name = ctx.layerNames[min(state.layerIndex, ctx.layerNames.count - 1)]
        guard let layer = a.visionRecording[name] ?? a.textRecording[name] else { return [] }
        let item = a.textRecording[name] != nil ? min(state.textPrompt, max(0, layer.batch - 1)) : 0
        let spec = ctx.graphs.lazy.compactMap { $0[name]?.neuron }.first
        let tau = spec.map { String(format: "%g", $0.tau) } ?? "2", vth = spec.map { String(format: "%g", $0.vThreshold) } ?? "\(layer.threshold)"
        let vreset = spec.map { String(format: "%g", $0.vReset) } ?? "0"
        let neuron = min(state.traceNeuron, max(0, layer.neuronsPerItem - 1))
        let stats = neuronStats(layer, item: item, neuron: neuron)
        var lif = "LIF neuron: H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau; spike S[t] = 1 when H[t] >= V_th, then V[t] = V_reset (tau = \(tau), V_th = \(vth), V_reset = \(vreset))."
        if let trace = layer.membrane[item * layer.neuronsPerItem + neuron] {
            lif += " Neuron \(neuron): H = " + trace.map { String(format: "%.2f", $0) }.joined(separator: ", ") + "; " + stats.summary + "."
        } else {
            lif += " Neuron \(neuron): " + stats.summary + "."
        }
        return [lif,
                "Raster: neurons in rows, time steps in columns, a dot per spike. Firing rate = spikes / (neurons x T) = \(String(format: "%.1f%%", layer.firingRate(item: item) * 100)) here (\(layer.neuronsPerItem) neurons, T = \(layer.steps)).",
                "Every spike costs one accumulate (AC) per synapse it reaches; silent neurons cost nothing: that is where the energy saving comes from."]
    }

    /// `(grid height, grid width, channels)` for layers laid out over a spatial grid.
    static func spatialGrid(_ layer: LayerRecording) -> (Int, Int, Int)? {
        if layer.shape.count == 5 { return (layer.shape[3], layer.shape[4], layer.shape[2]) }
        if layer.shape.count == 4 {
            let n = layer.shape[3]
            let side = Int(Double(n).squareRoot())
            if side * side == n { return (side, side, layer.shape[2]) }
        }
        return nil
    }
}

/// What one neuron did over the T time steps (Spikes panel, presenter mode).
struct NeuronStats: Equatable {
    var steps: Int
    /// Time steps (0-based) at which it spiked.
    var spikeTimes: [Int]
    var count: Int { spikeTimes.count }
    var rate: Double { Double(count) / Double(max(1, steps)) }
    /// Inter-spike intervals in time steps.
    var intervals: [Int] { zip(spikeTimes.dropFirst(), spikeTimes).map { $0 - $1 } }
    /// `3/4 steps spiked (rate 0.75), first at t=1, ISI 1 2` (t counted from 1 as in the panels).
    var summary: String {
        var s = "\(count)/\(steps) steps spiked (rate \(String(format: "%.2f", rate)))"
        if let first = spikeTimes.first { s += ", first at t=\(first + 1)" } else { s += ", silent" }
        if count >= 2 { s += ", ISI " + intervals.map(String.init).joined(separator: " ") }
        return s
    }
}

extension ExplorerState {
    mutating func handleSpikes(_ key: Key, layers: Int, steps: Int, neurons: Int, prompts: Int) -> Effect {
        let p = max(1, prompts)
        switch key {
        case .char("n"): textPrompt = (min(textPrompt, p - 1) + 1) % p; return traceEffect
        case .char("N"): textPrompt = (min(textPrompt, p - 1) + p - 1) % p; return traceEffect
        case .char("]"), .char("l"): layerIndex = min(layers - 1, layerIndex + 1); neuronOffset = 0; traceNeuron = 0; return traceEffect
        case .char("["), .char("h"): layerIndex = max(0, layerIndex - 1); neuronOffset = 0; traceNeuron = 0; return traceEffect
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
        case .char("+"), .char("="): traceNeuron = min(max(0, neurons - 1), traceNeuron + 1); return traceEffect
        case .char("-"): traceNeuron = max(0, traceNeuron - 1); return traceEffect
        default: return .none
        }
    }
}
