/// A glyph set: how many dots a cell holds and how a dot pattern becomes a character (btop-style tables that degrade).
public enum GlyphSet: String, Sendable, CaseIterable {
    /// Unicode braille: 2 x 4 dots per cell.
    case braille
    /// Half blocks: 1 x 2 dots per cell.
    case halfBlocks = "half-blocks"
    /// Plain ASCII: 1 x 1 dot per cell.
    case ascii

    /// Dots per cell horizontally and vertically.
    public var dotsPerCell: (x: Int, y: Int) {
        switch self {
        case .braille: return (2, 4)
        case .halfBlocks: return (1, 2)
        case .ascii: return (1, 1)
        }
    }

    /// The character for a cell whose dot `(dx, dy)` is lit when `lit(dx, dy)` is true.
    public func character(_ lit: (Int, Int) -> Bool) -> Character {
        switch self {
        case .braille:
            // Unicode braille dot numbering: (0,0)=1 (0,1)=2 (0,2)=3 (1,0)=4 (1,1)=5 (1,2)=6 (0,3)=7 (1,3)=8.
            let bits: [(Int, Int, UInt32)] = [(0, 0, 0x01), (0, 1, 0x02), (0, 2, 0x04), (1, 0, 0x08), (1, 1, 0x10), (1, 2, 0x20), (0, 3, 0x40), (1, 3, 0x80)]
            var code: UInt32 = 0x2800
            for (x, y, bit) in bits where lit(x, y) { code |= bit }
            return Character(Unicode.Scalar(code)!)
        case .halfBlocks:
            switch (lit(0, 0), lit(0, 1)) {
            case (true, true): return "█"
            case (true, false): return "▀"
            case (false, true): return "▄"
            case (false, false): return " "
            }
        case .ascii:
            return lit(0, 0) ? "|" : "."
        }
    }

    /// Horizontal bar: full block and eighths, or `#` in ASCII.
    public func bar(fraction: Double, width: Int) -> String {
        let f = min(max(fraction.isFinite ? fraction : 0, 0), 1)
        if self == .ascii {
            let n = Int((f * Double(width)).rounded())
            return String(repeating: "#", count: n) + String(repeating: " ", count: width - n)
        }
        let eighths = Int((f * Double(width * 8)).rounded())
        let full = eighths / 8, rest = eighths % 8
        let partials: [Character] = [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        var s = String(repeating: "█", count: full)
        if full < width { s.append(partials[rest]); s += String(repeating: " ", count: width - full - 1) }
        return s
    }
}
