import Foundation

/// Spike raster: neurons down, time steps across, with a firing-rate sidebar.
///
/// Input is plain data: spikes `[T, n]` (0/1, row-major) for `n` neurons. Each time step gets the same number of dot
/// columns (as many as fit); each neuron one dot row, starting at `firstNeuron`. The sidebar shows each cell row's
/// firing rate (spikes per neuron per step, percent).
public struct SpikeRaster: Sendable {
    public var spikes: [UInt8]
    public var steps: Int
    public var neurons: Int
    public var firstNeuron: Int

    public init(spikes: [UInt8], steps: Int, neurons: Int, firstNeuron: Int = 0) {
        precondition(spikes.count == steps * neurons, "spikes must be [T, n]")
        self.spikes = spikes
        self.steps = steps
        self.neurons = neurons
        self.firstNeuron = firstNeuron
    }

    /// Renders into `width` x `height` cells; the last 5 columns hold the firing-rate sidebar.
    public func render(width: Int, height: Int, glyphs: GlyphSet) -> CellGrid {
        var grid = CellGrid(width: width, height: height)
        let sidebar = 5
        let plotWidth = width - sidebar
        guard plotWidth >= 1, height >= 1, steps >= 1 else { return grid }
        let (dx, dy) = glyphs.dotsPerCell
        let dotsX = plotWidth * dx
        let perStep = max(1, dotsX / steps)
        for row in 0..<height {
            var rowSpikes = 0, rowNeurons = 0
            for sub in 0..<dy {
                let neuron = firstNeuron + row * dy + sub
                guard neuron < neurons else { continue }
                rowNeurons += 1
                for t in 0..<steps { rowSpikes += Int(spikes[t * neurons + neuron]) }
            }
            guard rowNeurons > 0 else { continue }  // past the last neuron: leave blank
            for column in 0..<plotWidth {
                var any = false
                let ch = glyphs.character { x, y in
                    let dot = column * dx + x
                    let t = dot / perStep
                    let neuron = firstNeuron + row * dy + y
                    guard t < steps, neuron < neurons else { return false }
                    let on = spikes[t * neurons + neuron] != 0
                    any = any || on
                    return on
                }
                grid[column, row] = Cell(ch, any ? .spike : .dim)
            }
            let rate = Double(rowSpikes) / Double(rowNeurons * steps) * 100
            grid.put(String(format: "%4.0f%%", rate), x: plotWidth, y: row, role: .accent)
        }
        return grid
    }
}

/// Horizontal score bars: one labelled row per item, value printed at the right.
public struct ScoreBars: Sendable {
    public var labels: [String]
    /// Values in `[0, 1]` for the bar length (e.g. probabilities).
    public var fractions: [Double]
    /// Text printed after each bar (e.g. "0.873").
    public var values: [String]
    public var highlight: Int?
    public var role: ColorRole

    public init(labels: [String], fractions: [Double], values: [String], highlight: Int? = nil, role: ColorRole = .snn) {
        self.labels = labels
        self.fractions = fractions
        self.values = values
        self.highlight = highlight
        self.role = role
    }

    public func render(width: Int, glyphs: GlyphSet) -> CellGrid {
        var grid = CellGrid(width: width, height: labels.count)
        let labelWidth = min(16, labels.map(\.count).max() ?? 0)
        let valueWidth = values.map(\.count).max() ?? 0
        let barWidth = max(1, width - labelWidth - valueWidth - 2)
        for (i, label) in labels.enumerated() {
            let marker: ColorRole = i == highlight ? .accent : .normal
            grid.put(String(label.prefix(labelWidth)).padding(toLength: labelWidth, withPad: " ", startingAt: 0), x: 0, y: i, role: marker)
            grid.put(glyphs.bar(fraction: fractions[i], width: barWidth), x: labelWidth + 1, y: i, role: role)
            grid.put(values[i], x: labelWidth + 2 + barWidth, y: i, role: marker)
        }
        return grid
    }
}
