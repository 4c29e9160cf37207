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

/// Text made safe for a terminal cell grid: control characters (C0, C1, DEL, escape sequences) become `?`, and
/// characters that do not take exactly one column (wide CJK, emoji, combining marks) are replaced so that borders
/// never shift. Used for every user-supplied string that reaches the screen.
public func terminalSafe(_ text: String) -> String {
    var out = ""
    for ch in text {
        let scalars = ch.unicodeScalars
        if scalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            out.append("?")
        } else if scalars.count > 1 || scalars.first.map(isWide) == true {
            out.append("?")
        } else {
            out.append(ch)
        }
    }
    return out
}

/// True for scalars that take two terminal columns or none (East Asian wide/fullwidth, emoji, combining marks).
func isWide(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if s.properties.generalCategory == .nonspacingMark || s.properties.generalCategory == .enclosingMark { return true }
    if s.properties.isEmojiPresentation { return true }
    return (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
        || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
        || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1FAFF).contains(v) || (0x20000...0x3FFFD).contains(v)
}
