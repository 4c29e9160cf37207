import Dispatch

/// Wall-clock timing for the benchmarks (`spikeclip bench`; speed is measured by benchmarks, never by tests).
public enum Timing {
    /// Runs `body` once to warm up (unless `warmUp` is false), then `iterations` times.
    /// - Returns: milliseconds per call, in run order.
    public static func milliseconds(_ iterations: Int, warmUp: Bool = true, _ body: () throws -> Void) rethrows -> [Double] {
        if warmUp { try body() }
        var ms: [Double] = []
        ms.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            ms.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return ms
    }

    /// The `q` quantile of `values` (nearest rank: the smallest value with at least `q` of them at or below it),
    /// `q` in 0...1; 0 for no values.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s[min(s.count - 1, max(0, Int((Double(s.count) * q).rounded(.up)) - 1))]
    }
}
