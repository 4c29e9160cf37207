import Visualize

/// A key press, decoded from the terminal. Letters cover every action, so no function keys are needed.
public enum Key: Equatable, Sendable {
    case char(Character)
    case up, down, left, right, home, end, pageUp, pageDown
    case enter, tab, backTab, backspace, delete, escape
    /// The terminal was resized.
    case resize
}

/// What the explorer needs from a terminal. The ncursesw driver talks to a real one; ``MemoryTerminal`` records
/// frames and replays keys for tests (STYLE.md 10: the driver is passed in so the whole loop runs against a fake).
public protocol TerminalDriver: AnyObject {
    /// Current size in cells.
    var size: (width: Int, height: Int) { get }
    /// True when color roles are shown as colors.
    var colorEnabled: Bool { get }
    /// Shows `grid` (the full frame).
    func draw(_ grid: CellGrid)
    /// The next key, waiting at most `timeoutMS` milliseconds; `nil` on timeout.
    func readKey(timeoutMS: Int) -> Key?
    /// A pending SIGINT / SIGTERM / SIGHUP (signal number), cleared when read.
    func takeSignal() -> Int32?
}

/// An in-memory terminal for tests: a key queue in, frames out.
public final class MemoryTerminal: TerminalDriver {
    public var size: (width: Int, height: Int)
    public let colorEnabled: Bool
    public private(set) var frames: [CellGrid] = []
    public var keys: [Key]
    public var signal: Int32?

    public init(width: Int, height: Int, keys: [Key] = [], color: Bool = true) {
        self.size = (width, height)
        self.keys = keys
        self.colorEnabled = color
    }

    public var lastFrame: CellGrid? { frames.last }

    public func draw(_ grid: CellGrid) { frames.append(grid) }

    public func readKey(timeoutMS: Int) -> Key? { keys.isEmpty ? nil : keys.removeFirst() }

    public func takeSignal() -> Int32? {
        defer { signal = nil }
        return signal
    }
}
