import Foundation

/// The colour bitmaps of an OpenType font with `CBDT`/`CBLC` tables (Noto Color Emoji as Debian's
/// `fonts-noto-color-emoji` installs it), looked up by Unicode code point through the `cmap` format-12 subtable.
///
/// Reads only what the open-vocabulary evaluation sets need (``OpenVocabularySet``): the first strike, index
/// subtables of format 1 (32-bit offsets) and 3 (16-bit offsets), glyph images of format 17, 18 or 19 (PNG with
/// small, big or no metrics). Source: the OpenType specification, tables `cmap`, `CBLC`, `CBDT`.
/// Every read is bounds-checked: a malformed font is an ``ImageError`` naming the file, never a crash.
public struct EmojiFont: Sendable {
    /// Where Debian's `fonts-noto-color-emoji` puts the font (`scripts/deps.sh` installs it).
    public static let defaultPath = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"

    public let path: String
    let bytes: [UInt8]
    /// code point -> glyph id (cmap format 12 groups, sorted by start).
    let groups: [(start: UInt32, end: UInt32, glyph: UInt32)]
    /// first strike: glyph ranges with their image-data offsets in `CBDT`.
    let ranges: [(first: Int, last: Int, format: Int, imageFormat: Int, base: Int, table: Int)]
    let cbdt: Int

    /// - Throws: ``ImageError`` when the file cannot be read or is not such a font.
    public init(path: String = EmojiFont.defaultPath) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError.cannotOpen(path: path, reason: "no such file (Debian package fonts-noto-color-emoji)")
        }
        bytes = [UInt8](data)
        let r = Reader(bytes: bytes, path: path)
        let numTables = try r.u16(4)
        var tables: [String: (offset: Int, length: Int)] = [:]
        for i in 0..<numTables {
            let rec = 12 + 16 * i
            let tag = String(decoding: try r.slice(rec, 4), as: UTF8.self)
            tables[tag] = (try r.u32(rec + 8), try r.u32(rec + 12))
        }
        guard let cmap = tables["cmap"], let cblc = tables["CBLC"], let cbdt = tables["CBDT"] else {
            throw ImageError.unsupported(path: path, reason: "no cmap, CBLC and CBDT tables (not a colour bitmap font)")
        }
        self.cbdt = cbdt.offset
        // cmap: the (3, 10) format-12 subtable.
        var groups: [(UInt32, UInt32, UInt32)] = []
        let nSub = try r.u16(cmap.offset + 2)
        for i in 0..<nSub {
            let rec = cmap.offset + 4 + 8 * i
            guard try r.u16(rec) == 3, try r.u16(rec + 2) == 10 else { continue }
            let sub = cmap.offset + (try r.u32(rec + 4))
            guard try r.u16(sub) == 12 else { continue }
            let n = try r.u32(sub + 12)
            guard n <= (bytes.count - sub) / 12 else { throw ImageError.truncated(path: path, format: "cmap") }
            for g in 0..<n {
                let at = sub + 16 + 12 * g
                groups.append((UInt32(try r.u32(at)), UInt32(try r.u32(at + 4)), UInt32(try r.u32(at + 8))))
            }
        }
        guard !groups.isEmpty else { throw ImageError.unsupported(path: path, reason: "no cmap (3, 10) format 12 subtable") }
        self.groups = groups.sorted { $0.0 < $1.0 }.map { (start: $0.0, end: $0.1, glyph: $0.2) }
        // CBLC: the first strike's index subtables.
        guard try r.u32(cblc.offset + 4) >= 1 else { throw ImageError.unsupported(path: path, reason: "CBLC has no strike") }
        let size = cblc.offset + 8
        let arrayOffset = cblc.offset + (try r.u32(size))
        let nIndex = try r.u32(size + 8)
        guard nIndex <= 65536 else { throw ImageError.corrupt(path: path, format: "CBLC", reason: "\(nIndex) index subtables") }
        var ranges: [(Int, Int, Int, Int, Int, Int)] = []
        for i in 0..<nIndex {
            let e = arrayOffset + 8 * i
            let first = try r.u16(e), last = try r.u16(e + 2)
            let sub = arrayOffset + (try r.u32(e + 4))
            guard last >= first else { throw ImageError.corrupt(path: path, format: "CBLC", reason: "glyph range \(first)-\(last)") }
            ranges.append((first, last, try r.u16(sub), try r.u16(sub + 2), try r.u32(sub + 4), sub + 8))
        }
        self.ranges = ranges.map { (first: $0.0, last: $0.1, format: $0.2, imageFormat: $0.3, base: $0.4, table: $0.5) }
    }

    /// The glyph id of `codePoint`, or nil when the font has none.
    public func glyph(codePoint: UInt32) -> Int? {
        var lo = 0, hi = groups.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let g = groups[mid]
            if codePoint < g.start { hi = mid - 1 } else if codePoint > g.end { lo = mid + 1 } else {
                return Int(g.glyph + (codePoint - g.start))
            }
        }
        return nil
    }

    /// The PNG bytes of `codePoint`'s bitmap.
    /// - Throws: ``ImageError/unsupported(path:reason:)`` when the font has no bitmap for it, ``ImageError`` for a
    ///   malformed table.
    public func png(codePoint: UInt32) throws -> [UInt8] {
        let name = String(format: "U+%04X", codePoint)
        guard let glyph = glyph(codePoint: codePoint), let range = ranges.first(where: { $0.first <= glyph && glyph <= $0.last }) else {
            throw ImageError.unsupported(path: path, reason: "no colour bitmap for \(name)")
        }
        let r = Reader(bytes: bytes, path: path)
        let k = glyph - range.first
        let start: Int, end: Int
        switch range.format {
        case 1: start = try r.u32(range.table + 4 * k); end = try r.u32(range.table + 4 * k + 4)
        case 3: start = try r.u16(range.table + 2 * k); end = try r.u16(range.table + 2 * k + 2)
        default: throw ImageError.unsupported(path: path, reason: "CBLC index format \(range.format) (only 1 and 3)")
        }
        guard end > start else { throw ImageError.unsupported(path: path, reason: "no colour bitmap for \(name)") }
        let at = cbdt + range.base + start
        let header: Int
        switch range.imageFormat {
        case 17: header = 5      // small glyph metrics
        case 18: header = 8      // big glyph metrics
        case 19: header = 0
        default: throw ImageError.unsupported(path: path, reason: "CBDT image format \(range.imageFormat) (only 17, 18, 19)")
        }
        let length = try r.u32(at + header)
        guard length <= end - start - header - 4 else { throw ImageError.truncated(path: path, format: "CBDT") }
        return try r.slice(at + header + 4, length)
    }

    /// Big-endian reads with bounds checks.
    struct Reader {
        let bytes: [UInt8]
        let path: String
        func check(_ at: Int, _ n: Int) throws {
            guard at >= 0, n >= 0, at <= bytes.count - n else { throw ImageError.truncated(path: path, format: "OpenType") }
        }
        func u16(_ at: Int) throws -> Int { try check(at, 2); return Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        func u32(_ at: Int) throws -> Int {
            try check(at, 4)
            return Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        func slice(_ at: Int, _ n: Int) throws -> [UInt8] { try check(at, n); return Array(bytes[at..<(at + n)]) }
    }
}
