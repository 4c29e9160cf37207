/// Semantic color roles; a terminal driver maps them to its colors in one place (STYLE.md 9).
public enum ColorRole: String, Sendable, CaseIterable {
    case normal, dim, spike, threshold, ann, snn, warning, accent
}

/// One terminal cell: a character and its color role. A character two columns wide (CJK, emoji) sits in the left
/// cell of a pair; the right cell holds ``Cell/continuation``.
public struct Cell: Sendable, Equatable {
    public var character: Character
    public var role: ColorRole

    public init(_ character: Character, _ role: ColorRole = .normal) {
        self.character = character
        self.role = role
    }

    /// The right half of a two-column character (never drawn by itself; U+0000 never reaches the grid as text).
    public static let continuation: Character = "\u{0}"

    /// True for the right half of a two-column character (a byte test: `Character ==` compares canonically).
    public var isContinuation: Bool { character.utf8.first == 0 }
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

    /// A cell; setting one that holds half of a two-column character blanks the other half, so a pair is never
    /// left split (setting a ``Cell/continuation`` is how ``put(_:x:y:role:)`` and ``blit(_:x:y:)`` place pairs).
    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set {
            guard x >= 0 && x < width && y >= 0 && y < height else { return }
            let i = y * width + x
            if !newValue.isContinuation, cells[i].isContinuation, x > 0 {
                cells[i - 1].character = " "  // the left half of the pair this cell ended
            }
            if x + 1 < width, cells[i + 1].isContinuation { cells[i + 1].character = " " }
            cells[i] = newValue
        }
    }

    /// Writes `text` from column `x` of row `y`, clipped to the grid. Each Character takes its terminal width
    /// (``terminalWidth(_:)``: 1, or 2 for wide ones); one that cannot be drawn safely becomes `?`; a wide one that
    /// does not fit before the right edge is left out (text is never cut through a character).
    public mutating func put(_ text: String, x: Int, y: Int, role: ColorRole = .normal) {
        guard y >= 0 && y < height else { return }
        var column = x
        for original in text {
            let w = terminalWidth(original)
            let ch: Character = w == nil ? "?" : original
            let columns = w ?? 1
            if column + columns > width { break }
            if column >= 0 {
                self[column, y] = Cell(ch, role)
                if columns == 2 { self[column + 1, y] = Cell(Cell.continuation, role) }
            } else if column + columns > 0 {
                self[0, y] = Cell(" ", role)  // a wide character half left of the grid
            }
            column += columns
        }
    }

    /// Replaces every `character` cell with `replacement`, keeping roles (e.g. the ellipsis for ASCII terminals).
    public mutating func replace(_ character: Character, with replacement: Character) {
        for i in cells.indices where cells[i].character == character { cells[i].character = replacement }
    }

    /// Makes every cell plain ASCII, keeping roles: anything else becomes `?` (each half of a two-column character
    /// too, so the layout stays). For terminals without UTF-8 (`--ascii`).
    public mutating func restrictToASCII() {
        let drawnText = (0..<height).flatMap { y in (0..<width).map { drawn(x: $0, y: y) } }
        for i in cells.indices {
            guard let text = drawnText[i] else { cells[i].character = "?"; continue }  // right half of a pair
            cells[i].character = text.count == 1 && text.first!.isASCII ? text.first! : "?"
        }
    }

    /// What the cell at `(x, y)` draws: its character, or nil for the right half of a two-column character (drawn
    /// by the cell to its left). A half whose partner is missing (clipped by ``blit(_:x:y:)``) draws a space, so
    /// every row draws exactly `width` columns. With `forCurses`, a cluster keeps only the scalars a curses library
    /// places in its columns (``cursesText(_:)``).
    public func drawn(x: Int, y: Int, forCurses: Bool = false) -> String? {
        let ch = self[x, y].character
        if self[x, y].isContinuation {
            let paired = x > 0 && terminalWidth(self[x - 1, y].character) == 2
            return paired ? nil : " "
        }
        if ch.isASCII { return String(ch) }
        guard let w = terminalWidth(ch) else { return "?" }
        if w == 2 && !(x + 1 < width && self[x + 1, y].isContinuation) { return " " }
        return forCurses ? cursesText(ch) : String(ch)
    }

    /// The characters of each row (trailing spaces kept; a two-column character once), for snapshots and
    /// plain-text output: each row takes exactly `width` terminal columns.
    public var lines: [String] {
        (0..<height).map { y in (0..<width).compactMap { drawn(x: $0, y: y) }.joined() }
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
        if !title.isEmpty && w > 4 { put(" " + displayPrefix(title, columns: w - 4) + " ", x: x + 1, y: y, role: role) }
    }
}

/// Text made safe for a terminal cell grid: every Character is kept when ``terminalWidth(_:)`` knows its width
/// (one column, or two for East Asian wide and fullwidth characters and emoji, including emoji sequences, flags
/// and letters with combining accents), and becomes `?` otherwise: control characters (C0, C1, DEL, so escape
/// sequences never reach the terminal), format characters (bidi overrides), line and paragraph separators,
/// private-use and unassigned scalars, characters newer than the C library's width table, lone combining marks and
/// clusters whose width terminals disagree on. Lay it out with ``displayWidth(_:)``, never `count`. Used for every
/// user-supplied string that reaches the screen.
public func terminalSafe(_ text: String) -> String {
    var out = ""
    for ch in text { if terminalWidth(ch) != nil { out.append(ch) } else { out.append("?") } }
    return out
}

/// Terminal columns `text` takes in a cell grid (``CellGrid/put(_:x:y:role:)``): each Character's
/// ``terminalWidth(_:)``, one for an undrawable one (drawn as `?`).
public func displayWidth(_ text: String) -> Int {
    text.reduce(0) { $0 + (terminalWidth($1) ?? 1) }
}

/// The longest prefix of `text` that takes at most `columns` columns (never cut through a character).
public func displayPrefix(_ text: String, columns: Int) -> String {
    var out = "", used = 0
    for ch in text {
        let w = terminalWidth(ch) ?? 1
        if used + w > columns { break }
        out.append(ch)
        used += w
    }
    return out
}

/// The longest suffix of `text` that takes at most `columns` columns (never cut through a character).
public func displaySuffix(_ text: String, columns: Int) -> String {
    var out: [Character] = [], used = 0
    for ch in text.reversed() {
        let w = terminalWidth(ch) ?? 1
        if used + w > columns { break }
        out.append(ch)
        used += w
    }
    return String(out.reversed())
}

/// Columns a terminal gives the grapheme cluster `ch`: 1, 2, or nil when it cannot be drawn with a width that
/// the C library (glibc's `wcwidth`, which ncurses and tmux use), the terminal and this grid agree on.
/// - 1: one scalar that takes one column and joins no neighbour, optionally followed by combining marks (`é` as
///   e + U+0301).
/// - 2: a wide scalar (East Asian wide or fullwidth, emoji presentation; glibc 2.36's table, Unicode 14) with
///   optional combining marks, variation selector 16, skin-tone modifiers, tags (subdivision flags) and
///   zero-width-joined wide scalars (emoji ZWJ sequences); or a pair of regional indicators (a flag).
/// - nil: controls, format characters, separators, private use, unassigned or newer than Unicode 14, lone
///   combining marks and regional indicators, Hangul conjoining jamo, and clusters of any other shape (a narrow
///   base with variation selector 16 draws one or two columns depending on the terminal).
public func terminalWidth(_ ch: Character) -> Int? {
    let scalars = ch.unicodeScalars
    guard let base = scalars.first else { return nil }
    if scalars.count == 1 {
        let v = base.value
        if v < 0x80 { return v >= 0x20 && v < 0x7F ? 1 : nil }
        // The renderers' own glyphs (box drawing, block elements, braille, the cut mark), checked against glibc by
        // the same test as the rest: a fast path, since every cell of every frame asks.
        if (0x2500...0x259F).contains(v) || (0x2800...0x28FF).contains(v) || v == 0x2026 { return 1 }
    }
    if isRegionalIndicator(base) {
        guard scalars.count == 2, let second = scalars.dropFirst().first, isRegionalIndicator(second) else { return nil }
        return 2
    }
    let baseWidth: Int
    if isOneColumn(base) { baseWidth = 1 } else if isWideGlyph(base) { baseWidth = 2 } else { return nil }
    var afterJoiner = false
    for s in scalars.dropFirst() {
        if afterJoiner {
            guard isWideGlyph(s) else { return nil }
            afterJoiner = false
            continue
        }
        let category = s.properties.generalCategory
        let selector = s.value == 0xFE0E || s.value == 0xFE0F
        if !selector && (category == .nonspacingMark || category == .enclosingMark) && isKnown(s) { continue }
        guard baseWidth == 2 else { return nil }
        switch s.value {
        case 0xFE0F, 0x1F3FB...0x1F3FF, 0xE0020...0xE007F: continue
        case 0x200D: afterJoiner = true
        default: return nil
        }
    }
    return afterJoiner ? nil : baseWidth
}

/// The scalars of a drawable cluster that a curses library (which lays out scalar by scalar with `wcwidth`)
/// places in exactly ``terminalWidth(_:)`` columns: the base, its zero-width followers, both halves of a flag.
/// An emoji ZWJ sequence or skin-tone modifier would take two columns per part there, so only its first emoji
/// is written.
public func cursesText(_ ch: Character) -> String {
    let scalars = Array(ch.unicodeScalars)
    guard scalars.count > 1 else { return String(ch) }
    if isRegionalIndicator(scalars[0]) { return String(ch) }
    var out = String.UnicodeScalarView()
    out.append(scalars[0])
    for s in scalars.dropFirst() {
        let category = s.properties.generalCategory
        if category == .nonspacingMark || category == .enclosingMark || s.value == 0xFE0F { out.append(s) } else { break }
    }
    return String(out)
}

func isRegionalIndicator(_ s: Unicode.Scalar) -> Bool { (0x1F1E6...0x1F1FF).contains(s.value) }

/// Assigned in Unicode 14 or earlier (glibc 2.36, Debian 12, knows its width).
func isKnown(_ s: Unicode.Scalar) -> Bool {
    guard let age = s.properties.age else { return false }
    return age.major < 14 || (age.major == 14 && age.minor == 0)
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
    guard isKnown(s) else { return false }
    let v = s.value
    // Hangul conjoining jamo (leading, vowel and final parts join into one syllable cell), halfwidth katakana sound marks
    // (Grapheme_Extend) and the letters with Grapheme_Cluster_Break = Prepend (they join the next cell).
    if (0x1100...0x11FF).contains(v) || (0xA960...0xA97F).contains(v) || (0xD7B0...0xD7FF).contains(v) || v == 0xFF9E || v == 0xFF9F {
        return false
    }
    if [0x0D4E, 0x111C2, 0x111C3, 0x1193F, 0x11941, 0x11A3A, 0x11D46, 0x11F02].contains(v) || (0x11A84...0x11A89).contains(v) {
        return false
    }
    return !isWideGlyph(s) && !isRegionalIndicator(s)
}

/// True for a scalar that takes two terminal columns in glibc 2.36's `wcwidth` (East Asian wide and fullwidth,
/// emoji presentation), except Hangul leading jamo (they join the next syllable part) and unassigned code points.
func isWideGlyph(_ s: Unicode.Scalar) -> Bool {
    let v = s.value
    if (0x1100...0x115F).contains(v) || (0xA960...0xA97C).contains(v) { return false }
    guard isKnown(s) else { return false }
    var lo = 0, hi = wideRanges.count - 1
    while lo <= hi {
        let mid = (lo + hi) / 2
        if v < wideRanges[mid].lowerBound { hi = mid - 1 } else if v > wideRanges[mid].upperBound { lo = mid + 1 } else { return true }
    }
    return false
}

/// Code points of width 2 in glibc 2.36 (Debian 12), read off its `wcwidth` in C.UTF-8 for every scalar; checked
/// against the running C library by `GridTests.testWidthsAgreeWithTheCLibrary`.
let wideRanges: [ClosedRange<UInt32>] = [
    0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
    0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693, 0x26A1...0x26A1,
    0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA,
    0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B,
    0x2728...0x2728, 0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
    0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55, 0x2E80...0x2E99,
    0x2E9B...0x2EF3, 0x2F00...0x2FD5, 0x2FF0...0x2FFB, 0x3000...0x3029, 0x302E...0x303E, 0x3041...0x3096,
    0x309B...0x30FF, 0x3105...0x312F, 0x3131...0x318E, 0x3190...0x31E3, 0x31F0...0x321E, 0x3220...0xA48C,
    0xA490...0xA4C6, 0xA960...0xA97C, 0xAC00...0xD7A3, 0xF900...0xFA6D, 0xFA70...0xFAD9, 0xFE10...0xFE19,
    0xFE30...0xFE52, 0xFE54...0xFE66, 0xFE68...0xFE6B, 0xFF01...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE3,
    0x16FF0...0x16FF1, 0x17000...0x187F7, 0x18800...0x18CD5, 0x18D00...0x18D08, 0x1AFF0...0x1AFF3, 0x1AFF5...0x1AFFB,
    0x1AFFD...0x1AFFE, 0x1B000...0x1B122, 0x1B150...0x1B152, 0x1B164...0x1B167, 0x1B170...0x1B2FB, 0x1F004...0x1F004,
    0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E, 0x1F191...0x1F19A, 0x1F200...0x1F202, 0x1F210...0x1F23B, 0x1F240...0x1F248,
    0x1F250...0x1F251, 0x1F260...0x1F265, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C, 0x1F37E...0x1F393,
    0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0, 0x1F3F4...0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440...0x1F440,
    0x1F442...0x1F4FC, 0x1F4FF...0x1F53D, 0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A...0x1F57A, 0x1F595...0x1F596,
    0x1F5A4...0x1F5A4, 0x1F5FB...0x1F64F, 0x1F680...0x1F6C5, 0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7,
    0x1F6DD...0x1F6DF, 0x1F6EB...0x1F6EC, 0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F7F0...0x1F7F0, 0x1F90C...0x1F93A,
    0x1F93C...0x1F945, 0x1F947...0x1F9FF, 0x1FA70...0x1FA74, 0x1FA78...0x1FA7C, 0x1FA80...0x1FA86, 0x1FA90...0x1FAAC,
    0x1FAB0...0x1FABA, 0x1FAC0...0x1FAC5, 0x1FAD0...0x1FAD9, 0x1FAE0...0x1FAE7, 0x1FAF0...0x1FAF6, 0x20000...0x2A6DF,
    0x2A700...0x2B738, 0x2B740...0x2B81D, 0x2B820...0x2CEA1, 0x2CEB0...0x2EBE0, 0x2F800...0x2FA1D, 0x30000...0x3134A,
]
