import ArgumentParser
import Foundation
import SpikeCLIP
import Visualize

/// The spikes of one layer and one image, as plotted: `[T, n]` for neurons `first ..< first + n` of `total`.
struct RasterData {
    var title: String
    var subtitle: String
    var layer: String
    var steps: Int
    var firstNeuron: Int
    var neurons: Int
    var totalNeurons: Int
    /// `[T, n]` row-major, 0/1.
    var spikes: [UInt8]
    /// Firing rate of the whole layer for this image.
    var layerRate: Double

    /// Spikes per neuron per step of neuron `i` (0-based within the shown range).
    func rate(neuron i: Int) -> Double {
        Double((0..<steps).reduce(0) { $0 + Int(spikes[$1 * neurons + i]) }) / Double(steps)
    }
}

/// A drawing primitive shared by the PNG and SVG backends, in pixels.
enum FigureItem {
    case rect(x: Int, y: Int, width: Int, height: Int, color: (UInt8, UInt8, UInt8))
    /// Text whose top-left corner is at `(x, y)` (6x11 cells in PNG).
    case text(x: Int, y: Int, String, color: (UInt8, UInt8, UInt8), anchor: Anchor)

    enum Anchor { case start, middle, end }
}

/// Layout of a raster figure: title, neuron axis (rows), time-step axis (columns), firing-rate sidebar.
struct RasterFigure {
    let width: Int
    let height: Int
    let items: [FigureItem]

    static let ink: (UInt8, UInt8, UInt8) = (0x20, 0x20, 0x20)
    static let spike: (UInt8, UInt8, UInt8) = (0x1F, 0x4E, 0xA8)
    static let rateBar: (UInt8, UInt8, UInt8) = (0xE0, 0x7A, 0x1F)
    static let grid: (UInt8, UInt8, UInt8) = (0xC8, 0xC8, 0xC8)
    static let paper: (UInt8, UInt8, UInt8) = (0xFF, 0xFF, 0xFF)

    init(_ d: RasterData) {
        let cw = BitmapFont.width, ch = BitmapFont.height
        let rowH = d.neurons <= 64 ? 6 : d.neurons <= 128 ? 4 : d.neurons <= 256 ? 2 : 1
        let colW = max(12, min(96, 480 / max(1, d.steps)))
        let lastLabel = String(d.firstNeuron + d.neurons - 1)
        let left = 12 + cw * max(lastLabel.count, 6) + 6
        let top = 12 + 2 * (ch + 4) + ch + 6
        let plotW = colW * d.steps, plotH = rowH * d.neurons
        let sidebarGap = 16, sidebarW = 80
        let titleW = max(d.title.count, d.subtitle.count) * cw + 24
        let width = max(left + plotW + sidebarGap + sidebarW + 24, titleW)
        let height = top + plotH + 8 + ch + 6 + ch + 12
        var items: [FigureItem] = [.rect(x: 0, y: 0, width: width, height: height, color: Self.paper)]
        items.append(.text(x: 12, y: 10, d.title, color: Self.ink, anchor: .start))
        items.append(.text(x: 12, y: 10 + ch + 4, d.subtitle, color: Self.ink, anchor: .start))
        // Axis titles.
        items.append(.text(x: left - 6, y: top - ch - 4, "neuron", color: Self.ink, anchor: .end))
        let sx = left + plotW + sidebarGap
        items.append(.text(x: sx, y: top - ch - 4, "firing rate", color: Self.ink, anchor: .start))
        // Plot frame and time-step columns.
        items.append(.rect(x: left - 1, y: top - 1, width: plotW + 2, height: plotH + 2, color: Self.grid))
        items.append(.rect(x: left, y: top, width: plotW, height: plotH, color: Self.paper))
        for t in 1..<max(1, d.steps) { items.append(.rect(x: left + t * colW, y: top, width: 1, height: plotH, color: Self.grid)) }
        // Spikes.
        for t in 0..<d.steps {
            for i in 0..<d.neurons where d.spikes[t * d.neurons + i] != 0 {
                items.append(.rect(x: left + t * colW + 2, y: top + i * rowH, width: colW - 3, height: rowH, color: Self.spike))
            }
        }
        // Neuron ticks: first, last and about every 8th of the range.
        let tickEvery = max(1, Int((Double(d.neurons) / 8).rounded(.up)))
        var ticks = Array(stride(from: 0, to: d.neurons, by: tickEvery))
        if let last = ticks.last, last != d.neurons - 1, (d.neurons - 1 - last) * rowH >= ch { ticks.append(d.neurons - 1) }
        var lastY = -ch
        for i in ticks {
            let y = top + i * rowH + rowH / 2 - ch / 2
            guard y - lastY >= ch else { continue }
            lastY = y
            items.append(.text(x: left - 6, y: y, String(d.firstNeuron + i), color: Self.ink, anchor: .end))
            items.append(.rect(x: left - 4, y: top + i * rowH + rowH / 2, width: 3, height: 1, color: Self.ink))
        }
        // Time-step ticks and axis title.
        let every = max(1, (3 * cw + 4 + colW - 1) / colW)
        for t in stride(from: 0, to: d.steps, by: every) {
            items.append(.text(x: left + t * colW + colW / 2, y: top + plotH + 6, String(t + 1), color: Self.ink, anchor: .middle))
        }
        items.append(.text(x: left + plotW / 2, y: top + plotH + 8 + ch + 4, "time step t (1..T)", color: Self.ink, anchor: .middle))
        // Firing-rate sidebar: one bar per neuron (spikes per step), scale 0-100 %.
        items.append(.rect(x: sx, y: top - 1, width: 1, height: plotH + 2, color: Self.ink))
        for i in 0..<d.neurons {
            let w = Int((d.rate(neuron: i) * Double(sidebarW)).rounded())
            if w > 0 { items.append(.rect(x: sx + 1, y: top + i * rowH, width: w, height: rowH, color: Self.rateBar)) }
        }
        items.append(.text(x: sx, y: top + plotH + 6, "0", color: Self.ink, anchor: .start))
        items.append(.text(x: sx + sidebarW, y: top + plotH + 6, "100%", color: Self.ink, anchor: .end))
        self.width = width
        self.height = height
        self.items = items
    }

    /// RGB pixels `[H, W, 3]`.
    func pixels() -> [UInt8] {
        var px = [UInt8](repeating: 0xFF, count: width * height * 3)
        func fill(_ x0: Int, _ y0: Int, _ w: Int, _ h: Int, _ c: (UInt8, UInt8, UInt8)) {
            for y in max(0, y0)..<min(height, y0 + h) {
                for x in max(0, x0)..<min(width, x0 + w) {
                    let o = (y * width + x) * 3
                    px[o] = c.0; px[o + 1] = c.1; px[o + 2] = c.2
                }
            }
        }
        for item in items {
            switch item {
            case let .rect(x, y, w, h, color): fill(x, y, w, h, color)
            case let .text(x, y, s, color, anchor):
                let w = s.count * BitmapFont.width
                var cx = anchor == .start ? x : anchor == .middle ? x - w / 2 : x - w
                for character in s {
                    let rows = BitmapFont.rows(character)
                    for (ry, bits) in rows.enumerated() {
                        for rx in 0..<BitmapFont.width where bits & (1 << UInt8(BitmapFont.width - 1 - rx)) != 0 {
                            fill(cx + rx, y + ry, 1, 1, color)
                        }
                    }
                    cx += BitmapFont.width
                }
            }
        }
        return px
    }

    func png() throws -> [UInt8] {
        try PNGEncoder.encode(pixels: pixels(), width: width, height: height, channels: 3)
    }

    func svg() -> String {
        func hex(_ c: (UInt8, UInt8, UInt8)) -> String { String(format: "#%02x%02x%02x", c.0, c.1, c.2) }
        func escape(_ s: String) -> String {
            // Controls are not allowed in XML text: written as \u{..} escapes (terminalText), then XML-escaped.
            terminalText(s).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" shape-rendering=\"crispEdges\">\n"
        for item in items {
            switch item {
            case let .rect(x, y, w, h, color):
                out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(w)\" height=\"\(h)\" fill=\"\(hex(color))\"/>\n"
            case let .text(x, y, s, color, anchor):
                let a = anchor == .start ? "start" : anchor == .middle ? "middle" : "end"
                out += "<text x=\"\(x)\" y=\"\(y + BitmapFont.height - 2)\" font-family=\"monospace\" font-size=\"11\" text-anchor=\"\(a)\" fill=\"\(hex(color))\">\(escape(s))</text>\n"
            }
        }
        return out + "</svg>\n"
    }

    /// Plain-text raster through Visualize's ``SpikeRaster`` (neurons down, time steps across, rate sidebar).
    static func text(_ d: RasterData, glyphs: GlyphSet) -> String {
        let dots = glyphs.dotsPerCell
        let rows = (d.neurons + dots.y - 1) / dots.y
        let perStep = max(1, 8 / dots.x)
        let grid = SpikeRaster(spikes: d.spikes, steps: d.steps, neurons: d.neurons).render(width: perStep * d.steps + 5, height: rows, glyphs: glyphs)
        let labelWidth = String(d.firstNeuron + d.neurons - 1).count
        // The title names the prompt or image file: escaped like terminal output, since the file is read with `cat`.
        var lines = [terminalText(d.title), terminalText(d.subtitle), "neuron (rows) x time step (columns); firing rate per row at right", ""]
        for (r, line) in grid.lines.enumerated() {
            let label = r % 4 == 0 ? String(d.firstNeuron + r * dots.y) : ""
            lines.append(rightAligned(label, labelWidth) + " " + line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        }
        let axis = (0..<d.steps).map { pad(String($0 + 1), perStep) }.joined()
        lines.append(String(repeating: " ", count: labelWidth + 1) + axis + " <- time step")
        return lines.joined(separator: "\n") + "\n"
    }
}

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
            case "png": bytes = try RasterFigure(data).png()
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
        let out = try ctx.model.vision.forward(pixels: pixels, batch: 1, mode: .spikeAware)
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
        let (_, recording) = try ctx.spikingText([tokens])
        guard let rec = recording[layer] else { throw UserError(description: "layer '\(layer)' was not recorded") }
        return try cut(rec, layer: layer, source: "prompt '\(quotedPreview(prompt))' (\(min(tokens.count, ctx.contextLength))/\(ctx.contextLength) tokens)",
                       firstNeuron: firstNeuron, maxNeurons: maxNeurons)
    }

    /// The plotted window of batch item 0 of `rec`.
    static func cut(_ rec: LayerRecording, layer: String, source: String, firstNeuron: Int, maxNeurons: Int) throws -> RasterData {
        let total = rec.neuronsPerItem
        guard firstNeuron < total else { throw UserError(description: "--first-neuron \(firstNeuron) is outside the layer's \(total) neurons") }
        let n = min(maxNeurons, total - firstNeuron)
        var spikes = [UInt8](repeating: 0, count: rec.steps * n)
        for t in 0..<rec.steps {
            let s = rec.spikes(step: t, item: 0)
            for i in 0..<n { spikes[t * n + i] = s[s.startIndex + firstNeuron + i] }
        }
        let shape = rec.shape.dropFirst(2).map(String.init).joined(separator: "x")
        return RasterData(
            title: "Spike raster: \(layer)",
            subtitle: "\(source); neurons \(firstNeuron)-\(firstNeuron + n - 1) of \(total)\(rec.shape.count > 3 ? " (\(shape))" : ""); T = \(rec.steps); layer firing rate "
                + String(format: "%.1f%%", rec.firingRate(item: 0) * 100),
            layer: layer, steps: rec.steps, firstNeuron: firstNeuron, neurons: n, totalNeurons: total, spikes: spikes,
            layerRate: rec.firingRate(item: 0))
    }
}
