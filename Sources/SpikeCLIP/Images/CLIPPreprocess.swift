import Foundation

/// CLIP's image preprocessing as transformers' `CLIPImageProcessor` does it (torchvision backend, the v5 default):
///
/// 1. to RGB: grey replicated; alpha composited on **white** (`c * a + (1 - a)`), back to 8 bits;
/// 2. resize so the short side is `shortestEdge` (the long side `floor(shortestEdge * long / short)`), bicubic with
///    antialiasing (PIL's and torchvision's separable filter, `a = -0.5`, support scaled by the reduction factor),
///    horizontal pass then vertical, each rounded to 8 bits as the uint8 path does;
/// 3. center crop `cropSize` (offsets rounded down; zero padding when the image is smaller);
/// 4. `/ 255`, then `(x - mean[c]) / std[c]` (CLIP's mean and std by default).
///
/// The 8-bit roundings follow the reference; the filter weights are computed in Double where torchvision uses fixed
/// point, so single values may differ by one level (measured: `Tests/SpikeCLIPTests/CLIPModelTests.swift`).
/// 16-bit images are reduced to 8 bits first.
public struct CLIPImagePreprocessor: Sendable, Equatable {
    public var shortestEdge: Int
    public var cropSize: Int
    public var mean: [Float]
    public var std: [Float]

    public static let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    public init(shortestEdge: Int = 224, cropSize: Int = 224, mean: [Float] = clipMean, std: [Float] = clipStd) {
        self.shortestEdge = shortestEdge
        self.cropSize = cropSize
        self.mean = mean
        self.std = std
    }

    /// The settings of a Hugging Face folder's `preprocessor_config.json` (`size.shortest_edge` or `size`,
    /// `crop_size.height` or `crop_size`, `image_mean`, `image_std`), CLIP's defaults at `size` when absent.
    /// - Throws: ``CheckpointError/badConfig(path:reason:)`` for a file that is not such JSON or asks for another resize.
    public init(folder: String, size: Int) throws {
        self.init(shortestEdge: size, cropSize: size)
        let path = (folder as NSString).appendingPathComponent("preprocessor_config.json")
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError.badConfig(path: path, reason: "not a JSON object")
        }
        func side(_ v: Any?, _ key: String) -> Int? { (v as? Int) ?? ((v as? [String: Any])?[key] as? Int) }
        if let s = side(o["size"], "shortest_edge") { shortestEdge = s }
        if let c = side(o["crop_size"], "height") { cropSize = c }
        if let m = o["image_mean"] as? [Double], m.count == 3 { mean = m.map(Float.init) }
        if let s = o["image_std"] as? [Double], s.count == 3, s.allSatisfy({ $0 > 0 }) { std = s.map(Float.init) }
        if let r = o["resample"] as? Int, r != 3 { throw CheckpointError.badConfig(path: path, reason: "resample \(r) is not bicubic (3), the only one implemented") }
        guard (1...4096).contains(shortestEdge), (1...4096).contains(cropSize) else {
            throw CheckpointError.badConfig(path: path, reason: "size and crop_size must be in 1...4096")
        }
    }

    /// Model input `[3, crop, crop]`.
    public func callAsFunction(_ image: DecodedImage) -> [Float] {
        var out = eightBit(image).map { Float($0) / 255 }
        let plane = cropSize * cropSize
        for c in 0..<3 { for i in (c * plane)..<((c + 1) * plane) { out[i] = (out[i] - mean[c]) / std[c] } }
        return out
    }

    /// Steps 1-3: `[3, crop, crop]` in 0...255 (the reference's `do_rescale=False, do_normalize=False` output).
    public func eightBit(_ image: DecodedImage) -> [UInt8] {
        let (w, h) = (image.width, image.height)
        let colors = image.hasAlpha ? image.channels - 1 : image.channels
        var rgb = [Double](repeating: 0, count: 3 * w * h)
        for i in 0..<(w * h) {
            let base = i * image.channels
            let a = image.hasAlpha ? Double(image.samples[base + colors]) : 1
            for c in 0..<3 {
                let s = Double(image.samples[base + (colors == 1 ? 0 : c)])
                let v8 = (s * 255).rounded()  // the decoded file's 8-bit value
                // Composited in float and converted back as torchvision's to_dtype does (x * 255.999..., truncated).
                rgb[c * w * h + i] = image.hasAlpha ? ((v8 / 255 * a + (1 - a)) * (256 - 1e-3)).rounded(.down) : v8
            }
        }
        let (short, long) = (min(w, h), max(w, h))
        let newShort = shortestEdge, newLong = Int(Double(shortestEdge) * Double(long) / Double(short))
        let (nw, nh) = w <= h ? (newShort, newLong) : (newLong, newShort)
        var planes = rgb
        var (cw, ch) = (w, h)
        if nw != cw { planes = Self.resizeAxis(planes, width: cw, height: ch, to: nw, horizontal: true); cw = nw }
        if nh != ch { planes = Self.resizeAxis(planes, width: cw, height: ch, to: nh, horizontal: false); ch = nh }
        // Center crop (pad with zeros first when smaller, as the reference does).
        let s = cropSize
        var out = [UInt8](repeating: 0, count: 3 * s * s)
        let padLeft = s > cw ? (s - cw) / 2 : 0, padTop = s > ch ? (s - ch) / 2 : 0
        let pw = max(cw, s), ph = max(ch, s)
        let top = (ph - s) / 2, left = (pw - s) / 2
        for c in 0..<3 {
            for y in 0..<s {
                let sy = y + top - padTop
                guard sy >= 0, sy < ch else { continue }
                for x in 0..<s {
                    let sx = x + left - padLeft
                    guard sx >= 0, sx < cw else { continue }
                    out[(c * s + y) * s + x] = UInt8(planes[(c * ch + sy) * cw + sx])
                }
            }
        }
        return out
    }

    /// Bicubic (`a = -0.5`) kernel.
    static func cubic(_ x: Double) -> Double {
        let a = -0.5, t = abs(x)
        if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
        if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
        return 0
    }

    /// One antialiased resampling pass along x (`horizontal`) or y, rounded and clipped to 0...255 (PIL's
    /// `ImagingResample` coefficients: support `2 * max(scale, 1)` around `center = (o + 0.5) * scale`).
    static func resizeAxis(_ v: [Double], width: Int, height: Int, to n: Int, horizontal: Bool) -> [Double] {
        let input = horizontal ? width : height
        let scale = Double(input) / Double(n)
        let filterScale = max(scale, 1)
        let support = 2 * filterScale
        var taps: [(start: Int, weights: [Double])] = []
        for o in 0..<n {
            let center = (Double(o) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), input)
            var weights = (lo..<hi).map { cubic((Double($0) - center + 0.5) / filterScale) }
            let total = weights.reduce(0, +)
            if total != 0 { weights = weights.map { $0 / total } }
            taps.append((lo, weights))
        }
        let (ow, oh) = horizontal ? (n, height) : (width, n)
        var out = [Double](repeating: 0, count: 3 * ow * oh)
        for c in 0..<3 {
            for y in 0..<oh {
                for x in 0..<ow {
                    let (start, weights) = taps[horizontal ? x : y]
                    var acc = 0.0
                    for (k, wgt) in weights.enumerated() {
                        let src = horizontal ? (c * height + y) * width + start + k : (c * height + start + k) * width + x
                        acc += wgt * v[src]
                    }
                    out[(c * oh + y) * ow + x] = min(max(acc.rounded(), 0), 255)
                }
            }
        }
        return out
    }
}
