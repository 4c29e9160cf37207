/// The Fashion-MNIST data set as Debian's `dataset-fashion-mnist` installs it (IDX files, gzip; MIT licence).
public enum FashionMNIST {
    /// Where the package puts the files (`scripts/deps.sh` installs it).
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// Class names of labels 0-9, in label order.
    public static let classes = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// The image and label files of a split (`test` or `train`) under `directory`.
    public static func files(split: String, in directory: String = defaultDirectory) -> (images: String, labels: String) {
        let prefix = split == "train" ? "train" : "t10k"
        return (directory + "/\(prefix)-images-idx3-ubyte.gz", directory + "/\(prefix)-labels-idx1-ubyte.gz")
    }

    /// The name of `label`, or "label N" outside 0-9.
    public static func className(_ label: Int) -> String {
        classes.indices.contains(label) ? classes[label] : "label \(label)"
    }
}
