#if canImport(Glibc)
import Glibc
#endif
import Support

/// The file formats of `llatte export` (docs/store.md, "Exporting").
public enum ExportFormat: String, Sendable, CaseIterable {
    /// One `.npy` array per column: user_ids, codes and scales (or embeddings), as_of, history_version, n_events.
    case npy
    /// One JSON object per user and line, in `embeddings.jsonl`.
    case jsonl
}

/// What to export, and where.
public struct ExportRequest: Sendable {
    /// The output directory (created if missing).
    public var directory: String
    public var format: ExportFormat
    /// The model version; nil exports the active one.
    public var version: String?
    /// Only the users listed in this file (`UserIDFile`), else every row of the version.
    public var usersFile: String?
    /// Write code × scale as float32 instead of the codes and scales.
    public var dequantize = false
    /// When the export ran, as meta.json records it (ISO-8601 UTC).
    public var exportedAt: String
    public var hooks = ExportHooks()

    public init(directory: String, format: ExportFormat, exportedAt: String) {
        self.directory = directory
        self.format = format
        self.exportedAt = exportedAt
    }
}

/// A test hook of an export, off unless set (the CLI reads `LLATTE_TEST_EXPORT_PAUSE_AFTER=<rows>`,
/// `LLATTE_TEST_HOLD=<file>` and `LLATTE_TEST_MARKERS=<dir>`): after that many rows, write
/// `<dir>/export.paused` and wait while the hold file exists, the read snapshot still open — so a
/// test can commit writes meanwhile and check that the export does not see them.
public struct ExportHooks: Sendable {
    public var pauseAfterRows: Int?
    public var holdWhileExists: String?
    public var markerDirectory: String?
    public init() {}

    func reached(rows: Int) {
        guard rows == pauseAfterRows, let hold = holdWhileExists, let dir = markerDirectory else { return }
        try? Files.makeDirectories(dir)
        try? Files.writeAtomically(dir + "/export.paused", Array("\(getpid())\n".utf8))
        while Files.exists(hold) { usleep(10_000) }
    }
}

/// What an export wrote.
public struct ExportSummary: Sendable {
    public var version: ModelVersionInfo
    /// Rows written (users exported).
    public var rows: Int
    /// Distinct users listed in the users file (nil without one).
    public var requested: Int?
    /// Listed users without a row in the version, ascending.
    public var missing: [UInt64]
    /// The files written, by name (meta.json last).
    public var files: [String]
    /// Seconds from the start of the read to the last rename.
    public var seconds: Double
}

/// Why an export failed; each names the store, file or user concerned.
public enum ExportError: Error, CustomStringConvertible, Sendable {
    case noActiveVersion(store: String)
    case unknownVersion(store: String, version: String)
    /// An unreadable users file or a bad line in it (the message names file and line).
    case usersFile(String)
    /// A stored row that cannot be exported as documented.
    case badRow(store: String, version: String, user: UInt64, field: String, message: String)
    case store(StoreError)
    case file(FileError)

    public var description: String {
        switch self {
        case let .noActiveVersion(store): "\(store): no active model version (name one with --model-version; `llatte model list` shows them)"
        case let .unknownVersion(store, version): "\(store): no model version \(version) (`llatte model list` shows them)"
        case let .usersFile(message): message
        case let .badRow(store, version, user, field, message): "\(store): model version \(version), user \(user), \(field): \(message)"
        case let .store(e): e.description
        case let .file(e): e.description
        }
    }
}

/// One stored row as the reader hands it to a writer: views into SQLite's buffers, valid only
/// during the call.
struct ExportRow {
    var userID: UInt64
    /// [K·D] int8 codes, interest-major.
    var codes: UnsafeRawBufferPointer
    /// [K] little-endian float32 scales.
    var scales: UnsafeRawBufferPointer
    var nEvents: Int64
    var asOf: Int64?
    var historyVersion: Int64

    /// Interest k's scale.
    @inline(__always)
    func scale(_ k: Int) -> Float {
        Float(bitPattern: UInt32(littleEndian: scales.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
    }

    /// Component j of interest k, dequantized: code × scale in float32.
    @inline(__always)
    func value(_ k: Int, _ j: Int, interestDim d: Int) -> Float {
        Float(Int8(bitPattern: codes[k * d + j])) * scale(k)
    }
}

/// A row a format cannot represent (the reader adds the store, version and user).
struct ExportRowProblem: Error, CustomStringConvertible {
    var field: String
    var message: String
    var description: String { "\(field): \(message)" }
}

/// A format's writer: rows in, files under temp names, renamed into place by `commit()`.
protocol ExportSink: AnyObject {
    /// Appends one row (ascending unsigned user id).
    func write(_ row: ExportRow) throws
    /// Flushes and fsyncs every file, still under temp names; describes them for meta.json.
    func finish() throws -> [ExportedFile]
    /// Renames every file into place.
    func commit() throws
}

/// A file of an export, as meta.json lists it.
struct ExportedFile {
    var name: String
    /// NumPy dtype and shape of an .npy file.
    var dtype: String?
    var shape: [Int]?
    /// Lines of a .jsonl file.
    var lines: Int?
}

extension EmbeddingStore {
    /// Every name an export may write: an export removes the ones it did not write this time (a
    /// `--dequantize` export after a plain one leaves no stale codes.npy beside its embeddings).
    static let exportFileNames = ["user_ids.npy", "codes.npy", "scales.npy", "embeddings.npy", "as_of.npy", "history_version.npy",
                                  "n_events.npy", "embeddings.jsonl", "meta.json"]

    /// Writes a version's rows (all, or the users of a users file) to `request.directory` in
    /// ascending unsigned user id order, streaming: memory does not grow with the rows (a users
    /// file's ids are held, 8 bytes each, to be sorted). Every row comes from one read transaction,
    /// so a run committing meanwhile never yields a mix of before and after. Files are written
    /// under temp names and renamed at the end, meta.json last; a listed user without a row is
    /// reported in `missing`, not an error. Open the store with `init(readingAt:)`.
    public func export(_ request: ExportRequest) throws(ExportError) -> ExportSummary {
        do {
            let t0 = monotonicSeconds()
            let users = try request.usersFile.map(EmbeddingStore.exportUsers)
            // One read transaction: the version's entry and every row come from one snapshot.
            try db.execute("BEGIN")
            var inTransaction = true
            defer { if inTransaction { try? db.execute("ROLLBACK") } }
            guard let v = try request.version.map({ try self.version($0) }) ?? activeVersion() else {
                throw request.version.map { ExportError.unknownVersion(store: path, version: $0) } ?? ExportError.noActiveVersion(store: path)
            }
            try Files.makeDirectories(request.directory)
            let sink: any ExportSink = switch request.format {
            case .npy: try NpyExportSink(directory: request.directory, interests: v.interests, interestDim: v.interestDim, dequantize: request.dequantize)
            case .jsonl: try JSONLExportSink(directory: request.directory, interests: v.interests, interestDim: v.interestDim, dequantize: request.dequantize)
            }
            let (rows, missing) = try streamRows(of: v, users: users, into: sink, hooks: request.hooks)
            try db.execute("COMMIT")   // ends the read: the snapshot is released before the files are finished
            inTransaction = false
            let files = try sink.finish()
            let meta = ExportMeta(request: request, store: (try? Files.absolutePath(path)) ?? path, version: v, rows: rows,
                                  requested: users?.count, missing: missing, files: files)
            try EmbeddingStore.publish(sink, meta, in: request.directory)
            return ExportSummary(version: v, rows: rows, requested: users?.count, missing: missing, files: files.map(\.name) + ["meta.json"],
                                 seconds: monotonicSeconds() - t0)
        } catch let e as ExportError {
            throw e
        } catch let e as StoreError {
            throw .store(e)
        } catch let e as FileError {
            throw .file(e)
        } catch {
            throw .store(StoreError(path: path, message: "export: \(error)"))
        }
    }

    /// The users of a users file, ascending as unsigned ids, each once.
    private static func exportUsers(_ file: String) throws -> [UInt64] {
        do { return Array(Set(try UserIDFile.read(file))).sorted() } catch let e as FileError { throw e } catch {
            throw ExportError.usersFile("\(error)")
        }
    }

    /// Hands the version's rows to `sink` in ascending unsigned id order (all of them, or the
    /// given users', ascending), inside the caller's read transaction. Returns the rows written and
    /// the users without one.
    private func streamRows(of v: ModelVersionInfo, users: [UInt64]?, into sink: any ExportSink,
                            hooks: ExportHooks) throws -> (rows: Int, missing: [UInt64]) {
        var rows = 0
        var missing: [UInt64] = []
        let columns = "user_id, codes, scales, n_events, as_of, history_version"
        func emit(_ s: Statement) throws {
            let row = ExportRow(userID: UInt64(bitPattern: s.int64(0)), codes: s.blob(1), scales: s.blob(2), nEvents: s.int64(3),
                                asOf: s.isNull(4) ? nil : s.int64(4), historyVersion: s.int64(5))
            guard row.codes.count == v.interests * v.interestDim, row.scales.count == 4 * v.interests else {
                throw ExportError.badRow(store: path, version: v.version, user: row.userID, field: "codes/scales",
                                         message: "blob sizes \(row.codes.count)/\(row.scales.count) do not match \(v.interests)×\(v.interestDim)")
            }
            do { try sink.write(row) } catch let p as ExportRowProblem {
                throw ExportError.badRow(store: path, version: v.version, user: row.userID, field: p.field, message: p.message)
            }
            rows += 1
            hooks.reached(rows: rows)
        }
        if let users {
            let s = try db.prepare("SELECT \(columns) FROM \(v.table) WHERE user_id = ?")
            for u in users {
                try s.bind(1, Int64(bitPattern: u))
                if try s.step() { try emit(s) } else { missing.append(u) }
                s.reset()
            }
        } else {
            // Ascending as unsigned ids: keys ≥ 0 are the ids below 2^63, negative keys the ids above.
            for range in ["user_id >= 0", "user_id < 0"] {
                let s = try db.prepare("SELECT \(columns) FROM \(v.table) WHERE \(range) ORDER BY user_id")
                while try s.step() { try emit(s) }
            }
        }
        return (rows, missing)
    }

    /// Moves a finished export into place. meta.json is removed first and renamed last, so a
    /// meta.json present always describes complete files beside it; files of another format or
    /// mode left by an earlier export are removed.
    private static func publish(_ sink: any ExportSink, _ meta: ExportMeta, in directory: String) throws {
        let metaFile = try StagedFile(path: directory + "/meta.json")
        try metaFile.write(meta.json())
        try metaFile.finish()
        unlink(PathSpelling.cString(directory + "/meta.json"))
        try sink.commit()
        let written = Set(meta.files.map(\.name) + ["meta.json"])
        for name in exportFileNames where !written.contains(name) { unlink(PathSpelling.cString(directory + "/" + name)) }
        try metaFile.commit()
        try Files.syncDirectory(directory)
    }
}
