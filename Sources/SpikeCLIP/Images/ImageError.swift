import Foundation

/// Why an image, an IDX record or a preprocessing target could not be used. Every file case names the file;
/// descriptions are one line (docs/PREPROCESSING.md, "Errors").
public enum ImageError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file could not be opened or read.
    case cannotOpen(path: String, reason: String)
    /// The file holds zero bytes.
    case empty(path: String)
    /// The first bytes match no supported format (PNG, JPEG, PGM/PPM, IDX).
    case notAnImage(path: String)
    /// The data ends before the image does (`format`: "PNG", "JPEG", "PNM", "IDX", "gzip").
    case truncated(path: String, format: String)
    /// Width or height is zero.
    case zeroSize(path: String, width: Int, height: Int)
    /// A side above ``ImageLimits/maxSide`` or an area above ``ImageLimits/maxPixels``.
    case tooLarge(path: String, width: Int, height: Int)
    /// The decoder rejected the data (`reason` is its message).
    case corrupt(path: String, format: String, reason: String)
    /// A valid file of a kind this reader does not handle (CMYK JPEG, IDX of floats, PNM maxval 0, ...).
    case unsupported(path: String, reason: String)
    /// An IDX file whose magic is not `00 00 <type> <dims>`.
    case idxBadMagic(path: String)
    /// An IDX record index outside `0..<count`.
    case idxRecordOutOfRange(path: String, index: Int, count: Int)
    /// A preprocessing target (checkpoint `preprocess` config) the pipeline cannot produce.
    case badTarget(reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot read image file: \(reason)"
        case let .empty(path): return "\(path): empty file (0 bytes), not an image"
        case let .notAnImage(path): return "\(path): not an image (no PNG, JPEG, PGM/PPM or IDX signature)"
        case let .truncated(path, format): return "\(path): truncated \(format) data"
        case let .zeroSize(path, width, height): return "\(path): image has zero size (\(width)x\(height))"
        case let .tooLarge(path, width, height):
            return "\(path): image is \(width)x\(height), above the limit of \(ImageLimits.maxSide) per side and \(ImageLimits.maxPixels) pixels"
        case let .corrupt(path, format, reason): return "\(path): corrupt \(format): \(oneLine(reason))"
        case let .unsupported(path, reason): return "\(path): unsupported image: \(oneLine(reason))"
        case let .idxBadMagic(path): return "\(path): not an IDX file of unsigned bytes (bad magic)"
        case let .idxRecordOutOfRange(path, index, count):
            return "\(path): IDX record \(index) out of range (file holds \(count) records, 0..<\(count))"
        case let .badTarget(reason): return "cannot preprocess to this target: \(oneLine(reason))"
        }
    }
}

/// Size limits every decoder checks from the header, before allocating (docs/PREPROCESSING.md, "Limits").
public enum ImageLimits {
    /// Largest width or height accepted.
    public static let maxSide = 16384
    /// Largest width * height accepted (2^26 = 67,108,864, "64 Mpixel").
    public static let maxPixels = 1 << 26

    /// Throws ``ImageError/zeroSize(path:width:height:)`` or ``ImageError/tooLarge(path:width:height:)``.
    static func check(width: Int, height: Int, path: String) throws {
        guard width > 0, height > 0 else { throw ImageError.zeroSize(path: path, width: width, height: height) }
        guard width <= maxSide, height <= maxSide, width * height <= maxPixels else {
            throw ImageError.tooLarge(path: path, width: width, height: height)
        }
    }
}

private func oneLine(_ text: String) -> String {
    text.split(whereSeparator: { $0.isNewline }).joined(separator: " ").trimmingCharacters(in: .whitespaces)
}
