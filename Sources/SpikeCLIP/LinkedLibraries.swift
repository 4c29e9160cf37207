import CPNG
import CJPEG
import CZlib

/// Versions of the C libraries linked for image and IDX input.
public enum LinkedLibraries {
    public static var zlib: String { String(cString: CZlib.zlibVersion()) }
    public static var libpng: String { String(cString: png_get_libpng_ver(nil)) }
    public static var libjpeg: Int { Int(JPEG_LIB_VERSION) }
}
