import Foundation
import SpikeCLIP
import Visualize

/// Class prompts and templates, with the live token counter against L.
enum PromptsPanel {
    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 10, height > 2 else { return g }
        let l = ctx.contextLength
        let firstTemplate = state.templates.first ?? "{}"
        var y = 0
        let header = state.editingTemplates ? "Templates (m: class prompts)" : "Class prompts"
        let items = state.editingTemplates ? state.templates : state.classNames
        let selected = min(max(0, items.count - 1), state.editingTemplates ? state.selectedTemplate : state.selectedClass)
        g.put(fit("\(header) \(selected + 1)/\(items.count)   ensembling \(state.ensemble ? "on" : "off") (t)", width), x: 0, y: y, role: .accent)
        y += 1
        let listHeight = max(1, height - y - (state.editBuffer != nil ? 2 : 0) - (state.editingTemplates ? 0 : 1))
        let first = max(0, min(selected - listHeight / 2, items.count - listHeight))
        for i in first..<min(items.count, first + listHeight) {
            // Worst case over the templates in use: a class prompt is filled into each template.
            let worst = worstTokens(state, ctx, item: items[i])
            let counter = worst.truncated > 0 ? "[\(worst.count)/\(l) cut \(worst.truncated)]" : "[\(worst.count)/\(l)]"
            let marker = i == selected ? ">" : " "
            let nameWidth = max(1, width - counter.count - 3)
            g.put("\(marker) \(fit(items[i], nameWidth)) ", x: 0, y: y, role: i == selected ? .accent : .normal)
            g.put(counter, x: width - counter.count, y: y, role: worst.truncated > 0 ? .warning : .dim)
            y += 1
        }
        if let buffer = state.editBuffer {
            // The edit line sits right under the list, where the eye is.
            let editY = min(y, height - 2)
            // The same worst case as the list shows once the entry is saved.
            let t = worstTokens(state, ctx, item: buffer)
            let info = t.truncated > 0 ? "\(t.count)/\(l) tokens: \(t.truncated) will be cut" : "\(t.count)/\(l) tokens"
            // The end of the text stays in view while typing: a long entry shows "…" and its last characters.
            let room = max(1, width - "edit> ".count - 1)
            let safe = terminalSafe(buffer)
            let shown = displayWidth(safe) <= room ? safe : String(cutMark) + displaySuffix(safe, columns: room - 1)
            g.put(fit("edit> " + shown + "_", width), x: 0, y: editY, role: .accent)
            g.put(fit(info + "   Enter: save  Esc: cancel", width), x: 0, y: editY + 1, role: t.truncated > 0 ? .warning : .dim)
            y = editY + 2
        }
        if !state.editingTemplates && y < height {
            let count = state.templates.count
            let t = state.ensemble ? "\(count) template\(count == 1 ? "" : "s") (ensembled)" : "template: \(firstTemplate)"
            let counts = state.ensemble && count > 1 ? "; [n/L]: tokens in its longest prompt" : "; [n/L]: tokens of L"
            g.put(fit("\(t)\(counts)  (m: edit templates)", width), x: 0, y: y, role: .dim)
        }
        return g
    }
}

extension PromptsPanel {
    /// Token use of the longest prompt `item` takes part in: a class prompt filled into each template in use, or a
    /// template filled with each class prompt.
    static func worstTokens(_ state: ExplorerState, _ ctx: FrameContext, item: String) -> PromptTokens {
        let prompts = state.editingTemplates ? state.classNames.map { fill(item, with: $0) }
            : (state.ensemble ? state.templates : Array(state.templates.prefix(1))).map { fill($0, with: item) }
        return prompts.map(ctx.tokens).max { $0.count < $1.count } ?? ctx.tokens(item)
    }
}

/// Image source, thumbnail, true label, directory browser.
enum ImagePanel {
    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 10, height > 2 else { return g }
        g.put(fit("source: \(state.source.rawValue) (s)", width), x: 0, y: 0, role: .accent)
        if state.source == .directory {
            // The listing on the left; the image last opened from it on the right when there is room.
            let listW = ctx.image != nil && width >= 50 ? width / 2 : width
            g.put(fit(state.directory, listW), x: 0, y: 1, role: .dim)
            let rows = height - 2
            if state.directoryEntries.isEmpty { g.put(fit("listing...", listW), x: 0, y: 2, role: .dim) }
            let first = max(0, min(state.directorySelection - rows / 2, state.directoryEntries.count - rows))
            for (row, i) in (first..<min(state.directoryEntries.count, first + rows)).enumerated() {
                let e = state.directoryEntries[i]
                let text = (i == state.directorySelection ? "> " : "  ") + e.name + (e.isDirectory ? "/" : "")
                g.put(fit(text, listW - 1), x: 0, y: 2 + row, role: i == state.directorySelection ? .accent : (e.isDirectory ? .dim : .normal))
            }
            if listW < width, let image = ctx.image {
                g.blit(imageView(state, ctx, image, width: width - listW, height: height - 1), x: listW, y: 1)
            }
            return g
        }
        guard let image = ctx.image else {
            g.put(fit("no image loaded", width), x: 0, y: 1, role: .warning)
            return g
        }
        if let typed = state.indexBuffer {
            g.put(fit("go to test index: \(typed)_   Enter: go  Esc: cancel", width), x: 0, y: height - 1, role: .accent)
        } else if state.source == .fashionMNIST {
            g.put(fit("n/p: +-1  N/P: +-100  i: type an index", width), x: 0, y: height - 1, role: .dim)
        }
        g.blit(imageView(state, ctx, image, width: width, height: height - 2), x: 0, y: 1)  // the last row: key hints
        return g
    }

    /// Title and label, thumbnail, and the two models' top-1 beside it.
    static func imageView(_ state: ExplorerState, _ ctx: FrameContext, _ image: ImageInput, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 0, height > 1 else { return g }
        g.put(fit(image.title + (image.label.map { "  label: " + $0 } ?? ""), width), x: 0, y: 0)
        // Two columns per pixel row keeps the thumbnail square; leave 16 columns for the predictions when possible.
        let thumbW = min(width >= 36 ? width - 16 : width, max(1, height - 1) * 2)
        let thumbH = max(1, min(height - 1, thumbW / 2))
        let thumb = Thumbnail(pixels: image.preview, imageHeight: image.previewHeight, imageWidth: image.previewWidth)
        g.blit(thumb.render(width: thumbW, height: thumbH, glyphs: state.glyphs), x: 0, y: 1)
        if let a = ctx.analysis, width - thumbW > 14 {
            let x = thumbW + 2
            let w = width - x
            g.put(fit("SNN: " + a.classNames[a.snn.top1], w), x: x, y: 2, role: .snn)
            if let ann = a.ann { g.put(fit("ANN: " + a.classNames[ann.top1], w), x: x, y: 3, role: .ann) }
            if let label = image.label {
                let ok = a.classNames[a.snn.top1].lowercased() == label.lowercased()
                g.put(fit(ok ? "correct" : "true: " + label, w), x: x, y: 4, role: ok ? .snn : .warning)
            }
        }
        return g
    }
}

/// Spikes of any LIF layer: raster, spatial map, layer x step heatmap, membrane trace.
enum SpikesPanel {
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
        g.put(fit("\(state.layerIndex + 1)/\(ctx.layerNames.count) \(name) [\(shape)] rate \(String(format: "%.1f%%", rate))", width), x: 0, y: 0, role: .accent)
        let play = state.playing ? "playing" : "paused"
        let itemName = isText ? "prompt \(item + 1)/\(a.prompts.count) (n/N): \(a.prompts.indices.contains(item) ? a.prompts[item].text : "")" : "image"
        g.put(fit("step \(state.step + 1)/\(steps) (\(play))  view: \(state.spikeView.rawValue)  \(itemName)", width), x: 0, y: 1, role: .dim)
        let bodyH = height - 2
        switch state.spikeView {
        case .raster:
            let n = layer.neuronsPerItem
            var order = Array(0..<n)
            if state.orderByActivity {
                var counts = [Int](repeating: 0, count: n)
                for t in 0..<steps { for (i, s) in layer.spikes(step: t, item: item).enumerated() { counts[i] += Int(s) } }
                order.sort { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
            }
            let dotsY = state.glyphs.dotsPerCell.y
            let shown = min(n - min(state.neuronOffset, n), (bodyH - 1) * dotsY)
            var spikes = [UInt8](repeating: 0, count: steps * shown)
            for t in 0..<steps {
                let s = layer.spikes(step: t, item: item)
                for j in 0..<shown { spikes[t * shown + j] = s[s.startIndex + order[state.neuronOffset + j]] }
            }
            let rasterW = min(width, 5 + min(24, (width - 5) / steps) * steps)
            let raster = SpikeRaster(spikes: spikes, steps: steps, neurons: shown)
            g.blit(raster.render(width: rasterW, height: bodyH - 1, glyphs: state.glyphs), x: 0, y: 2)
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
            g.blit(MembraneTrace(values: trace, threshold: layer.threshold, spikes: fired).render(width: min(width, 60), height: bodyH - 2), x: 0, y: 3)
            g.put(fit("t = 1..\(steps) across  o h[t]  * spike (h >= threshold, then reset)  - threshold", width), x: 0, y: height - 1, role: .dim)
        }
        return g
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

/// Per prompt: the spiking model's cosine and probability beside the ANN's.
enum ComparePanel {
    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 20, height > 3, let a = ctx.analysis else {
            return noAnalysis(width: width, height: height)
        }
        var summary = "image cos(SNN,ANN) \(String(format: "%.3f", a.imageCosine))"
        if let agree = a.top1Agrees, let kl = a.klANNtoSNN {
            // Short labels below 70 columns so that every number stays on screen.
            summary = width >= 70
                ? "top-1 agree: \(agree ? "yes" : "no")  KL(ANN||SNN) \(String(format: "%.3f", kl))  " + summary
                : "agree \(agree ? "yes" : "no")  KL \(String(format: "%.3f", kl))  img cos \(String(format: "%.3f", a.imageCosine))"
        }
        if a.textCosines == nil { summary += "  (no ANN text model: ANN twin vs spiking text)" }
        g.put(fit(summary, width), x: 0, y: 0, role: a.top1Agrees == false ? .warning : .normal)
        // Columns: class | SNN bar | SNN cos p | ANN bar | ANN cos p | text cos(SNN, ANN).
        let nums = 12, textW = a.textCosines == nil ? 0 : 9
        let nameW = min(16, max(6, width / 6))
        let barW = max(3, (width - nameW - 2 * nums - textW - 4) / 2)
        let what = state.showSoftmax ? "p" : "cos"
        var header = fit("class", nameW) + " " + fit("SNN \(what) bar", barW) + fit("    cos    p", nums) + " " + fit("ANN \(what) bar", barW) + fit("    cos    p", nums)
        if textW > 0 { header += fit(" text cos", textW) }
        g.put(fit(header, width), x: 0, y: 1, role: .dim)
        // Rows scroll (j/k) when the classes do not fit; the last row then says how many are hidden.
        let rows = height - 2
        let fits = a.classNames.count <= rows
        let shown = fits ? a.classNames.count : max(1, rows - 1)
        let first = fits ? 0 : min(state.compareScroll, a.classNames.count - shown)
        if !fits {
            let below = a.classNames.count - first - shown
            g.put(fit("\(first) above, \(below) below (j/k scroll)", width), x: 0, y: height - 1, role: .dim)
        }
        for (c, name) in a.classNames.enumerated() where c >= first && c < first + shown {
            let y = 2 + c - first
            let role: ColorRole = c == a.snn.top1 ? .accent : .normal
            var x = 0
            g.put(fit(name, nameW), x: x, y: y, role: role); x += nameW + 1
            let s = state.showSoftmax ? Double(a.snn.probabilities[c]) : Double(max(0, a.snn.cosines[c]))
            g.put(state.glyphs.bar(fraction: s, width: barW), x: x, y: y, role: .snn); x += barW
            g.put(fit(String(format: " %+.3f %.2f", a.snn.cosines[c], a.snn.probabilities[c]), nums), x: x, y: y, role: role); x += nums + 1
            if let ann = a.ann {
                let v = state.showSoftmax ? Double(ann.probabilities[c]) : Double(max(0, ann.cosines[c]))
                g.put(state.glyphs.bar(fraction: v, width: barW), x: x, y: y, role: .ann)
                g.put(fit(String(format: " %+.3f %.2f", ann.cosines[c], ann.probabilities[c]), nums), x: x + barW, y: y, role: c == ann.top1 ? .accent : .normal)
            }
            x += barW + nums
            if let t = a.textCosines { g.put(fit(String(format: "  %+.3f", t[c]), textW), x: x, y: y) }
        }
        return g
    }
}

/// This image's energy: SNN vs ANN twin, per layer, both conventions, text side per class.
enum EnergyPanel {
    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 20, height > 4, let a = ctx.analysis else {
            return noAnalysis(width: width, height: height)
        }
        let conv = state.convention
        let snn = a.visionEnergy.totalPJ(conv), ann = a.annEnergy.totalPJ(conv)
        g.put(fit(conv.title, width), x: 0, y: 0, role: .accent)
        g.put(fit("image: SNN \(formatEnergy(picojoules: snn))  ANN twin \(formatEnergy(picojoules: ann))  SNN/ANN \(String(format: "%.3f", snn / max(ann, 1e-30)))", width), x: 0, y: 1)
        let perStep = (0..<a.visionEnergy.steps).map { a.visionEnergy.stepPJ($0, conv) }
        g.put(fit("per step: " + perStep.map { formatEnergy(picojoules: $0) }.joined(separator: "  ") + "  " + sparkline(perStep, glyphs: state.glyphs), width), x: 0, y: 2, role: .dim)
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

/// Top-k after t = 1..T time steps (partial time-weighted readout).
enum AnytimePanel {
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
