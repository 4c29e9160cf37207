import CJPEG

/// JPEG through libjpeg-turbo's TurboJPEG API (errors are return codes, no longjmp).
///
/// Decoded with the library defaults (accurate integer DCT, fancy upsampling), to 8-bit gray for grayscale
/// JPEGs and 8-bit RGB otherwise; samples / 255. Warnings (for example a premature end of data) are errors.
/// A failure is reported as truncated when the data does not end with the EOI marker `FF D9` or libjpeg says
/// the data ended early; otherwise as corrupt with libjpeg's message. CMYK/YCCK JPEGs are unsupported.
/// EXIF orientation is not applied.
public enum JPEGDecoder {
    /// Decodes a whole JPEG file's bytes; `path` names it in errors.
    /// - Throws: ``ImageError`` `.notAnImage`, `.truncated`, `.zeroSize`, `.tooLarge`, `.corrupt`, `.unsupported`.
    public static func decode(_ data: [UInt8], path: String) throws -> DecodedImage {
        guard data.starts(with: [0xFF, 0xD8, 0xFF]) else { throw ImageError.notAnImage(path: path) }
        guard let handle = tjInitDecompress() else {
            throw ImageError.corrupt(path: path, format: "JPEG", reason: "cannot create a TurboJPEG decompressor")
        }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        var status = data.withUnsafeBufferPointer { bytes in
            tjDecompressHeader3(handle, bytes.baseAddress, UInt(bytes.count), &width, &height, &subsampling, &colorspace)
        }
        if status != 0 { throw failure(handle, data, path: path) }
        guard width > 0, height > 0 else {
            throw data.suffix(2).elementsEqual([0xFF, 0xD9]) ? ImageError.corrupt(path: path, format: "JPEG", reason: "no frame header (SOF)")
                                                             : ImageError.truncated(path: path, format: "JPEG")
        }
        try ImageLimits.check(width: Int(width), height: Int(height), path: path)
        let isGray = colorspace == Int32(TJCS_GRAY.rawValue)
        guard isGray || colorspace == Int32(TJCS_YCbCr.rawValue) || colorspace == Int32(TJCS_RGB.rawValue) else {
            throw ImageError.unsupported(path: path, reason: "CMYK/YCCK JPEG")
        }
        let channels = isGray ? 1 : 3
        let format = isGray ? TJPF_GRAY : TJPF_RGB
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        status = data.withUnsafeBufferPointer { bytes in
            pixels.withUnsafeMutableBufferPointer { out in
                tjDecompress2(handle, bytes.baseAddress, UInt(bytes.count), out.baseAddress, width, 0, height,
                              Int32(format.rawValue), TJFLAG_STOPONWARNING)
            }
        }
        if status != 0 { throw failure(handle, data, path: path) }
        return DecodedImage(width: Int(width), height: Int(height), channels: channels, sourceBitDepth: 8,
                            samples: pixels.map { Float($0) / 255 })
    }

    /// The error TurboJPEG reported last, as an ``ImageError``.
    private static func failure(_ handle: tjhandle, _ data: [UInt8], path: String) -> ImageError {
        let reason = String(cString: tjGetErrorStr2(handle))
        if !data.suffix(2).elementsEqual([0xFF, 0xD9]) || reason.lowercased().contains("premature end") {
            return .truncated(path: path, format: "JPEG")
        }
        return .corrupt(path: path, format: "JPEG", reason: reason)
    }
}
