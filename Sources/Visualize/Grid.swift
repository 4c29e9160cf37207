/// Semantic color roles; a terminal driver maps them to its colors in one place (STYLE.md 9).
public enum ColorRole: String, Sendable, CaseIterable {
    case normal, dim, spike, threshold, ann, snn, warning, accent
}

/// One terminal cell: a character (one column wide) and its color role.
public struct Cell: Sendable, Equatable {
    public var character: Character
    public var role: ColorRole

    public init(_ character: Character, _ role: ColorRole = .normal) {
        self.character = character
        self.role = role
    }
}

/// A width x height grid of cells, the output of every renderer.
public struct CellGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int, fill: Cell = Cell(" ")) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.cells = Array(repeating: fill, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { if x >= 0 && x < width && y >= 0 && y < height { cells[y * width + x] = newValue } }
    }

    /// Writes `text` from column `x` of row `y`, clipped to the grid (one column per character).
    public mutating func put(_ text: String, x: Int, y: Int, role: ColorRole = .normal) {
        guard y >= 0 && y < height else { return }
        var column = x
        for ch in text {
            if column >= width { break }
            if column >= 0 { self[column, y] = Cell(ch, role) }
            column += 1
        }
    }

    /// Replaces every `character` cell with `replacement`, keeping roles (e.g. the ellipsis for ASCII terminals).
    public mutating func replace(_ character: Character, with replacement: Character) {
        for i in cells.indices where cells[i].character == character { cells[i].character = replacement }
    }

    /// The characters of each row (trailing spaces kept), for snapshots and plain-text output.
    public var lines: [String] {
        (0..<height).map { y in String((0..<width).map { self[$0, y].character }) }
    }

    /// Rows with each cell's role written as a one-letter tag line below (for color-role snapshots).
    public var roleLines: [String] {
        (0..<height).map { y in String((0..<width).map { x -> Character in
            let role = self[x, y].role
            return role == .normal ? "." : role.rawValue.first!
        }) }
    }
}

extension CellGrid {
    /// Copies `other` into this grid with its top-left corner at `(x, y)`, clipped.
    public mutating func blit(_ other: CellGrid, x: Int, y: Int) {
        for oy in 0..<other.height {
            for ox in 0..<other.width { self[x + ox, y + oy] = other[ox, oy] }
        }
    }

    /// Draws a box border around the rectangle, with `title` in the top edge. ASCII uses `+-|`.
    public mutating func box(x: Int, y: Int, width w: Int, height h: Int, title: String, role: ColorRole, ascii: Bool) {
        guard w >= 2, h >= 2 else { return }
        let (hz, vt, tl, tr, bl, br): (Character, Character, Character, Character, Character, Character) =
            ascii ? ("-", "|", "+", "+", "+", "+") : ("─", "│", "┌", "┐", "└", "┘")
        for i in 1..<(w - 1) { self[x + i, y] = Cell(hz, role); self[x + i, y + h - 1] = Cell(hz, role) }
        for j in 1..<(h - 1) { self[x, y + j] = Cell(vt, role); self[x + w - 1, y + j] = Cell(vt, role) }
        self[x, y] = Cell(tl, role); self[x + w - 1, y] = Cell(tr, role)
        self[x, y + h - 1] = Cell(bl, role); self[x + w - 1, y + h - 1] = Cell(br, role)
        if !title.isEmpty && w > 4 { put(" " + String(title.prefix(w - 4)) + " ", x: x + 1, y: y, role: role) }
    }
}

/// Text made safe for a terminal cell grid: every Character becomes either itself, when it is a single Unicode scalar
/// that takes exactly one terminal column and cannot join a neighbouring cell's character, or `?`. Replaced:
/// control characters (C0, C1, DEL, so escape sequences never reach the terminal), format characters (bidi overrides,
/// zero-width joiners), line and paragraph separators, private-use and unassigned scalars (width unknown),
/// characters that take two columns (East Asian wide and fullwidth, emoji) or none (combining marks, Hangul vowel
/// and final jamo), spacing marks and prepended concatenation marks (which join the previous or next cell), and every
/// multi-scalar grapheme cluster. The result has exactly one column per Character, so panel borders never shift.
/// Used for every user-supplied string that reaches the screen.
public func terminalSafe(_ text: String) -> String {
    var out = ""
    for ch in text {
        let scalars = ch.unicodeScalars
        if scalars.count == 1, let s = scalars.first, isOneColumn(s) { out.unicodeScalars.append(s) } else { out.append("?") }
    }
    return out
}

/// True for a scalar that a terminal draws in exactly one column and that forms a grapheme cluster on its own
/// whatever its neighbours are (Grapheme_Cluster_Break = Other).
func isOneColumn(_ s: Unicode.Scalar) -> Bool {
    switch s.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
        .nonspacingMark, .enclosingMark, .spacingMark:
        return false
    default:
        break
    }
    let v = s.value
    // Hangul vowel and final jamo (width 0, they join a leading consonant), halfwidth katakana sound marks
    // (Grapheme_Extend) and the letters with Grapheme_Cluster_Break = Prepend (they join the next cell).
    if (0x1160...0x11FF).contains(v) || (0xD7B0...0xD7FF).contains(v) || v == 0xFF9E || v == 0xFF9F { return false }
    if [0x0D4E, 0x111C2, 0x111C3, 0x1193F, 0x11941, 0x11A3A, 0x11D46, 0x11F02].contains(v) || (0x11A84...0x11A89).contains(v) {
        return false
    }
    return !isWide(s)
}

/// True for scalars that take two terminal columns (East Asian wide/fullwidth, emoji presentation) or none
/// (combining marks).
func isWide(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if s.properties.generalCategory == .nonspacingMark || s.properties.generalCategory == .enclosingMark { return true }
    if s.properties.isEmojiPresentation { return true }
    return (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xA960...0xA97F).contains(v)
        || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE10...0xFE19).contains(v)
        || (0xFE30...0xFE6F).contains(v) || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v)
        || (0x1F000...0x1FAFF).contains(v) || (0x20000...0x3FFFD).contains(v)
}
