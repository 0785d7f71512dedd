import CSQLite
import Support
#if canImport(Glibc)
import Glibc
#endif

/// The kinds of store llatte's readers open.
public enum StoreKind: String, Sendable {
    case embeddingStore = "embedding store"
    case historyStore = "history store"
    case catalog = "item catalog"

    /// The kind with its article, for messages.
    var named: String { self == .historyStore ? "a \(rawValue)" : "an \(rawValue)" }

    /// Whether a file of kind `found` is this store in a format this llatte reads.
    func accepts(_ found: StoreFileKind) -> Bool {
        switch (self, found) {
        case let (.embeddingStore, .embeddingStore(format)): return format.map { (1...EmbeddingStore.formatVersion).contains($0) } ?? false
        case (.historyStore, .historyStore), (.catalog, .catalog): return true
        default: return false
        }
    }
}

/// What a file given as a store turned out to be, so that a reader expecting another kind can say
/// what it was handed instead of failing on a missing table (or, worse, adding its own).
public enum StoreFileKind: Sendable, Equatable, CustomStringConvertible {
    case directory
    case emptyFile
    case notSQLite
    /// `format` is its `store_meta.format_version` (nil when absent).
    case embeddingStore(format: Int64?)
    case historyStore
    case catalog
    /// Any other SQLite database, with its tables by name.
    case otherSQLite(tables: [String])

    public var description: String {
        switch self {
        case .directory: return "a directory"
        case .emptyFile: return "an empty file, not a SQLite database"
        case .notSQLite: return "not a SQLite file"
        case let .embeddingStore(format): return "an llatte embedding store (format \(format.map(String.init) ?? "unknown"))"
        case .historyStore: return "an llatte history store"
        case .catalog: return "an llatte item catalog"
        case let .otherSQLite(tables) where tables.isEmpty: return "a SQLite database with no tables"
        case let .otherSQLite(tables):
            let shown = tables.prefix(5).joined(separator: ", ")
            return "another SQLite database (tables \(shown)\(tables.count > 5 ? ", … \(tables.count) in all" : ""))"
        }
    }
}

extension Database {
    /// Opens an existing store of `kind` for reading only, refusing any other file without changing
    /// it or creating anything beside it (docs/store.md, "How llatte's own commands read"): `SQLITE_OPEN_READONLY`, no
    /// pragma that writes, no schema work, no write transaction, so a reader never waits for a
    /// writer's transaction and sees committed data only (in WAL mode, each statement, or an
    /// explicit `BEGIN … COMMIT`, reads one snapshot).
    ///
    /// Where this process cannot write the file or its directory, SQLite cannot create the `-shm`
    /// a WAL reader needs and fails with "attempt to write a readonly database"; measured (SQLite
    /// 3.40), what it can do there: read through an existing `-wal` and `-shm` read-only (what is
    /// done when they exist), or open the file `immutable=1`, which ignores any `-wal` (what is
    /// done when there is no `-wal` or an empty one: every commit is then in the main file). A
    /// `-wal` with frames and no `-shm` cannot be read without writing: refused, saying why.
    ///
    /// Returns the connection and what the file is (for the caller's own format checks).
    static func reading(_ path: String, as kind: StoreKind, busyTimeoutMs: Int32 = 10_000) throws(StoreError) -> (db: Database, found: StoreFileKind) {
        let file = PathSpelling.cString(path)
        var st = stat()
        guard stat(file, &st) == 0 else {
            let e = errno
            throw StoreError(path: path, message: e == ENOENT ? "no \(kind.rawValue) here" : "cannot read: \(String(cString: strerror(e)))")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw refusal(path, kind, .directory) }
        if st.st_size == 0 { throw refusal(path, kind, .emptyFile) }
        // The file itself is only ever opened by SQLite: closing a descriptor of our own would drop
        // every POSIX lock this process's SQLite connections hold on it (a pipeline's writer).
        var walStat = stat()
        let walExists = stat(PathSpelling.cString(path + "-wal"), &walStat) == 0
        let walHasFrames = walExists && walStat.st_size > 0
        let writable = access(file, W_OK) == 0 && access(PathSpelling.cString(Files.parentDirectory(path)), W_OK) == 0
        let shmReadable = walExists && access(PathSpelling.cString(path + "-shm"), R_OK) == 0
        if !writable && walHasFrames && !shmReadable {
            throw StoreError(path: path, message: "its write-ahead log \(path)-wal holds commits not yet in the main file, and there is no readable "
                             + "\(path)-shm to read them through from this read-only location: let the writer finish, or open it once with write access")
        }
        // Immutable only where SQLite could not read otherwise, and it loses nothing: no -shm to
        // read through, none can be created, and every commit is in the main file.
        let immutable = !writable && !shmReadable
        // No connection has it open: a plain reader of a WAL-mode file would create -wal and -shm
        // beside it (and leave them). Check what it is first, through a connection that creates nothing.
        if !walExists && !immutable {
            let probe = try Database(path: path, filename: uri(path, immutable: true), flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                                     busyTimeoutMs: busyTimeoutMs)
            let found = try probe.storeFileKind()
            guard kind.accepts(found) else { throw refusal(path, kind, found) }
        }
        let db = try Database(path: path, filename: uri(path, immutable: immutable), flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                              busyTimeoutMs: busyTimeoutMs)
        let found = try db.storeFileKind()
        guard kind.accepts(found) else { throw refusal(path, kind, found) }
        return (db, found)
    }

    /// The refusal of a file that is not the store expected, naming what it is.
    private static func refusal(_ path: String, _ kind: StoreKind, _ found: StoreFileKind) -> StoreError {
        if kind == .embeddingStore, case let .embeddingStore(format?) = found, format > EmbeddingStore.formatVersion {
            return StoreError(path: path, message: "an embedding store of format \(format), newer than this llatte reads "
                              + "(formats 1 to \(EmbeddingStore.formatVersion)): read it with a newer llatte", found: found)
        }
        return StoreError(path: path, message: "not \(kind.named): it is \(found)", found: found)
    }

    /// A read-only `file:` URI for the bytes `path` spells (`%`, `?`, `#`, controls and bytes
    /// above 0x7F percent-encoded, which SQLite decodes back to the bytes), NUL-terminated.
    private static func uri(_ path: String, immutable: Bool) -> [CChar] {
        let hex = Array("0123456789abcdef".utf8)
        var out = Array("file:".utf8) + (path.hasPrefix("/") ? Array("//".utf8) : [])
        for b in PathSpelling.bytes(path) {
            switch b {
            case 0x25, 0x3F, 0x23, 0..<0x20, 0x7F...: out += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out += Array(("?mode=ro" + (immutable ? "&immutable=1" : "")).utf8)
        return out.map { CChar(bitPattern: $0) } + [0]
    }

    /// What this database is, from its tables and meta rows.
    func storeFileKind() throws(StoreError) -> StoreFileKind {
        let s: Statement
        do { s = try prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") } catch {
            if error.code.map({ $0 & 0xFF }) == SQLITE_NOTADB { return .notSQLite }
            throw error
        }
        var tables: [String] = []
        while try s.step() { tables.append(s.text(0)) }
        if tables.contains("store_meta") {
            let m = try prepare("SELECT key, CAST(value AS TEXT) FROM store_meta")
            var meta: [String: String] = [:]
            while try m.step() { meta[m.text(0)] = m.text(1) }
            if meta["kind"] == "llatte-history" { return .historyStore }
            if tables.contains("model_versions") { return .embeddingStore(format: meta["format_version"].flatMap { Int64($0) }) }
        }
        if tables.contains("catalog_meta") && tables.contains("items") { return .catalog }
        return .otherSQLite(tables: tables)
    }
}
