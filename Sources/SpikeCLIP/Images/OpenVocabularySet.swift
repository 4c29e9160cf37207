import Foundation

/// The geometry that turns an emoji bitmap or a clip-art file into a 32x32 pictogram view, exactly as
/// `training/spikeclip_training/opendata.py` does (`to_rgba32`, `on_black`; issue 16):
/// 1. samples to Double (8-bit sources recovered as `v / 255` exactly); gray replicated to RGB; no alpha -> opaque;
/// 2. padded to a square of side `max(H, W)` with transparent pixels, centred (`(S - H) / 2`, `(S - W) / 2`);
/// 3. premultiplied RGBA area-averaged to `content` x `content` (each output cell averages the input area it
///    covers, fractional pixels weighted by their overlap), straight alpha restored, clipped, 8-bit rounded half to
///    even, centred on a transparent `size` x `size` canvas;
/// 4. the canonical view: that RGBA composited on black, `round(c * a / 255)`.
public enum PictogramGeometry {
    /// `[n_out, n_in]` area weights as rows of (first input index, weights); each row sums to 1.
    static func areaRows(input n: Int, output m: Int) -> [(first: Int, weights: [Double])] {
        let step = Double(n) / Double(m)
        return (0..<m).map { i in
            let lo = Double(i) * step, hi = Double(i + 1) * step
            let first = max(0, Int(lo.rounded(.down))), last = min(n - 1, Int(hi.rounded(.up)) - 1)
            var w = [Double]()
            for j in first...max(first, last) { w.append(max(0, min(hi, Double(j + 1)) - max(lo, Double(j)))) }
            let sum = w.reduce(0, +)
            return (first, w.map { $0 / sum })
        }
    }

    /// `[size, size, 4]` straight-alpha RGBA bytes of `image` (steps 1-3).
    public static func rgba(_ image: DecodedImage, size: Int = 32, content: Int = 28) -> [UInt8] {
        let h = image.height, w = image.width, c = image.channels
        let s = max(h, w), y0 = (s - h) / 2, x0 = (s - w) / 2
        let deep = image.sourceBitDepth > 8
        func value(_ v: Float) -> Double { deep ? (Double(v) * 65535).rounded() / 65535 : (Double(v) * 255).rounded() / 255 }
        let rows = areaRows(input: s, output: content)
        // weight of square row y in output row i (sparse: each y meets at most a few i)
        var byRow = [[(i: Int, w: Double)]](repeating: [], count: s)
        for (i, r) in rows.enumerated() { for (k, wt) in r.weights.enumerated() where wt > 0 { byRow[r.first + k].append((i, wt)) } }
        // pass 1: vertical, [content, s, 4] over the square's columns (zero outside the image)
        var vert = [Double](repeating: 0, count: content * s * 4)
        for y in 0..<h {
            let sy = y + y0
            for x in 0..<w {
                let p = (y * w + x) * c
                let a = (c == 2 || c == 4) ? value(image.samples[p + c - 1]) : 1
                let r: Double, g: Double, b: Double
                if c <= 2 { r = value(image.samples[p]); g = r; b = r } else {
                    r = value(image.samples[p]); g = value(image.samples[p + 1]); b = value(image.samples[p + 2])
                }
                for (i, wt) in byRow[sy] {
                    let q = (i * s + x + x0) * 4
                    vert[q] += wt * r * a; vert[q + 1] += wt * g * a; vert[q + 2] += wt * b * a; vert[q + 3] += wt * a
                }
            }
        }
        // pass 2: horizontal, then straight alpha, clip, round, centre
        var out = [UInt8](repeating: 0, count: size * size * 4)
        let o = (size - content) / 2
        func byte(_ v: Double) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded(.toNearestOrEven)) }
        for i in 0..<content {
            for (j, col) in rows.enumerated() {
                var acc = [Double](repeating: 0, count: 4)
                for (k, wt) in col.weights.enumerated() {
                    let q = (i * s + col.first + k) * 4
                    for ch in 0..<4 { acc[ch] += wt * vert[q + ch] }
                }
                let alpha = acc[3]
                let q = ((o + i) * size + o + j) * 4
                for ch in 0..<3 { out[q + ch] = byte(alpha > 1e-12 ? acc[ch] / max(alpha, 1e-12) : 0) }
                out[q + 3] = byte(alpha)
            }
        }
        return out
    }

    /// Step 4: RGBA bytes -> RGB bytes composited on black.
    public static func onBlack(_ rgba: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rgba.count / 4 * 3)
        for p in 0..<(rgba.count / 4) {
            let a = Double(rgba[4 * p + 3]) / 255
            for ch in 0..<3 { out[3 * p + ch] = UInt8((Double(rgba[4 * p + ch]) * a).rounded(.toNearestOrEven)) }
        }
        return out
    }

    /// The canonical view as an 8-bit RGB image (what a stored demo PNG decodes to).
    public static func view(_ image: DecodedImage, size: Int = 32, content: Int = 28) -> DecodedImage {
        let rgb = onBlack(rgba(image, size: size, content: content))
        return DecodedImage(width: size, height: size, channels: 3, sourceBitDepth: 8, samples: rgb.map { Float($0) / 255 })
    }
}

/// An open-vocabulary evaluation set (issue 16): the pictures a manifest names (`assets/open-vocabulary/sets.json`,
/// written by `python -m spikeclip_training.opendata --manifest`), rebuilt at run time from the installed Debian
/// packages (emoji bitmaps from `fonts-noto-color-emoji`, clip art from `openclipart-png`) with
/// ``PictogramGeometry``. Sets: `heldout` (pictures of concepts no training stage saw; classes = the held-out names)
/// and `seen-test` (held-out pictures of seen concepts; classes = every seen name).
public struct OpenVocabularySet: LabeledImageSet {
    public static let defaultManifest = "assets/open-vocabulary/sets.json"
    public static let sets = ["heldout", "seen-test"]

    public let name: String
    public let classNames: [String]
    let pictures: [(picture: String, label: Int)]
    let font: EmojiFont?
    let fontPath: String
    let clipartDirectory: String
    let size: Int, content: Int
    public var count: Int { pictures.count }

    /// - Parameters:
    ///   - set: `heldout` or `seen-test`.
    ///   - manifest: the JSON file (default ``defaultManifest``).
    /// - Throws: ``ImageError`` naming the manifest or a package file that is missing or malformed.
    public init(set: String, manifest: String = OpenVocabularySet.defaultManifest) throws {
        guard let data = FileManager.default.contents(atPath: manifest) else {
            throw ImageError.cannotOpen(path: manifest, reason: "no such file (the open-vocabulary sets' manifest)")
        }
        func bad(_ why: String) -> ImageError { .corrupt(path: manifest, format: "manifest", reason: why) }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw bad("not a JSON object") }
        guard root["format"] as? String == "spikeclip-open-sets" else { throw bad("format is not spikeclip-open-sets") }
        guard let sets = root["sets"] as? [String: Any], let body = sets[set] as? [String: Any] else {
            throw bad("no set '\(set)' (sets: \(((root["sets"] as? [String: Any])?.keys.sorted() ?? []).joined(separator: ", ")))")
        }
        guard let classes = body["classes"] as? [String], !classes.isEmpty, let pics = body["pictures"] as? [[String: Any]] else {
            throw bad("set '\(set)' needs classes and pictures")
        }
        var list: [(String, Int)] = []
        for (k, p) in pics.enumerated() {
            guard let pic = p["picture"] as? String, let label = p["label"] as? Int, (0..<classes.count).contains(label) else {
                throw bad("set '\(set)' picture \(k): needs a picture string and a label in 0..<\(classes.count)")
            }
            list.append((pic, label))
        }
        name = "open-" + set
        classNames = classes
        pictures = list
        size = root["image_size"] as? Int ?? 32
        content = root["content_size"] as? Int ?? 28
        guard (1...256).contains(size), (1...size).contains(content) else { throw bad("image_size \(size), content_size \(content)") }
        fontPath = root["emoji_font"] as? String ?? EmojiFont.defaultPath
        clipartDirectory = root["clipart_dir"] as? String ?? "/usr/share/openclipart/png"
        font = list.contains { $0.0.hasPrefix("U+") } ? try EmojiFont(path: fontPath) : nil
        if list.contains(where: { !$0.0.hasPrefix("U+") }) && !FileManager.default.fileExists(atPath: clipartDirectory) {
            throw ImageError.cannotOpen(path: clipartDirectory, reason: "no such folder (Debian package openclipart-png)")
        }
    }

    public func label(at index: Int) throws -> Int {
        guard (0..<count).contains(index) else { throw ImageError.idxRecordOutOfRange(path: name, index: index, count: count) }
        return pictures[index].label
    }

    /// The canonical 32x32 RGB view of picture `index`.
    public func image(at index: Int) throws -> DecodedImage {
        _ = try label(at: index)
        let pic = pictures[index].picture
        let decoded: DecodedImage
        if pic.hasPrefix("U+"), let cp = UInt32(pic.dropFirst(2), radix: 16), let font {
            decoded = try ImageDecoder.decode(data: try font.png(codePoint: cp), path: "\(fontPath):\(pic)")
        } else {
            guard !pic.contains(".."), !pic.hasPrefix("/") else {
                throw ImageError.unsupported(path: pic, reason: "manifest picture paths stay inside \(clipartDirectory)")
            }
            decoded = try ImageDecoder.decode(path: (clipartDirectory as NSString).appendingPathComponent(pic))
        }
        return PictogramGeometry.view(decoded, size: size, content: content)
    }
}
