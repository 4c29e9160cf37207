import Foundation

/// The spikes of one layer and one image (or prompt), as plotted: `[T, n]` for neurons `first ..< first + n` of
/// `total`. `title` and `subtitle` are drawn as given: escape text from outside before (the CLI uses `terminalText`).
public struct RasterData: Sendable {
    public var title: String
    public var subtitle: String
    public var layer: String
    public var steps: Int
    public var firstNeuron: Int
    public var neurons: Int
    public var totalNeurons: Int
    /// `[T, n]` row-major, 0/1.
    public var spikes: [UInt8]
    /// Firing rate of the whole layer for this image.
    public var layerRate: Double

    public init(title: String, subtitle: String, layer: String, steps: Int, firstNeuron: Int, neurons: Int, totalNeurons: Int,
                spikes: [UInt8], layerRate: Double) {
        self.title = title
        self.subtitle = subtitle
        self.layer = layer
        self.steps = steps
        self.firstNeuron = firstNeuron
        self.neurons = neurons
        self.totalNeurons = totalNeurons
        self.spikes = spikes
        self.layerRate = layerRate
    }

    /// Spikes per neuron per step of neuron `i` (0-based within the shown range).
    public func rate(neuron i: Int) -> Double {
        Double((0..<steps).reduce(0) { $0 + Int(spikes[$1 * neurons + i]) }) / Double(steps)
    }
}

/// A drawing primitive shared by the PNG and SVG backends, in pixels.
public enum FigureItem: Sendable {
    case rect(x: Int, y: Int, width: Int, height: Int, color: (UInt8, UInt8, UInt8))
    /// Text whose top-left corner is at `(x, y)` (6x11 cells in PNG).
    case text(x: Int, y: Int, String, color: (UInt8, UInt8, UInt8), anchor: Anchor)

    public enum Anchor: Sendable { case start, middle, end }
}

/// Layout of a raster figure: title, neuron axis (rows), time-step axis (columns), firing-rate sidebar, drawn as RGB
/// pixels (our 6x11 bitmap font), SVG or text. PNG encoding is the caller's (libpng in the engine).
public struct RasterFigure: Sendable {
    public let width: Int
    public let height: Int
    public let items: [FigureItem]

    static let ink: (UInt8, UInt8, UInt8) = (0x20, 0x20, 0x20)
    static let spike: (UInt8, UInt8, UInt8) = (0x1F, 0x4E, 0xA8)
    static let rateBar: (UInt8, UInt8, UInt8) = (0xE0, 0x7A, 0x1F)
    static let grid: (UInt8, UInt8, UInt8) = (0xC8, 0xC8, 0xC8)
    static let paper: (UInt8, UInt8, UInt8) = (0xFF, 0xFF, 0xFF)

    public init(_ d: RasterData) {
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

    /// The drawing (shared PNG/SVG backends).
    public var figure: Figure { Figure(width: width, height: height, items: items) }

    /// RGB pixels `[H, W, 3]`.
    public func pixels() -> [UInt8] { figure.pixels() }

    /// The figure as SVG (text XML-escaped).
    public func svg() -> String { figure.svg() }

    /// Plain-text raster through Visualize's ``SpikeRaster`` (neurons down, time steps across, rate sidebar).
    public static func text(_ d: RasterData, glyphs: GlyphSet) -> String {
        let dots = glyphs.dotsPerCell
        let rows = (d.neurons + dots.y - 1) / dots.y
        let perStep = max(1, 8 / dots.x)
        let grid = SpikeRaster(spikes: d.spikes, steps: d.steps, neurons: d.neurons).render(width: perStep * d.steps + 5, height: rows, glyphs: glyphs)
        let labelWidth = String(d.firstNeuron + d.neurons - 1).count
        var lines = [d.title, d.subtitle, "neuron (rows) x time step (columns); firing rate per row at right", ""]
        for (r, line) in grid.lines.enumerated() {
            let label = r % 4 == 0 ? String(d.firstNeuron + r * dots.y) : ""
            lines.append(rightAligned(label, labelWidth) + " " + line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        }
        var axis = ""
        for t in 1...max(1, d.steps) {
            let label = String(t)
            axis += label + String(repeating: " ", count: max(0, perStep - label.count))
        }
        lines.append(String(repeating: " ", count: labelWidth + 1) + axis + " <- time step")
        return lines.joined(separator: "\n") + "\n"
    }
}
