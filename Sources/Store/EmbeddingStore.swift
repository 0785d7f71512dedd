import Support

/// One stored embedding (docs/store.md): int8 codes, per-interest scales and where they came from.
public struct EmbeddingRow: Sendable, Equatable {
    public var userID: UInt64
    /// K·D codes, interest-major.
    public var codes: [Int8]
    /// K scales.
    public var scales: [Float]
    /// Events that became tokens (≤ n_max).
    public var nEvents: Int
    /// Newest ts of the history encoded; nil for a user with no events.
    public var asOf: Int64?
    public var historyVersion: Int64
    public var computedAt: Int64
    public var runID: Int64

    public init(userID: UInt64, codes: [Int8], scales: [Float], nEvents: Int, asOf: Int64?, historyVersion: Int64,
                computedAt: Int64, runID: Int64) {
        self.userID = userID
        self.codes = codes
        self.scales = scales
        self.nEvents = nEvents
        self.asOf = asOf
        self.historyVersion = historyVersion
        self.computedAt = computedAt
        self.runID = runID
    }

    /// The content that must be bit-identical across runs, resumes and shards (docs/pipelines.md) (not when or by which run).
    public func sameContent(as o: EmbeddingRow) -> Bool {
        userID == o.userID && codes == o.codes && scales.map(\.bitPattern) == o.scales.map(\.bitPattern)
            && nEvents == o.nEvents && asOf == o.asOf && historyVersion == o.historyVersion
    }
}

/// A model version's lifecycle in the embedding store (docs/operations.md): `building` while a
/// backfill writes it or not every shard's backfill has completed, `ready` when complete but not
/// serving, `active` while readers use it (at most one), `retired` once another was promoted.
public enum VersionStatus: String, Sendable, CaseIterable {
    case building, ready, active, retired
}

/// A row of `model_versions`.
public struct ModelVersionInfo: Sendable, Equatable {
    public var version: String
    /// The checkpoint identity (sha256 of config.json + model.safetensors).
    public var identity: String
    public var status: VersionStatus
    /// The version's rowid table.
    public var table: String
    public var interests: Int
    public var interestDim: Int
    /// Rows in the table when last counted (end of each run, promotion).
    public var coverage: Int64
    public var created: Int64
    public var updated: Int64
    /// Absolute path of the checkpoint directory its last backfill read (nil if never recorded):
    /// pipelines that follow the active version load it from here.
    public var checkpointPath: String?
}

/// What one write did.
public struct WriteCounts: Sendable, Equatable {
    /// Rows inserted or replaced.
    public var written = 0
    /// Rows kept because the stored history_version was newer.
    public var keptNewer = 0
    /// Users skipped because they were forgotten.
    public var tombstoned = 0
    /// For each row that replaced an existing one: the mean over interests of cos(old, new),
    /// dequantized (`VersionComparison`'s conventions) — how much re-encoding moved it.
    public var replacedCosines: [Double] = []
    public init() {}
}

/// The embedding store (docs/store.md): SQLite in WAL mode with a busy timeout, one rowid table
/// per model version keyed by the user id bit-cast to a signed 64-bit integer, `model_versions`,
/// tombstones and the failed-user list. docs/store.md documents it for readers.
public final class EmbeddingStore {
    /// 2 added the `ready` status, `model_versions.checkpoint_path`, `version_builds`,
    /// `version_log` and the runs' drift columns; 3 the runs' exit code, version and file counts,
    /// the `locked` status and shared input lists. An older store is migrated when a writer opens it.
    public static let formatVersion: Int64 = 3
    public let path: String
    let db: Database
    /// The format this connection sees: `formatVersion` for a writer (which migrates), the stored
    /// one for a reader, which reads an older store as it is.
    let format: Int64


    /// Opens the store, creating it (and its schema) when `create` is true.
    public init(path: String, create: Bool = true) throws(StoreError) {
        if !create && !Files.exists(path) { throw StoreError(path: path, message: "no embedding store here") }
        self.path = path
        db = try Database(path: path, create: create)
        format = EmbeddingStore.formatVersion
        try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        try db.execute("BEGIN IMMEDIATE")
        do {
            try db.execute("""
                CREATE TABLE IF NOT EXISTS store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                \(EmbeddingStore.modelVersionsTable("model_versions"))
                CREATE TABLE IF NOT EXISTS version_builds(
                    version TEXT NOT NULL, shard TEXT NOT NULL, run_id INTEGER NOT NULL, candidates INTEGER NOT NULL,
                    files_rejected INTEGER NOT NULL, completed_at INTEGER NOT NULL, PRIMARY KEY (version, shard));
                CREATE TABLE IF NOT EXISTS version_log(
                    seq INTEGER PRIMARY KEY, version TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
                    at INTEGER NOT NULL, forced INTEGER NOT NULL DEFAULT 0, by TEXT NOT NULL, reason TEXT);
                CREATE TABLE IF NOT EXISTS tombstones(user_id INTEGER PRIMARY KEY, forgotten_at INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS failed_users(
                    version TEXT NOT NULL, user_id INTEGER NOT NULL, history_version INTEGER NOT NULL,
                    reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (version, user_id));
                \(EmbeddingStore.runsTable("runs"))
                CREATE TABLE IF NOT EXISTS input_files(file_id INTEGER PRIMARY KEY, line TEXT NOT NULL UNIQUE);
                CREATE TABLE IF NOT EXISTS input_sets(set_id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, file_ids BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS run_progress(
                    run_id INTEGER NOT NULL, batch INTEGER NOT NULL, next_user TEXT NOT NULL, selected INTEGER NOT NULL,
                    written INTEGER NOT NULL, failed_users INTEGER NOT NULL, committed_at INTEGER NOT NULL, PRIMARY KEY (run_id, batch));
                CREATE TABLE IF NOT EXISTS merge_progress(
                    version TEXT NOT NULL, source TEXT NOT NULL, fingerprint TEXT NOT NULL, target_table TEXT NOT NULL,
                    next_key INTEGER, done INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (version, source));
                INSERT OR IGNORE INTO store_meta(key, value) VALUES ('format_version', '\(EmbeddingStore.formatVersion)');
                """)
            try migrate()
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        let v = try db.scalarInt("SELECT CAST(value AS INTEGER) FROM store_meta WHERE key = 'format_version'")
        guard v == EmbeddingStore.formatVersion else {
            throw StoreError(path: path, message: "embedding store format \(v.map(String.init) ?? "unknown"), this llatte reads \(EmbeddingStore.formatVersion)")
        }
    }

    /// The `model_versions` table (format 2).
    static func modelVersionsTable(_ name: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(name)(
            version TEXT PRIMARY KEY, identity TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('building', 'ready', 'active', 'retired')),
            table_name TEXT NOT NULL UNIQUE, interests INTEGER NOT NULL, interest_dim INTEGER NOT NULL,
            coverage INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, updated INTEGER NOT NULL, checkpoint_path TEXT);
        """
    }

    /// The `runs` table (format 3): one row per run, its inputs as a shared `input_sets` row.
    static func runsTable(_ name: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(name)(
            run_id INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, shard TEXT NOT NULL, model_version TEXT NOT NULL,
            checkpoint_identity TEXT NOT NULL, inputs TEXT NOT NULL DEFAULT '', input_set INTEGER, catalog_sha256 TEXT NOT NULL,
            cpu_kernel TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'ok', 'failed', 'locked')),
            exit_code INTEGER, llatte_version TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL, pid INTEGER NOT NULL, started INTEGER NOT NULL, finished INTEGER,
            selected INTEGER NOT NULL DEFAULT 0, written INTEGER NOT NULL DEFAULT 0, failed_users INTEGER NOT NULL DEFAULT 0,
            files_ingested INTEGER NOT NULL DEFAULT 0, files_skipped INTEGER NOT NULL DEFAULT 0,
            files_rejected INTEGER NOT NULL DEFAULT 0, records_quarantined INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0, message TEXT,
            replaced_rows INTEGER NOT NULL DEFAULT 0, cos_p1 REAL, cos_p5 REAL, cos_p50 REAL, cos_p95 REAL, cos_p99 REAL);
        """
    }

    /// Migrations, inside the opening transaction (the new tables were created above).
    /// Format 1 → 2: `model_versions` is rebuilt (its status check gains `ready`, a
    /// `checkpoint_path` column is added), `runs` gains the re-encoding drift columns.
    /// Format 2 → 3: `runs` is rebuilt (status `locked`, exit code, llatte version, files ingested
    /// and skipped, inputs by reference to `input_sets`; the old rows keep their inputs text).
    private func migrate() throws(StoreError) {
        guard var v = try db.scalarInt("SELECT CAST(value AS INTEGER) FROM store_meta WHERE key = 'format_version'") else { return }
        if v == 1 { try migrate1to2(); v = 2 }
        if v == 2 {
            let columns = "run_id, pipeline, shard, model_version, checkpoint_identity, inputs, catalog_sha256, cpu_kernel, status, host, pid, started, "
                + "finished, selected, written, failed_users, files_rejected, records_quarantined, seconds, message, replaced_rows, "
                + "cos_p1, cos_p5, cos_p50, cos_p95, cos_p99"
            try db.execute("""
                \(EmbeddingStore.runsTable("runs_3"))
                INSERT INTO runs_3(\(columns)) SELECT \(columns) FROM runs;
                DROP TABLE runs;
                ALTER TABLE runs_3 RENAME TO runs;
                UPDATE store_meta SET value = '3' WHERE key = 'format_version';
                """)
        }
    }

    private func migrate1to2() throws(StoreError) {
        try db.execute("""
            \(EmbeddingStore.modelVersionsTable("model_versions_2"))
            INSERT INTO model_versions_2(version, identity, status, table_name, interests, interest_dim, coverage, created, updated)
                SELECT version, identity, status, table_name, interests, interest_dim, coverage, created, updated FROM model_versions;
            DROP TABLE model_versions;
            ALTER TABLE model_versions_2 RENAME TO model_versions;
            ALTER TABLE runs ADD COLUMN replaced_rows INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE runs ADD COLUMN cos_p1 REAL; ALTER TABLE runs ADD COLUMN cos_p5 REAL; ALTER TABLE runs ADD COLUMN cos_p50 REAL;
            ALTER TABLE runs ADD COLUMN cos_p95 REAL; ALTER TABLE runs ADD COLUMN cos_p99 REAL;
            UPDATE store_meta SET value = '2' WHERE key = 'format_version';
            """)
    }

    /// The format the file is in (a reading connection does not migrate it).
    public func storedFormatVersion() throws(StoreError) -> Int64? {
        try db.scalarInt("SELECT CAST(value AS INTEGER) FROM store_meta WHERE key = 'format_version'")
    }

    /// Opens an existing store for reading only: the open of `llatte get`, `model list|log|compare`
    /// and of a pipeline's stage threads. Read-only, no schema work and no write, so it never waits
    /// for a writer's transaction, and on a file it cannot write it opens it immutable
    /// (`Database.reading`, docs/store.md). Refuses, naming what it is, a file that is not an
    /// embedding store or is one of a newer format (`StoreError.found`); an older format is read
    /// as it is (format 1 has no checkpoint paths, builds or status log).
    public init(readingAt path: String) throws(StoreError) {
        self.path = path
        let (db, found) = try Database.reading(path, as: .embeddingStore)
        self.db = db
        guard case let .embeddingStore(format?) = found else { preconditionFailure("Database.reading accepted \(found)") }
        self.format = format
    }

    /// The underlying connection, for the pipeline's run records committed with the rows.
    public var database: Database { db }

    // MARK: Model versions

    public func version(_ version: String) throws(StoreError) -> ModelVersionInfo? {
        try versions(where: "WHERE version = ?", [.text(version)]).first
    }

    public func versions() throws(StoreError) -> [ModelVersionInfo] {
        try versions(where: "ORDER BY created, version", [])
    }

    private func versions(where clause: String, _ args: [SQLValue]) throws(StoreError) -> [ModelVersionInfo] {
        let s = try db.prepare("""
            SELECT version, identity, status, table_name, interests, interest_dim, coverage, created, updated,
                \(format >= 2 ? "checkpoint_path" : "NULL") FROM model_versions \(clause)
            """)
        try s.bind(args)
        var out: [ModelVersionInfo] = []
        while try s.step() {
            out.append(ModelVersionInfo(version: s.text(0), identity: s.text(1), status: VersionStatus(rawValue: s.text(2)) ?? .retired,
                                        table: s.text(3), interests: Int(s.int64(4)), interestDim: Int(s.int64(5)),
                                        coverage: s.int64(6), created: s.int64(7), updated: s.int64(8),
                                        checkpointPath: s.isNull(9) ? nil : s.text(9)))
        }
        return out
    }

    /// The version's info, creating it as `building` with an empty table if it is new. The same
    /// version with another checkpoint identity (or output shape) is refused. `checkpointPath`,
    /// when given, is recorded as where the version's checkpoint lives.
    public func ensureVersion(_ version: String, identity: String, interests: Int, interestDim: Int,
                              checkpointPath: String? = nil) throws -> ModelVersionInfo {
        try db.transaction { () throws -> ModelVersionInfo in
            if let v = try self.version(version) {
                guard v.identity == identity else {
                    throw StoreError(path: path, message: "model version \(version) belongs to checkpoint \(v.identity.prefix(16))…, not \(identity.prefix(16))…; give the new checkpoint its own model_version")
                }
                guard v.interests == interests, v.interestDim == interestDim else {
                    throw StoreError(path: path, message: "model version \(version) stores \(v.interests)×\(v.interestDim) embeddings, not \(interests)×\(interestDim)")
                }
                if let checkpointPath, checkpointPath != v.checkpointPath {
                    try db.prepare("UPDATE model_versions SET checkpoint_path = ? WHERE version = ?").run([.text(checkpointPath), .text(version)])
                }
                return try self.version(version)!
            }
            let now = wallClockSeconds()
            var id = (try db.scalarInt("SELECT coalesce(max(rowid), 0) + 1 FROM model_versions")) ?? 1
            while try db.tableExists("emb_\(id)") { id += 1 }
            let table = "emb_\(id)"
            try db.execute("""
                CREATE TABLE \(table)(
                    user_id INTEGER PRIMARY KEY, codes BLOB NOT NULL, scales BLOB NOT NULL, n_events INTEGER NOT NULL,
                    as_of INTEGER, history_version INTEGER NOT NULL, computed_at INTEGER NOT NULL, run_id INTEGER NOT NULL)
                """)
            try db.prepare("""
                INSERT INTO model_versions(version, identity, status, table_name, interests, interest_dim, coverage, created, updated, checkpoint_path)
                VALUES (?, ?, 'building', ?, ?, ?, 0, ?, ?, ?)
                """).run([.text(version), .text(identity), .text(table), .int(Int64(interests)), .int(Int64(interestDim)), .int(now), .int(now),
                          checkpointPath.map { .text($0) } ?? .null])
            try logTransition(version, from: nil, to: VersionStatus.building.rawValue, forced: false, by: "created", reason: nil)
            return try self.version(version)!
        }
    }

    /// Recounts a version's rows into `coverage`.
    public func updateCoverage(_ version: String) throws {
        guard let v = try self.version(version) else { return }
        let rows = try db.scalarInt("SELECT count(*) FROM \(v.table)") ?? 0
        try db.prepare("UPDATE model_versions SET coverage = ?, updated = ? WHERE version = ?").run([.int(rows), .int(wallClockSeconds()), .text(version)])
    }

    // MARK: Rows

    /// Upserts rows (ascending user id; the caller sorts) under the upsert rule of docs/pipelines.md — a row is
    /// replaced only by one with history_version ≥ the stored one — skipping forgotten users. Runs
    /// inside the caller's transaction when one is open (`db.transaction`), so run progress can
    /// commit with the rows.
    public func upsert(_ rows: [EmbeddingRow], into v: ModelVersionInfo) throws(StoreError) -> WriteCounts {
        guard !rows.isEmpty else { return WriteCounts() }
        return try VersionWriter(db, v).write(rows)
    }

    /// Records users whose encoding failed, with the history_version tried (skipped until it grows).
    public func recordFailures(_ failures: [(userID: UInt64, historyVersion: Int64, reason: String)], version: String) throws(StoreError) {
        let s = try db.prepare("""
            INSERT INTO failed_users(version, user_id, history_version, reason, at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(version, user_id) DO UPDATE SET history_version = excluded.history_version, reason = excluded.reason, at = excluded.at
            """)
        for f in failures {
            try s.run([.text(version), .int(Int64(bitPattern: f.userID)), .int(f.historyVersion), .text(f.reason), .int(wallClockSeconds())])
        }
    }

    /// One user's row in a version, if any.
    public func row(_ user: UInt64, version: String) throws(StoreError) -> EmbeddingRow? {
        guard let v = try self.version(version) else { throw StoreError(path: path, message: "no model version \(version)") }
        let s = try db.prepare("SELECT user_id, codes, scales, n_events, as_of, history_version, computed_at, run_id FROM \(v.table) WHERE user_id = ?")
        try s.bind([.int(Int64(bitPattern: user))])
        guard try s.step() else { return nil }
        return try decodeRow(s, v)
    }

    /// Users' rows in a version, in the order asked (nil for a user without one); one prepared
    /// statement for all, inside the caller's read transaction when one is open.
    public func rows(_ users: [UInt64], version: String) throws(StoreError) -> [EmbeddingRow?] {
        guard let v = try self.version(version) else { throw StoreError(path: path, message: "no model version \(version)") }
        let s = try db.prepare("SELECT user_id, codes, scales, n_events, as_of, history_version, computed_at, run_id FROM \(v.table) WHERE user_id = ?")
        var out: [EmbeddingRow?] = []
        out.reserveCapacity(users.count)
        for u in users {
            try s.bind([.int(Int64(bitPattern: u))])
            out.append(try s.step() ? try decodeRow(s, v) : nil)
            s.reset()
        }
        return out
    }

    /// Every row of a version in user-id (signed key) order, in memory; for tests and small stores.
    public func rows(version: String) throws(StoreError) -> [EmbeddingRow] {
        guard let v = try self.version(version) else { throw StoreError(path: path, message: "no model version \(version)") }
        let s = try db.prepare("SELECT user_id, codes, scales, n_events, as_of, history_version, computed_at, run_id FROM \(v.table) ORDER BY user_id")
        var out: [EmbeddingRow] = []
        while try s.step() { out.append(try decodeRow(s, v)) }
        return out
    }

    func decodeRow(_ s: Statement, _ v: ModelVersionInfo) throws(StoreError) -> EmbeddingRow {
        let codes = s.blob(1), scales = s.blob(2)
        guard codes.count == v.interests * v.interestDim, scales.count == 4 * v.interests else {
            throw StoreError(path: path, message: "user \(UInt64(bitPattern: s.int64(0))): blob sizes \(codes.count)/\(scales.count) do not match \(v.interests)×\(v.interestDim)")
        }
        return EmbeddingRow(userID: UInt64(bitPattern: s.int64(0)), codes: codes.map { Int8(bitPattern: $0) },
                            scales: (0..<v.interests).map { Float(bitPattern: UInt32(littleEndian: scales.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) },
                            nEvents: Int(s.int64(3)), asOf: s.isNull(4) ? nil : s.int64(4), historyVersion: s.int64(5),
                            computedAt: s.int64(6), runID: s.int64(7))
    }

    /// Stored history_version of each given user that has a row (or a recorded failure, with
    /// `failed` true) in a version: what selection compares against the history store.
    public func storedVersions(version v: ModelVersionInfo, from lo: UInt64, through hi: UInt64) throws(StoreError) -> [UInt64: (historyVersion: Int64, failed: Bool)] {
        var out: [UInt64: (Int64, Bool)] = [:]
        // Unsigned ranges map to one or two signed key ranges.
        for (a, b) in signedRanges(lo, hi) {
            let s = try db.prepare("SELECT user_id, history_version FROM \(v.table) WHERE user_id BETWEEN ? AND ?")
            try s.bind([.int(a), .int(b)])
            while try s.step() { out[UInt64(bitPattern: s.int64(0))] = (s.int64(1), false) }
            let f = try db.prepare("SELECT user_id, history_version FROM failed_users WHERE version = ? AND user_id BETWEEN ? AND ?")
            try f.bind([.text(v.version), .int(a), .int(b)])
            while try f.step() {
                let u = UInt64(bitPattern: f.int64(0))
                if out[u] == nil { out[u] = (f.int64(1), true) }
            }
        }
        return out
    }

    /// Whether a user was forgotten.
    public func isTombstoned(_ user: UInt64) throws(StoreError) -> Bool {
        try db.scalarInt("SELECT 1 FROM tombstones WHERE user_id = ?", [.int(Int64(bitPattern: user))]) != nil
    }

    /// Deletes the user from every version and records a tombstone that writes honour.
    public func forget(_ user: UInt64) throws {
        try db.transaction { try tombstone([(Int64(bitPattern: user), wallClockSeconds())]) }
    }

    /// Inside a transaction: removes these users' rows everywhere and records their tombstones.
    func tombstone(_ users: [(key: Int64, at: Int64)]) throws(StoreError) {
        guard !users.isEmpty else { return }
        let deletes = try versions().map { v throws(StoreError) in try db.prepare("DELETE FROM \(v.table) WHERE user_id = ?") }
        let failure = try db.prepare("DELETE FROM failed_users WHERE user_id = ?")
        let insert = try db.prepare("INSERT OR IGNORE INTO tombstones(user_id, forgotten_at) VALUES (?, ?)")
        for (key, at) in users {
            for d in deletes { try d.run([.int(key)]) }
            try failure.run([.int(key)])
            try insert.run([.int(key), .int(at)])
        }
    }
}

/// Mean over the K interests of cos(a_k, b_k) of two stored rows (codes [K·D] int8 bytes, scales
/// [K] little-endian f32 bytes), dequantized in Double.
func meanCosine(_ codesA: [UInt8], _ scalesA: [UInt8], _ codesB: [UInt8], _ scalesB: [UInt8], _ k: Int, _ d: Int) -> Double {
    func dequantize(_ codes: [UInt8], _ scales: [UInt8]) -> [Double] {
        var out = [Double](repeating: 0, count: k * d)
        _ = codes.withUnsafeBytes { c in scales.withUnsafeBytes { s in
            VersionComparison.dequantize(codes: c, scales: s, interests: k, interestDim: d, into: &out)
        } }
        return out
    }
    let a = dequantize(codesA, scalesA), b = dequantize(codesB, scalesB)
    return (0..<k).reduce(0.0) { $0 + VersionComparison.cosine(a, $1, b, $1, d) } / Double(k)
}

/// Signed-key ranges covering the unsigned range [lo, hi] (ids ≥ 2^63 are stored as negatives).
func signedRanges(_ lo: UInt64, _ hi: UInt64) -> [(Int64, Int64)] {
    precondition(lo <= hi)
    let split: UInt64 = 1 << 63
    if hi < split { return [(Int64(lo), Int64(hi))] }
    if lo >= split { return [(Int64(bitPattern: lo), Int64(bitPattern: hi))] }
    return [(Int64(lo), Int64.max), (Int64.min, Int64(bitPattern: hi))]
}

extension EmbeddingStore {
    /// The version nightly and refresh write to and readers default to: the active one, if any.
    public func activeVersion() throws(StoreError) -> ModelVersionInfo? {
        try versions().first { $0.status == .active }
    }
}
