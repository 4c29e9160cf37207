import Foundation
import SpikeCLIP
import Visualize

extension PanelID {
    public static let compare = PanelID("compare")
}

/// Per prompt: the spiking model's cosine and probability beside the ANN's.
enum ComparePanel: ExplorerPanel {
    static let id = PanelID.compare
    static let title = "ANN vs SNN"
    static let helpLines: [String] = ["ANN/SNN  c cosine <-> softmax  j/k scroll",
                                      "         o open a checkpoint to compare  O close it",
                                      "         b its SNN columns <-> the ANN's"]
    static let tile: Tile = Tile(.right) { available, ctx, state in min((ctx.analysis?.classNames.count ?? state.classNames.count) + 4, available / 3 + 2) }

    static func boxTitle(_ state: ExplorerState) -> String { "ANN vs SNN  c:\(state.showSoftmax ? "cosine" : "softmax") j/k:scroll o:compare" }

    static func handle(_ key: Key, _ state: inout ExplorerState, _ input: PanelInput) -> Effect? {
        switch key {
        case .char("c"): state.showSoftmax.toggle(); return .redraw
        case .down, .char("j"): state.compareScroll = min(max(0, state.classNames.count - 1), state.compareScroll + 1); return .redraw
        case .up, .char("k"): state.compareScroll = max(0, state.compareScroll - 1); return .redraw
        case .char("b"): state.compareSecondColumns.toggle(); return .redraw
        case .char("O"): return .closeComparison
        case .char("o"):
            // The Image panel's directory browser lists checkpoints; Enter on one loads it here.
            state.focus = .image
            state.message = "pick a .safetensors checkpoint and press Enter to compare with it"
            if state.source != .directory { state.source = .directory; return .listDirectory }
            return .redraw
        default: return nil
        }
    }

    static func render(_ state: ExplorerState, _ ctx: FrameContext, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        guard width > 20, height > 3, let a = ctx.analysis else {
            return noAnalysis(width: width, height: height)
        }
        let cos = a.imageCosine.map { String(format: "%.3f", $0) } ?? "-"
        var summary = "image cos(SNN,ANN) \(cos)"
        if let agree = a.top1Agrees, let kl = a.klANNtoSNN {
            // Short labels below 70 columns so that every number stays on screen.
            summary = width >= 70
                ? "top-1 agree: \(agree ? "yes" : "no")  KL(ANN||SNN) \(String(format: "%.3f", kl))  " + summary
                : "agree \(agree ? "yes" : "no")  KL \(String(format: "%.3f", kl))  img cos \(cos)"
        }
        if a.ann == nil {
            summary = "SNN only: no ANN side (no CLIP folder named; convert with --clip)"
        } else if a.textCosines == nil {
            summary += "  (no ANN text model: ANN twin vs spiking text)"
        } else if a.annName == "CLIP" {
            summary += width >= 90 ? "  (ANN = CLIP)" : ""
        }
        g.put(fit(summary, width), x: 0, y: 0, role: a.top1Agrees == false ? .warning : .normal)
        // With interventions, one line against the unmodified spiking model; with --compare, one for the second
        // checkpoint (issue 17).
        var top = 1
        if let c = a.compared {
            let line: String
            if let e = c.error {
                line = "\(terminalSafe(c.name)): " + terminalSafe(e)
            } else {
                let maxDelta = zip(a.snn.cosines, c.snn.cosines).map { abs($0 - $1) }.max() ?? 0
                line = "2nd \(terminalSafe(c.name)): SNN top-1 \(terminalSafe(a.classNames[c.snn.top1])) "
                    + String(format: "%.2f", c.snn.probabilities[c.snn.top1]) + (c.snn.top1 == a.snn.top1 ? " (same)" : " (differs)")
                    + String(format: ", max |dcos| %.3f", maxDelta)
            }
            g.put(fit(line, width), x: 0, y: top, role: c.error == nil && c.snn.top1 == a.snn.top1 ? .ann : .warning)
            top += 1
        }
        if let b = a.baseline {
            let maxDelta = zip(a.snn.cosines, b.snn.cosines).map { abs($0 - $1) }.max() ?? 0
            let k = a.snn.top1, kb = b.snn.top1
            let line = "intervened SNN vs unmodified: top-1 " + (k == kb ? "kept" : "\(terminalSafe(a.classNames[kb])) -> \(terminalSafe(a.classNames[k]))")
                + String(format: ", p(top-1) %+.3f, max |dcos| %.3f", a.snn.probabilities[kb] - b.snn.probabilities[kb], maxDelta)
            g.put(fit(line, width), x: 0, y: top, role: k == kb ? .accent : .warning)
            top += 1
        }
        // Columns: class | SNN bar | SNN cos p | ANN bar | ANN cos p | text cos(SNN, ANN); with a second checkpoint
        // (b toggles), its SNN in place of the ANN and the cosine difference in place of the text cosine.
        let second = a.compared.flatMap { $0.error == nil && state.compareSecondColumns ? $0 : nil }
        let right: ZeroShotScores? = second?.snn ?? a.ann
        let rightName = second == nil ? "ANN" : "2nd"
        let nums = 12, textW = second != nil ? 10 : a.textCosines == nil ? 0 : 9
        let nameW = min(16, max(6, width / 6))
        let barW = max(3, (width - nameW - 2 * nums - textW - 4) / 2)
        let what = state.showSoftmax ? "p" : "cos"
        var header = fit("class", nameW) + " " + fit("SNN \(what) bar", barW) + fit("    cos    p", nums) + " " + fit("\(rightName) \(what) bar", barW) + fit("    cos    p", nums)
        if textW > 0 { header += fit(second != nil ? "  2nd-1st" : " text cos", textW) }
        g.put(fit(header, width), x: 0, y: top, role: .dim)
        // Rows scroll (j/k) when the classes do not fit; the last row then says how many are hidden.
        let rows = height - 1 - top
        let (first, shown, note) = scrollWindow(a.classNames.count, rows: rows, scroll: state.compareScroll)
        if let note { g.put(fit(note, width), x: 0, y: height - 1, role: .dim) }
        for (c, name) in a.classNames.enumerated() where c >= first && c < first + shown {
            let y = top + 1 + c - first
            let role: ColorRole = c == a.snn.top1 ? .accent : .normal
            var x = 0
            g.put(fit(name, nameW), x: x, y: y, role: role); x += nameW + 1
            let s = state.showSoftmax ? Double(a.snn.probabilities[c]) : Double(max(0, a.snn.cosines[c]))
            g.put(state.glyphs.bar(fraction: s, width: barW), x: x, y: y, role: .snn); x += barW
            g.put(fit(String(format: " %+.3f %.2f", a.snn.cosines[c], a.snn.probabilities[c]), nums), x: x, y: y, role: role); x += nums + 1
            if let ann = right {
                let v = state.showSoftmax ? Double(ann.probabilities[c]) : Double(max(0, ann.cosines[c]))
                g.put(state.glyphs.bar(fraction: v, width: barW), x: x, y: y, role: .ann)
                g.put(fit(String(format: " %+.3f %.2f", ann.cosines[c], ann.probabilities[c]), nums), x: x + barW, y: y, role: c == ann.top1 ? .accent : .normal)
            }
            x += barW + nums
            if let b = second?.snn { g.put(fit(String(format: "  %+.3f", b.cosines[c] - a.snn.cosines[c]), textW), x: x, y: y) }
            else if let t = a.textCosines { g.put(fit(String(format: "  %+.3f", t[c]), textW), x: x, y: y) }
        }
        return g
    }
}

extension ComparePanel {
    static func explanation(_ state: ExplorerState, _ ctx: FrameContext) -> [String] {
        guard let a = ctx.analysis else { return ["The spiking model beside its ANN teacher, once an analysis is ready."] }
        var lines: [String] = []
        if let ann = a.ann {
            let kl = a.klANNtoSNN.map { String(format: "%.3f", $0) } ?? "-"
            lines.append("KL(ANN || SNN) = \(kl) nats; top-1 \(a.top1Agrees == true ? "agrees" : "differs") (SNN '\(a.classNames[a.snn.top1])', ANN '\(a.classNames[ann.top1])')"
                + (a.imageCosine.map { String(format: "; image embeddings cos %.3f.", $0) } ?? "."))
        }
        lines.append("cos: cosine of the image and class embeddings; p: softmax over classes of cos x logit scale. The SNN was distilled from this ANN (alignment, then CE + KL fine-tuning).")
        if a.textCosines != nil {
            lines.append("text cos: the spiking text encoder's class embedding against the ANN text model's (how well the spiking MLP learned the teacher's text side).")
        }
        return lines
    }
}
