#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// `llatte merge` in windows (docs/store.md, "Merging shard stores"): a killed merge run again
/// continues to the rows of a one-shot merge, readers never see a half-merged version, and one
/// merge into a store runs at a time. Shards are synthetic (`llatte bench export-store --shard`).
@Suite struct MergeTests {
    static let version = "bench-merge"

    /// Four shard stores of `users` users in all, with a forgotten user and two failed users in
    /// shard 1 (one of them with a row elsewhere, one failure inside the key range of a late window).
    static func shards(_ dir: TempDirectory, users: Int = 2_000) throws -> [String] {
        var stores: [String] = []
        for k in 0..<4 {
            let path = dir.file("shard-\(k).db")
            let p = try ChildProcess(ChildProcess.llatte, ["bench", "export-store", "--users", String(users), "--shard", "\(k)/4",
                                                           "--model-version", version, "--store", path], outputPrefix: dir.file("gen\(k)"))
            #expect(p.wait() == 0, "\(p.stderr)")
            stores.append(path)
        }
        let one = try EmbeddingStore(path: stores[1], create: false)
        let rows = try one.rows(version: version)
        try one.forget(rows[3].userID)
        try one.recordFailures([(rows[10].userID, rows[10].historyVersion + 1, "non-finite output"),
                                (rows[rows.count - 5].userID &+ 1, 7, "non-finite output")], version: version)
        return stores
    }

    static func merge(_ dir: TempDirectory, into: String, _ stores: [String], extra: [String] = [], env: [String: String] = [:],
                      label: String) throws -> ChildProcess {
        try ChildProcess(ChildProcess.llatte, ["merge", "--into", into] + extra + stores, environment: env, outputPrefix: dir.file(label))
    }

    /// Every row in full (not only its content: when and by which run), and the failed users.
    static func contents(_ path: String) throws -> (rows: [EmbeddingRow], failed: [String], tombstones: [Int64]) {
        let s = try EmbeddingStore(readingAt: path)
        let q = try s.database.prepare("SELECT version, user_id, history_version, reason FROM failed_users ORDER BY version, user_id")
        var failed: [String] = []
        while try q.step() { failed.append("\(q.text(0)) \(q.int64(1)) \(q.int64(2)) \(q.text(3))") }
        let t = try s.database.prepare("SELECT user_id FROM tombstones ORDER BY user_id")
        var tombstones: [Int64] = []
        while try t.step() { tombstones.append(t.int64(0)) }
        return (try s.rows(version: version), failed, tombstones)
    }

    @Test func aMergeKilledMidWindowThenRunAgainEndsWithTheRowsOfAOneShotMerge() throws {
        let dir = TempDirectory()
        let stores = try MergeTests.shards(dir)
        let oneShot = try MergeTests.merge(dir, into: dir.file("one-shot.db"), stores, label: "one-shot")
        #expect(oneShot.wait() == 0, "\(oneShot.stderr)")
        #expect(oneShot.stdout.contains("windows=4 "), "\(oneShot.stdout)")   // one window per shard
        let expected = try MergeTests.contents(dir.file("one-shot.db"))
        #expect(expected.rows.count == 1_999 && expected.failed.count == 2 && expected.tombstones.count == 1)

        // Windows of 100 rows: about 5 per shard, so window 7 is inside shard 1, before its failures' keys.
        let into = dir.file("killed.db"), markers = dir.file("markers")
        let windowed = ["--window-rows", "100"]
        let killed = try MergeTests.merge(dir, into: into, stores, extra: windowed,
                                          env: ["LLATTE_TEST_KILL_AT": "merge-window:7", "LLATTE_TEST_MARKERS": markers], label: "killed")
        #expect(killed.wait() == 128 + SIGKILL, "\(killed.stderr)")
        #expect(Files.exists(markers + "/merge-window.reached"), "the merge was not killed at a window")
        let partial = try MergeTests.contents(into)
        #expect(partial.rows.count > 0 && partial.rows.count < expected.rows.count)
        // Not served: the version stays building while it is merged, and is not complete.
        let store = try EmbeddingStore(readingAt: into)
        #expect(try store.activeVersion() == nil && store.version(MergeTests.version)?.status == .building)

        let rerun = try MergeTests.merge(dir, into: into, stores, extra: windowed, label: "rerun")
        #expect(rerun.wait() == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("resumed: 1 shard version already merged, 1 continued"), "\(rerun.stdout)")
        // It continued: it read fewer rows than there are.
        let read = rerun.stdout.split(separator: " ").first { $0.hasPrefix("read=") }.flatMap { Int($0.dropFirst(5)) }
        #expect(read.map { $0 < expected.rows.count + 1 - 500 } == true, "\(rerun.stdout)")
        let resumed = try MergeTests.contents(into)
        #expect(resumed.rows == expected.rows, "rows differ after the resumed merge")
        #expect(resumed.failed == expected.failed && resumed.tombstones == expected.tombstones)
        let after = try EmbeddingStore(readingAt: into)
        #expect(try after.version(MergeTests.version)?.status == .ready && after.version(MergeTests.version)?.coverage == 1_999)
        #expect(try after.builds(MergeTests.version).map(\.shard) == ["0/4", "1/4", "2/4", "3/4"])
        #expect(try after.database.scalarInt("SELECT count(*) FROM merge_progress") == 0)
    }

    @Test func aShardStoreChangedSinceTheKilledMergeIsMergedAgainFromItsStart() throws {
        let dir = TempDirectory()
        let stores = try MergeTests.shards(dir)
        let into = dir.file("merged.db"), markers = dir.file("markers")
        let killed = try MergeTests.merge(dir, into: into, stores, extra: ["--window-rows", "100"],
                                          env: ["LLATTE_TEST_KILL_AT": "merge-window:7", "LLATTE_TEST_MARKERS": markers], label: "killed")
        #expect(killed.wait() == 128 + SIGKILL, "\(killed.stderr)")
        #expect(Files.exists(markers + "/merge-window.reached"), "the merge was not killed at a window")
        // Shard 1's first row, already merged, is re-encoded meanwhile (its history grew).
        let shard = try EmbeddingStore(path: stores[1], create: false)
        var row = try #require(shard.rows(version: MergeTests.version).first)
        #expect(try EmbeddingStore(readingAt: into).row(row.userID, version: MergeTests.version) == row)
        row.historyVersion += 1
        row.codes = row.codes.map { $0 / 2 }
        _ = try shard.database.transaction { try shard.upsert([row], into: shard.version(MergeTests.version)!) }
        let rerun = try MergeTests.merge(dir, into: into, stores, extra: ["--window-rows", "100"], label: "rerun")
        #expect(rerun.wait() == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("resumed: 1 shard version already merged, 0 continued"), "\(rerun.stdout)")
        #expect(try EmbeddingStore(readingAt: into).row(row.userID, version: MergeTests.version) == row)
        let oneShot = try MergeTests.merge(dir, into: dir.file("one-shot.db"), stores, label: "one-shot")
        #expect(oneShot.wait() == 0, "\(oneShot.stderr)")
        #expect(try MergeTests.contents(into).rows == MergeTests.contents(dir.file("one-shot.db")).rows)
    }

    @Test func aMergeIntoTheActiveVersionTakesOnlyNewerRowsAsANightlyWould() throws {
        let dir = TempDirectory()
        let stores = try MergeTests.shards(dir, users: 400)
        let into = dir.file("merged.db")
        let first = try MergeTests.merge(dir, into: into, stores, extra: ["--promote", "--force"], label: "first")
        #expect(first.wait() == 0, "\(first.stderr)")
        #expect(try EmbeddingStore(readingAt: into).activeVersion()?.version == MergeTests.version)
        // The same merge again: the active version already holds every row, nothing to write.
        let same = try MergeTests.merge(dir, into: into, stores, label: "same")
        #expect(same.wait() == 0, "\(same.stderr)")
        #expect(same.stdout.contains("written=0 windows=0 ") && same.stdout.contains("skipped: 4 shard versions active here and already as current"),
                "\(same.stdout)")
        // A shard re-encoded one user whose history grew (a sharded nightly): that row alone is taken,
        // into the version that stays active.
        let shard = try EmbeddingStore(path: stores[2], create: false)
        var row = try #require(shard.rows(version: MergeTests.version).first)
        row.historyVersion += 1
        row.codes[0] &+= 1
        _ = try shard.database.transaction { try shard.upsert([row], into: shard.version(MergeTests.version)!) }
        let before = try MergeTests.contents(into)
        let again = try MergeTests.merge(dir, into: into, stores, label: "again")
        #expect(again.wait() == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stdout.contains("refreshed: 1 shard version active here, with newer rows")
                && again.stdout.contains("skipped: 3 shard versions active here and already as current"), "\(again.stdout)")
        let after = try MergeTests.contents(into)
        #expect(after.rows.count == before.rows.count)
        let changed = zip(before.rows, after.rows).filter { $0 != $1 }
        #expect(changed.count == 1 && changed.first?.1 == row, "\(changed.count) rows changed")
        #expect(try EmbeddingStore(readingAt: into).activeVersion()?.version == MergeTests.version)
    }

    @Test func aShardStoreOfAnOlderFormatIsMergedAsItIsAndLeftUnmigrated() throws {
        let dir = TempDirectory()
        let old = dir.file("format1.db")
        try writeFormatOneEmbeddingStore(old)
        let into = dir.file("merged.db")
        let merge = try MergeTests.merge(dir, into: into, [old], label: "merge")
        #expect(merge.wait() == 0, "\(merge.stderr)")
        #expect(merge.stdout.contains("rows read=1 written=1 windows=1 "), "\(merge.stdout)")
        let row = try #require(try EmbeddingStore(readingAt: into).row(77, version: "old"))
        #expect(row.codes == [1, -1, 2, 3] && row.historyVersion == 42 && row.runID == 1)
        #expect(try EmbeddingStore(readingAt: old).storedFormatVersion() == 1)
    }

    @Test func aSecondMergeIntoTheSameStoreIsRefusedWhileOneRuns() throws {
        let dir = TempDirectory()
        let stores = try MergeTests.shards(dir, users: 400)
        let into = dir.file("merged.db"), markers = dir.file("markers"), hold = dir.write("hold", text: "")
        let paused = try MergeTests.merge(dir, into: into, stores, extra: ["--window-rows", "50"],
                                          env: ["LLATTE_TEST_PAUSE_AT": "merge-window:1", "LLATTE_TEST_HOLD": hold, "LLATTE_TEST_MARKERS": markers],
                                          label: "paused")
        defer { paused.kill() }
        let deadline = monotonicSeconds() + 60
        while !Files.exists(markers + "/merge-window.paused") && monotonicSeconds() < deadline && !paused.hasExited() { usleep(20_000) }
        #expect(Files.exists(markers + "/merge-window.paused"), "\(paused.stderr)")
        // Paused inside window 1's transaction: readers see the version building, with the 50 rows of window 0.
        #expect(try EmbeddingStore(readingAt: stores[0]).rows(version: MergeTests.version).count > 50)
        let reader = try EmbeddingStore(readingAt: into)
        #expect(try reader.version(MergeTests.version)?.status == .building && reader.rows(version: MergeTests.version).count == 50)
        let second = try MergeTests.merge(dir, into: into, stores, label: "second")
        #expect(second.wait() == 4, "\(second.stderr)")
        #expect(second.stderr.contains("merge"), "\(second.stderr)")
        try Files.remove(hold)
        #expect(paused.wait() == 0, "\(paused.stderr)")
        #expect(try MergeTests.contents(into).rows.count == 399)
    }
}
