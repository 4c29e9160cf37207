import Foundation

/// Formats an energy in picojoules with an SI unit chosen to keep 3-4 significant digits: `812 pJ`, `3.23 uJ`.
/// ASCII `u` is used for micro so that the text survives any terminal.
public func formatEnergy(picojoules pj: Double) -> String {
    let units: [(Double, String)] = [(1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ"), (1, "pJ")]
    let magnitude = abs(pj)
    for (scale, unit) in units where magnitude >= scale {
        let v = pj / scale
        return String(format: v >= 100 ? "%.0f %@" : v >= 10 ? "%.1f %@" : "%.2f %@", v, unit)
    }
    return String(format: "%.2f pJ", pj)
}

/// Formats an operation count compactly: `950`, `12.3k`, `3.04M`, `1.20G`.
public func formatCount(_ n: Double) -> String {
    let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
    for (scale, unit) in units where abs(n) >= scale {
        let v = n / scale
        return String(format: v >= 100 ? "%.0f%@" : v >= 10 ? "%.1f%@" : "%.2f%@", v, unit)
    }
    return String(format: "%.0f", n)
}

/// `s` right-aligned in `n` columns (returned unchanged when it is already `n` or more characters long).
public func rightAligned(_ s: String, _ n: Int) -> String {
    s.count >= n ? s : String(repeating: " ", count: n - s.count) + s
}
