import Foundation
import SpikeCLIP
import TOMLKit
import Visualize

/// The explorer's colour theme (issue 18): which terminal colours and attributes each ``ColorRole`` gets.
public enum Theme: String, Sendable, CaseIterable {
    /// Coloured text on the terminal's own background (the default; made for dark terminals).
    case dark
    /// Dark text on a white background painted by the explorer itself, whatever the terminal's colours.
    case light
    /// No colours at all: bold, underline and dim tell the roles apart (also what `--no-color` / `NO_COLOR` give).
    case monochrome
}

/// The user's settings from `$XDG_CONFIG_HOME/spikeclip/config.toml` (issue 18). Command-line options win over it.
///
/// ```toml
/// theme = "light"              # dark, light or monochrome
/// glyphs = "half-blocks"       # braille, half-blocks or ascii
/// mouse = true                 # click tabs and list rows, wheel to scroll
/// checkpoint = "runs/a.safetensors"
/// image_dir = "~/pictures"     # where the directory browser starts
/// slow = false                 # cap redraws for slow links (as --slow)
/// [keys]                       # remaps: the key on the left acts as the key on the right
/// x = "q"
/// J = "down"
/// ```
public struct ExplorerConfig: Sendable, Equatable {
    public var theme: Theme = .dark
    public var glyphs: GlyphSet?
    public var mouse = false
    public var checkpoint: String?
    public var imageDirectory: String?
    public var slow = false
    /// Remaps: pressing the key acts as the other key. Typing text (prompts, an index, a search) is never remapped.
    public var keys: [Character: Key] = [:]

    public init() {}

    /// The keys the file may set (and the order the error for an unknown key lists them in).
    public static let knownKeys = ["theme", "glyphs", "mouse", "checkpoint", "image_dir", "slow", "keys"]

    /// `$XDG_CONFIG_HOME/spikeclip/config.toml`, or `~/.config/spikeclip/config.toml` when XDG_CONFIG_HOME is unset or
    /// empty (the XDG base directory specification); nil without either variable.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/spikeclip/config.toml" }
        guard let home = environment["HOME"], !home.isEmpty else { return nil }
        return home + "/.config/spikeclip/config.toml"
    }

    /// Reads the file at `path`; a missing file at the default path is no error (`mustExist` false), one named with
    /// `--config` is.
    /// - Throws: ``ConfigError``: one line naming the file and, where there is one, the key.
    public static func load(path: String, mustExist: Bool) throws -> ExplorerConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            if mustExist { throw ConfigError(file: path, key: nil, "no such file") }
            return ExplorerConfig()
        }
        guard !isDirectory.boolValue else { throw ConfigError(file: path, key: nil, "is a directory, not a TOML file") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigError(file: path, key: nil, "cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { try? handle.close() }
        // A settings file is small; anything larger is refused before it is read whole.
        let data = handle.readData(ofLength: maxBytes + 1)
        guard data.count <= maxBytes else { throw ConfigError(file: path, key: nil, "is larger than \(maxBytes / 1024) KiB") }
        guard let text = String(data: data, encoding: .utf8) else { throw ConfigError(file: path, key: nil, "is not UTF-8 text") }
        return try parse(text, file: path)
    }

    /// Largest config file read (bytes).
    public static let maxBytes = 64 * 1024

    /// Parses TOML `text` (named `file` in errors).
    /// - Throws: ``ConfigError`` for invalid TOML (with line and column), an unknown key, a value of the wrong type or
    ///   out of range, an unknown key name in `[keys]`.
    public static func parse(_ text: String, file: String) throws -> ExplorerConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(file: "\(file):\(e.source.begin.line):\(e.source.begin.column)", key: nil, "invalid TOML: \(e.description)")
        }
        var config = ExplorerConfig()
        for (key, value) in table {
            func string() throws -> String {
                guard let s = value.string else { throw ConfigError(file: file, key: key, "expected a string, got \(typeName(value))") }
                return s
            }
            func choice<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
                let s = try string()
                guard let v = T(rawValue: s) else {
                    throw ConfigError(file: file, key: key, "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(quotedPreview(s))'")
                }
                return v
            }
            func bool() throws -> Bool {
                guard let b = value.bool else { throw ConfigError(file: file, key: key, "expected true or false, got \(typeName(value))") }
                return b
            }
            func path() throws -> String {
                let s = try string()
                guard !s.isEmpty, !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw ConfigError(file: file, key: key, "expected a path, got an empty string or control characters")
                }
                return (s as NSString).expandingTildeInPath
            }
            switch key {
            case "theme": config.theme = try choice(Theme.self)
            case "glyphs": config.glyphs = try choice(GlyphSet.self)
            case "mouse": config.mouse = try bool()
            case "slow": config.slow = try bool()
            case "checkpoint": config.checkpoint = try path()
            case "image_dir": config.imageDirectory = try path()
            case "keys":
                guard let keys = value.table else { throw ConfigError(file: file, key: key, "expected a table ([keys]), got \(typeName(value))") }
                for (from, to) in keys {
                    let name = "keys.\(from)"
                    guard from.count == 1, let c = from.first, !c.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                        throw ConfigError(file: file, key: name, "only a one-character key can be remapped")
                    }
                    guard let target = to.string else { throw ConfigError(file: file, key: name, "expected a key name string, got \(typeName(to))") }
                    guard let k = Key(name: target), !k.isMouse, k != .resize else {
                        throw ConfigError(file: file, key: name, "'\(quotedPreview(target))' is not a key (one character, or one of \(Key.names.map(\.0).filter { $0 != "resize" }.joined(separator: ", ")))")
                    }
                    config.keys[c] = k
                }
            default:
                throw ConfigError(file: file, key: key, "unknown key (known: \(knownKeys.joined(separator: ", ")))")
            }
        }
        return config
    }

    static func typeName(_ v: TOMLValueConvertible) -> String {
        switch v.type {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        case .table: return "a table"
        case .array: return "an array"
        default: return "a date or time"
        }
    }
}

/// A bad config file: `FILE: KEY: what is wrong`, one line.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String?
    public let problem: String
    init(file: String, key: String?, _ problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }
    public var description: String {
        terminalSafe("\(file): " + (key.map { "\($0): " } ?? "") + problem + " (fix it, or start with --no-config for the defaults)")
    }
}

extension Key {
    var isMouse: Bool { if case .mouse = self { return true } else { return false } }
}
