import Foundation
import SpikeCLIP

/// Where the Image panel takes images from.
public enum ImageSourceKind: String, Sendable, CaseIterable {
    case demo = "demo images"
    case fashionMNIST = "Fashion-MNIST test set"
    case directory = "directory"
}

/// One entry of the directory browser.
public struct DirectoryEntry: Sendable, Equatable {
    public var name: String
    public var isDirectory: Bool
    /// A SpikeCLIP checkpoint (`.safetensors`): Enter loads it beside the model instead of opening an image.
    public var isCheckpoint: Bool { !isDirectory && (name as NSString).pathExtension.lowercased() == "safetensors" }
}

/// Loads images from the three sources and preprocesses them for a checkpoint.
public struct ImageCatalog: Sendable {
    public let preprocessor: ImagePreprocessor
    /// Demo images: (path, class name).
    public let demo: [(path: String, label: String)]
    /// Fashion-MNIST test images and labels (IDX, gzip), when installed.
    public let fashionImages: String
    public let fashionLabels: String
    /// Both files, read and decompressed once per session on first use (off the input thread).
    let fashion: FashionMNISTCache
    /// File name extensions the browser lists.
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "pgm", "ppm", "pnm"]

    /// - Parameters:
    ///   - demoDirectory: folder with `labels.json` (`{"file": {"class_name": ...}}` or a list of such objects).
    ///   - preferredLabels: demo images labelled with one of these (case-insensitive; the checkpoint's classes) come
    ///     first, so each model opens on a picture of its own prompts (Fashion-MNIST records for the garment model,
    ///     pictograms for the open-vocabulary default); the order is otherwise kept.
    public init(preprocessor: ImagePreprocessor, demoDirectory: String, preferredLabels: [String] = [],
                fashionImages: String = FashionMNIST.files(split: "test").images,
                fashionLabels: String = FashionMNIST.files(split: "test").labels) {
        self.preprocessor = preprocessor
        let preferred = Set(preferredLabels.map { $0.lowercased() })
        let all = Self.readDemoLabels(demoDirectory)
        self.demo = all.filter { preferred.contains($0.label.lowercased()) } + all.filter { !preferred.contains($0.label.lowercased()) }
        self.fashionImages = fashionImages
        self.fashionLabels = fashionLabels
        self.fashion = FashionMNISTCache(images: fashionImages, labels: fashionLabels)
    }

    /// Reads `labels.json`; tolerant of its two shapes, empty on any problem (the panel then says so).
    static func readDemoLabels(_ directory: String) -> [(path: String, label: String)] {
        let url = URL(fileURLWithPath: directory).appendingPathComponent("labels.json")
        guard let data = try? Data(contentsOf: url), let json = try? JSONSerialization.jsonObject(with: data) else { return [] }
        var entries: [(String, String)] = []
        func add(_ file: String, _ info: Any) {
            let obj = info as? [String: Any]
            let label = (obj?["class_name"] as? String) ?? (obj?["label"] as? String) ?? (info as? String) ?? ""
            entries.append((URL(fileURLWithPath: directory).appendingPathComponent(file).path, label))
        }
        // Accepted shapes: {"images": {file: info}}, {"images": [info with "file"]}, {file: info}, [info with "file"].
        let body = (json as? [String: Any])?["images"] ?? json
        if let map = body as? [String: Any] {
            for key in map.keys.sorted() { add(key, map[key]!) }
        } else if let list = body as? [[String: Any]] {
            for item in list { if let f = (item["file"] as? String) ?? (item["path"] as? String) { add(f, item) } }
        }
        return entries
    }

    /// An image file as model input.
    /// - Throws: ``ImageError`` from decoding.
    public func load(path: String, label: String?) throws -> ImageInput {
        let image = try ImageDecoder.decode(path: path)
        return input(from: image, title: URL(fileURLWithPath: path).lastPathComponent, label: label)
    }

    /// Fashion-MNIST test record `index` with its true label.
    /// - Throws: ``ImageError`` (missing files, index out of range).
    public func loadFashion(index: Int) throws -> ImageInput {
        let (images, labels) = try fashion.files()
        let image = try images.image(at: index)
        let label = try labels.label(at: index)
        return input(from: image, title: "Fashion-MNIST test #\(index)", label: FashionMNIST.className(label))
    }

    /// Number of Fashion-MNIST test records (0 when the data set is not installed).
    public func fashionCount() -> Int { (try? fashion.files())?.images.count ?? 0 }

    /// Decodes the image `spec` names; for Fashion-MNIST also the record index used (n/p wrap around the set).
    /// - Throws: ``ImageError`` from decoding, ``ExplorerMessage`` for a missing data set or a typed index out of range.
    public func load(_ spec: ImageSpec) throws -> (input: ImageInput, fashionIndex: Int?) {
        switch spec {
        case let .file(path, label):
            return (try load(path: path, label: label), nil)
        case let .fashionMNIST(index, wrap):
            let n = fashionCount()
            guard n > 0 else { throw ExplorerMessage("Fashion-MNIST test set not found (apt-get install dataset-fashion-mnist)") }
            guard wrap || (0..<n).contains(index) else { throw ExplorerMessage("test index \(index) is out of range 0-\(n - 1)") }
            let i = (index % n + n) % n
            return (try loadFashion(index: i), i)
        }
    }

    func input(from image: DecodedImage, title: String, label: String?) -> ImageInput {
        let views = preprocessor.views(image)
        let h = preprocessor.outputHeight, w = preprocessor.outputWidth
        let side = preprocessor.clip?.cropSize ?? 0
        var input = ImageInput(pixels: views.spiking, preview: preview(views.spiking, height: h, width: w), previewHeight: h,
                               previewWidth: w, title: title, label: label, clipPixels: views.clip,
                               clipPreview: views.clip.map { preview($0, height: side, width: side) }, clipSide: side)
        input.decoded = image
        return input
    }

    /// Grey `[h, w]` in `[0, 1]` of normalised planes `[C, h, w]`: de-normalised, BT.601 luma for three channels.
    func preview(_ pixels: [Float], height h: Int, width w: Int) -> [Float] {
        let c = preprocessor.config.channels, plane = h * w
        let mean = preprocessor.config.mean.map(Float.init), std = preprocessor.config.std.map(Float.init)
        func value(_ ch: Int, _ i: Int) -> Float { min(max(pixels[ch * plane + i] * std[ch] + mean[ch], 0), 1) }
        return (0..<plane).map { i in
            c == 3 ? LumaWeights.bt601.red * value(0, i) + LumaWeights.bt601.green * value(1, i) + LumaWeights.bt601.blue * value(2, i) : value(0, i)
        }
    }

    /// Directory listing for the browser: `..` first, then folders, then image files and checkpoints, each sorted; unreadable
    /// entries, dangling symbolic links and link loops are skipped, and at most `limit` entries besides `..` are
    /// returned (a folder that cannot be listed gives only `..`). 5,000 entries list in well under a second.
    public static func list(directory: String, limit: Int = 5000) -> [DirectoryEntry] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return [DirectoryEntry(name: "..", isDirectory: true)] }
        var dirs: [DirectoryEntry] = [], files: [DirectoryEntry] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            var isDir: ObjCBool = false
            let path = (directory as NSString).appendingPathComponent(name)
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            if isDir.boolValue { dirs.append(DirectoryEntry(name: name, isDirectory: true)) }
            else if imageExtensions.contains((name as NSString).pathExtension.lowercased()) || DirectoryEntry(name: name, isDirectory: false).isCheckpoint {
                files.append(DirectoryEntry(name: name, isDirectory: false))
            }
            if dirs.count + files.count >= limit { break }
        }
        return [DirectoryEntry(name: "..", isDirectory: true)] + dirs + files
    }
}

/// The Fashion-MNIST test files, read and decompressed once (thread-safe; the first caller pays ~50 ms).
final class FashionMNISTCache: @unchecked Sendable {
    private let imagesPath: String, labelsPath: String
    private let lock = NSLock()
    private var loaded: Result<(images: IDXFile, labels: IDXFile), Error>?

    init(images: String, labels: String) {
        imagesPath = images
        labelsPath = labels
    }

    /// - Throws: ``ImageError`` when a file is missing or corrupt (remembered: a missing data set is not retried).
    func files() throws -> (images: IDXFile, labels: IDXFile) {
        lock.lock()
        defer { lock.unlock() }
        if loaded == nil { loaded = Result { (try IDXFile(path: imagesPath), try IDXFile(path: labelsPath)) } }
        return try loaded!.get()
    }
}

