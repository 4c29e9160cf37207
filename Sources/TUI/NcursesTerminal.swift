import CTerminal
import Foundation
import Visualize

/// Why the terminal could not be used.
public enum TerminalError: Error, CustomStringConvertible, Equatable {
    case notATerminal
    case cannotInitialise(term: String)

    public var description: String {
        switch self {
        case .notATerminal:
            return "standard input/output is not a terminal; use `spikeclip snapshot` for a text frame or `spikeclip demo` for plain output"
        case let .cannotInitialise(term):
            return "cannot drive terminal type '\(term)'; use `spikeclip snapshot` for a text frame or `spikeclip demo` for plain output"
        }
    }
}

/// The real terminal through ncursesw (C shim `CTerminal`). Color roles map to curses color pairs and attributes
/// here, in one place, per ``Theme``.
public final class NcursesTerminal: TerminalDriver {
    public let colorEnabled: Bool
    public let theme: Theme
    /// How a role is drawn: color pair, foreground (-1: the terminal's), background (-1: the terminal's) and the
    /// CT_* attribute bits.
    struct Style { var pair: Int16, fg: Int16, bg: Int16, attrs: Int32 }

    /// Each role's style in `theme` (`colors`: how many colors the terminal has; colors 8-15 only from 16 on).
    static func styles(_ theme: Theme, colors: Int32) -> [ColorRole: Style] {
        let bold = Int32(CT_BOLD), dim = Int32(CT_DIM), underline = Int32(CT_UNDERLINE)
        switch theme {
        case .dark:
            return [.normal: Style(pair: 0, fg: -1, bg: -1, attrs: 0), .dim: Style(pair: 1, fg: 8 < colors ? 8 : -1, bg: -1, attrs: 0),
                    .spike: Style(pair: 2, fg: 3, bg: -1, attrs: bold), .threshold: Style(pair: 3, fg: 1, bg: -1, attrs: 0),
                    .ann: Style(pair: 4, fg: 6, bg: -1, attrs: 0), .snn: Style(pair: 5, fg: 2, bg: -1, attrs: 0),
                    .warning: Style(pair: 6, fg: 1, bg: -1, attrs: bold), .accent: Style(pair: 7, fg: 4, bg: -1, attrs: bold)]
        case .light:
            // Dark inks on a white the explorer paints itself (bright white where there are 16 colors).
            let paper: Int16 = colors >= 16 ? 15 : 7
            return [.normal: Style(pair: 8, fg: 0, bg: paper, attrs: 0), .dim: Style(pair: 1, fg: colors >= 16 ? 8 : 0, bg: paper, attrs: 0),
                    .spike: Style(pair: 2, fg: 5, bg: paper, attrs: bold), .threshold: Style(pair: 3, fg: 1, bg: paper, attrs: 0),
                    .ann: Style(pair: 4, fg: 4, bg: paper, attrs: 0), .snn: Style(pair: 5, fg: 2, bg: paper, attrs: 0),
                    .warning: Style(pair: 6, fg: 1, bg: paper, attrs: bold), .accent: Style(pair: 7, fg: 4, bg: paper, attrs: bold)]
        case .monochrome:
            return [.normal: Style(pair: 0, fg: -1, bg: -1, attrs: 0), .dim: Style(pair: 0, fg: -1, bg: -1, attrs: dim),
                    .spike: Style(pair: 0, fg: -1, bg: -1, attrs: bold), .threshold: Style(pair: 0, fg: -1, bg: -1, attrs: underline),
                    .ann: Style(pair: 0, fg: -1, bg: -1, attrs: 0), .snn: Style(pair: 0, fg: -1, bg: -1, attrs: 0),
                    .warning: Style(pair: 0, fg: -1, bg: -1, attrs: bold | underline), .accent: Style(pair: 0, fg: -1, bg: -1, attrs: bold)]
        }
    }

    private let styles: [ColorRole: Style]

    /// Checks, without starting curses, that ``init(color:)`` will find a usable terminal, so that a caller can refuse
    /// before it starts any background work. - Throws: ``TerminalError`` when there is none.
    public static func preflight() throws {
        guard ct_isatty() != 0 else { throw TerminalError.notATerminal }
        guard ct_can_begin() == 0 else {
            throw TerminalError.cannotInitialise(term: ProcessInfo.processInfo.environment["TERM"] ?? "")
        }
    }

    /// Starts curses. `color` false (or a terminal without colors) draws the monochrome theme; `mouse` turns on
    /// mouse reporting. - Throws: ``TerminalError`` when there is no usable terminal.
    public init(color: Bool, theme: Theme = .dark, mouse: Bool = false) throws {
        guard ct_isatty() != 0 else { throw TerminalError.notATerminal }
        guard ct_begin(color && theme != .monochrome ? 1 : 0) == 0 else {
            throw TerminalError.cannotInitialise(term: ProcessInfo.processInfo.environment["TERM"] ?? "")
        }
        ct_install_signal_handlers()
        // Restore the terminal on any exit (including exit() from a library and uncaught errors after this point).
        atexit { ct_end() }
        colorEnabled = color && theme != .monochrome && ct_colors() > 0
        self.theme = colorEnabled ? theme : .monochrome
        styles = Self.styles(self.theme, colors: ct_colors())
        if colorEnabled {
            for (_, s) in styles where s.pair > 0 { ct_init_pair(s.pair, s.fg, s.bg) }
            if let normal = styles[.normal], normal.pair > 0 { ct_background(normal.pair) }
        }
        ct_mouse(mouse ? 1 : 0)
    }

    /// Restores the terminal; also called on every exit path by the caller.
    public func end() { ct_end() }

    deinit { ct_end() }

    public var size: (width: Int, height: Int) { (Int(ct_cols()), Int(ct_lines())) }

    public func draw(_ grid: CellGrid) {
        ct_erase()
        for y in 0..<grid.height {
            // Write runs of equal role as one string; a two-column character is written once (its right half is
            // skipped), reduced to what curses lays out in its two columns (`CellGrid.drawn(x:y:forCurses:)`).
            var x = 0
            while x < grid.width {
                let role = grid[x, y].role
                var run = ""
                let start = x
                while x < grid.width && grid[x, y].role == role {
                    // The last cell of the screen cannot be written without scrolling in some terminals: skip what
                    // would fill it (a one-column character there, or a two-column one starting just before it).
                    let lastRow = y == grid.height - 1
                    if let text = grid.drawn(x: x, y: y, forCurses: true),
                       !(lastRow && (x == grid.width - 1 || (x == grid.width - 2 && grid[x + 1, y].isContinuation))) {
                        run += text
                    }
                    x += 1
                }
                let style = styles[role] ?? Style(pair: 0, fg: -1, bg: -1, attrs: 0)
                ct_put(Int32(y), Int32(start), run, colorEnabled ? style.pair : 0, style.attrs)
            }
        }
        ct_refresh()
    }

    public func readKey(timeoutMS: Int) -> Key? {
        var code: Int32 = 0
        switch ct_read(Int32(timeoutMS), &code) {
        case 1:
            switch code {
            case 9: return .tab
            case 10, 13: return .enter
            case 27: return .escape
            case 8, 127: return .backspace
            default:
                guard let scalar = Unicode.Scalar(UInt32(bitPattern: code)) else { return nil }
                return .char(Character(scalar))
            }
        case 2:
            switch code {
            case ct_key_up(): return .up
            case ct_key_down(): return .down
            case ct_key_left(): return .left
            case ct_key_right(): return .right
            case ct_key_home(): return .home
            case ct_key_end(): return .end
            case ct_key_ppage(): return .pageUp
            case ct_key_npage(): return .pageDown
            case ct_key_backspace(): return .backspace
            case ct_key_dc(): return .delete
            case ct_key_enter(): return .enter
            case ct_key_btab(): return .backTab
            case ct_key_mouse():
                var x: Int32 = 0, y: Int32 = 0
                switch ct_get_mouse(&x, &y) {
                case 1: return .mouse(MouseEvent(x: Int(x), y: Int(y), kind: .press))
                case 4: return .mouse(MouseEvent(x: Int(x), y: Int(y), kind: .wheelUp))
                case 5: return .mouse(MouseEvent(x: Int(x), y: Int(y), kind: .wheelDown))
                default: return nil
                }
            case ct_key_resize():
                // Found by the soak test: after a burst of resizes the terminal could hold the frame one line off
                // (scrolled) while curses believed it in place, and stayed so. Each resize now repaints everything.
                ct_repaint()
                return .resize
            default: return nil
            }
        default:
            return nil
        }
    }

    public func setMouse(_ on: Bool) { ct_mouse(on ? 1 : 0) }

    public func takeSignal() -> Int32? {
        let s = ct_take_signal()
        return s == 0 ? nil : s
    }
}
