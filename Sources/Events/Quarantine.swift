import Support
#if canImport(Glibc)
import Glibc
#endif

/// Why a record was quarantined: exactly the reasons of docs/data.md, one code each.
public enum ReasonCode: String, CaseIterable, Sendable {
    /// The line is not JSON, or is JSON but not an object (also: a line past the length limit).
    case notJSONObject = "not_json_object"
    /// A required field (event_id, ts, user_id, item_id, type, surface) is absent.
    case missingField = "missing_field"
    /// A field has the wrong JSON type (a required field null, a non-integral integer…).
    case wrongType = "wrong_type"
    /// An integer field is negative or does not fit its type.
    case integerOutOfRange = "integer_out_of_range"
    /// `ts` lies outside the store's `[min_ts, max_ts]`.
    case tsOutOfRange = "ts_out_of_range"
    /// `dwell_ms` or `value` is negative or not finite.
    case badMetadata = "bad_metadata"
    /// A string holds invalid UTF-8 or a lone surrogate escape.
    case invalidUTF8 = "invalid_utf8"
    /// A key appears twice in one object.
    case duplicateKey = "duplicate_key"
}

/// A quarantined record: where it was and why.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var reason: ReasonCode
    /// The field concerned, when there is one.
    public var field: String?
    public var detail: String
    /// The line's user_id when the line is a JSON object with a valid one: it routes the
    /// quarantine record to the user's shard (nil: shard 0 records it).
    public var userID: UInt64?

    public init(line: Int, reason: ReasonCode, field: String?, detail: String, userID: UInt64? = nil) {
        self.line = line
        self.reason = reason
        self.field = field
        self.detail = detail
        self.userID = userID
    }

    /// `line 12: wrong_type (ts): ts must be an integer`.
    public var description: String { "line \(line): \(reason.rawValue)\(field.map { " (\($0))" } ?? ""): \(detail)" }

    /// The quarantine file's line for this record of `file`: one JSON object, keys in fixed order.
    public func quarantineLine(file: String) -> String {
        var w = JSONWriter()
        w.raw("{")
        w.key("file", first: true); w.string(file)
        w.key("line"); w.raw(String(line))
        w.key("reason"); w.string(reason.rawValue)
        w.key("field"); if let field { w.string(field) } else { w.raw("null") }
        w.key("detail"); w.string(detail)
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// Streams one input file's quarantine records to `<dir>/<name>.<sha16>.quarantine.jsonl`.
///
/// Records go to a temp file first (memory stays bounded for a file of any size); `finish` renames
/// it into place once the content hash is known, so a rerun after a crash rewrites the same file
/// instead of appending duplicates.
public final class QuarantineSink {
    public let directory: String
    public let file: String
    public private(set) var count = 0
    /// The file's last path component, which names the quarantine file.
    private let name: String
    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    private let tempPath: String

    public init(directory: String, file: String) {
        self.directory = directory
        self.file = file
        name = file.split(separator: "/").last.map(String.init) ?? file
        tempPath = "\(directory)/.\(name).\(getpid()).quarantine.tmp"
    }

    deinit { discard() }

    /// The final path for this file's records.
    public func path(digest: Digest32) -> String { "\(directory)/\(name).\(digest.hex.prefix(16)).quarantine.jsonl" }

    public func add(_ r: Rejection) throws(FileError) {
        count += 1
        buffer.append(contentsOf: r.quarantineLine(file: file).utf8)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { try flush() }
    }

    private func flush() throws(FileError) {
        if fd < 0 {
            try Files.makeDirectories(directory)
            fd = open(PathSpelling.cString(tempPath), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileError(path: tempPath, operation: "open", code: errno) }
        }
        var off = 0
        while off < buffer.count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: tempPath, operation: "write", code: errno)
            }
            off += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Moves the records into place; returns the path written, or nil when there were none.
    @discardableResult
    public func finish(digest: Digest32) throws(FileError) -> String? {
        guard count > 0 else { return nil }
        try flush()
        guard fsync(fd) == 0 else { throw FileError(path: tempPath, operation: "fsync", code: errno) }
        close(fd)
        fd = -1
        let final = path(digest: digest)
        guard rename(PathSpelling.cString(tempPath), PathSpelling.cString(final)) == 0 else { throw FileError(path: final, operation: "rename", code: errno) }
        return final
    }

    /// Removes temp files left in `directory` by ingests that were killed mid-file (their pid no
    /// longer runs); a live process's temp file is left alone, so stores may share the directory.
    /// Returns how many were removed.
    @discardableResult
    public static func removeStaleTempFiles(in directory: String) -> Int {
        guard let names = try? Files.list(directory) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") && name.hasSuffix(".quarantine.tmp") {
            let parts = name.dropLast(".quarantine.tmp".count).split(separator: ".")
            guard let pidText = parts.last, let pid = Int32(pidText), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH, unlink(PathSpelling.cString("\(directory)/\(name)")) == 0 { removed += 1 }
        }
        return removed
    }

    /// Drops the records (the file was not read to the end).
    public func discard() {
        if fd >= 0 { close(fd); unlink(PathSpelling.cString(tempPath)); fd = -1 }
        buffer.removeAll()
        count = 0
    }
}
