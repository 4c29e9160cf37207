import ArgumentParser
import Foundation
import SpikeCLIP
import Visualize

/// Scores of one side (spiking or ANN) for one image, as JSON.
struct ScoresJSON: Codable {
    var cosines: [Float]
    var logits: [Float]
    var probabilities: [Float]
    var top1: Int
    var top1Class: String

    init(_ s: ZeroShotScores, classes: [String]) {
        cosines = s.cosines
        logits = s.logits
        probabilities = s.probabilities
        top1 = s.top1
        top1Class = classes[s.top1]
    }
}

/// Energy of one image in both conventions (pJ), spiking encoder and ANN image encoder (absent without one).
struct ImageEnergyJSON: Codable {
    var snnPaperPJ: Double
    var snnFullerPJ: Double
    var snnMACs: Double
    var snnACs: Double
    var annPaperPJ: Double?
    var annFullerPJ: Double?
    var annMACs: Double?
    var constants: EnergyConstants

    init(snn: EnergyReport, ann: EnergyReport?) {
        snnPaperPJ = tidy(snn.totalPJ(.paper))
        snnFullerPJ = tidy(snn.totalPJ(.fuller))
        snnMACs = tidy(snn.totalMACs)
        snnACs = tidy(snn.totalACs)
        annPaperPJ = ann.map { tidy($0.totalPJ(.paper)) }
        annFullerPJ = ann.map { tidy($0.totalPJ(.fuller)) }
        annMACs = ann.map { tidy($0.totalMACs) }
        constants = snn.constants
    }


    enum CodingKeys: String, CodingKey {
        case snnPaperPJ = "snn_paper_pj", snnFullerPJ = "snn_fuller_pj", snnMACs = "snn_macs", snnACs = "snn_acs"
        case annPaperPJ = "ann_paper_pj", annFullerPJ = "ann_fuller_pj", annMACs = "ann_macs", constants
    }
}

struct PromptJSON: Codable {
    var text: String
    var tokens: Int
    var truncated: Int
}

struct ClassifyJSON: Codable {
    struct Image: Codable {
        var path: String
        var snn: ScoresJSON
        /// Absent without an ANN image side (an official file converted without --clip).
        var ann: ScoresJSON?
        var agree: Bool?
        var energy: ImageEnergyJSON
    }
    var checkpoint: String
    var note: String?
    var classes: [String]
    var templates: [String]
    var prompts: [PromptJSON]
    var logitScale: Double
    /// Which text encoder scores the ANN side: `minilm`, `clip`, or `spiking` (no ANN text model in the checkpoint).
    var annTextEncoder: String
    /// Which image encoder is the ANN side: `twin`, `clip`, or absent (none).
    var annImageEncoder: String?
    /// The interventions applied to the spiking side (absent: none).
    var interventions: InterventionSet?
    var images: [Image]
}

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Zero-shot classify images: spiking model and ANN twin side by side (cosine, probability, top-1), energy per image.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var change: InterventionOptions

    @Option(name: .customLong("image"), parsing: .upToNextOption, help: "Image file(s): PNG, JPEG, PGM/PPM or IDX.")
    var images: [String]

    @Option(name: .customLong("prompt"), parsing: .upToNextOption,
            help: "Class name(s) filled into the templates (default: the checkpoint's classes; token ids for an 'ids' checkpoint).")
    var prompts: [String] = []

    @Option(name: .customLong("template"), parsing: .singleValue, help: "Prompt template with {} (repeat; default: the checkpoint's templates).")
    var templates: [String] = []

    @Flag(help: "Machine-readable output.")
    var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("give at least one --image") }
        // Knowable from the command line alone: usage errors (exit 2), before any file is read.
        if let i = prompts.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw ValidationError("--prompt \(i + 1) is empty or whitespace only")
        }
        if let i = templates.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw ValidationError("--template \(i + 1) is empty or whitespace only")
        }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let ctx = try model.load()
            let result = try classify(ctx)
            if json { try printJSON(result); return }
            printText(result)
        }
    }

    func classify(_ ctx: ModelContext) throws -> ClassifyJSON {
        let c = ctx.config
        let classes = prompts.isEmpty ? ctx.defaultClasses : prompts
        let temps = templates.isEmpty ? ctx.defaultTemplates : templates
        guard !classes.isEmpty else { throw UserError(description: "no classes: give --prompt") }
        // The checkpoint's own classes and templates may still be empty strings (a file, so a runtime error).
        if let i = classes.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw UserError(description: "class \(i + 1) of \(ctx.path) is empty or whitespace only")
        }
        if let i = temps.firstIndex(where: { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw UserError(description: "template \(i + 1) of \(ctx.path) is empty or whitespace only")
        }
        let iv = try change.set(for: ctx)
        let text = try ctx.pipeline.encodeText(PromptSet(classes: classes, templates: temps), mode: ctx.kernels, interventions: iv)
        let prepared = try images.map(ctx.pipeline.prepare)
        let r = try ctx.pipeline.analyze(images: prepared, text: text, options: AnalysisOptions(mode: ctx.kernels, interventions: iv))
        let out = zip(images, r.images).map { path, image -> ClassifyJSON.Image in
            let snn = image.snn!
            return .init(path: path, snn: ScoresJSON(snn, classes: classes), ann: image.ann.map { ScoresJSON($0, classes: classes) },
                         agree: image.ann.map { snn.top1 == $0.top1 }, energy: ImageEnergyJSON(snn: image.energy!, ann: image.ann == nil ? nil : r.annEnergy))
        }
        let tokens = text.tokens
        return ClassifyJSON(
            checkpoint: ctx.path, note: ctx.note, classes: classes, templates: temps,
            prompts: tokens.map { PromptJSON(text: $0.text, tokens: $0.count, truncated: $0.truncatedPieces.count) },
            logitScale: c.logitScale, annTextEncoder: text.annTextEncoder,
            annImageEncoder: ctx.pipeline.parts.annImage?.name, interventions: iv.isEmpty ? nil : iv, images: out)
    }

    func printText(_ r: ClassifyJSON) {
        if let note = r.note { say("note: \(note)") }
        say("checkpoint \(r.checkpoint); \(r.classes.count) classes x \(r.templates.count) templates; logit scale \(r.logitScale)")
        switch (r.annImageEncoder, r.annTextEncoder) {
        case (nil, _): say("ANN side: none (this checkpoint names no CLIP folder); spiking model only")
        case ("clip", _): say("ANN side: CLIP's image tower vs CLIP's text tower")
        case (_, "minilm"): say("ANN side: ANN twin image encoder vs the MiniLM text model")
        default: say("ANN side: ANN twin image encoder vs the spiking text embeddings (no ANN text model in this checkpoint)")
        }
        let annName = r.annImageEncoder == "clip" ? "CLIP" : "ANN twin"
        if let iv = r.interventions { say("interventions on the spiking side: " + terminalText(iv.summary)) }
        for p in r.prompts where p.truncated > 0 {
            say("warning: prompt '\(quotedPreview(p.text))' has \(p.tokens) tokens, \(p.truncated) cut to fit L")
        }
        let width = min(24, max(5, r.classes.map(\.count).max() ?? 5))
        for image in r.images {
            let agree = image.agree.map { $0 ? " (agree)" : " (differ)" } ?? ""
            // A top-1 that ties with other classes is said so (a silenced text encoder or T = 1 can make every class equal).
            func tie(_ s: ScoresJSON) -> String {
                let n = s.probabilities.filter { abs($0 - s.probabilities[s.top1]) <= 1e-7 }.count
                return n > 1 ? " (tied with \(n - 1) other class\(n == 2 ? "" : "es"))" : ""
            }
            say(); say("\(image.path): SNN top-1 \(image.snn.top1Class)" + tie(image.snn) + (image.ann.map { ", ANN top-1 \($0.top1Class)" + tie($0) } ?? "") + agree)
            say("  " + pad("class", width) + "   SNN cos   SNN p" + (image.ann == nil ? "" : "     ANN cos   ANN p"))
            for k in r.classes.indices {
                let mark = (k == image.snn.top1 ? "*" : " ") + (k == image.ann?.top1 ? "+" : " ")
                let annColumns = image.ann.map { String(format: "   %+7.4f  %7.4f", $0.cosines[k], $0.probabilities[k]) } ?? ""
                say(mark + pad(String(r.classes[k].prefix(width)), width) + String(
                    format: "  %+7.4f  %7.4f", image.snn.cosines[k], image.snn.probabilities[k]) + annColumns)
            }
            let e = image.energy
            var line = "  energy: SNN \(formatEnergy(picojoules: e.snnPaperPJ)) paper, \(formatEnergy(picojoules: e.snnFullerPJ)) fuller"
                + " (\(formatCount(e.snnMACs)) MACs + \(formatCount(e.snnACs)) ACs)"
            if let paper = e.annPaperPJ, let fuller = e.annFullerPJ, let macs = e.annMACs {
                line += "; \(annName) \(formatEnergy(picojoules: paper)) paper, \(formatEnergy(picojoules: fuller)) fuller (\(formatCount(macs)) MACs)"
            }
            say(line)
        }
        say(); say("* SNN top-1, + ANN top-1. Energy constants: \(EnergyConstants.horowitz45nm.source)")
    }
}
