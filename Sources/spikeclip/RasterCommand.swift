import ArgumentParser
import Foundation
import SpikeCLIP
import TUI
import Visualize

struct RasterJSON: Codable {
    var checkpoint: String
    var note: String?
    var image: String?
    var prompt: String?
    var layer: String
    var out: String
    var format: String
    var steps: Int
    var firstNeuron: Int
    var neurons: Int
    var totalNeurons: Int
    var layerFiringRate: Double
    var bytes: Int
}

struct RasterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raster",
        abstract: "Write a titled spike raster (time step x neuron, firing-rate sidebar) of one LIF layer as PNG, SVG or text.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Image file (for the image encoder's layers, vision.*).")
    var image: String?

    @Option(help: "Prompt text (for the text encoder's layers, text.*), e.g. 'a photo of a sandal'.")
    var prompt: String?

    @Option(help: "LIF layer name, e.g. vision.block.0.attn.q_lif or text.mlp_lif2 (see 'spikeclip inspect').")
    var layer: String

    @Option(help: "Output file; the format follows the extension: .png, .svg or .txt.")
    var out: String

    @Flag(help: "Overwrite an existing output file.")
    var force = false

    @Option(help: "First neuron to plot (flat index within the layer's neurons for the one image or prompt).")
    var firstNeuron = 0

    @Option(help: "Most neurons to plot.")
    var maxNeurons = 256

    @Option(help: "Glyphs for .txt output: braille, half-blocks or ascii.")
    var glyphs: GlyphSet = .ascii

    @Flag(help: "Machine-readable output.")
    var json = false

    var format: String { (out as NSString).pathExtension.lowercased() }

    func validate() throws {
        guard ["png", "svg", "txt"].contains(format) else { throw ValidationError("--out must end in .png, .svg or .txt, got '\(out)'") }
        guard firstNeuron >= 0 else { throw ValidationError("--first-neuron must be >= 0") }
        guard maxNeurons >= 1 else { throw ValidationError("--max-neurons must be >= 1") }
        if layer.hasPrefix("text.") {
            guard let prompt else { throw ValidationError("--layer \(layer) is a text-encoder layer: give --prompt") }
            guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--prompt is empty") }
            guard image == nil else { throw ValidationError("--image is for the image encoder's layers; \(layer) takes --prompt") }
        } else {
            guard image != nil else { throw ValidationError("--layer \(layer) is an image-encoder layer: give --image") }
            guard prompt == nil else { throw ValidationError("--prompt is for the text encoder's layers (text.*); \(layer) takes --image") }
        }
    }

    func run() throws {
        try SpikeCLIPCommand.guarded {
            if !force && FileManager.default.fileExists(atPath: out) {
                throw UserError(description: "\(out): file exists (use --force to overwrite)")
            }
            let ctx = try model.load(annText: false)
            let data = try prompt.map { try Self.rasterData(ctx, prompt: $0, layer: layer, firstNeuron: firstNeuron, maxNeurons: maxNeurons) }
                ?? Self.rasterData(ctx, image: image ?? "", layer: layer, firstNeuron: firstNeuron, maxNeurons: maxNeurons)
            let bytes: [UInt8]
            switch format {
            case "png": bytes = try RasterFigure(data).figure.png()
            case "svg": bytes = Array(RasterFigure(data).svg().utf8)
            default: bytes = Array(RasterFigure.text(data, glyphs: glyphs).utf8)
            }
            try writeAtomically(bytes, to: out, force: force)
            let result = RasterJSON(
                checkpoint: ctx.path, note: ctx.note, image: image, prompt: prompt, layer: layer, out: out, format: format, steps: data.steps,
                firstNeuron: data.firstNeuron, neurons: data.neurons, totalNeurons: data.totalNeurons, layerFiringRate: data.layerRate,
                bytes: bytes.count)
            if json { try printJSON(result); return }
            if let note = ctx.note { say("note: \(note)") }
            say("wrote \(out) (\(format.uppercased()), \(bytes.count) bytes): \(layer), neurons \(data.firstNeuron)-\(data.firstNeuron + data.neurons - 1) of \(data.totalNeurons), \(data.steps) time steps, layer firing rate "
                  + String(format: "%.2f%%", data.layerRate * 100))
        }
    }

    /// Runs the image encoder on one image and cuts out the plotted spikes.
    static func rasterData(_ ctx: ModelContext, image: String, layer: String, firstNeuron: Int, maxNeurons: Int) throws -> RasterData {
        let known = ctx.model.vision.lifLayerNames
        guard known.contains(layer) else {
            throw UserError(description: "'\(quotedPreview(layer))' is not a LIF layer of the image encoder; known: \(known.joined(separator: ", "))")
        }
        let pixels = try ctx.loadImage(image)
        let out = try ctx.model.vision.forward(pixels: pixels, batch: 1, mode: ctx.kernels)
        guard let rec = out.recording[layer] else { throw UserError(description: "layer '\(layer)' was not recorded") }
        return try cut(rec, layer: layer, source: (image as NSString).lastPathComponent, firstNeuron: firstNeuron, maxNeurons: maxNeurons)
    }

    /// Runs the text encoder on one prompt (tokenized to L as everywhere else) and cuts out the plotted spikes.
    static func rasterData(_ ctx: ModelContext, prompt: String, layer: String, firstNeuron: Int, maxNeurons: Int) throws -> RasterData {
        let known = ctx.model.text.lifLayerNames
        guard known.contains(layer) else {
            throw UserError(description: "'\(quotedPreview(layer))' is not a LIF layer of the text encoder; known: \(known.joined(separator: ", "))")
        }
        let tokens = try ctx.tokenize(prompt)
        let (_, recording) = try ctx.model.text.forward(tokenIds: [tokens.ids], mode: ctx.kernels)
        guard let rec = recording[layer] else { throw UserError(description: "layer '\(layer)' was not recorded") }
        return try cut(rec, layer: layer, source: "prompt '\(quotedPreview(prompt))' (\(min(tokens.count, ctx.pipeline.contextLength))/\(ctx.pipeline.contextLength) tokens)",
                       firstNeuron: firstNeuron, maxNeurons: maxNeurons)
    }

    /// The plotted window of batch item 0 of `rec` (the probe card draws the same).
    static func cut(_ rec: LayerRecording, layer: String, source: String, firstNeuron: Int, maxNeurons: Int) throws -> RasterData {
        try RasterData(recording: rec, layer: layer, source: source, firstNeuron: firstNeuron, maxNeurons: maxNeurons)
    }
}
