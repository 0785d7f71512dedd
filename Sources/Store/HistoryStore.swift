import Events
import Support

/// A file the history store has ingested: the ledger row, keyed by the sha256 of its decompressed content.
public struct LedgerEntry: Sendable, Equatable {
    public var digest: Digest32
    public var path: String
    public var ingestSeq: Int64
    public var lines: Int
    public var events: Int
    public var newEvents: Int
    public var duplicates: Int
    public var quarantined: Int
    public var ingestedAt: Int64
    /// Size and modification time of the file when it was read: a file unchanged since then is skipped unread.
    public var fileSize: Int64
    public var mtimeNs: Int64

    public init(digest: Digest32, path: String, ingestSeq: Int64, lines: Int, events: Int, newEvents: Int, duplicates: Int,
                quarantined: Int, ingestedAt: Int64, fileSize: Int64, mtimeNs: Int64) {
        self.digest = digest
        self.path = path
        self.ingestSeq = ingestSeq
        self.lines = lines
        self.events = events
        self.newEvents = newEvents
        self.duplicates = duplicates
        self.quarantined = quarantined
        self.ingestedAt = ingestedAt
        self.fileSize = fileSize
        self.mtimeNs = mtimeNs
    }
}

/// Per-user counters of the history store (docs/data.md).
public struct UserState: Sendable, Equatable {
    public var userID: UInt64
    /// Distinct events ever ingested for the user; only grows.
    public var historyVersion: Int64
    /// history_version right after the user's most recently ingested conversion (0: none).
    public var lastConversionVersion: Int64
    /// Events physically stored (retained ones, plus any not yet evicted by compaction).
    public var storedEvents: Int
    public var chunks: Int
    public var maxTs: Int64?
    /// Ingest sequence of the last file that added events for the user.
    public var lastIngestSeq: Int64
}

/// A user's retained history, read in one transaction with its versions.
public struct UserHistory: Sendable {
    public var state: UserState
    /// The latest `retention_cap` events in history order.
    public var events: [StoredEvent]
    /// The newest ts (nil when there are no events).
    public var asOf: Int64? { events.last?.ts }
}

/// What one batch added to the store.
public struct AppendCounts: Sendable, Equatable {
    public var newEvents = 0
    public var duplicates = 0
    /// Events of forgotten (tombstoned) users, dropped.
    public var tombstoned = 0
    public var usersTouched = 0
    /// The append stopped early because `shouldStop` said so: part of the batch is written, and
    /// the file's transaction must be rolled back.
    public var stopped = false
    public init() {}
}

/// The model-independent history store (docs/data.md): per-user histories as compact
/// LZ4 packed chunks, a type/surface dictionary, the ledger of ingested files, the user-features
/// snapshot, tombstones, and the settings fixed at creation.
///
/// Appending a file adds one chunk per touched user instead of rewriting the history; a user's
/// chunks are merged (and retention applied) only when there are more than `maxChunks` of them or
/// the stored events pass the cap by a slack, so the rewrite cost is amortized.
public final class HistoryStore {
    /// The schema this llatte writes; a store of version 1 is migrated when opened for writing.
    public static let schemaVersion: Int64 = 2
    /// Schemas this llatte reads (a read-only open reads a version-1 store as it is).
    static let readableSchemaVersions: Set<Int64> = [1, 2]
    /// Page size of a new store's file, in bytes.
    static let pageSize = 16384
    /// Chunks per user before they are merged into one.
    public static let maxChunks = 16

    public let path: String
    public let settings: HistorySettings
    let db: Database
    private var dictionary: [[UInt8]: UInt32] = [:]
    private var dictionaryEntries: [(kind: DictionaryKind, bytes: [UInt8])] = []
    private let conversionBytes: Set<[UInt8]>

    /// Which vocabulary a dictionary entry belongs to.
    public enum DictionaryKind: Int64, Sendable { case type = 0, surface = 1 }

    /// Opens the store at `path`, creating it with `settings` if it does not exist. If it exists and
    /// `settings` is given, they must equal the recorded ones (a disagreeing pipeline is refused).
    public init(path: String, settings: HistorySettings?) throws(StoreError) {
        self.path = path
        let existed = Files.exists(path)
        if !existed && settings == nil {
            throw StoreError(path: path, message: "no history store here; creating one needs its settings (conversion_types, min_ts, max_ts, retention_cap)")
        }
        if let settings, let problem = settings.validationError() {
            throw StoreError(path: path, message: "invalid history store settings: \(problem)")
        }
        db = try Database(path: path)
        // Fixed when the file is first written: 16 KiB pages make fewer, larger page reads and
        // writes than SQLite's default 4 KiB for the same chunks (docs/performance.md).
        if !existed { try db.execute("PRAGMA page_size = \(HistoryStore.pageSize)") }
        try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
        if try !db.tableExists("store_meta") {
            guard let settings else {
                throw StoreError(path: path, message: "not an llatte history store (no store_meta table)")
            }
            try HistoryStore.createSchema(db, settings: settings)
        }
        // Added after format 1 without changing it (older llatte ignore the table): where known
        // content was seen again under a new size or time, so it is not re-read every run.
        try db.execute("""
            CREATE TABLE IF NOT EXISTS file_sightings(path TEXT NOT NULL, file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                sha256 BLOB NOT NULL, PRIMARY KEY (path, file_size, mtime_ns))
            """)
        let (recorded, version) = try HistoryStore.readSettings(db, path: path)
        if version < HistoryStore.schemaVersion { try HistoryStore.migrateFromVersion1(db) }
        if let settings {
            let diff = recorded.differences(from: settings)
            if !diff.isEmpty {
                throw StoreError(path: path, message: "pipeline settings disagree with the history store's (fixed at creation): " + diff.joined(separator: "; "))
            }
        }
        self.settings = recorded
        conversionBytes = Set(recorded.conversionTypes.map { Array($0.utf8) })
        try loadDictionary()
    }

    /// Opens an existing store for reading only (`llatte stats`, `llatte encode`): read-only, no
    /// pragma that writes, no schema work, immutable on a file it cannot write (`Database.reading`,
    /// docs/store.md), so it never waits for an ingest. Refuses, naming what it is, a file that is
    /// not a history store (`StoreError.found`). Its write methods fail: the connection is read-only.
    public init(readingAt path: String) throws(StoreError) {
        self.path = path
        db = try Database.reading(path, as: .historyStore).db
        settings = try HistoryStore.readSettings(db, path: path).settings
        conversionBytes = Set(settings.conversionTypes.map { Array($0.utf8) })
        try loadDictionary()
    }

    private static func createSchema(_ db: Database, settings: HistorySettings) throws(StoreError) {
        var types = JSONWriter()
        types.raw("[")
        for (k, t) in settings.conversionTypes.enumerated() {
            if k > 0 { types.raw(",") }
            types.string(t)
        }
        types.raw("]")
        do {
            try db.transaction {
                try db.execute("""
                    CREATE TABLE store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE dictionary(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, bytes BLOB NOT NULL, UNIQUE(kind, bytes));
                    CREATE TABLE files(sha256 BLOB PRIMARY KEY, path TEXT NOT NULL, ingest_seq INTEGER NOT NULL UNIQUE,
                        lines INTEGER NOT NULL, events INTEGER NOT NULL, new_events INTEGER NOT NULL,
                        duplicates INTEGER NOT NULL, quarantined INTEGER NOT NULL, ingested_at INTEGER NOT NULL,
                        file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
                    CREATE INDEX files_by_path ON files(path);
                    CREATE TABLE users(user_id INTEGER PRIMARY KEY, history_version INTEGER NOT NULL,
                        last_conversion_version INTEGER NOT NULL, stored_events INTEGER NOT NULL, chunks INTEGER NOT NULL,
                        max_ts INTEGER, last_ingest_seq INTEGER NOT NULL, evicted BLOB, evicted_ids BLOB);
                    \(chunksTable)
                    CREATE TABLE feature_snapshots(snapshot INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE, path TEXT NOT NULL,
                        records INTEGER NOT NULL, quarantined INTEGER NOT NULL, ingested_at INTEGER NOT NULL);
                    CREATE TABLE user_features(user_id INTEGER PRIMARY KEY, snapshot INTEGER NOT NULL, record BLOB NOT NULL);
                    CREATE TABLE tombstones(user_id INTEGER PRIMARY KEY, forgotten_at INTEGER NOT NULL);
                    """)
                let s = try db.prepare("INSERT INTO store_meta(key, value) VALUES (?, ?)")
                try s.run([.text("kind"), .text("llatte-history")])
                try s.run([.text("schema_version"), .text(String(schemaVersion))])
                try s.run([.text("conversion_types"), .text(String(decoding: types.bytes, as: UTF8.self))])
                try s.run([.text("min_ts"), .text(String(settings.minTs))])
                try s.run([.text("max_ts"), .text(String(settings.maxTs))])
                try s.run([.text("retention_cap"), .text(String(settings.retentionCap))])
                try s.run([.text("created_at"), .text(String(wallClockSeconds()))])
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(path: db.path, message: "creating schema: \(error)")
        }
    }

    /// The chunk table of schema 2: `ids` (the chunk's `IDFingerprints`) comes before `data`, so
    /// reading it does not go through the pages of a large `data` blob.
    static let chunksTable = """
        CREATE TABLE history_chunks(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, events INTEGER NOT NULL, ids BLOB NOT NULL, data BLOB NOT NULL);
        CREATE INDEX history_chunks_by_user ON history_chunks(user_id, id);
        """

    /// Migrates a schema-1 store to schema 2 in one transaction: every chunk gets the fingerprints
    /// of its ids, and every user with evicted ids their fingerprints. Ids and rowids are kept.
    static func migrateFromVersion1(_ db: Database) throws(StoreError) {
        do {
            try db.transaction {
                // Another writer may have migrated it while this one waited for the lock.
                guard try db.scalarInt("SELECT count(*) FROM store_meta WHERE key = 'schema_version' AND value = '1'") == 1 else { return }
                try db.execute("ALTER TABLE history_chunks RENAME TO history_chunks_v1; DROP INDEX history_chunks_by_user;" + chunksTable)
                let read = try db.prepare("SELECT id, user_id, events, data FROM history_chunks_v1 ORDER BY id")
                let insert = try db.prepare("INSERT INTO history_chunks(id, user_id, events, ids, data) VALUES (?, ?, ?, ?, ?)")
                while try read.step() {
                    let events = try PackedHistory.unpack(read.blob(3))
                    try insert.run([.int(read.int64(0)), .int(read.int64(1)), .int(read.int64(2)),
                                    .blob(IDFingerprints.pack(ids: events.lazy.map(\.eventID))), .blob(read.blobArray(3))])
                }
                try db.execute("DROP TABLE history_chunks_v1; ALTER TABLE users ADD COLUMN evicted_ids BLOB;")
                let evicted = try db.prepare("SELECT user_id, evicted FROM users WHERE evicted IS NOT NULL")
                let update = try db.prepare("UPDATE users SET evicted_ids = ? WHERE user_id = ?")
                while try evicted.step() {
                    let ids = try PackedHistory.unpackIDs(evicted.blobArray(1))
                    try update.run([.blob(IDFingerprints.pack(ids: ids)), .int(evicted.int64(0))])
                }
                try db.execute("UPDATE store_meta SET value = '\(schemaVersion)' WHERE key = 'schema_version'")
            }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(path: db.path, message: "migrating the history store from schema_version 1 to \(schemaVersion): \(error)")
        }
    }

    private static func readSettings(_ db: Database, path: String) throws(StoreError) -> (settings: HistorySettings, version: Int64) {
        let s = try db.prepare("SELECT key, value FROM store_meta")
        var m: [String: String] = [:]
        while try s.step() { m[s.text(0)] = s.text(1) }
        guard m["kind"] == "llatte-history" else { throw StoreError(path: path, message: "not an llatte history store") }
        guard let version = m["schema_version"].flatMap({ Int64($0) }), readableSchemaVersions.contains(version) else {
            throw StoreError(path: path, message: "history store schema_version \(m["schema_version"] ?? "absent"); this llatte reads \(readableSchemaVersions.sorted().map(String.init).joined(separator: " and "))")
        }
        guard let typesText = m["conversion_types"], let types = try? JSONValue.parse(Array(typesText.utf8)).arrayValue,
              let minTs = m["min_ts"].flatMap({ Int64($0) }), let maxTs = m["max_ts"].flatMap({ Int64($0) }),
              let cap = m["retention_cap"].flatMap({ Int($0) }) else {
            throw StoreError(path: path, message: "history store settings are damaged")
        }
        return (HistorySettings(conversionTypes: types.compactMap { $0.stringValue }, minTs: minTs, maxTs: maxTs, retentionCap: cap), version)
    }

    // MARK: - Dictionary

    private func dictionaryKey(_ kind: DictionaryKind, _ bytes: [UInt8]) -> [UInt8] { [UInt8(kind.rawValue)] + bytes }

    private func loadDictionary() throws(StoreError) {
        dictionary = [:]
        dictionaryEntries = []
        let s = try db.prepare("SELECT id, kind, bytes FROM dictionary ORDER BY id")
        while try s.step() {
            let id = s.int64(0)
            guard id == Int64(dictionaryEntries.count), let kind = DictionaryKind(rawValue: s.int64(1)) else {
                throw StoreError(path: path, message: "dictionary table is damaged (ids must be dense from 0)")
            }
            let b = s.blobArray(2)
            dictionaryEntries.append((kind, b))
            dictionary[dictionaryKey(kind, b)] = UInt32(id)
        }
    }

    /// The dictionary id of a type or surface string, adding it inside the current transaction.
    private func dictionaryID(_ kind: DictionaryKind, _ bytes: [UInt8]) throws(StoreError) -> UInt32 {
        let key = dictionaryKey(kind, bytes)
        if let id = dictionary[key] { return id }
        let id = UInt32(dictionaryEntries.count)
        let s = try db.prepare("INSERT INTO dictionary(id, kind, bytes) VALUES (?, ?, ?)")
        try s.run([.int(Int64(id)), .int(kind.rawValue), .blob(bytes)])
        dictionaryEntries.append((kind, bytes))
        dictionary[key] = id
        return id
    }

    /// The bytes of a dictionary entry. Another process's ingest may have added entries since this
    /// connection loaded the dictionary (a backfill runs while refreshes ingest): an id beyond the
    /// loaded ones reloads it (entries are only ever appended); one still unknown is damage.
    public func dictionaryBytes(_ id: UInt32) throws(StoreError) -> [UInt8] {
        if Int(id) >= dictionaryEntries.count { try loadDictionary() }
        guard Int(id) < dictionaryEntries.count else {
            throw StoreError(path: path, message: "dictionary id \(id) is not in the dictionary table (\(dictionaryEntries.count) entries): the store is damaged")
        }
        return dictionaryEntries[Int(id)].bytes
    }

    /// The dictionary entries of one kind, as (id, bytes).
    public func dictionary(_ kind: DictionaryKind) -> [(id: UInt32, bytes: [UInt8])] {
        dictionaryEntries.enumerated().filter { $0.element.kind == kind }.map { (UInt32($0.offset), $0.element.bytes) }
    }

    // MARK: - Ledger and file transactions

    /// The ledger row of a content hash, if that content was ingested.
    public func ledgerEntry(_ digest: Digest32) throws(StoreError) -> LedgerEntry? {
        let s = try db.prepare("SELECT \(HistoryStore.ledgerColumns) FROM files WHERE sha256 = ?")
        try s.bind([.blob(digest.bytes)])
        return try s.step() ? ledgerRow(s) : nil
    }

    static let ledgerColumns = "sha256, path, ingest_seq, lines, events, new_events, duplicates, quarantined, ingested_at, file_size, mtime_ns"

    /// The ledger row of a file at `path` with this size and mtime, if one was ingested unchanged.
    public func ledgerEntry(path filePath: String, fileSize: Int64, mtimeNs: Int64) throws(StoreError) -> LedgerEntry? {
        let s = try db.prepare("SELECT \(HistoryStore.ledgerColumns) FROM files WHERE path = ? AND file_size = ? AND mtime_ns = ? ORDER BY ingest_seq DESC LIMIT 1")
        try s.bind([.text(filePath), .int(fileSize), .int(mtimeNs)])
        if try s.step() { return ledgerRow(s) }
        // Content already ingested, seen again at this path with this size and time (touched, copied).
        guard try db.tableExists("file_sightings") else { return nil }
        let seen = try db.prepare("""
            SELECT \(HistoryStore.ledgerColumns.split(separator: ",").map { "files." + $0.filter { $0 != " " } }.joined(separator: ", "))
            FROM file_sightings JOIN files USING (sha256) WHERE file_sightings.path = ? AND file_sightings.file_size = ? AND file_sightings.mtime_ns = ?
            """)
        try seen.bind([.text(filePath), .int(fileSize), .int(mtimeNs)])
        return try seen.step() ? ledgerRow(seen) : nil
    }

    /// Records that content already in the ledger was read at `path` with this size and time, so
    /// the next run knows it without reading it.
    public func recordSighting(path filePath: String, fileSize: Int64, mtimeNs: Int64, digest: Digest32) throws(StoreError) {
        try db.prepare("INSERT OR REPLACE INTO file_sightings(path, file_size, mtime_ns, sha256) VALUES (?, ?, ?, ?)")
            .run([.text(filePath), .int(fileSize), .int(mtimeNs), .blob(digest.bytes)])
    }

    /// Ledger rows of files ingested from `path`, oldest first.
    public func ledgerEntries(path filePath: String) throws(StoreError) -> [LedgerEntry] {
        let s = try db.prepare("SELECT \(HistoryStore.ledgerColumns) FROM files WHERE path = ? ORDER BY ingest_seq")
        try s.bind([.text(filePath)])
        var out: [LedgerEntry] = []
        while try s.step() { out.append(ledgerRow(s)) }
        return out
    }

    private func ledgerRow(_ s: Statement) -> LedgerEntry {
        LedgerEntry(digest: Digest32(bytes: s.blobArray(0)), path: s.text(1), ingestSeq: s.int64(2), lines: Int(s.int64(3)),
                    events: Int(s.int64(4)), newEvents: Int(s.int64(5)), duplicates: Int(s.int64(6)),
                    quarantined: Int(s.int64(7)), ingestedAt: s.int64(8), fileSize: s.int64(9), mtimeNs: s.int64(10))
    }

    /// Starts the transaction a whole file is ingested in; returns its ingest sequence number.
    public func beginFile() throws(StoreError) -> Int64 {
        try db.execute("BEGIN IMMEDIATE")
        return (try db.scalarInt("SELECT coalesce(max(ingest_seq), 0) + 1 FROM files")) ?? 1
    }

    /// Commits the file's events together with its ledger row.
    public func commitFile(_ entry: LedgerEntry) throws(StoreError) {
        let s = try db.prepare("INSERT INTO files(\(HistoryStore.ledgerColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
        try s.run([.blob(entry.digest.bytes), .text(entry.path), .int(entry.ingestSeq), .int(Int64(entry.lines)),
                   .int(Int64(entry.events)), .int(Int64(entry.newEvents)), .int(Int64(entry.duplicates)),
                   .int(Int64(entry.quarantined)), .int(entry.ingestedAt), .int(entry.fileSize), .int(entry.mtimeNs)])
        try db.execute("COMMIT")
    }

    /// Abandons the file's transaction (rejected, already known, or failed).
    public func rollbackFile() {
        try? db.execute("ROLLBACK")
        // Dictionary entries added inside the transaction are gone too.
        try? loadDictionary()
    }

    // MARK: - Appending events

    /// Adds a batch of one file's events (inside `beginFile`/`commitFile`): deduplicates by
    /// (user_id, event_id) against everything ever ingested, advances history_version and
    /// last_conversion_version in file order, and appends one sorted chunk per touched user.
    /// `shouldStop` is asked every 256 users; when it says yes the append returns with `stopped`.
    public func append(_ batch: EventBatch, vocabulary: EventVocabulary, ingestSeq: Int64,
                       shouldStop: () -> Bool = { false }) throws(StoreError) -> AppendCounts {
        var counts = AppendCounts()
        guard batch.count > 0 else { return counts }
        // Map the batch's vocabulary to store dictionary ids.
        var typeIDs: [UInt32] = []
        var isConversion: [Bool] = []
        for t in vocabulary.types {
            typeIDs.append(try dictionaryID(.type, t))
            isConversion.append(conversionBytes.contains(t))
        }
        var surfaceIDs: [UInt32] = []
        for s in vocabulary.surfaces { surfaceIDs.append(try dictionaryID(.surface, s)) }

        let events = batch.events
        let groups = UserGroups(count: events.count) { events[$0].userID }
        let reads = try statements()
        let stmts = try reads.append
        let forgotten = try tombstones()
        let cap = settings.retentionCap
        let slack = max(64, cap / 4)
        for (g, user) in groups.users.enumerated() {
            // A signal is noticed within a few hundred users (milliseconds), not after the whole batch.
            if (g + 1) & 255 == 0 && shouldStop() {
                counts.stopped = true
                return counts
            }
            let group = groups.events(ofGroup: g)
            if !forgotten.isEmpty && forgotten.contains(user) {
                counts.tombstoned += group.count
                continue
            }
            // The group's distinct ids in file order (the first occurrence wins), and their
            // fingerprints: distinct fingerprints are distinct ids, so the ids themselves are
            // compared only when two fingerprints are equal.
            var fresh: [(index: Int, id: EventID)] = []
            var probes: [UInt32] = []
            fresh.reserveCapacity(group.count)
            probes.reserveCapacity(group.count)
            for index in group {
                let i = Int(index)
                let id = batch.eventID(events[i])
                fresh.append((i, id))
                probes.append(IDFingerprints.of(id))
            }
            probes.sort()
            if zip(probes, probes.dropFirst()).contains(where: { $0 == $1 }) {
                var seen = Set<EventID>(minimumCapacity: fresh.count)
                fresh = fresh.filter { seen.insert($0.id).inserted }
                counts.duplicates += group.count - fresh.count
                probes = fresh.map { IDFingerprints.of($0.id) }.sorted()
            }
            var groupIDs: Set<EventID> { Set(fresh.lazy.map(\.id)) }
            let known = try userState(user, reads)
            var state = known ?? UserState(userID: user, historyVersion: 0, lastConversionVersion: 0,
                                           storedEvents: 0, chunks: 0, maxTs: nil, lastIngestSeq: 0)
            // Ids already in the store (retained or evicted) win over the batch's.
            let compact = known != nil && (state.chunks + 1 > HistoryStore.maxChunks || state.storedEvents + fresh.count > cap + slack)
            var existing: [StoredEvent] = []
            var evictedBlob: [UInt8]?
            var already = Set<EventID>()
            if known != nil {
                if compact {
                    let ids = groupIDs
                    existing = try loadChunks(user, reads)
                    for e in existing where ids.contains(e.eventID) { already.insert(e.eventID) }
                    evictedBlob = try loadEvictedBlob(user, stmts)
                    if let evictedBlob { try IDLookup(ids).collect(in: evictedBlob, path: path, user: user, into: &already) }
                } else {
                    // Only chunks whose fingerprints meet a new id's are read, to confirm on the ids.
                    let chunks = try candidateChunks(user, probes, stmts)
                    let evictedHit = try evictedCandidates(user, probes, stmts)
                    if !chunks.isEmpty || evictedHit {
                        let wanted = IDLookup(groupIDs)
                        for chunk in chunks {
                            try forEachBlob(stmts.chunkData, chunk) { (blob) throws(StoreError) in try wanted.collect(in: blob, path: path, user: user, into: &already) }
                        }
                        if evictedHit {
                            evictedBlob = try loadEvictedBlob(user, stmts)
                            if let evictedBlob { try wanted.collect(in: evictedBlob, path: path, user: user, into: &already) }
                        }
                    }
                }
            }
            var added: [StoredEvent] = []
            added.reserveCapacity(fresh.count)
            for (i, id) in fresh {
                if !already.isEmpty && already.contains(id) {
                    counts.duplicates += 1
                    continue
                }
                let e = events[i]
                state.historyVersion += 1
                if isConversion[Int(e.type)] { state.lastConversionVersion = state.historyVersion }
                added.append(StoredEvent(ts: e.ts, itemID: e.itemID, eventID: id, type: typeIDs[Int(e.type)],
                                         surface: surfaceIDs[Int(e.surface)], dwellMs: e.dwellMs, value: e.value))
            }
            guard !added.isEmpty else { continue }
            counts.newEvents += added.count
            counts.usersTouched += 1
            added.sortInHistoryOrder()
            state.maxTs = max(state.maxTs ?? added.last!.ts, added.last!.ts)
            state.lastIngestSeq = ingestSeq
            if compact {
                // Merge everything, keep the latest `cap`, remember the ids of the rest.
                var all = existing + added
                all.sortInHistoryOrder()
                var evicted: [EventID] = []
                if let evictedBlob {
                    do { evicted = try PackedHistory.unpackIDs(evictedBlob) } catch {
                        throw StoreError(path: path, message: "user \(user) evicted ids: \(error)")
                    }
                }
                if all.count > cap {
                    let drop = all.count - cap
                    evicted.append(contentsOf: all[0..<drop].map { $0.eventID })
                    all.removeFirst(drop)
                }
                try stmts.deleteChunks.run([.int(user.bitcastSigned)])
                try stmts.insertChunk.run([.int(user.bitcastSigned), .int(Int64(all.count)),
                                           .blob(IDFingerprints.pack(ids: all.lazy.map(\.eventID))), .blob(PackedHistory.pack(all))])
                state.storedEvents = all.count
                state.chunks = 1
                var row = userRow(state, evicted: evicted.isEmpty ? nil : PackedHistory.packIDs(evicted))
                row.append(evicted.isEmpty ? .null : .blob(IDFingerprints.pack(ids: evicted)))
                try stmts.upsertUser.run(row)
            } else {
                // Without stored duplicates the chunk's ids are `fresh`, whose fingerprints are `probes`.
                let ids = already.isEmpty ? IDFingerprints.pack(probes) : IDFingerprints.pack(ids: added.lazy.map(\.eventID))
                try stmts.insertChunk.run([.int(user.bitcastSigned), .int(Int64(added.count)), .blob(ids), .blob(PackedHistory.pack(added))])
                state.storedEvents += added.count
                state.chunks += 1
                try stmts.upsertUserKeepEvicted.run(userRow(state, evicted: nil).dropLast())
            }
        }
        return counts
    }

    /// Runs `statement` with `key` (a user or chunk id) and hands each row's first column (a blob) to `body`.
    private func forEachBlob(_ statement: Statement, _ key: Int64, _ body: ([UInt8]) throws(StoreError) -> Void) throws(StoreError) {
        defer { statement.reset() }
        try statement.bind(1, key)
        while try statement.step() { try body(statement.blobArray(0)) }
    }

    /// The ids of the user's chunks whose fingerprints hold one of `probes` (ascending).
    private func candidateChunks(_ user: UInt64, _ probes: [UInt32], _ st: AppendStatements) throws(StoreError) -> [Int64] {
        defer { st.chunkIDs.reset() }
        try st.chunkIDs.bind(1, user.bitcastSigned)
        var out: [Int64] = []
        while try st.chunkIDs.step() {
            do {
                if try IDFingerprints.intersects(st.chunkIDs.blob(1), probes) { out.append(st.chunkIDs.int64(0)) }
            } catch {
                throw StoreError(path: path, message: "user \(user) chunk \(st.chunkIDs.int64(0)): \(error)")
            }
        }
        return out
    }

    /// Whether the fingerprints of the user's evicted ids hold one of `probes` (ascending).
    private func evictedCandidates(_ user: UInt64, _ probes: [UInt32], _ st: AppendStatements) throws(StoreError) -> Bool {
        defer { st.evictedIDs.reset() }
        try st.evictedIDs.bind(1, user.bitcastSigned)
        guard try st.evictedIDs.step(), !st.evictedIDs.isNull(0) else { return false }
        do { return try IDFingerprints.intersects(st.evictedIDs.blob(0), probes) } catch {
            throw StoreError(path: path, message: "user \(user) evicted ids: \(error)")
        }
    }

    private func userRow(_ s: UserState, evicted: [UInt8]?) -> [SQLValue] {
        [.int(s.userID.bitcastSigned), .int(s.historyVersion), .int(s.lastConversionVersion), .int(Int64(s.storedEvents)),
         .int(Int64(s.chunks)), s.maxTs.map { .int($0) } ?? .null, .int(s.lastIngestSeq), evicted.map { .blob($0) } ?? .null]
    }

    /// Prepared statements of the read and append paths, made once per store. The append path's
    /// need schema 2 and are prepared on first use (a read-only store may be of schema 1).
    final class Statements {
        let db: Database
        let user: Statement
        let chunks: Statement
        let features: Statement
        init(_ db: Database) throws(StoreError) {
            self.db = db
            features = try db.prepare("SELECT snapshot, record FROM user_features WHERE user_id = ?")
            user = try db.prepare("SELECT history_version, last_conversion_version, stored_events, chunks, max_ts, last_ingest_seq FROM users WHERE user_id = ?")
            chunks = try db.prepare("SELECT data FROM history_chunks WHERE user_id = ? ORDER BY id")
        }

        private var writing: AppendStatements?
        var append: AppendStatements {
            get throws(StoreError) {
                if let w = writing { return w }
                let w = try AppendStatements(db)
                writing = w
                return w
            }
        }
    }

    /// Prepared statements of the append path (schema 2).
    final class AppendStatements {
        let chunkIDs: Statement
        let chunkData: Statement
        let evicted: Statement
        let evictedIDs: Statement
        let insertChunk: Statement
        let deleteChunks: Statement
        let upsertUser: Statement
        let upsertUserKeepEvicted: Statement
        init(_ db: Database) throws(StoreError) {
            chunkIDs = try db.prepare("SELECT id, ids FROM history_chunks WHERE user_id = ? ORDER BY id")
            chunkData = try db.prepare("SELECT data FROM history_chunks WHERE id = ?")
            evicted = try db.prepare("SELECT evicted FROM users WHERE user_id = ?")
            evictedIDs = try db.prepare("SELECT evicted_ids FROM users WHERE user_id = ?")
            insertChunk = try db.prepare("INSERT INTO history_chunks(user_id, events, ids, data) VALUES (?, ?, ?, ?)")
            deleteChunks = try db.prepare("DELETE FROM history_chunks WHERE user_id = ?")
            upsertUser = try db.prepare("""
                INSERT INTO users(user_id, history_version, last_conversion_version, stored_events, chunks, max_ts, last_ingest_seq, evicted, evicted_ids)
                VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(user_id) DO UPDATE SET history_version = excluded.history_version,
                last_conversion_version = excluded.last_conversion_version, stored_events = excluded.stored_events,
                chunks = excluded.chunks, max_ts = excluded.max_ts, last_ingest_seq = excluded.last_ingest_seq, evicted = excluded.evicted,
                evicted_ids = excluded.evicted_ids
                """)
            upsertUserKeepEvicted = try db.prepare("""
                INSERT INTO users(user_id, history_version, last_conversion_version, stored_events, chunks, max_ts, last_ingest_seq)
                VALUES (?,?,?,?,?,?,?) ON CONFLICT(user_id) DO UPDATE SET history_version = excluded.history_version,
                last_conversion_version = excluded.last_conversion_version, stored_events = excluded.stored_events,
                chunks = excluded.chunks, max_ts = excluded.max_ts, last_ingest_seq = excluded.last_ingest_seq
                """)
        }
    }

    private var cachedStatements: Statements?
    func statements() throws(StoreError) -> Statements {
        if let s = cachedStatements { return s }
        let s = try Statements(db)
        cachedStatements = s
        return s
    }

    /// Forgotten users (few: read once per batch).
    private func tombstones() throws(StoreError) -> Set<UInt64> {
        var out = Set<UInt64>()
        let s = try db.prepare("SELECT user_id FROM tombstones")
        while try s.step() { out.insert(s.int64(0).bitcastUnsigned) }
        return out
    }

    private func userState(_ user: UInt64, _ st: Statements) throws(StoreError) -> UserState? {
        defer { st.user.reset() }
        try st.user.bind(1, user.bitcastSigned)
        guard try st.user.step() else { return nil }
        let u = st.user
        return UserState(userID: user, historyVersion: u.int64(0), lastConversionVersion: u.int64(1),
                         storedEvents: Int(u.int64(2)), chunks: Int(u.int64(3)), maxTs: u.isNull(4) ? nil : u.int64(4),
                         lastIngestSeq: u.int64(5))
    }

    private func loadChunks(_ user: UInt64, _ st: Statements) throws(StoreError) -> [StoredEvent] {
        defer { st.chunks.reset() }
        try st.chunks.bind(1, user.bitcastSigned)
        var out: [StoredEvent] = []
        while try st.chunks.step() {
            do { out.append(contentsOf: try PackedHistory.unpack(st.chunks.blob(0))) } catch {
                throw StoreError(path: path, message: "user \(user): \(error)")
            }
        }
        return out
    }

    private func loadEvictedBlob(_ user: UInt64, _ st: AppendStatements) throws(StoreError) -> [UInt8]? {
        defer { st.evicted.reset() }
        try st.evicted.bind(1, user.bitcastSigned)
        guard try st.evicted.step(), !st.evicted.isNull(0) else { return nil }
        return st.evicted.blobArray(0)
    }

    // MARK: - Reading

    /// The user's counters, if the user has any events.
    public func userState(_ user: UInt64) throws(StoreError) -> UserState? {
        try userState(user, try statements())
    }

    /// Runs `body` in one read transaction of the store (the encode stage reads a window of users
    /// in one); `history` and `features` calls inside it join it.
    public func reading<T>(_ body: () throws -> T) throws -> T { try db.reading(body) }

    /// The user's retained history and versions, read in one transaction (nil: no events).
    public func history(_ user: UInt64) throws(StoreError) -> UserHistory? {
        let own = db.isAutocommit
        if own { try db.execute("BEGIN") }
        defer { if own { try? db.execute("COMMIT") } }
        let st = try statements()
        guard let state = try userState(user, st) else { return nil }
        var events = try loadChunks(user, st)
        events.sortInHistoryOrder()
        if events.count > settings.retentionCap { events.removeFirst(events.count - settings.retentionCap) }
        return UserHistory(state: state, events: events)
    }

    /// Every user id with events, ascending by unsigned value.
    public func userIDs() throws(StoreError) -> [UInt64] {
        let s = try db.prepare("SELECT user_id FROM users")
        var out: [UInt64] = []
        while try s.step() { out.append(s.int64(0).bitcastUnsigned) }
        return out.sorted()
    }

    /// The checksum (`EventChecksum`) of every stored event, to compare with what the read stage saw.
    public func eventChecksum() throws(StoreError) -> (events: Int, checksum: UInt64) {
        var sum = EventChecksum()
        var n = 0
        let hashes = dictionaryEntries.map { EventChecksum.bytesHash($0.bytes) }
        let s = try db.prepare("SELECT user_id, data FROM history_chunks")
        while try s.step() {
            let user = s.int64(0).bitcastUnsigned
            let events: [StoredEvent]
            do { events = try PackedHistory.unpack(s.blob(1)) } catch { throw StoreError(path: path, message: "user \(user): \(error)") }
            for e in events {
                var intID: UInt64?
                var idHash: UInt64 = 0
                switch e.eventID {
                case let .integer(v): intID = v
                case let .string(b): idHash = EventChecksum.bytesHash(b)
                }
                sum.add(userID: user, itemID: e.itemID, ts: e.ts, integerID: intID, idHash: idHash,
                        typeHash: hashes[Int(e.type)], surfaceHash: hashes[Int(e.surface)], dwellMs: e.dwellMs, value: e.value)
                n += 1
            }
        }
        return (n, sum.value)
    }

    /// Totals for `llatte stats`.
    public func stats() throws(StoreError) -> HistoryStats {
        func int(_ sql: String) throws(StoreError) -> Int64 { try db.scalarInt(sql) ?? 0 }
        return HistoryStats(
            users: try int("SELECT count(*) FROM users"),
            historyEvents: try int("SELECT coalesce(sum(history_version), 0) FROM users"),
            storedEvents: try int("SELECT coalesce(sum(stored_events), 0) FROM users"),
            retainedEvents: try int("SELECT coalesce(sum(min(stored_events, \(settings.retentionCap))), 0) FROM users"),
            chunks: try int("SELECT count(*) FROM history_chunks"),
            converters: try int("SELECT count(*) FROM users WHERE last_conversion_version > 0"),
            files: try int("SELECT count(*) FROM files"),
            quarantined: try int("SELECT coalesce(sum(quarantined), 0) FROM files"),
            duplicates: try int("SELECT coalesce(sum(duplicates), 0) FROM files"),
            dictionaryEntries: Int64(dictionaryEntries.count),
            featureUsers: try int("SELECT count(*) FROM user_features"),
            featureSnapshots: try int("SELECT count(*) FROM feature_snapshots"),
            tombstones: try int("SELECT count(*) FROM tombstones"),
            maxHistoryVersion: try int("SELECT coalesce(max(history_version), 0) FROM users"),
            minTs: try db.scalarInt("SELECT min(max_ts) FROM users"),
            maxTs: try db.scalarInt("SELECT max(max_ts) FROM users"))
    }
}

/// Finds which of a set of event ids a packed blob holds: stored ids are decoded in place and only
/// hashed; an id is materialized only when its hash matches a wanted one, then compared exactly.
struct IDLookup {
    let wanted: Set<EventID>
    let hashes: Set<UInt64>

    init(_ wanted: Set<EventID>) {
        self.wanted = wanted
        hashes = Set(wanted.map(PackedHistory.idHash))
    }

    func collect(in blob: [UInt8], path: String, user: UInt64, into found: inout Set<EventID>) throws(StoreError) {
        try PackedHistory.forEachID(blob, path: path, user: user) { h, id in
            if hashes.contains(h), let id = id(), wanted.contains(id) { found.insert(id) }
        }
    }
}

/// Store-wide totals.
public struct HistoryStats: Sendable, Equatable {
    public var users: Int64
    /// Sum of history_version: distinct events ever ingested.
    public var historyEvents: Int64
    public var storedEvents: Int64
    public var retainedEvents: Int64
    public var chunks: Int64
    /// Users with at least one conversion.
    public var converters: Int64
    public var files: Int64
    public var quarantined: Int64
    public var duplicates: Int64
    public var dictionaryEntries: Int64
    public var featureUsers: Int64
    public var featureSnapshots: Int64
    public var tombstones: Int64
    public var maxHistoryVersion: Int64
    /// Oldest and newest per-user newest ts.
    public var minTs: Int64?
    public var maxTs: Int64?
}
