import Foundation

/// Spatial spike map: one channel-summed spike count per token of an `h x w` grid at one time step, drawn with a
/// density ramp (`" .:-=+*#%@"` in ASCII, shade blocks otherwise). Input: counts `[h * w]`, maximum for scaling.
public struct SpatialSpikeMap: Sendable {
    public var counts: [Int]
    public var gridHeight: Int
    public var gridWidth: Int
    public var maximum: Int

    public init(counts: [Int], gridHeight: Int, gridWidth: Int, maximum: Int) {
        precondition(counts.count == gridHeight * gridWidth)
        self.counts = counts
        self.gridHeight = gridHeight
        self.gridWidth = gridWidth
        self.maximum = max(1, maximum)
    }

    /// Each token takes `cellWidth` columns (2 keeps maps roughly square); clipped to `width` x `height`.
    public func render(width: Int, height: Int, glyphs: GlyphSet, cellWidth: Int = 2) -> CellGrid {
        var grid = CellGrid(width: width, height: height)
        let ramp: [Character] = glyphs == .ascii ? Array(" .:-=+*#%@") : [" ", "░", "▒", "▓", "█"]
        for y in 0..<min(gridHeight, height) {
            for x in 0..<gridWidth {
                let c = counts[y * gridWidth + x]
                let level = c == 0 ? 0 : 1 + Int(Double(c - 1) / Double(maximum) * Double(ramp.count - 1))
                let ch = ramp[min(ramp.count - 1, level)]
                for k in 0..<cellWidth { grid[x * cellWidth + k, y] = Cell(ch, c > 0 ? .spike : .dim) }
            }
        }
        return grid
    }
}

/// Heatmap of firing rates: rows = layers, columns = time steps; each cell a shade of its rate in `[0, 1]`.
///
/// With at least 4 rows the map gets axes: a header row (time step numbers, "mean" over steps), the mean rate of
/// each layer at the right (when the width allows), and a legend row saying which rate each shade stands for.
/// Rows scroll to keep `highlightRow` in view.
public struct RateHeatmap: Sendable {
    public var labels: [String]
    /// `[layers][T]` rates in `[0, 1]`.
    public var rates: [[Double]]
    public var highlightRow: Int?

    public init(labels: [String], rates: [[Double]], highlightRow: Int? = nil) {
        self.labels = labels
        self.rates = rates
        self.highlightRow = highlightRow
    }

    static let cell = 3

    static func ramp(_ glyphs: GlyphSet) -> [Character] { glyphs == .ascii ? Array(" .:-=+*#%@") : [" ", "░", "▒", "▓", "█"] }

    /// Shade index of a rate: 0 only for a rate of exactly 0; level `k >= 1` covers `[(k-1)/s, k/s)` with
    /// `s = 2 (levels - 1)`, so the darkest shade means a rate of at least `(levels - 2) / s` (37.5 % with blocks).
    static func level(_ rate: Double, levels: Int) -> Int {
        let r = min(max(rate, 0), 1)
        return r <= 0 ? 0 : min(levels - 1, 1 + Int(r * Double(levels - 1) * 2))
    }

    /// The legend line: each shade and the rates it stands for; when that is wider than `width`, a compact form
    /// (first shade, last shade, step between shades).
    public static func legend(glyphs: GlyphSet, width: Int = .max) -> String {
        let ramp = Self.ramp(glyphs)
        let s = Double(2 * (ramp.count - 1))
        func pct(_ x: Double) -> String { String(format: "%.3g%%", 100 * x) }
        var parts = ["'\(ramp[0])' 0"]
        for k in 1..<(ramp.count - 1) { parts.append("\(ramp[k]) <\(pct(Double(k) / s))") }
        parts.append("\(ramp[ramp.count - 1]) >=\(pct(Double(ramp.count - 2) / s))")
        let full = "rate: " + parts.joined(separator: " ")
        if full.count <= width { return full }
        return "rate: '\(ramp[0])' 0, '\(ramp[1])'..'\(ramp[ramp.count - 1])' in steps of \(pct(1 / s)), "
            + "'\(ramp[ramp.count - 1])' >=\(pct(Double(ramp.count - 2) / s))"
    }

    public func render(width: Int, height: Int, glyphs: GlyphSet) -> CellGrid {
        var grid = CellGrid(width: width, height: height)
        let ramp = Self.ramp(glyphs)
        let steps = rates.first?.count ?? 0
        let cell = Self.cell
        let axes = height >= 4
        let meanWidth = axes && width - steps * cell - 1 >= 8 + 7 ? 7 : 0
        // Labels as wide as the longest (at least the header's width), so the map sits next to them.
        let available = max(0, width - steps * cell - 1 - meanWidth)
        let labelWidth = min(available, max(labels.map(\.count).max() ?? 0, axes ? 12 : 0))
        let bodyRows = axes ? height - 2 : height
        let top = axes ? 1 : 0
        if axes {
            var header = (labelWidth >= 12 ? "layer \\ step" : "step").padding(toLength: labelWidth + 1, withPad: " ", startingAt: 0)
            for t in 0..<steps { header += rightAligned(String(t + 1), cell - 1) + " " }
            if meanWidth > 0 { header += "   mean" }
            grid.put(String(header.prefix(width)), x: 0, y: 0, role: .dim)
            grid.put(String(Self.legend(glyphs: glyphs, width: width).prefix(width)), x: 0, y: height - 1, role: .dim)
        }
        let first = max(0, min((highlightRow ?? 0) - bodyRows / 2, labels.count - bodyRows))
        for row in 0..<bodyRows {
            let i = first + row
            guard i < labels.count, i < rates.count else { break }
            let y = top + row
            let role: ColorRole = i == highlightRow ? .accent : .normal
            grid.put(String(labels[i].suffix(labelWidth)).padding(toLength: labelWidth, withPad: " ", startingAt: 0), x: 0, y: y, role: role)
            for t in 0..<min(steps, rates[i].count) {
                let level = Self.level(rates[i][t], levels: ramp.count)
                for k in 0..<cell { grid[labelWidth + 1 + t * cell + k, y] = Cell(ramp[level], level > 0 ? .spike : .dim) }
            }
            if meanWidth > 0 {
                let mean = rates[i].isEmpty ? 0 : rates[i].reduce(0, +) / Double(rates[i].count)
                grid.put(String(format: "%6.1f%%", 100 * mean), x: labelWidth + 1 + steps * cell, y: y, role: role)
            }
        }
        return grid
    }
}

/// One neuron's membrane trace `h[t]` against its threshold: a column per time step, the threshold row drawn with
/// `-`, the trace point with `o` (or `*` where the neuron fired).
public struct MembraneTrace: Sendable {
    public var values: [Float]
    public var threshold: Float
    public var spikes: [Bool]

    public init(values: [Float], threshold: Float, spikes: [Bool]) {
        self.values = values
        self.threshold = threshold
        self.spikes = spikes
    }

    public func render(width: Int, height: Int) -> CellGrid {
        var grid = CellGrid(width: width, height: height)
        guard height >= 2, !values.isEmpty else { return grid }
        let labelWidth = 7
        let plotWidth = max(1, width - labelWidth)
        let lo = min(values.min()!, 0, threshold)
        var hi = max(values.max()!, threshold)
        if hi - lo < 1e-6 { hi = lo + 1 }
        func row(_ v: Float) -> Int { height - 1 - Int((((v - lo) / (hi - lo)) * Float(height - 1)).rounded()) }
        let thresholdRow = row(threshold)
        grid.put(String(format: "%6.2f", threshold), x: 0, y: thresholdRow, role: .threshold)
        grid.put(String(format: "%6.2f", hi), x: 0, y: 0, role: .dim)
        grid.put(String(format: "%6.2f", lo), x: 0, y: height - 1, role: .dim)
        for x in 0..<plotWidth { grid[labelWidth + x, thresholdRow] = Cell("-", .threshold) }
        let step = max(1, plotWidth / values.count)
        for (t, v) in values.enumerated() {
            let x = labelWidth + t * step + step / 2
            let fired = t < spikes.count && spikes[t]
            grid[x, row(v)] = Cell(fired ? "*" : "o", fired ? .spike : .snn)
        }
        return grid
    }
}

/// Sparkline of values (eighth blocks, or ASCII digits 0-9 scaled to the maximum).
public func sparkline(_ values: [Double], glyphs: GlyphSet) -> String {
    // ASCII: a shape ramp, not digits (digits beside numbers read as numbers).
    guard let m = values.max(), m > 0 else { return String(repeating: glyphs == .ascii ? "_" : "▁", count: values.count) }
    let ramp: [Character] = glyphs == .ascii ? Array("_.-=+*#") : ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    return String(values.map { ramp[min(ramp.count - 1, Int(($0 / m) * Double(ramp.count - 1) + 0.5))] })
}

/// Image thumbnail from a gray image `[h, w]` in `[0, 1]`: half blocks (two pixel rows per cell) rendered as a
/// shade ramp, or an ASCII ramp with one pixel row per cell. Nearest-neighbour sampling to fit.
public struct Thumbnail: Sendable {
    public var pixels: [Float]
    public var imageHeight: Int
    public var imageWidth: Int

    public init(pixels: [Float], imageHeight: Int, imageWidth: Int) {
        precondition(pixels.count == imageHeight * imageWidth)
        self.pixels = pixels
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
    }

    public func render(width: Int, height: Int, glyphs: GlyphSet) -> CellGrid {
        var grid = CellGrid(width: width, height: height)
        guard width > 0, height > 0 else { return grid }
        let ramp: [Character] = glyphs == .ascii ? Array(" .:-=+*#%@") : [" ", "░", "▒", "▓", "█"]
        let rowsPerCell = glyphs == .ascii ? 1 : 2
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0
                for sub in 0..<rowsPerCell {
                    let py = min(imageHeight - 1, (y * rowsPerCell + sub) * imageHeight / (height * rowsPerCell))
                    let px = min(imageWidth - 1, x * imageWidth / width)
                    sum += pixels[py * imageWidth + px]
                }
                let v = min(max(sum / Float(rowsPerCell), 0), 1)
                grid[x, y] = Cell(ramp[min(ramp.count - 1, Int(v * Float(ramp.count - 1) + 0.5))])
            }
        }
        return grid
    }
}
