import CImageShims

/// PNG through libpng (classic API, via `CImageShims` so libpng's longjmp never crosses Swift frames).
///
/// Transforms: palette -> RGB, gray of 1/2/4 bits -> 8 bits (by bit replication, so value / (2^bits - 1)),
/// tRNS -> alpha channel, 16-bit samples kept and scaled by 1/65535, Adam7 interlacing undone. gAMA, cHRM,
/// sRGB and iCCP are ignored: samples are used as stored (as Pillow and PyTorch pipelines do).
public enum PNGDecoder {
    /// The 8-byte PNG signature.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Decodes a whole PNG file's bytes; `path` names it in errors.
    /// - Throws: ``ImageError`` `.notAnImage`, `.truncated`, `.zeroSize`, `.tooLarge`, `.corrupt`.
    public static func decode(_ data: [UInt8], path: String) throws -> DecodedImage {
        guard data.starts(with: signature) else { throw ImageError.notAnImage(path: path) }
        // Size limits from IHDR before libpng sees it (libpng would report a zero side as a generic error).
        if data.count >= 24, data[12..<16].elementsEqual("IHDR".utf8) {
            func be32(_ o: Int) -> Int { Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3]) }
            try ImageLimits.check(width: be32(16), height: be32(20), path: path)
        }
        var image = spk_png_image()
        var message = [CChar](repeating: 0, count: 256)
        let code = data.withUnsafeBufferPointer { bytes in
            message.withUnsafeMutableBufferPointer { text in
                spk_png_decode(bytes.baseAddress, bytes.count, UInt32(ImageLimits.maxSide), UInt64(ImageLimits.maxPixels),
                               &image, text.baseAddress, text.count)
            }
        }
        defer { spk_png_free(&image) }
        let (width, height) = (Int(image.width), Int(image.height))
        switch Int32(code) {
        case Int32(SPK_PNG_OK): break
        case Int32(SPK_PNG_TRUNCATED): throw ImageError.truncated(path: path, format: "PNG")
        case Int32(SPK_PNG_ZERO_SIZE): throw ImageError.zeroSize(path: path, width: width, height: height)
        case Int32(SPK_PNG_TOO_LARGE): throw ImageError.tooLarge(path: path, width: width, height: height)
        case Int32(SPK_PNG_NO_MEMORY): throw ImageError.corrupt(path: path, format: "PNG", reason: "out of memory")
        default:
            let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw ImageError.corrupt(path: path, format: "PNG", reason: reason.isEmpty ? "libpng error" : reason)
        }
        let channels = Int(image.channels)
        let count = width * height * channels
        var samples = [Float](repeating: 0, count: count)
        if image.bit_depth == 16 {
            image.pixels.withMemoryRebound(to: UInt16.self, capacity: count) { p in
                for i in 0..<count { samples[i] = Float(p[i]) / 65535 }
            }
        } else {
            for i in 0..<count { samples[i] = Float(image.pixels[i]) / 255 }
        }
        return DecodedImage(width: width, height: height, channels: channels,
                            sourceBitDepth: sourceBitDepth(data), samples: samples)
    }

    /// The IHDR bit depth (byte 24), or 8 when absent.
    private static func sourceBitDepth(_ data: [UInt8]) -> Int { data.count > 24 ? Int(data[24]) : 8 }
}
