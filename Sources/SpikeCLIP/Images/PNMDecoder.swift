/// Netpbm gray and color maps: `P2` (ASCII PGM), `P5` (binary PGM), `P3` (ASCII PPM), `P6` (binary PPM).
///
/// Header: magic, width, height, maxval as ASCII decimals separated by whitespace, `#` comments to end of line.
/// maxval 1...65535; binary samples are one byte (maxval < 256) or two bytes big-endian. Samples are divided by
/// maxval (so 8-bit files by 255, 16-bit by 65535); a sample above maxval is an error. ASCII rasters may hold
/// comments too. Bitmaps (P1/P4) and PAM (P7) are not read.
public enum PNMDecoder {
    /// Decodes a whole PGM/PPM file's bytes; `path` names it in errors.
    /// - Throws: ``ImageError`` `.notAnImage`, `.truncated`, `.zeroSize`, `.tooLarge`, `.corrupt`, `.unsupported`.
    public static func decode(_ data: [UInt8], path: String) throws -> DecodedImage {
        guard data.count >= 2, data[0] == UInt8(ascii: "P") else { throw ImageError.notAnImage(path: path) }
        let kind = data[1]
        let (channels, ascii): (Int, Bool)
        switch kind {
        case UInt8(ascii: "2"): (channels, ascii) = (1, true)
        case UInt8(ascii: "3"): (channels, ascii) = (3, true)
        case UInt8(ascii: "5"): (channels, ascii) = (1, false)
        case UInt8(ascii: "6"): (channels, ascii) = (3, false)
        default: throw ImageError.notAnImage(path: path)
        }
        var reader = Reader(data: data, position: 2, path: path)
        let width = try reader.number("width")
        let height = try reader.number("height")
        let maxval = try reader.number("maxval")
        try ImageLimits.check(width: width, height: height, path: path)
        guard (1...65535).contains(maxval) else {
            throw ImageError.unsupported(path: path, reason: "PNM maxval \(maxval) outside 1...65535")
        }
        let count = width * height * channels
        // The raster must fit in the bytes left before anything is allocated: binary samples take 1 or 2 bytes after
        // one whitespace byte; ASCII samples at least one digit each, every one preceded by a separator.
        let bytesPerSample = maxval < 256 ? 1 : 2
        let left = data.count - reader.position
        guard left >= (ascii ? 2 * count : 1 + count * bytesPerSample) else { throw ImageError.truncated(path: path, format: "PNM") }
        var samples = [Float](repeating: 0, count: count)
        let scale = Float(maxval)
        if ascii {
            for i in 0..<count {
                let value = try reader.number("sample")
                guard value <= maxval else { throw sampleAboveMaxval(value, maxval, path) }
                samples[i] = Float(value) / scale
            }
        } else {
            // Exactly one whitespace byte separates maxval from the raster.
            guard reader.position < data.count else { throw ImageError.truncated(path: path, format: "PNM") }
            guard isWhitespace(data[reader.position]) else {
                throw ImageError.corrupt(path: path, format: "PNM", reason: "no whitespace after maxval")
            }
            var p = reader.position + 1
            for i in 0..<count {
                let value = bytesPerSample == 1 ? Int(data[p]) : Int(data[p]) << 8 | Int(data[p + 1])
                p += bytesPerSample
                guard value <= maxval else { throw sampleAboveMaxval(value, maxval, path) }
                samples[i] = Float(value) / scale
            }
        }
        let bits = Int.bitWidth - maxval.leadingZeroBitCount
        return DecodedImage(width: width, height: height, channels: channels, sourceBitDepth: bits, samples: samples)
    }

    private static func sampleAboveMaxval(_ value: Int, _ maxval: Int, _ path: String) -> ImageError {
        .corrupt(path: path, format: "PNM", reason: "sample \(value) above maxval \(maxval)")
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    /// Reads ASCII decimals, skipping whitespace and `#` comments.
    private struct Reader {
        let data: [UInt8]
        var position: Int
        let path: String

        mutating func number(_ what: String) throws -> Int {
            while position < data.count {
                let byte = data[position]
                if isWhitespace(byte) {
                    position += 1
                } else if byte == UInt8(ascii: "#") {
                    while position < data.count, data[position] != 0x0A, data[position] != 0x0D { position += 1 }
                } else {
                    break
                }
            }
            guard position < data.count else { throw ImageError.truncated(path: path, format: "PNM") }
            var value = 0
            var digits = 0
            while position < data.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(data[position]) {
                value = value * 10 + Int(data[position] - UInt8(ascii: "0"))
                digits += 1
                position += 1
                guard value <= 1 << 40 else { throw ImageError.corrupt(path: path, format: "PNM", reason: "\(what) too long") }
            }
            guard digits > 0 else { throw ImageError.corrupt(path: path, format: "PNM", reason: "expected a decimal \(what)") }
            if position < data.count, !isWhitespace(data[position]), data[position] != UInt8(ascii: "#") {
                throw ImageError.corrupt(path: path, format: "PNM", reason: "expected a decimal \(what)")
            }
            return value
        }
    }
}
