import Events
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// Deduplication through the chunk fingerprints: exact despite collisions, across batches and
/// files, and the same on a store migrated from schema 1.
@Suite struct IngestDedupTests {
    static let settings = HistorySettings(conversionTypes: ["purchase"], minTs: 0, maxTs: 10_000_000, retentionCap: 5)

    func ingest(_ dir: TempDirectory, _ store: String, _ inputs: [String], batchEvents: Int = 1 << 20) throws -> IngestReport {
        var o = IngestOptions(historyStore: dir.file(store), settings: IngestDedupTests.settings, inputs: inputs, quarantineDirectory: dir.file("q"))
        o.lockTimeout = 0
        o.batchEvents = batchEvents
        return try Ingestor(options: o).run()
    }

    /// Two different integer ids with the same fingerprint (found by a birthday search).
    static func collidingIDs() -> (UInt64, UInt64) {
        var seen: [UInt32: UInt64] = [:]
        var v: UInt64 = 1
        while true {
            let f = IDFingerprints.of(.integer(v))
            if let earlier = seen[f] { return (earlier, v) }
            seen[f] = v
            v += 1
        }
    }

    @Test func aFingerprintCollisionIsConfirmedOnTheIds() throws {
        let (a, b) = IngestDedupTests.collidingIDs()
        #expect(a != b && IDFingerprints.of(.integer(a)) == IDFingerprints.of(.integer(b)))
        let dir = TempDirectory()
        let first = dir.writeLines("1.jsonl", [eventLine(user: 1, id: String(a), ts: 100)])
        #expect(try ingest(dir, "h.db", [first]).newEvents == 1)
        // b's fingerprint is in the stored chunk's: a candidate, which the ids show is new; a is a duplicate.
        let second = dir.writeLines("2.jsonl", [eventLine(user: 1, id: String(b), ts: 101), eventLine(user: 1, id: String(a), ts: 102)])
        let r = try ingest(dir, "h.db", [second])
        #expect(r.newEvents == 1 && r.duplicates == 1, "\(r.newEvents) new, \(r.duplicates) duplicates")
        let h = try #require(try HistoryStore(path: dir.file("h.db"), settings: nil).history(1))
        #expect(h.state.historyVersion == 2 && h.events.map(\.eventID) == [.integer(a), .integer(b)])
    }

    @Test func duplicatesAcrossBatchesOfOneFileAndAcrossFilesAreDropped() throws {
        let dir = TempDirectory()
        // Batches of 4 events: user 1's ids 0..<8 come twice, far apart, and a conversion is repeated.
        func userOne(_ k: Int) -> String { eventLine(user: 1, id: String(k), ts: Int64(100 + k), type: k == 2 ? "purchase" : "click") }
        func userTwo(_ k: Int) -> String { eventLine(user: 2, id: String(k), ts: Int64(100 + k)) }
        let lines: [String] = (0..<8).map(userOne) + (0..<12).map(userTwo) + (0..<8).map(userOne)
        let f = dir.writeLines("day.jsonl", lines)
        let r = try ingest(dir, "h.db", [f], batchEvents: 4)
        #expect(r.newEvents == 20 && r.duplicates == 8, "\(r.newEvents) new, \(r.duplicates) duplicates")
        let store = try HistoryStore(path: dir.file("h.db"), settings: nil)
        let u1 = try #require(try store.userState(1))
        #expect(u1.historyVersion == 8 && u1.lastConversionVersion == 3)
        // Another file with the same events and one new: only the new one lands.
        let g = dir.writeLines("day2.jsonl", lines + [eventLine(user: 2, id: "99", ts: 500)])
        let again = try ingest(dir, "h.db", [g], batchEvents: 4)
        #expect(again.newEvents == 1 && again.duplicates == 28)
    }

    /// Rewrites a schema-2 store as schema 1 wrote it: chunks without fingerprints, users without
    /// fingerprints of their evicted ids.
    static func downgradeToSchemaOne(_ path: String) throws {
        let db = try Database(path: path)
        try db.execute("""
            BEGIN;
            CREATE TABLE old_chunks(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, events INTEGER NOT NULL, data BLOB NOT NULL);
            INSERT INTO old_chunks SELECT id, user_id, events, data FROM history_chunks;
            DROP TABLE history_chunks;
            ALTER TABLE old_chunks RENAME TO history_chunks;
            CREATE INDEX history_chunks_by_user ON history_chunks(user_id, id);
            ALTER TABLE users DROP COLUMN evicted_ids;
            UPDATE store_meta SET value = '1' WHERE key = 'schema_version';
            COMMIT;
            """)
    }

    @Test func aStoreOfSchemaOneIsMigratedAndDeduplicatesTheSame() throws {
        let dir = TempDirectory()
        // Retention 5 and 100 events a user in batches of 64: every user has evicted ids after the first file.
        func line(_ k: Int, id: Int, ts: Int) -> String { eventLine(user: UInt64(k % 3), id: String(id), ts: Int64(ts)) }
        let day1 = dir.writeLines("d1.jsonl", (0..<300).map { line($0, id: $0, ts: 1000 + $0) })
        let day2 = dir.writeLines("d2.jsonl", (0..<40).map { line($0, id: 2 * $0, ts: 2000 + $0) })
        _ = try ingest(dir, "old.db", [day1], batchEvents: 64)
        _ = try ingest(dir, "control.db", [day1], batchEvents: 64)
        try IngestDedupTests.downgradeToSchemaOne(dir.file("old.db"))
        // Read-only, a schema-1 store is read as it is.
        let reader = try HistoryStore(readingAt: dir.file("old.db"))
        #expect(try reader.history(1)?.state.historyVersion == 100)
        #expect(try Database(path: dir.file("old.db")).scalarInt("SELECT value FROM store_meta WHERE key = 'schema_version'") == 1)

        // day2 re-delivers 14 of user 0's ids (most evicted, the latest retained) and brings 26 new ones.
        let migrated = try ingest(dir, "old.db", [day2])
        let control = try ingest(dir, "control.db", [day2])
        #expect(migrated.newEvents == control.newEvents && migrated.duplicates == control.duplicates)
        #expect(migrated.duplicates == 14 && migrated.newEvents == 26, "\(migrated.duplicates) duplicates")
        let m = try HistoryStore(path: dir.file("old.db"), settings: nil)
        let c = try HistoryStore(path: dir.file("control.db"), settings: nil)
        #expect(try m.stats() == c.stats())
        #expect(try m.eventChecksum() == c.eventChecksum())
        for user: UInt64 in 0..<3 {
            #expect(try m.history(user)?.state == c.history(user)?.state)
            #expect(try m.history(user)?.events == c.history(user)?.events)
        }
        let db = try Database(path: dir.file("old.db"))
        #expect(try db.scalarInt("SELECT value FROM store_meta WHERE key = 'schema_version'") == 2)
        // Every chunk's and every evicted list's fingerprints are those of its ids.
        let chunks = try db.prepare("SELECT ids, data FROM history_chunks")
        while try chunks.step() {
            let ids = try PackedHistory.unpack(chunks.blobArray(1)).map(\.eventID)
            #expect(chunks.blobArray(0) == IDFingerprints.pack(ids: ids))
        }
        let users = try db.prepare("SELECT evicted, evicted_ids FROM users WHERE evicted IS NOT NULL")
        var evicting = 0
        while try users.step() {
            evicting += 1
            #expect(users.blobArray(1) == IDFingerprints.pack(ids: try PackedHistory.unpackIDs(users.blobArray(0))))
        }
        #expect(evicting == 3)
    }

    @Test func aStoreOfANewerSchemaIsRefused() throws {
        let dir = TempDirectory()
        _ = try ingest(dir, "h.db", [dir.writeLines("d.jsonl", [eventLine(user: 1, id: "1", ts: 100)])])
        try Database(path: dir.file("h.db")).execute("UPDATE store_meta SET value = '3' WHERE key = 'schema_version'")
        #expect { try HistoryStore(path: dir.file("h.db"), settings: nil) } throws: { error in
            "\(error)".contains("schema_version 3; this llatte reads 1 and 2")
        }
    }
}
