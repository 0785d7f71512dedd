import CSQLite
import Support

/// A failure from SQLite or from a store's own checks, with the database path and what was attempted.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    /// SQLite's result code, or nil for the store's own checks.
    public let code: Int32?
    /// What the file turned out to be, when a reader refused it as not the store it expected.
    public let found: StoreFileKind?

    public init(path: String, message: String, code: Int32? = nil, found: StoreFileKind? = nil) {
        self.path = path
        self.message = message
        self.code = code
        self.found = found
    }

    public var description: String { "\(path): \(message)" }
}

extension StoreError: PathError {
    public var concernedPath: String? { path }
}

/// SQLite's "transient" destructor: SQLite copies bound bytes (the macro does not import into Swift).
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection; closed on deinit. Every return code is checked where it is returned.
public final class Database {
    public let path: String
    let handle: OpaquePointer

    /// Opens (creating if allowed) a database with a busy timeout so writers queue instead of failing.
    public convenience init(path: String, readOnly: Bool = false, create: Bool = true, busyTimeoutMs: Int32 = 10_000) throws(StoreError) {
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        try self.init(path: path, filename: PathSpelling.cString(path), flags: flags, busyTimeoutMs: busyTimeoutMs)
    }

    /// Opens `filename` (NUL-terminated: the path's bytes, or a `file:` URI when `flags` has
    /// SQLITE_OPEN_URI) with `sqlite3_open_v2` flags; `path` (spelled) names the database in errors.
    init(path: String, filename: [CChar], flags: Int32, busyTimeoutMs: Int32) throws(StoreError) {
        self.path = path
        var h: OpaquePointer?
        let rc = sqlite3_open_v2(filename, &h, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let h { sqlite3_close_v2(h) }
            throw StoreError(path: path, message: "cannot open: \(msg)", code: rc)
        }
        handle = h
        sqlite3_busy_timeout(h, busyTimeoutMs)
        sqlite3_extended_result_codes(h, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ rc: Int32, _ what: String) -> StoreError {
        StoreError(path: path, message: "\(what): \(String(cString: sqlite3_errmsg(handle)))", code: rc)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(StoreError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(err)
            throw StoreError(path: path, message: "\(msg) (in: \(sql.prefix(120)))", code: rc)
        }
    }

    public func prepare(_ sql: String) throws(StoreError) -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "prepare \(sql.prefix(120))") }
        return Statement(db: self, stmt: stmt)
    }

    /// Runs `body` in `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Whether no transaction is open (each statement runs in its own).
    public var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    /// Runs `body` inside one read transaction: one consistent snapshot, and one lock for all its
    /// statements instead of a lock and a journal check per statement. Inside an open transaction
    /// it joins that one.
    public func reading<T>(_ body: () throws -> T) throws -> T {
        guard isAutocommit else { return try body() }
        try execute("BEGIN")
        defer { try? execute("COMMIT") }
        return try body()
    }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// A single integer from a query (nil when it returns no row or NULL).
    public func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws(StoreError) -> Int64? {
        let s = try prepare(sql)
        try s.bind(args)
        guard try s.step() else { return nil }
        return s.isNull(0) ? nil : s.int64(0)
    }

    /// Whether a table exists.
    public func tableExists(_ name: String) throws(StoreError) -> Bool {
        try scalarInt("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?", [.text(name)]) ?? 0 > 0
    }
}

/// A value to bind.
public enum SQLValue: Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// A prepared statement; finalized on deinit.
public final class Statement {
    let db: Database
    let stmt: OpaquePointer

    init(db: Database, stmt: OpaquePointer) {
        self.db = db
        self.stmt = stmt
    }

    deinit { sqlite3_finalize(stmt) }

    private func check(_ rc: Int32, _ what: String) throws(StoreError) {
        if rc != SQLITE_OK { throw db.error(rc, what) }
    }

    public func bind(_ i: Int32, _ v: Int64) throws(StoreError) { try check(sqlite3_bind_int64(stmt, i, v), "bind") }
    public func bind(_ i: Int32, _ v: Double) throws(StoreError) { try check(sqlite3_bind_double(stmt, i, v), "bind") }
    public func bind(_ i: Int32, _ v: String) throws(StoreError) { try check(sqlite3_bind_text(stmt, i, v, -1, transient), "bind") }
    public func bindNull(_ i: Int32) throws(StoreError) { try check(sqlite3_bind_null(stmt, i), "bind") }
    public func bind(_ i: Int32, _ v: UnsafeRawBufferPointer) throws(StoreError) {
        // A zero-length blob must still be a blob, not NULL.
        if v.count == 0 { try check(sqlite3_bind_zeroblob(stmt, i, 0), "bind"); return }
        try check(sqlite3_bind_blob(stmt, i, v.baseAddress, Int32(v.count), transient), "bind")
    }
    public func bind(_ i: Int32, _ v: [UInt8]) throws(StoreError) {
        if v.isEmpty { try check(sqlite3_bind_zeroblob(stmt, i, 0), "bind"); return }
        let rc = v.withUnsafeBytes { sqlite3_bind_blob(stmt, i, $0.baseAddress, Int32($0.count), transient) }
        try check(rc, "bind")
    }

    public func bind(_ args: [SQLValue]) throws(StoreError) {
        for (k, a) in args.enumerated() {
            let i = Int32(k + 1)
            switch a {
            case .null: try bindNull(i)
            case let .int(v): try bind(i, v)
            case let .double(v): try bind(i, v)
            case let .text(v): try bind(i, v)
            case let .blob(v): try bind(i, v)
            }
        }
    }

    /// Steps once: true when a row is available, false when done.
    @discardableResult
    public func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw db.error(rc, "step")
    }

    /// Resets for re-execution and clears bindings.
    public func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    /// Binds, runs to completion and resets.
    public func run(_ args: [SQLValue]) throws(StoreError) {
        defer { reset() }
        try bind(args)
        while try step() {}
    }

    public func isNull(_ c: Int32) -> Bool { sqlite3_column_type(stmt, c) == SQLITE_NULL }
    public func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(stmt, c) }
    public func double(_ c: Int32) -> Double { sqlite3_column_double(stmt, c) }
    public func text(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, c) else { return "" }
        return String(cString: p)
    }
    /// The column's bytes, valid until the next step/reset.
    public func blob(_ c: Int32) -> UnsafeRawBufferPointer {
        let p = sqlite3_column_blob(stmt, c)
        let n = Int(sqlite3_column_bytes(stmt, c))
        return UnsafeRawBufferPointer(start: p, count: n)
    }
    public func blobArray(_ c: Int32) -> [UInt8] { Array(blob(c)) }
}
