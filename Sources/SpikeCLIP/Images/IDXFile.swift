import Foundation
import CZlib

/// An IDX file (the MNIST / Fashion-MNIST container), plain or gzip-compressed (read through zlib).
///
/// Layout: magic `00 00 08 <dims>` (type 0x08 = unsigned byte), then `dims` big-endian UInt32 sizes, then the
/// data. Image files have 3 dimensions `[N, rows, cols]` (record `i` is a rows x cols gray image, samples / 255);
/// label files have 1 dimension `[N]`. Other element types are unsupported.
public struct IDXFile: Sendable {
    /// The file name used in errors.
    public let path: String
    /// Sizes from the header; `dimensions[0]` is the record count `N`.
    public let dimensions: [Int]
    /// Bytes after the header (exactly the product of `dimensions`).
    let payload: [UInt8]

    /// Number of records `N`.
    public var count: Int { dimensions[0] }

    /// Reads and (if gzipped) decompresses the file at `path`.
    /// - Throws: ``ImageError`` `.cannotOpen`, `.empty`, `.idxBadMagic`, `.truncated`, `.corrupt`, `.unsupported`, `.tooLarge`.
    public init(path: String) throws {
        try self.init(data: try ImageDecoder.readFile(path), path: path)
    }

    /// Parses IDX bytes, plain or gzip; `path` names them in errors.
    public init(data: [UInt8], path: String) throws {
        guard !data.isEmpty else { throw ImageError.empty(path: path) }
        let raw = data.starts(with: [0x1F, 0x8B]) ? try Self.gunzip(data, path: path) : data
        guard raw.count >= 4 else {
            throw raw.starts(with: [0, 0, 0x08].prefix(raw.count)) ? ImageError.truncated(path: path, format: "IDX")
                                                                     : ImageError.idxBadMagic(path: path)
        }
        guard raw[0] == 0, raw[1] == 0 else { throw ImageError.idxBadMagic(path: path) }
        switch raw[2] {
        case 0x08: break
        case 0x09, 0x0B, 0x0C, 0x0D, 0x0E:
            throw ImageError.unsupported(path: path, reason: String(format: "IDX element type 0x%02X (only 0x08, unsigned byte)", raw[2]))
        default: throw ImageError.idxBadMagic(path: path)
        }
        let dims = Int(raw[3])
        guard (1...3).contains(dims) else {
            throw ImageError.unsupported(path: path, reason: "IDX with \(dims) dimensions (1 for labels, 3 for images)")
        }
        let headerBytes = 4 + 4 * dims
        guard raw.count >= headerBytes else { throw ImageError.truncated(path: path, format: "IDX") }
        var sizes: [Int] = []
        for d in 0..<dims {
            let o = 4 + 4 * d
            sizes.append(Int(raw[o]) << 24 | Int(raw[o + 1]) << 16 | Int(raw[o + 2]) << 8 | Int(raw[o + 3]))
        }
        if dims == 3 { try ImageLimits.check(width: sizes[2], height: sizes[1], path: path) }
        if dims == 2 {
            throw ImageError.unsupported(path: path, reason: "IDX with 2 dimensions (1 for labels, 3 for images)")
        }
        let needed = sizes.reduce(1, *)
        guard raw.count - headerBytes >= needed else { throw ImageError.truncated(path: path, format: "IDX") }
        self.path = path
        self.dimensions = sizes
        self.payload = Array(raw[headerBytes..<(headerBytes + needed)])
    }

    /// Record `index` of an image file: a `rows x cols` gray ``DecodedImage`` (samples / 255).
    /// - Throws: ``ImageError/idxRecordOutOfRange(path:index:count:)``, `.unsupported` for a label file.
    public func image(at index: Int) throws -> DecodedImage {
        guard dimensions.count == 3 else {
            throw ImageError.unsupported(path: path, reason: "IDX file holds labels (1 dimension), not images")
        }
        guard index >= 0, index < count else { throw ImageError.idxRecordOutOfRange(path: path, index: index, count: count) }
        let (rows, cols) = (dimensions[1], dimensions[2])
        let start = index * rows * cols
        let samples = payload[start..<(start + rows * cols)].map { Float($0) / 255 }
        return DecodedImage(width: cols, height: rows, channels: 1, sourceBitDepth: 8, samples: samples)
    }

    /// Label of record `index` of a label file.
    /// - Throws: ``ImageError/idxRecordOutOfRange(path:index:count:)``, `.unsupported` for an image file.
    public func label(at index: Int) throws -> Int {
        guard dimensions.count == 1 else {
            throw ImageError.unsupported(path: path, reason: "IDX file holds images (3 dimensions), not labels")
        }
        guard index >= 0, index < count else { throw ImageError.idxRecordOutOfRange(path: path, index: index, count: count) }
        return Int(payload[index])
    }

    /// Largest decompressed size accepted (the Fashion-MNIST training images are 47 MB).
    static let maxDecompressedBytes = 1 << 30

    /// Inflates gzip data (concatenated members too).
    static func gunzip(_ data: [UInt8], path: String) throws -> [UInt8] {
        var stream = z_stream()
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ImageError.corrupt(path: path, format: "gzip", reason: "cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var input = data
        try input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, out.count - Int(stream.avail_out))
                }
                output += chunk[0..<produced]
                guard output.count <= maxDecompressedBytes else {
                    throw ImageError.unsupported(path: path, reason: "decompressed IDX above \(maxDecompressedBytes) bytes")
                }
                switch status {
                case Z_STREAM_END:
                    // Another gzip member may follow; anything else after the end is ignored.
                    if stream.avail_in >= 2, stream.next_in[0] == 0x1F, stream.next_in[1] == 0x8B {
                        guard inflateReset(&stream) == Z_OK else {
                            throw ImageError.corrupt(path: path, format: "gzip", reason: "cannot reset zlib")
                        }
                        continue
                    }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: the input ended inside the stream.
                    if stream.avail_in == 0 { throw ImageError.truncated(path: path, format: "gzip") }
                    throw ImageError.corrupt(path: path, format: "gzip", reason: "zlib buffer error")
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw ImageError.corrupt(path: path, format: "gzip", reason: reason)
                }
            }
        }
        return output
    }
}
