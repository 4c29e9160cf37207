import Foundation

/// A labelled image set for zero-shot evaluation (`spikeclip eval --dataset ...`): images and labels by index, class
/// names in label order. Images are decoded on demand.
public protocol LabeledImageSet: Sendable {
    /// For outputs: `fashion-mnist`, `cifar10`, `cifar100`, `folder`.
    var name: String { get }
    /// Class names in label order.
    var classNames: [String] { get }
    var count: Int { get }
    /// - Throws: ``ImageError`` naming the file.
    func label(at index: Int) throws -> Int
    /// - Throws: ``ImageError`` naming the file.
    func image(at index: Int) throws -> DecodedImage
}

/// Fashion-MNIST from its IDX files (Debian's `dataset-fashion-mnist`).
public struct FashionMNISTSet: LabeledImageSet {
    let images: IDXFile, labels: IDXFile
    public var name: String { "fashion-mnist" }
    public var classNames: [String] { FashionMNIST.classes }
    public var count: Int { min(images.count, labels.count) }

    /// - Throws: ``ImageError`` (missing or malformed files).
    public init(split: String, directory: String) throws {
        let (i, l) = FashionMNIST.files(split: split, in: directory)
        images = try IDXFile(path: i)
        labels = try IDXFile(path: l)
        guard images.dimensions.count == 3 else { throw ImageError.unsupported(path: i, reason: "not an IDX image file") }
    }

    public func label(at index: Int) throws -> Int { try labels.label(at: index) }
    public func image(at index: Int) throws -> DecodedImage { try images.image(at: index) }
}

/// CIFAR-10 / CIFAR-100 in their binary distributions (`cifar-10-batches-bin`: `data_batch_1..5.bin`,
/// `test_batch.bin`, records of 1 label byte + 3,072 bytes; `cifar-100-binary`: `train.bin`, `test.bin`, records of
/// coarse and fine label bytes + 3,072 bytes; pixels as 1,024 R, 1,024 G, 1,024 B bytes, rows of 32). Labels are the
/// fine labels for CIFAR-100. Class names are the datasets' own (`batches.meta.txt` order for CIFAR-10,
/// `fine_label_names.txt` order for CIFAR-100).
public struct CIFARSet: LabeledImageSet {
    public enum Kind: String, Sendable { case cifar10, cifar100 }
    public let kind: Kind
    let bytes: [UInt8]
    let files: [(path: String, records: Int)]
    public var name: String { kind.rawValue }
    public var classNames: [String] { kind == .cifar10 ? Self.cifar10Classes : Self.cifar100Classes }
    var labelBytes: Int { kind == .cifar10 ? 1 : 2 }
    var recordSize: Int { labelBytes + 3072 }
    public var count: Int { bytes.count / recordSize }

    /// - Parameter directory: the folder holding the `.bin` files (or its parent with `cifar-10-batches-bin/`).
    /// - Throws: ``ImageError`` (a missing file, a size that is not a whole number of records).
    public init(_ kind: Kind, split: String, directory: String) throws {
        self.kind = kind
        let sub = kind == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary"
        let nested = (directory as NSString).appendingPathComponent(sub)
        let dir = FileManager.default.fileExists(atPath: nested) ? nested : directory
        let names = kind == .cifar10 ? (split == "train" ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"])
                                     : [split == "train" ? "train.bin" : "test.bin"]
        var all: [UInt8] = []
        var files: [(String, Int)] = []
        let record = (kind == .cifar10 ? 1 : 2) + 3072
        for n in names {
            let path = (dir as NSString).appendingPathComponent(n)
            guard let data = FileManager.default.contents(atPath: path) else { throw ImageError.cannotOpen(path: path, reason: "no such file (a \(kind.rawValue) binary batch)") }
            guard !data.isEmpty, data.count % record == 0 else {
                throw ImageError.corrupt(path: path, format: kind.rawValue, reason: "\(data.count) bytes is not a whole number of \(record)-byte records")
            }
            all += data
            files.append((path, data.count / record))
        }
        bytes = all
        self.files = files
    }

    func check(_ index: Int) throws {
        guard index >= 0, index < count else { throw ImageError.idxRecordOutOfRange(path: files.first?.path ?? kind.rawValue, index: index, count: count) }
    }

    public func label(at index: Int) throws -> Int {
        try check(index)
        let label = Int(bytes[index * recordSize + labelBytes - 1])
        guard label < classNames.count else {
            // Name the file holding the record and the record's index in it.
            var local = index
            var file = files.first?.path ?? ""
            for f in files { if local < f.records { file = f.path; break }; local -= f.records }
            throw ImageError.corrupt(path: file, format: kind.rawValue, reason: "record \(local) has label \(label) of \(classNames.count)")
        }
        return label
    }

    public func image(at index: Int) throws -> DecodedImage {
        try check(index)
        let base = index * recordSize + labelBytes
        var samples = [Float](repeating: 0, count: 3072)
        for p in 0..<1024 { for c in 0..<3 { samples[p * 3 + c] = Float(bytes[base + c * 1024 + p]) / 255 } }
        return DecodedImage(width: 32, height: 32, channels: 3, sourceBitDepth: 8, samples: samples)
    }

    /// CLIP's prompt templates for CIFAR-10 and CIFAR-100 (Radford et al. 2021, `data/prompts.md`).
    public static let clipTemplates = [
        "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.", "a low contrast photo of a {}.",
        "a high contrast photo of a {}.", "a bad photo of a {}.", "a good photo of a {}.", "a photo of a small {}.",
        "a photo of a big {}.", "a photo of the {}.", "a blurry photo of the {}.", "a black and white photo of the {}.",
        "a low contrast photo of the {}.", "a high contrast photo of the {}.", "a bad photo of the {}.", "a good photo of the {}.",
        "a photo of the small {}.", "a photo of the big {}.",
    ]

    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    public static let cifar100Classes = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy", "bridge",
        "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud",
        "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl",
        "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man",
        "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree",
        "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray",
        "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]
}

/// The ImageFolder layout: one sub-folder per class (sorted by name, as torchvision's `ImageFolder` does), image files
/// inside (sorted; files that are not images are skipped by their signature). Class names are the folder names with
/// `_` as spaces.
public struct ImageFolderSet: LabeledImageSet {
    public let classNames: [String]
    let items: [(path: String, label: Int)]
    public var name: String { "folder" }
    public var count: Int { items.count }

    /// - Throws: ``ImageError`` (no such folder, no class folders, no images).
    public init(directory: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue,
              let entries = try? fm.contentsOfDirectory(atPath: directory) else {
            throw ImageError.cannotOpen(path: directory, reason: "not a folder")
        }
        let classes = entries.filter { !$0.hasPrefix(".") && (try? fm.attributesOfItem(atPath: (directory as NSString).appendingPathComponent($0))[.type] as? FileAttributeType) == .typeDirectory }.sorted()
        guard !classes.isEmpty else { throw ImageError.unsupported(path: directory, reason: "no class sub-folders (the ImageFolder layout: one folder per class)") }
        var items: [(String, Int)] = []
        for (label, c) in classes.enumerated() {
            let folder = (directory as NSString).appendingPathComponent(c)
            for f in ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() where !f.hasPrefix(".") {
                let p = (folder as NSString).appendingPathComponent(f)
                guard let h = FileHandle(forReadingAtPath: p) else { continue }
                let head = [UInt8]((try? h.read(upToCount: 16)) ?? Data())
                try? h.close()
                if let f = ImageFormat.sniff(head), f != .idx { items.append((p, label)) }
            }
        }
        guard !items.isEmpty else { throw ImageError.unsupported(path: directory, reason: "no image files in its class folders") }
        self.classNames = classes.map { $0.replacingOccurrences(of: "_", with: " ") }
        self.items = items
    }

    public func label(at index: Int) throws -> Int { items[index].label }
    public func image(at index: Int) throws -> DecodedImage { try ImageDecoder.decode(path: items[index].path) }
}
