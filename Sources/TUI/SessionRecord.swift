import Foundation
import SpikeCLIP
import Visualize

/// A recorded explorer session (issue 18): versioned JSON lines. The first line is the ``Header`` (how to rebuild
/// the explorer), each further line an ``Event``: the input (a key, a mouse event, a play tick, a resize), the state
/// fields it changed, and the frame it produced (its text and SHA-256). `spikeclip replay` rebuilds the explorer from
/// the header, feeds it the events and compares every frame: a record doubles as a bug report.
///
/// Recording waits for each analysis before the next input is read, so that every frame is the settled one (the
/// same in the replay) and timings are hidden; see docs/DECISIONS.md.
public enum SessionRecord {
    public static let format = "spikeclip-session"
    public static let version = 1
    /// Largest record read (bytes) and most events replayed.
    public static let maxBytes = 256 << 20, maxEvents = 1_000_000

    public struct Header: Codable, Sendable, Equatable {
        public var format = SessionRecord.format
        public var version = SessionRecord.version
        public var software = "spikeclip \(spikeclipVersion)"
        /// The checkpoint as given, and its SHA-256 (replay refuses another file).
        public var checkpoint: String
        public var checkpointSHA256: String
        public var assets: String
        public var prompts: [String]?
        public var templates: [String]?
        public var compare: String?
        public var glyphs: String
        /// The directory browser's folder at the start.
        public var directory: String
        public var presenting: Bool
        public var mouse: Bool
        /// Config-file key remaps, by key name.
        public var keys: [String: String]
        /// The status-line note shown at the start (a fallback checkpoint, say).
        public var note: String?

        public init(checkpoint: String, checkpointSHA256: String, assets: String, prompts: [String]?, templates: [String]?, compare: String?,
                    glyphs: String, directory: String, presenting: Bool, mouse: Bool, keys: [String: String], note: String?) {
            self.checkpoint = checkpoint
            self.checkpointSHA256 = checkpointSHA256
            self.assets = assets
            self.prompts = prompts
            self.templates = templates
            self.compare = compare
            self.glyphs = glyphs
            self.directory = directory
            self.presenting = presenting
            self.mouse = mouse
            self.keys = keys
            self.note = note
        }

        enum CodingKeys: String, CodingKey {
            case format, version, software, checkpoint, checkpointSHA256 = "checkpoint_sha256", assets, prompts, templates, compare, glyphs
            case directory, presenting, mouse, keys, note
        }
    }

    public struct Event: Codable, Sendable, Equatable {
        /// 0 for the first frame, then 1, 2, ...
        public var n: Int
        /// `start`, `tick` (a play step), or a key name (``Key/name``: one character, `enter`, `mouse:press:X:Y`, ...).
        public var input: String
        /// The screen size for this frame.
        public var size: [Int]
        /// State fields that changed (name -> new value).
        public var changed: [String: String]
        /// The frame's lines and their SHA-256 (nil after the quitting key).
        public var frame: [String]?
        public var frameSHA256: String?

        enum CodingKeys: String, CodingKey { case n, input, size, changed, frame, frameSHA256 = "frame_sha256" }
    }

    /// Why a record cannot be read or replayed: one line naming the file (and line).
    public struct RecordError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// SHA-256 of a frame's lines joined by newlines.
    public static func hash(_ lines: [String]) -> String { sha256Hex(Array(lines.joined(separator: "\n").utf8)) }

    /// Reads and checks a record.
    /// - Throws: ``RecordError``: unreadable, too large, not a session record, an unknown version, a bad line (named).
    public static func read(_ path: String) throws -> (header: Header, events: [Event]) {
        var isDirectory: ObjCBool = false
        // Regression (fresh-user trial): a directory crashed the reader (FileHandle raised "Is a directory").
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw RecordError(description: "\(path): " + (isDirectory.boolValue ? "is a directory, not a session record" : "cannot be read"))
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw RecordError(description: "\(path): cannot be read") }
        defer { try? handle.close() }
        let data = handle.readData(ofLength: maxBytes + 1)
        guard data.count <= maxBytes else { throw RecordError(description: "\(path): larger than \(maxBytes >> 20) MiB") }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        guard let first = lines.first else { throw RecordError(description: "\(path): empty, not a session record") }
        let decoder = JSONDecoder()
        guard let header = try? decoder.decode(Header.self, from: Data(first)), header.format == format else {
            throw RecordError(description: "\(path):1: not a spikeclip session record (its first line must be the header)")
        }
        guard header.version == version else {
            throw RecordError(description: "\(path):1: session record version \(header.version); this spikeclip reads version \(version)")
        }
        guard lines.count - 1 <= maxEvents else { throw RecordError(description: "\(path): more than \(maxEvents) events") }
        var events: [Event] = []
        for (i, line) in lines.dropFirst().enumerated() {
            let at = "\(path):\(i + 2)"
            let e: Event
            do { e = try decoder.decode(Event.self, from: Data(line)) } catch { throw RecordError(description: "\(at): not a session event (\(shortReason(error)))") }
            guard e.size.count == 2, e.size.allSatisfy({ (1...1000).contains($0) }) else { throw RecordError(description: "\(at): size must be [width, height], 1-1000 each") }
            guard e.input == "start" || e.input == "tick" || Key(name: e.input) != nil else {
                throw RecordError(description: "\(at): unknown input '\(quotedPreview(e.input))'")
            }
            events.append(e)
        }
        return (header, events)
    }

    static func shortReason(_ error: Error) -> String {
        if case let DecodingError.keyNotFound(key, _) = error { return "missing '\(key.stringValue)'" }
        if case let DecodingError.typeMismatch(_, c) = error { return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'" }
        return "invalid JSON"
    }
}

/// Writes a session record as the explorer runs (``Explorer/recorder``); each line is flushed at once, so a crash
/// still leaves the events up to it.
public final class SessionRecorder {
    private let handle: FileHandle
    private var previous: [String: String] = [:]
    private var count = 0
    public let path: String

    /// Creates `path` (refusing an existing file) and writes `header`.
    /// - Throws: ``SessionRecord/RecordError`` naming the path.
    public init(path: String, header: SessionRecord.Header) throws {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "exists (remove it or choose another name)" : String(cString: strerror(errno))
            throw SessionRecord.RecordError(description: "\(path): \(reason)")
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try write(header)
    }

    private func write<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(UInt8(ascii: "\n"))
        handle.write(data)
    }

    /// Logs `input` with the state after it and the frame it drew (nil for the quitting key).
    public func log(_ input: String, state: ExplorerState, size: (width: Int, height: Int), frame: CellGrid?) {
        let now = state.recordedFields
        let changed = now.filter { previous[$0.key] != $0.value }
        previous = now
        let lines = frame.map { $0.lines }
        let event = SessionRecord.Event(n: count, input: input, size: [size.width, size.height], changed: changed, frame: lines,
                                        frameSHA256: lines.map(SessionRecord.hash))
        count += 1
        try? write(event)
    }
}

extension ExplorerState {
    /// The state fields a session record lists when they change (what a reader of a bug report wants to see).
    var recordedFields: [String: String] {
        var f: [String: String] = [
            "focus": focus.name, "source": source.rawValue, "demo_index": "\(demoIndex)", "fashion_index": "\(fashionIndex)",
            "layer": "\(layerIndex)", "step": "\(step)", "view": spikeView.rawValue, "classes": classNames.joined(separator: " | "),
            "templates": templates.joined(separator: " | "), "ensemble": "\(ensemble)", "glyphs": glyphs.rawValue, "playing": "\(playing)",
            "interventions": activeInterventions.summary, "presenting": "\(presenting)", "zoomed": "\(zoomed)", "help": "\(showHelp)",
            "convention": convention.rawValue, "trace_neuron": "\(traceNeuron)", "mouse": "\(mouse)", "directory": directory,
        ]
        f["edit"] = editBuffer ?? ""
        f["search"] = search.map { $0.query + ($0.typing ? "_" : "") } ?? ""
        f["message"] = message ?? ""
        return f
    }
}
