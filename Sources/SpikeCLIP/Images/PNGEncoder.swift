import CImageShims

/// Why a PNG could not be encoded.
public struct PNGEncodeError: Error, Equatable, CustomStringConvertible, Sendable {
    public let description: String
}

/// Writes 8-bit PNGs through libpng (the C side lives in `CImageShims`, because libpng reports errors by longjmp).
public enum PNGEncoder {
    /// Encodes `pixels` (`[H, W, C]` interleaved bytes, C = 1 gray, 3 RGB or 4 RGBA) as a non-interlaced PNG.
    /// - Returns: the PNG file's bytes.
    /// - Throws: ``PNGEncodeError`` for a wrong buffer size, a zero size, an unsupported channel count, libpng's
    ///   complaint or an allocation failure.
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
        guard width > 0, height > 0 else { throw PNGEncodeError(description: "cannot encode a \(width)x\(height) PNG") }
        guard [1, 3, 4].contains(channels) else { throw PNGEncodeError(description: "cannot encode \(channels) channels as PNG (1, 3 or 4)") }
        guard pixels.count == width * height * channels else {
            throw PNGEncodeError(description: "PNG pixel buffer has \(pixels.count) bytes, expected \(width * height * channels)")
        }
        var buffer = spk_png_buffer()
        var message = [CChar](repeating: 0, count: 256)
        let code = pixels.withUnsafeBufferPointer { p in
            message.withUnsafeMutableBufferPointer { text in
                spk_png_encode(p.baseAddress, UInt32(width), UInt32(height), Int32(channels), &buffer, text.baseAddress, text.count)
            }
        }
        defer { spk_png_buffer_free(&buffer) }
        guard code == Int32(SPK_PNG_OK) else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw PNGEncodeError(description: code == Int32(SPK_PNG_NO_MEMORY) ? "out of memory encoding PNG" : "libpng: \(text)")
        }
        return Array(UnsafeBufferPointer(start: buffer.data, count: buffer.size))
    }
}
