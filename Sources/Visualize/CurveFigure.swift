import Foundation

/// Curves over a swept value (issue 17: accuracy, agreement and energy against T, threshold scale or the silenced
/// layer), as plain data: `x` labels evenly spaced, one or more panels each with its own y axis and series.
public struct CurveData: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// One value per x label (nil: no point).
        public var values: [Double?]
        public init(name: String, values: [Double?]) {
            self.name = name
            self.values = values
        }
    }

    public struct Panel: Sendable {
        /// Axis title with the unit (`accuracy (%)`, `energy per image (uJ)`).
        public var yLabel: String
        public var series: [Series]
        /// Fixed y range; nil: from the data (zero included).
        public var yRange: ClosedRange<Double>?
        public init(yLabel: String, series: [Series], yRange: ClosedRange<Double>? = nil) {
            self.yLabel = yLabel
            self.series = series
            self.yRange = yRange
        }

        /// The y range drawn: the fixed one, else `0 ... max` (or `min ... 0` for negative data), never empty.
        public var range: ClosedRange<Double> {
            if let yRange { return yRange }
            let all = series.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite)
            let lo = min(0, all.min() ?? 0), hi = max(0, all.max() ?? 1)
            return lo == hi ? lo...(lo + 1) : lo...hi
        }
    }

    public var title: String
    public var subtitle: String
    public var xLabel: String
    public var xTicks: [String]
    public var panels: [Panel]

    public init(title: String, subtitle: String, xLabel: String, xTicks: [String], panels: [Panel]) {
        self.title = title
        self.subtitle = subtitle
        self.xLabel = xLabel
        self.xTicks = xTicks
        self.panels = panels
    }
}

/// Layout of ``CurveData`` as a ``Figure``: title, stacked panels (frame, y ticks at the range ends and middle, x ticks,
/// one color per series with a legend), lines drawn as runs of 2x2 squares between points, points as 5x5 squares.
public enum CurveFigure {
    static let colors: [(UInt8, UInt8, UInt8)] = [(0x1F, 0x4E, 0xA8), (0xE0, 0x7A, 0x1F), (0x2A, 0x9D, 0x46), (0xB0, 0x2E, 0x8C)]
    static let ink: (UInt8, UInt8, UInt8) = (0x20, 0x20, 0x20)
    static let grid: (UInt8, UInt8, UInt8) = (0xC8, 0xC8, 0xC8)
    static let paper: (UInt8, UInt8, UInt8) = (0xFF, 0xFF, 0xFF)

    public static func figure(_ d: CurveData) -> Figure {
        let cw = BitmapFont.width, ch = BitmapFont.height
        let n = max(1, d.xTicks.count)
        let step = max(36, min(120, 640 / n))
        let left = 12 + cw * 9, plotW = step * max(1, n - 1) + 40, panelH = 160, gap = 2 * ch + 24
        let top0 = 12 + 2 * (ch + 4) + 8
        let width = max(left + plotW + 24, (max(d.title.count, d.subtitle.count) + 4) * cw)
        let height = top0 + d.panels.count * (panelH + gap) + ch + 12
        var items: [FigureItem] = [.rect(x: 0, y: 0, width: width, height: height, color: paper)]
        items.append(.text(x: 12, y: 10, d.title, color: ink, anchor: .start))
        items.append(.text(x: 12, y: 10 + ch + 4, d.subtitle, color: ink, anchor: .start))
        func xPos(_ i: Int) -> Int { left + 20 + i * step }
        for (pi, panel) in d.panels.enumerated() {
            let top = top0 + pi * (panelH + gap) + ch + 4
            let r = panel.range
            func yPos(_ v: Double) -> Int { top + panelH - Int(((v - r.lowerBound) / (r.upperBound - r.lowerBound) * Double(panelH)).rounded()) }
            // Legend above the panel: axis title, then each series in its color.
            var lx = left
            items.append(.text(x: lx, y: top - ch - 4, panel.yLabel, color: ink, anchor: .start))
            lx += (panel.yLabel.count + 2) * cw
            for (si, s) in panel.series.enumerated() {
                let c = colors[si % colors.count]
                items.append(.rect(x: lx, y: top - ch / 2 - 6, width: 10, height: 4, color: c))
                items.append(.text(x: lx + 14, y: top - ch - 4, s.name, color: c, anchor: .start))
                lx += 14 + (s.name.count + 2) * cw
            }
            items.append(.rect(x: left - 1, y: top - 1, width: plotW + 2, height: panelH + 2, color: grid))
            items.append(.rect(x: left, y: top, width: plotW, height: panelH, color: paper))
            for v in [r.lowerBound, (r.lowerBound + r.upperBound) / 2, r.upperBound] {
                let y = yPos(v)
                items.append(.rect(x: left, y: y, width: plotW, height: 1, color: grid))
                items.append(.text(x: left - 6, y: y - ch / 2, formatTick(v), color: ink, anchor: .end))
            }
            for (i, label) in d.xTicks.enumerated() {
                items.append(.rect(x: xPos(i), y: top + panelH, width: 1, height: 4, color: ink))
                items.append(.text(x: xPos(i), y: top + panelH + 6, label, color: ink, anchor: .middle))
            }
            for (si, s) in panel.series.enumerated() {
                let c = colors[si % colors.count]
                var previous: (Int, Int)?
                for (i, v) in s.values.enumerated() {
                    guard let v, v.isFinite else { previous = nil; continue }
                    let p = (xPos(i), min(top + panelH, max(top, yPos(v))))
                    if let q = previous {
                        let steps = max(abs(p.0 - q.0), abs(p.1 - q.1))
                        for k in 0...steps {
                            let x = q.0 + (p.0 - q.0) * k / max(1, steps), y = q.1 + (p.1 - q.1) * k / max(1, steps)
                            items.append(.rect(x: x, y: y, width: 2, height: 2, color: c))
                        }
                    }
                    items.append(.rect(x: p.0 - 2, y: p.1 - 2, width: 5, height: 5, color: c))
                    previous = p
                }
            }
        }
        items.append(.text(x: left + plotW / 2, y: height - ch - 8, d.xLabel, color: ink, anchor: .middle))
        return Figure(width: width, height: height, items: items)
    }

    static func formatTick(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e6 { return String(Int(v)) }
        return String(format: abs(v) >= 100 ? "%.0f" : abs(v) >= 1 ? "%.1f" : "%.3g", v)
    }
}

/// The same curves in a terminal: per panel, `height` rows with the y range at the left, one column group per x
/// value, a mark per series (`*`, `o`, `+`, `x`) in its row, the x labels below and a legend line.
public struct CurvePlot: Sendable {
    public let data: CurveData
    public init(_ data: CurveData) { self.data = data }

    static let marks: [Character] = ["*", "o", "+", "x"]
    static let roles: [ColorRole] = [.snn, .ann, .accent, .warning]

    public func render(width: Int, panelHeight: Int = 8) -> CellGrid {
        let labelW = 9
        let n = max(1, data.xTicks.count)
        let colW = max(1, min(8, (width - labelW - 1) / n))
        let rowsPerPanel = panelHeight + 2
        var g = CellGrid(width: width, height: data.panels.count * rowsPerPanel + 1)
        for (pi, panel) in data.panels.enumerated() {
            let y0 = pi * rowsPerPanel
            var legend = panel.yLabel
            for (si, s) in panel.series.enumerated() { legend += "  \(Self.marks[si % Self.marks.count]) \(s.name)" }
            g.put(padded(legend, width), x: 0, y: y0, role: .dim)
            let r = panel.range
            for row in 0..<panelHeight {
                let v = r.upperBound - (r.upperBound - r.lowerBound) * Double(row) / Double(max(1, panelHeight - 1))
                if row == 0 || row == panelHeight - 1 || row == panelHeight / 2 {
                    g.put(rightAligned(CurveFigure.formatTick(v), labelW - 1) + "|", x: 0, y: y0 + 1 + row, role: .dim)
                } else {
                    g.put(String(repeating: " ", count: labelW - 1) + "|", x: 0, y: y0 + 1 + row, role: .dim)
                }
            }
            // Drawn last-first so that the first series (the headline one) stays visible where marks coincide.
            for (si, s) in panel.series.enumerated().reversed() {
                for (i, v) in s.values.enumerated() {
                    guard let v, v.isFinite else { continue }
                    let f = (v - r.lowerBound) / (r.upperBound - r.lowerBound)
                    let row = panelHeight - 1 - Int((min(1, max(0, f)) * Double(panelHeight - 1)).rounded())
                    let x = labelW + i * colW + colW / 2
                    if x < width { g.put(String(Self.marks[si % Self.marks.count]), x: x, y: y0 + 1 + row, role: Self.roles[si % Self.roles.count]) }
                }
            }
        }
        // Each x label centred under its marks (column `labelW + i * colW + colW / 2`).
        for (i, t) in data.xTicks.enumerated() {
            let label = String(t.prefix(max(1, colW)))
            let x = labelW + i * colW + colW / 2 - (label.count - 1) / 2
            if x >= 0, x + label.count <= width { g.put(label, x: x, y: data.panels.count * rowsPerPanel - 1, role: .dim) }
        }
        g.put(padded(String(repeating: " ", count: labelW) + data.xLabel, width), x: 0, y: data.panels.count * rowsPerPanel, role: .dim)
        return g
    }
}

/// `s` cut or padded with spaces to exactly `n` characters.
func padded(_ s: String, _ n: Int) -> String {
    guard n > 0 else { return "" }
    return s.count >= n ? String(s.prefix(n)) : s + String(repeating: " ", count: n - s.count)
}
