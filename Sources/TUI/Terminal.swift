import Visualize

/// A key press, decoded from the terminal. Letters cover every action, so no function keys are needed.
public enum Key: Equatable, Sendable {
    case char(Character)
    case up, down, left, right, home, end, pageUp, pageDown
    case enter, tab, backTab, backspace, delete, escape
    /// The terminal was resized.
    case resize
    /// A mouse button or wheel event at a cell (only with the mouse on: `--mouse` or the config file).
    case mouse(MouseEvent)
}

/// A mouse event at cell `(x, y)` of the screen (0-based, row 0 is the tab bar).
public struct MouseEvent: Equatable, Sendable {
    public enum Kind: String, Sendable { case press, wheelUp = "wheel-up", wheelDown = "wheel-down" }
    public var x: Int, y: Int, kind: Kind
    public init(x: Int, y: Int, kind: Kind) { self.x = x; self.y = y; self.kind = kind }
}

extension Key {
    /// Names of the keys that are not one character, as the config file's `[keys]` table and session records spell
    /// them.
    static let names: [(String, Key)] = [
        ("up", .up), ("down", .down), ("left", .left), ("right", .right), ("home", .home), ("end", .end),
        ("pageup", .pageUp), ("pagedown", .pageDown), ("enter", .enter), ("tab", .tab), ("backtab", .backTab),
        ("backspace", .backspace), ("delete", .delete), ("escape", .escape), ("space", .char(" ")), ("resize", .resize),
    ]

    /// The key's name: one character as itself, else a name from ``names``, or `mouse:KIND:X:Y`.
    public var name: String {
        if case let .mouse(m) = self { return "mouse:\(m.kind.rawValue):\(m.x):\(m.y)" }
        if let n = Self.names.first(where: { $0.1 == self }) { return n.0 }
        if case let .char(c) = self { return String(c) }
        return "?"
    }

    /// The key named `name` (one character, or a name from ``names``, or `mouse:KIND:X:Y`); nil for anything else.
    public init?(name: String) {
        if name.count == 1, let c = name.first { self = .char(c); return }
        if let n = Self.names.first(where: { $0.0 == name.lowercased() }) { self = n.1; return }
        let parts = name.split(separator: ":").map(String.init)
        if parts.count == 4, parts[0] == "mouse", let kind = MouseEvent.Kind(rawValue: parts[1]), let x = Int(parts[2]), let y = Int(parts[3]),
           (0...10_000).contains(x), (0...10_000).contains(y) {
            self = .mouse(MouseEvent(x: x, y: y, kind: kind))
            return
        }
        return nil
    }
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
    /// Turns mouse reporting on or off (drivers without a mouse ignore it).
    func setMouse(_ on: Bool)
}

extension TerminalDriver {
    public func setMouse(_ on: Bool) {}
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
