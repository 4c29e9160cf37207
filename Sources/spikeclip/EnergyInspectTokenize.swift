import ArgumentParser
import Foundation
import SpikeCLIP
import Visualize

// MARK: - energy

struct EnergyLayerJSON: Codable {
    var name: String
    var macs: Double
    var acs: Double
    /// Spikes per neuron per step, for LIF layers (nil for operation rows).
    var firingRate: Double?
    var paperPJ: Double
    var fullerPJ: Double
    enum CodingKeys: String, CodingKey {
        case name, macs, acs, firingRate = "firing_rate", paperPJ = "paper_pj", fullerPJ = "fuller_pj"
    }
}

struct EnergyTableJSON: Codable {
    var layers: [EnergyLayerJSON]
    var totalMACs: Double
    var totalACs: Double
    var totalPaperPJ: Double
    var totalFullerPJ: Double
    enum CodingKeys: String, CodingKey {
        case layers, totalMACs = "total_macs", totalACs = "total_acs", totalPaperPJ = "total_paper_pj", totalFullerPJ = "total_fuller_pj"
    }

    init(_ report: EnergyReport, rates: [String: Double]) {
        layers = report.layers.map {
            EnergyLayerJSON(name: $0.name, macs: tidy($0.totalMACs), acs: tidy($0.totalACs), firingRate: rates[$0.name].map(tidy),
                            paperPJ: tidy($0.energyPJ(.paper, report.constants)), fullerPJ: tidy($0.energyPJ(.fuller, report.constants)))
        }
        totalMACs = tidy(report.totalMACs)
        totalACs = tidy(report.totalACs)
        totalPaperPJ = tidy(report.totalPJ(.paper))
        totalFullerPJ = tidy(report.totalPJ(.fuller))
    }
}

struct EnergyJSON: Codable {
    var checkpoint: String
    var note: String?
    var image: String
    var steps: Int
    var conventions: [String: String]
    var constants: EnergyConstants
    var snn: EnergyTableJSON
    /// The ANN image encoder's dense counts (`ann_image_encoder`: `twin` or `clip`); absent without one.
    var annImageEncoder: String?
    var ann: EnergyTableJSON?
}

struct EnergyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "energy",
        abstract: "Per-layer energy of one image: MACs, ACs, firing rate and pJ in both conventions, spiking encoder and ANN twin.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Image file.")
    var image: String

    @Flag(help: "Machine-readable output.")
    var json = false

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let ctx = try model.load(annText: true)  // CLIP's folder holds the ANN image side of converted files
            let r = try Self.report(ctx, image: image)
            if json { try printJSON(r); return }
            if let note = r.note { say("note: \(note)") }
            say("energy of \(r.image) (checkpoint \(r.checkpoint), T = \(r.steps))")
            say("paper: \(EnergyConvention.paper.title)")
            say("fuller: \(EnergyConvention.fuller.title)")
            say("constants: \(r.constants.source)")
            let annTitle = r.annImageEncoder == "clip" ? "CLIP image tower" : "ANN twin image encoder"
            for (title, table) in [("spiking image encoder", r.snn)] + (r.ann.map { [(annTitle, $0)] } ?? []) {
                say(); say("\(title)")
                let w = max(36, table.layers.map(\.name.count).max() ?? 0)
                say(pad("layer", w) + rightAligned("MACs", 10) + rightAligned("ACs", 10) + rightAligned("rate", 8) + rightAligned("paper", 11) + rightAligned("fuller", 11))
                for l in table.layers {
                    say(pad(l.name, w) + rightAligned(formatCount(l.macs), 10) + rightAligned(formatCount(l.acs), 10)
                          + rightAligned(l.firingRate.map { String(format: "%.1f%%", $0 * 100) } ?? "", 8)
                          + rightAligned(formatEnergy(picojoules: l.paperPJ), 11) + rightAligned(formatEnergy(picojoules: l.fullerPJ), 11))
                }
                say(pad("total", w) + rightAligned(formatCount(table.totalMACs), 10) + rightAligned(formatCount(table.totalACs), 10) + rightAligned("", 8)
                      + rightAligned(formatEnergy(picojoules: table.totalPaperPJ), 11) + rightAligned(formatEnergy(picojoules: table.totalFullerPJ), 11))
            }
            if let ann = r.ann {
                say(); say(String(format: "SNN / ANN energy: %.3f (paper convention), %.3f (fuller estimate)",
                             r.snn.totalPaperPJ / ann.totalPaperPJ, r.snn.totalFullerPJ / ann.totalFullerPJ))
            } else {
                say(); say("no ANN side to compare (this checkpoint names no CLIP folder)")
            }
        }
    }

    static func report(_ ctx: ModelContext, image: String) throws -> EnergyJSON {
        let c = ctx.config
        let pixels = try ctx.loadImage(image)
        let out = try ctx.model.vision.forward(pixels: pixels, batch: 1, mode: ctx.kernels)
        let snn = try EnergyAccounting.vision(out.recording, config: c, item: 0)
        let ann = ctx.pipeline.parts.annImage?.energy(constants: .horowitz45nm)
        var rates: [String: Double] = [:]
        for l in out.recording.layers { rates[l.name] = l.firingRate(item: 0) }
        return EnergyJSON(
            checkpoint: ctx.path, note: ctx.note, image: image, steps: c.T,
            conventions: [EnergyConvention.paper.rawValue: EnergyConvention.paper.title, EnergyConvention.fuller.rawValue: EnergyConvention.fuller.title],
            constants: snn.constants, snn: EnergyTableJSON(snn, rates: rates), annImageEncoder: ctx.pipeline.parts.annImage?.name,
            ann: ann.map { EnergyTableJSON($0, rates: [:]) })
    }
}

// MARK: - inspect

struct InspectJSON: Codable {
    struct Module: Codable {
        var module: String
        var parameters: Int
        var tensors: Int
    }
    struct Layer: Codable {
        var name: String
        var shape: [Int]
        var threshold: Float
    }
    struct GraphLayer: Codable {
        var name: String
        var kind: String
        var inputs: [String]
        var shape: [Int]
    }
    var path: String
    var bytes: Int
    var sha256: String
    var format: String
    var formatVersion: String
    var config: ModelConfig
    var parameters: Int
    var modules: [Module]
    /// dtype -> number of tensors.
    var dtypes: [String: Int]
    var provenance: JSONValue?
    /// The model family the config's `tokenizer.kind` names.
    var family: String
    /// Shapes for batch 1 at the config's image size and `L`.
    var lifLayers: [Layer]
    /// Every layer of both spiking encoders in forward order (the engine's layer graph); shapes per step and item.
    var layers: [GraphLayer]
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a checkpoint: config, model family, parameters per module, dtypes, sha256, provenance, the layer graph, LIF layers with shapes.")

    @Argument(help: "The checkpoint (.safetensors).")
    var checkpoint: String

    @Flag(help: "Machine-readable output.")
    var json = false

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let r = try Self.inspect(checkpoint)
            if json { try printJSON(r); return }
            say("\(r.path): \(r.bytes) bytes, sha256 \(r.sha256)")
            say("format \(r.format) version \(r.formatVersion)")
            let c = r.config
            say("config: T = \(c.T); vision \(c.vision.inChannels)x\(c.vision.imageSize.map(String.init).joined(separator: "x")), D = \(c.vision.embedDims), \(c.vision.numHeads) heads, depth \(c.vision.depths), MLP x\(c.vision.mlpRatios)")
            let twin = c.annVision.map { "ANN twin D = \($0.embedDims), \($0.numHeads) heads, depth \($0.depths)" } ?? "no ANN twin"
            say("        \(twin); text L = \(c.text.contextLength), E = \(c.text.embedDim) (\(c.text.embedding.kind)\(ModelConfig.EmbeddingConfig.signedNote(c.text.embedding.signed == true))), hidden \(c.text.hiddenDim); target \(c.text.targetDim)")
            if c.preprocess.isCLIPThenResize {
                say("        preprocessing clip-then-resize: CLIP \(c.preprocess.clipShortestEdge ?? 0) short side, \(c.preprocess.clipCropSize ?? 0) crop, then bilinear to \(c.vision.imageSize[0])x\(c.vision.imageSize[1])")
            }
            say("        logit scale \(c.logitScale); tokenizer \(c.tokenizer.kind); ANN text model \(c.annText.map { "\($0.file) (sha256 \($0.sha256.prefix(12))...)" } ?? "none")")
            say("        \(c.classes.count) classes: \(c.classes.joined(separator: ", "))")
            say("        \(c.templates.count) templates: \(c.templates.map { "\"\($0)\"" }.joined(separator: ", "))")
            say("dtypes: " + r.dtypes.keys.sorted().map { "\($0) x \(r.dtypes[$0]!)" }.joined(separator: ", "))
            say(); say("parameters: \(r.parameters)")
            for m in r.modules { say("  " + pad(m.module, 36) + rightAligned(String(m.parameters), 12) + rightAligned("\(m.tensors) tensors", 14)) }
            if let p = r.provenance, let data = try? JSONEncoder.sorted.encode(p), let text = String(data: data, encoding: .utf8) {
                say(); say("provenance: \(text)")
            }
            say("model family (tokenizer.kind \(c.tokenizer.kind)): \(r.family)")
            say(); say("layer graph (forward order): name, what it computes, output shape per step and item, inputs when not the previous layer")
            for (i, l) in r.layers.enumerated() {
                if i == 0 || l.inputs.isEmpty { say("  \(l.name.hasPrefix("text.") ? "text encoder (input: token ids)" : "image encoder (input: pixels)"):") }
                let previous = i > 0 ? [r.layers[i - 1].name] : []
                let from = l.inputs.isEmpty || l.inputs == previous ? "" : "  <- " + l.inputs.joined(separator: ", ")
                say("    " + pad(l.name, 36) + " " + pad(l.kind, 34) + " " + pad("[" + l.shape.map(String.init).joined(separator: ", ") + "]", 14) + from)
            }
            say(); say("LIF layers (batch 1): name, spike tensor shape [T, B, ...], threshold")
            for l in r.lifLayers {
                say("  " + pad(l.name, 36) + " " + pad("[" + l.shape.map(String.init).joined(separator: ", ") + "]", 24) + " \(l.threshold)")
            }
        }
    }

    static func inspect(_ path: String) throws -> InspectJSON {
        guard FileManager.default.fileExists(atPath: path) else { throw UserError(description: "\(path): no such checkpoint file") }
        let model = try SpikeCLIPModel(path: path)  // strict load: a corrupt or foreign file fails here
        let family = try ModelFamilies.family(for: model.config, path: path)  // the rule every command applies
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch let e as SafeTensorsError { throw CheckpointError.file(e) }
        let c = model.config
        var modules: [String: (Int, Int)] = [:]
        var dtypes: [String: Int] = [:]
        for info in file.tensors.values {
            let parts = info.key.split(separator: ".")
            // Module = prefix plus the next component (plus the block index for numbered blocks).
            var depth = min(2, parts.count - 1)
            if depth == 2, parts.count > 3, Int(parts[2]) != nil { depth = 3 }
            if parts.first == "ann_vision", parts.count > 4, parts[1] == "encoder" { depth = 4 }
            let module = parts.prefix(depth).joined(separator: ".")
            let prev = modules[module] ?? (0, 0)
            modules[module] = (prev.0 + info.elementCount, prev.1 + 1)
            dtypes[info.dtype.rawValue, default: 0] += 1
        }
        let graphs = [model.vision.graph, model.text.graph]
        let layers = graphs.flatMap(\.neuronLayers).map { InspectJSON.Layer(name: $0.name, shape: [c.T, 1] + $0.shape, threshold: $0.neuron!.vThreshold) }
        let graph = graphs.flatMap(\.layers).map { InspectJSON.GraphLayer(name: $0.name, kind: $0.kind.summary, inputs: $0.inputs, shape: $0.shape) }
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        return InspectJSON(
            path: path, bytes: (attrs[.size] as? NSNumber)?.intValue ?? 0, sha256: try sha256Hex(path: path),
            format: file.metadata["format"] ?? "", formatVersion: file.metadata["format_version"] ?? "", config: c,
            parameters: file.tensors.values.reduce(0) { $0 + $1.elementCount },
            modules: modules.keys.sorted().map { InspectJSON.Module(module: $0, parameters: modules[$0]!.0, tensors: modules[$0]!.1) },
            dtypes: dtypes, provenance: c.provenance, family: family.summary, lifLayers: layers, layers: graph)
    }
}

extension JSONEncoder {
    /// Compact JSON with sorted keys.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

// MARK: - tokenize

struct TokenizeJSON: Codable {
    struct Item: Codable {
        var text: String
        var ids: [Int]
        var pieces: [String]
        var tokens: Int
        var contextLength: Int
        var truncated: Int
        var truncatedPieces: [String]
    }
    var checkpoint: String
    var note: String?
    var tokenizer: String
    var items: [Item]
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize prompts as the spiking text encoder sees them: ids, word pieces, count against L, what was truncated.")

    @OptionGroup var model: ModelOptions

    @Option(parsing: .upToNextOption, help: "Text(s) to tokenize: --text 'a' 'b' or --text 'a' --text 'b'.")
    var text: [String]

    @Option(help: "Tokenize with CLIP's BPE instead of the checkpoint's tokenizer: a folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz (assets/clip has one).")
    var clipVocab: String?

    @Option(help: "Length L with --clip-vocab (77 for the CLIP text tower, 20 for SpikeCLIP's text encoder).")
    var contextLength = 77

    @Flag(help: "Machine-readable output.")
    var json = false

    func validate() throws {
        guard !text.isEmpty else { throw ValidationError("give at least one --text") }
        guard (1...4096).contains(contextLength) else { throw ValidationError("--context-length must be in 1...4096") }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            let r: TokenizeJSON
            if let clipVocab {
                let t = try CLIPTokenizer(path: clipVocab)
                r = TokenizeJSON(checkpoint: clipVocab, note: nil, tokenizer: "clip-bpe", items: text.map { Self.item(t.tokenize($0, contextLength: contextLength), contextLength) })
            } else {
                r = try Self.tokenize(try model.load(annText: false), texts: text)
            }
            if json { try printJSON(r); return }
            if let note = r.note { say("note: \(note)") }
            say("tokenizer \(r.tokenizer) of \(r.checkpoint)")
            for item in r.items {
                say(); say("\"\(item.text)\": \(item.tokens) tokens of L = \(item.contextLength)"
                      + (item.truncated > 0 ? ", \(item.truncated) truncated: \(item.truncatedPieces.joined(separator: " "))" : ", fits"))
                say("  pieces: " + item.pieces.joined(separator: " "))
                say("  ids:    " + item.ids.map(String.init).joined(separator: " "))
            }
        }
    }

    static func tokenize(_ ctx: ModelContext, texts: [String]) throws -> TokenizeJSON {
        let items = try texts.map { item(try ctx.tokenize($0), ctx.pipeline.contextLength) }
        return TokenizeJSON(checkpoint: ctx.path, note: ctx.note, tokenizer: ctx.config.tokenizer.kind, items: items)
    }

    static func item(_ tok: TokenizedPrompt, _ l: Int) -> TokenizeJSON.Item {
        TokenizeJSON.Item(text: tok.text, ids: tok.ids, pieces: tok.pieces, tokens: tok.count, contextLength: l,
                          truncated: tok.truncatedPieces.count, truncatedPieces: tok.truncatedPieces)
    }
}
