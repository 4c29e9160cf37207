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

/// The real terminal through ncursesw (C shim `CTerminal`). Color roles map to curses color pairs here, in one place.
public final class NcursesTerminal: TerminalDriver {
    public let colorEnabled: Bool
    private static let pairs: [ColorRole: (pair: Int16, fg: Int16, bold: Bool)] = [
        .normal: (0, -1, false), .dim: (1, 8, false), .spike: (2, 3, true), .threshold: (3, 1, false),
        .ann: (4, 6, false), .snn: (5, 2, false), .warning: (6, 1, true), .accent: (7, 4, true),
    ]

    /// Checks, without starting curses, that ``init(color:)`` will find a usable terminal, so that a caller can refuse
    /// before it starts any background work. - Throws: ``TerminalError`` when there is none.
    public static func preflight() throws {
        guard ct_isatty() != 0 else { throw TerminalError.notATerminal }
        guard ct_can_begin() == 0 else {
            throw TerminalError.cannotInitialise(term: ProcessInfo.processInfo.environment["TERM"] ?? "")
        }
    }

    /// Starts curses. - Throws: ``TerminalError`` when there is no usable terminal.
    public init(color: Bool) throws {
        guard ct_isatty() != 0 else { throw TerminalError.notATerminal }
        guard ct_begin(color ? 1 : 0) == 0 else {
            throw TerminalError.cannotInitialise(term: ProcessInfo.processInfo.environment["TERM"] ?? "")
        }
        ct_install_signal_handlers()
        // Restore the terminal on any exit (including exit() from a library and uncaught errors after this point).
        atexit { ct_end() }
        colorEnabled = color && ct_colors() > 0
        if colorEnabled {
            for (_, p) in Self.pairs where p.pair > 0 {
                // Color 8 (bright black) exists only with 16+ colors; fall back to the default foreground.
                ct_init_pair(p.pair, p.fg >= ct_colors() ? -1 : p.fg, -1)
            }
        }
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
                let style = Self.pairs[role] ?? (0, -1, false)
                ct_put(Int32(y), Int32(start), run, colorEnabled ? style.pair : 0, style.bold ? 1 : 0)
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

    public func takeSignal() -> Int32? {
        let s = ct_take_signal()
        return s == 0 ? nil : s
    }
}
