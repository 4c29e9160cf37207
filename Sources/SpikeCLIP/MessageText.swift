/// `text` for an error message: control characters written as `\u{..}` escapes (so the message stays one line and
/// no escape sequence reaches a terminal) and cut to `limit` Characters with `...`.
public func quotedPreview(_ text: String, limit: Int = 40) -> String {
    var out = ""
    for (i, ch) in text.enumerated() {
        if i == limit { out += "..."; break }
        for s in ch.unicodeScalars {
            let category = s.properties.generalCategory
            let hidden = category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator
            out += hidden ? "\\u{\(String(s.value, radix: 16))}" : String(s)
        }
    }
    return out
}
