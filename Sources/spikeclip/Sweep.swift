import ArgumentParser
import Foundation
import SpikeCLIP
import TUI
import Visualize

/// `spikeclip sweep` output: one point per swept value.
struct SweepJSON: Codable {
    struct Point: Codable {
        /// The swept value as given (`4`, `0.75`, a layer name, `none`).
        var value: String
        var interventions: InterventionSet
        var snnTop1: Double
        var snnTop5: Double
        var annTop1: Double?
        var agreement: Double?
        var snnPaperPJMean: Double
        var snnFullerPJMean: Double
        var snnACsMean: Double
        /// Mean firing rate over the image encoder's LIF layers.
        var imageFiringRateMean: Double

        // Spelled out: the automatic snake case would write `snn_a_cs_mean` (regression, fresh-user trial).
        enum CodingKeys: String, CodingKey {
            case value, interventions, snnTop1 = "snn_top1", snnTop5 = "snn_top5", annTop1 = "ann_top1", agreement
            case snnPaperPJMean = "snn_paper_pj_mean", snnFullerPJMean = "snn_fuller_pj_mean", snnACsMean = "snn_acs_mean"
            case imageFiringRateMean = "image_firing_rate_mean"
        }
    }
    var checkpoint: String
    var note: String?
    var over: String
    var dataset: String
    var split: String
    var images: Int
    var classes: [String]
    var points: [Point]
    /// Files written with `--out`.
    var files: [String]
}

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy, SNN-ANN agreement and energy per image against the time steps T, a threshold scale, or which LIF layer is silenced.",
        discussion: """
            --over T: the readout stopped after t = 1..T steps (energy counts the steps run). --over threshold: every
            LIF threshold times each value (default 0.5 0.75 1 1.25 1.5 2). --over silence: each LIF layer silenced in
            turn (values: layer names; default every layer), with 'none' first: the lesion table of which layer
            matters most. The ANN side is never changed. --out DIR writes sweep-<over>.csv, .png and .svg.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DatasetOptions

    @Option(help: "What to sweep: T, threshold or silence.")
    var over: String

    @Option(parsing: .upToNextOption, help: "The values (default: see below).")
    var values: [String] = []

    @Option(help: "Images evaluated per point (default 1000; the data set's first N).")
    var images: Int?

    @Option(help: "Folder for sweep-<over>.csv, .png and .svg.")
    var out: String?

    @Flag(help: "Overwrite existing output files.")
    var force = false

    @Flag(help: "Machine-readable output.")
    var json = false

    func validate() throws {
        guard ["T", "t", "threshold", "silence"].contains(over) else {
            throw ValidationError("--over '\(quotedPreview(over))' is not one of T, threshold, silence")
        }
        if let images { guard images >= 1 else { throw ValidationError("--images must be >= 1") } }
        if over == "threshold" {
            for v in values where !((Double(v).map { $0.isFinite && $0 > 0 }) ?? false) {
                throw ValidationError("--values: '\(quotedPreview(v))' is not a threshold scale > 0")
            }
        }
        if over.lowercased() == "t" {
            for v in values where Int(v) == nil { throw ValidationError("--values: '\(quotedPreview(v))' is not a number of time steps") }
        }
    }

    /// The intervention set of each swept value.
    func points(_ ctx: ModelContext) throws -> [(String, InterventionSet)] {
        let t = ctx.config.T
        switch over.lowercased() {
        case "t":
            let steps = values.isEmpty ? Array(1...t) : values.compactMap { Int($0) }
            return steps.map { (String($0), InterventionSet(steps: $0)) }
        case "threshold":
            let scales = values.isEmpty ? ["0.5", "0.75", "1", "1.25", "1.5", "2"] : values
            return scales.map { ($0, InterventionSet([Intervention(layer: "*", action: .threshold, scale: Double($0) ?? 1)])) }
        default:
            let layers = values.isEmpty ? ctx.pipeline.neuronLayerNames : values.filter { $0 != "none" }
            return [("none", InterventionSet())] + layers.map { ($0, InterventionSet([Intervention(layer: $0, action: .silence)])) }
        }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let ctx = try model.load()
            var d = data
            d.limit = images ?? data.limit ?? 1000
            let sets = try points(ctx)
            let graphs = [ctx.pipeline.parts.spikingImage.graph, ctx.pipeline.parts.spikingText.graph]
            for (value, set) in sets {
                do { try set.validate(against: graphs, steps: ctx.config.T) } catch {
                    throw UserError(description: "--values '\(quotedPreview(value))': \(error)")
                }
            }
            if let out {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue else {
                    throw UserError(description: "--out \(quotedPreview(out)): not an existing folder")
                }
                for ext in ["csv", "png", "svg"] where !force && FileManager.default.fileExists(atPath: path(ext)) {
                    throw UserError(description: "\(path(ext)): file exists (use --force to overwrite)")
                }
            }
            let showProgress = stderrIsTerminal && !json
            var points: [SweepJSON.Point] = []
            var first: EvalJSON?
            for (i, (value, set)) in sets.enumerated() {
                if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[2Ksweep \(over): point \(i + 1)/\(sets.count) (\(terminalText(value)))".utf8)) }
                let started = DispatchTime.now().uptimeNanoseconds
                let r = try d.evaluate(ctx, interventions: set, progress: false)
                if !stderrIsTerminal {
                    // Logs and pipes get one plain line per point (no carriage returns).
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                    printError("sweep \(over): point \(i + 1)/\(sets.count) (\(value)) done: SNN "
                               + String(format: "%.1f %%, ", r.spiking.top1 * 100) + formatEnergy(picojoules: r.energy.snnPaperPJMean)
                               + String(format: " per image, %.1f s", seconds))
                }
                first = first ?? r
                let imageRates = r.firingRates.filter { $0.layer.hasPrefix("vision.") }.map(\.firingRate)
                points.append(.init(
                    value: value, interventions: set, snnTop1: r.spiking.top1, snnTop5: r.spiking.top5, annTop1: r.ann?.top1,
                    agreement: r.agreement, snnPaperPJMean: r.energy.snnPaperPJMean, snnFullerPJMean: r.energy.snnFullerPJMean,
                    snnACsMean: r.energy.snnACsMean,
                    imageFiringRateMean: tidy(imageRates.reduce(0, +) / Double(max(1, imageRates.count)))))
            }
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            let f = try requirePoint(first)
            var result = SweepJSON(checkpoint: ctx.path, note: ctx.note, over: over.lowercased() == "t" ? "T" : over, dataset: f.dataset,
                                   split: f.split, images: f.images, classes: f.classes, points: points, files: [])
            let curves = Self.curves(result)
            if out != nil {
                try writeAtomically(Array(Self.csv(result).utf8), to: path("csv"), force: force)
                try writeAtomically(try CurveFigure.figure(curves).png(), to: path("png"), force: force)
                try writeAtomically(Array(CurveFigure.figure(curves).svg().utf8), to: path("svg"), force: force)
                result.files = ["csv", "png", "svg"].map(path)
            }
            if json { try printJSON(result); return }
            printText(result, curves)
        }
    }

    func path(_ ext: String) -> String {
        ((out ?? ".") as NSString).appendingPathComponent("sweep-\(over.lowercased() == "t" ? "T" : over).\(ext)")
    }

    /// The first point's evaluation (every --over has at least one point; a clear error anyway).
    func requirePoint(_ r: EvalJSON?) throws -> EvalJSON {
        guard let r else { throw UserError(description: "sweep: no points") }
        return r
    }

    static func csv(_ r: SweepJSON) -> String {
        func field(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        func num(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "" }
        var lines = ["\(r.over),snn_top1,snn_top5,ann_top1,agreement,snn_paper_pj_mean,snn_fuller_pj_mean,snn_acs_mean,image_firing_rate_mean"]
        for p in r.points {
            lines.append([field(terminalText(p.value)), num(p.snnTop1), num(p.snnTop5), num(p.annTop1), num(p.agreement), num(p.snnPaperPJMean),
                          num(p.snnFullerPJMean), num(p.snnACsMean), num(p.imageFiringRateMean)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func curves(_ r: SweepJSON) -> CurveData {
        let xLabel = r.over == "T" ? "time steps run (readout after t steps)" : r.over == "threshold" ? "threshold scale (every LIF layer)" : "layer silenced (index in forward order; 0 = none)"
        let ticks = r.over == "silence" ? r.points.indices.map(String.init) : r.points.map { terminalText($0.value) }
        return CurveData(
            title: "spikeclip sweep --over \(r.over): \(r.dataset) \(r.split), \(r.images) images, \(r.classes.count) classes",
            subtitle: terminalText((r.checkpoint as NSString).lastPathComponent),
            xLabel: xLabel, xTicks: ticks,
            panels: [
                .init(yLabel: "accuracy (%)", series: [
                    .init(name: "SNN top-1", values: r.points.map { $0.snnTop1 * 100 }),
                    .init(name: "ANN top-1", values: r.points.map { $0.annTop1.map { $0 * 100 } }),
                    .init(name: "SNN-ANN agreement", values: r.points.map { $0.agreement.map { $0 * 100 } }),
                ], yRange: 0...100),
                .init(yLabel: "SNN energy per image (uJ, paper convention)", series: [
                    .init(name: "paper", values: r.points.map { $0.snnPaperPJMean / 1e6 }),
                    .init(name: "fuller", values: r.points.map { $0.snnFullerPJMean / 1e6 }),
                ]),
            ])
    }

    func printText(_ r: SweepJSON, _ curves: CurveData) {
        if let note = r.note { say("note: \(note)") }
        say("sweep over \(r.over) on \(r.dataset) \(r.split), \(r.images) images, \(r.classes.count) classes; checkpoint \(r.checkpoint)")
        say("the ANN side is not changed; energy is the spiking image encoder's per image")
        say("")
        let w = max(8, min(40, r.points.map { terminalText($0.value).count }.max() ?? 8))
        say(pad(r.over, w) + "  SNN top-1  SNN top-5  ANN top-1  agree   energy paper  fuller     image rate")
        for p in r.points {
            let ann = p.annTop1.map { String(format: "%8.2f%%", $0 * 100) } ?? "       -"
            let agree = p.agreement.map { String(format: "%6.2f%%", $0 * 100) } ?? "     -"
            say(pad(String(terminalText(p.value).prefix(w)), w) + String(format: "  %8.2f%%  %8.2f%%", p.snnTop1 * 100, p.snnTop5 * 100) + " " + ann
                  + "  " + agree + "  " + rightAligned(formatEnergy(picojoules: p.snnPaperPJMean), 11) + "  "
                  + rightAligned(formatEnergy(picojoules: p.snnFullerPJMean), 9) + String(format: "  %8.2f%%", p.imageFiringRateMean * 100))
        }
        if r.over == "silence", let base = r.points.first {
            let worst = r.points.dropFirst().max { (base.snnTop1 - $0.snnTop1) < (base.snnTop1 - $1.snnTop1) }
            if let worst {
                say("")
                say("largest drop: silencing \(terminalText(worst.value)) costs " + String(format: "%.2f", (base.snnTop1 - worst.snnTop1) * 100) + " points of SNN top-1")
            }
        }
        say("")
        CurvePlot(curves).render(width: 80).lines.forEach { say($0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)) }
        for f in r.files { say("wrote \(f)") }
    }
}

/// Interventions given on the command line (`classify`, `eval`): a JSON intervention set (inline or `@FILE`, the
/// format `sweep --json` prints under `interventions`) and the common ones as flags.
struct InterventionOptions: ParsableArguments {
    @Option(help: "Intervention set as JSON, or @FILE holding it: {\"interventions\": [{\"layer\": ..., \"action\": \"silence\", \"target\": \"head\", \"index\": 1}], \"steps\": 3}.")
    var interventions: String?

    @Option(parsing: .singleValue, help: "Silence a spiking layer (repeatable).")
    var silence: [String] = []

    @Option(help: "Multiply every LIF threshold by this factor.")
    var thresholdScale: Double?

    @Option(help: "Stop the spiking forward pass after this many time steps.")
    var steps: Int?

    /// A decoding error in a few words naming the key.
    static func reason(_ error: Error) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.reduce("") { s, k in k.intValue.map { s + "[\($0)]" } ?? (s.isEmpty ? k.stringValue : s + "." + k.stringValue) }
        }
        switch error {
        case let DecodingError.keyNotFound(key, c): return "missing '\(path(c.codingPath + [key]))'"
        case let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c): return "wrong type at '\(path(c.codingPath))'"
        case let DecodingError.dataCorrupted(c): return c.codingPath.isEmpty ? "not valid JSON" : "invalid value at '\(path(c.codingPath))'"
        default: return "not valid JSON"
        }
    }

    /// The set, checked against the checkpoint's layers. - Throws: ``UserError`` naming the option.
    func set(for ctx: ModelContext) throws -> InterventionSet {
        var set = InterventionSet()
        if let text = interventions {
            let data: Data
            if text.hasPrefix("@") {
                let path = String(text.dropFirst())
                guard !path.isEmpty else { throw UserError(description: "--interventions @: give a file name after @") }
                guard let d = FileManager.default.contents(atPath: path) else { throw UserError(description: "--interventions: cannot read file '\(quotedPreview(path))'") }
                data = d
            } else {
                data = Data(text.utf8)
            }
            do { set = try JSONDecoder().decode(InterventionSet.self, from: data) } catch {
                throw UserError(description: "--interventions: not an intervention set (\(Self.reason(error))); expected {\"interventions\": [{\"layer\": NAME, \"action\": silence|force|threshold, \"target\": layer|channel|head|token|neuron, \"index\": N, \"scale\": X}], \"steps\": N}")
            }
        }
        set.interventions += silence.map { Intervention(layer: $0, action: .silence) }
        if let s = thresholdScale { set.interventions.append(Intervention(layer: "*", action: .threshold, scale: s)) }
        if let steps { set.steps = steps }
        do {
            try set.validate(against: [ctx.pipeline.parts.spikingImage.graph, ctx.pipeline.parts.spikingText.graph], steps: ctx.config.T)
        } catch {
            throw UserError(description: "\(error)")
        }
        return set
    }
}
