import Foundation

/// A decoded image before preprocessing: samples interleaved `[H, W, C]`, scaled to [0, 1]
/// (8-bit / 255, 16-bit / 65535, PNM / maxval; docs/PREPROCESSING.md).
public struct DecodedImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
    public var channels: Int
    /// Bits per stored sample in the source (1, 2, 4, 8 or 16; for PNM the bits of maxval).
    public var sourceBitDepth: Int
    /// `[H, W, C]`, row-major, each in [0, 1].
    public var samples: [Float]

    public init(width: Int, height: Int, channels: Int, sourceBitDepth: Int, samples: [Float]) {
        precondition((1...4).contains(channels), "channels must be 1...4")
        precondition(samples.count == width * height * channels, "samples must hold width * height * channels values")
        self.width = width
        self.height = height
        self.channels = channels
        self.sourceBitDepth = sourceBitDepth
        self.samples = samples
    }

    /// True when the last channel is alpha (2 or 4 channels).
    public var hasAlpha: Bool { channels == 2 || channels == 4 }
}

/// The container formats recognised by their first bytes.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png = "PNG"
    case jpeg = "JPEG"
    case pnm = "PNM"
    case idx = "IDX"

    /// The format whose signature starts `bytes`, or nil. IDX is recognised plain (`00 00 08 0n`) or gzipped.
    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.starts(with: PNGDecoder.signature) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), [UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "5"), UInt8(ascii: "6")].contains(bytes[1]) {
            return .pnm
        }
        if bytes.starts(with: [0x1F, 0x8B]) || (bytes.count >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08) {
            return .idx
        }
        return nil
    }
}

/// Decodes PNG, JPEG, PGM/PPM and (record 0 of) IDX files, chosen by signature, never by file extension.
public enum ImageDecoder {
    /// Reads and decodes the file at `path`.
    /// - Throws: ``ImageError`` (the file, its signature, size limits, the decoder's complaint).
    public static func decode(path: String) throws -> DecodedImage {
        try decode(data: try readFile(path), path: path)
    }

    /// Decodes `data`; `path` only names it in errors. IDX data yields record 0 (use ``IDXFile`` for others).
    public static func decode(data: [UInt8], path: String) throws -> DecodedImage {
        guard !data.isEmpty else { throw ImageError.empty(path: path) }
        guard let format = ImageFormat.sniff(data) else {
            // A PNG or JPEG cut inside its signature is truncated, not a non-image.
            if data.count < PNGDecoder.signature.count, PNGDecoder.signature.starts(with: data) {
                throw ImageError.truncated(path: path, format: "PNG")
            }
            throw ImageError.notAnImage(path: path)
        }
        switch format {
        case .png: return try PNGDecoder.decode(data, path: path)
        case .jpeg: return try JPEGDecoder.decode(data, path: path)
        case .pnm: return try PNMDecoder.decode(data, path: path)
        case .idx: return try IDXFile(data: data, path: path).image(at: 0)
        }
    }

    /// The whole file as bytes.
    /// - Throws: ``ImageError/cannotOpen(path:reason:)``.
    static func readFile(_ path: String) throws -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let reason = !exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "not readable"
            throw ImageError.cannotOpen(path: path, reason: reason)
        }
    }
}
