/// `text` as one line that is safe to write to a terminal: every scalar that moves the cursor, changes the
/// terminal's state or hides text is written as a `\u{hex}` escape: C0 and C1 controls (newline, tab, carriage
/// return and ESC included, so no escape sequence reaches the terminal), DEL, line and paragraph separators, and
/// format characters (bidi overrides and isolates, zero-width spaces, tags), except the zero-width joiner that emoji
/// sequences need. Everything else, wide and combining characters included, is kept for the terminal to draw.
/// The one escaping rule for text from arguments and files in human-readable CLI output and in error messages
/// (issue 11); `--json` output relies on JSON escaping instead, and the explorer's cell grid on `terminalSafe`.
public func terminalText(_ text: String) -> String {
    var out = ""
    out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for s in text.unicodeScalars { appendEscaped(s, to: &out) }
    return out
}

/// `text` for an error message: ``terminalText(_:)`` of its first `limit` Characters, with `...` when cut.
public func quotedPreview(_ text: String, limit: Int = 40) -> String {
    var out = ""
    for (i, ch) in text.enumerated() {
        if i == limit { out += "..."; break }
        for s in ch.unicodeScalars { appendEscaped(s, to: &out) }
    }
    return out
}

/// True for a scalar ``terminalText(_:)`` writes as an escape.
public func isHiddenFromTerminal(_ s: Unicode.Scalar) -> Bool {
    switch s.properties.generalCategory {
    case .control, .lineSeparator, .paragraphSeparator: return true
    case .format: return s.value != 0x200D
    default: return false
    }
}

private func appendEscaped(_ s: Unicode.Scalar, to out: inout String) {
    if isHiddenFromTerminal(s) { out += "\\u{\(String(s.value, radix: 16))}" } else { out.unicodeScalars.append(s) }
}
