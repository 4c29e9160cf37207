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
