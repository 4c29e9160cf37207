import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Keys from standard input for `--plain` (issue 18): bytes decoded as UTF-8, with Enter, Tab, Backspace, Esc and
/// the arrow keys' escape sequences (`ESC [ A` ...). A terminal on standard input is put in non-canonical mode
/// without echo (restored on ``restore()`` and at exit), so keys act as they are typed; a pipe is read as it comes.
public final class StandardInputKeys {
    private var pending: [UInt8] = []
    private var saved: termios?
    private var ended = false

    public init() {
        var t = termios()
        if isatty(0) != 0, tcgetattr(0, &t) == 0 {
            saved = t
            var raw = t
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            tcsetattr(0, TCSANOW, &raw)
        }
    }

    deinit { restore() }

    /// Puts a terminal back as it was.
    public func restore() {
        if var t = saved { tcsetattr(0, TCSANOW, &t); saved = nil }
    }

    /// The next key, nil at the end of input.
    public func next() -> Key? {
        while true {
            if let key = Self.decode(&pending, final: ended) { return key }
            if ended { return nil }
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = read(0, &buffer, buffer.count)
            if n <= 0 { ended = true } else { pending += buffer[0..<n] }
        }
    }

    /// Takes one key off the front of `bytes`; nil when more bytes are needed (or none are left). With `final`, a
    /// lone ESC is Escape and an incomplete or invalid UTF-8 sequence is dropped.
    static func decode(_ bytes: inout [UInt8], final: Bool) -> Key? {
        guard let b = bytes.first else { return nil }
        switch b {
        case 0x0a, 0x0d: bytes.removeFirst(); return .enter
        case 0x09: bytes.removeFirst(); return .tab
        case 0x08, 0x7f: bytes.removeFirst(); return .backspace
        case 0x1b:
            if bytes.count >= 3, bytes[1] == UInt8(ascii: "[") {
                let keys: [UInt8: Key] = [UInt8(ascii: "A"): .up, UInt8(ascii: "B"): .down, UInt8(ascii: "C"): .right, UInt8(ascii: "D"): .left,
                                          UInt8(ascii: "H"): .home, UInt8(ascii: "F"): .end, UInt8(ascii: "Z"): .backTab]
                if let k = keys[bytes[2]] { bytes.removeFirst(3); return k }
            }
            if bytes.count == 1 && !final { return nil }
            bytes.removeFirst()
            return .escape
        case 0..<0x20:
            bytes.removeFirst()  // other control bytes are no keys
            return decode(&bytes, final: final)
        default:
            let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            guard bytes.count >= length else {
                if final { bytes.removeAll() }
                return nil
            }
            let scalarBytes = Array(bytes.prefix(length))
            bytes.removeFirst(length)
            guard let text = String(bytes: scalarBytes, encoding: .utf8), let c = text.first else { return decode(&bytes, final: final) }
            return .char(c)
        }
    }
}

extension Explorer {
    /// `--plain`: no drawing. Reads keys until `q` or the end of input, waits for each analysis, and writes one line
    /// (``plainSummary()``) whenever it differs from the last one written.
    public func runPlain(keys: StandardInputKeys, output: (String) -> Void) {
        defer { keys.restore() }
        showTimings = false
        settle()
        _ = frame(width: 120, height: 40)  // a size for the key handlers (never drawn)
        var last = plainSummary()
        output(last)
        while let key = keys.next() {
            if !handle(key) { return }
            settle()
            let line = plainSummary()
            if line != last { output(line); last = line }
        }
    }
}
