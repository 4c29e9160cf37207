import Foundation

/// A finished drawing of ``FigureItem``s with its two backends: RGB pixels (our 6x11 bitmap font; PNG encoding is the
/// caller's, libpng in the engine) and SVG. ``RasterFigure`` and ``CurveFigure`` lay figures out.
public struct Figure: Sendable {
    public let width: Int
    public let height: Int
    public let items: [FigureItem]

    public init(width: Int, height: Int, items: [FigureItem]) {
        self.width = width
        self.height = height
        self.items = items
    }

    /// RGB pixels `[H, W, 3]`.
    public func pixels() -> [UInt8] {
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

    /// The figure as SVG (text XML-escaped).
    public func svg() -> String {
        func hex(_ c: (UInt8, UInt8, UInt8)) -> String { String(format: "#%02x%02x%02x", c.0, c.1, c.2) }
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
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

}
