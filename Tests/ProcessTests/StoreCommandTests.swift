#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// The store as users see it: `llatte get`, the documented Python reader, `forget`, shard merges.
@Suite struct StoreCommandTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The ```python block of docs/store.md, as a program.
    static func pythonReader() throws -> String {
        let doc = try String(contentsOfFile: repoRoot + "/docs/store.md", encoding: .utf8)
        guard let start = doc.range(of: "```python\n"), let end = doc.range(of: "```", range: start.upperBound..<doc.endIndex) else {
            throw POSIXError(.ENOENT)
        }
        return String(doc[start.upperBound..<end.lowerBound])
    }

    @Test func getAndTheDocumentedPythonReaderAgree() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let reader = w.dir.write("reader.py", text: try StoreCommandTests.pythonReader())
        for i in [0, 3, 7] {   // 3 and 7 are stored under negative keys
            let user = PipelineWorld.userID(i)
            let get = try ChildProcess(ChildProcess.llatte, ["get", String(user), "--embedding-store", w.dir.file("out/embeddings.db"), "--json"],
                                       outputPrefix: w.dir.file("get\(i)"))
            #expect(get.wait() == 0, "\(get.stderr)")
            let row = try JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as! [String: Any]
            #expect((row["user_id"] as! NSNumber).uint64Value == user)
            let codes = (row["codes"] as! [NSNumber]).map(\.doubleValue), scales = (row["scales"] as! [NSNumber]).map(\.doubleValue)
            let d = (row["interest_dim"] as! NSNumber).intValue
            let py = try ChildProcess("/usr/bin/env", ["python3", reader, w.dir.file("out/embeddings.db"), String(user)], outputPrefix: w.dir.file("py\(i)"))
            #expect(py.wait() == 0, "\(py.stderr)")
            let f = py.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
            #expect(Int(f[0]) == scales.count && Int(f[1]) == d)
            #expect(Int64(f[2]) == (row["as_of"] as! NSNumber).int64Value && Int64(f[3]) == (row["history_version"] as! NSNumber).int64Value)
            for j in 0..<d {
                let expected = Float(codes[j]) * Float(scales[0])
                #expect(abs(Double(f[4 + j])! - Double(expected)) <= 1e-5 * max(1, abs(Double(expected))), "user \(user) component \(j)")
            }
        }
    }

    @Test func forgetRemovesAUserEverywhereAndARedeliveredFileDoesNotBringItBack() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let user = PipelineWorld.userID(5)
        let forget = try ChildProcess(ChildProcess.llatte, ["forget", String(user), "--history-store", w.dir.file("out/history.db"),
                                                            "--embedding-store", w.dir.file("out/embeddings.db")], outputPrefix: w.dir.file("forget"))
        #expect(forget.wait() == 0, "\(forget.stderr)")
        #expect(try w.store().row(user, version: "golden-small") == nil)
        let history = try HistoryStore(path: w.dir.file("out/history.db"), settings: nil)
        #expect(try history.userState(user) == nil && history.features(user) == nil)
        // The same day re-delivered under a new name, with a conversion for the user: nothing comes back.
        w.dir.write("logs/redelivered.jsonl", try Files.readAll(w.dir.file("logs/day0.jsonl"))
                    + Array((eventLine(user: user, id: "\"late\"", ts: 1_790_500_000, item: 1001, type: "purchase") + "\n").utf8))
        #expect(try w.run("refresh").wait() == 0)
        #expect(try w.store().row(user, version: "golden-small") == nil)
        #expect(try HistoryStore(path: w.dir.file("out/history.db"), settings: nil).userState(user) == nil)
        #expect(try w.rows().count == 39)
    }

    @Test func fourShardsMergedEqualTheSingleRunRowForRow() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let single = try w.rows()
        var stores: [String] = []
        for k in 0..<4 {
            w.writePipeline("backfill", out: "shard\(k)", name: "shard\(k)")
            let p = try ChildProcess(ChildProcess.llatte, ["run", w.dir.file("shard\(k).yaml"), "--shard", "\(k)/4"], outputPrefix: w.dir.file("shard\(k)"))
            #expect(p.wait() == 0, "\(p.stderr)")
            stores.append(w.dir.file("shard\(k)/embeddings.db"))
            // Each shard holds only its own users, and its version stays building until merged.
            let rows = try EmbeddingStore(path: stores[k], create: false).rows(version: "golden-small")
            #expect(rows.allSatisfy { fmix64($0.userID) % 4 == UInt64(k) })
            #expect(try EmbeddingStore(path: stores[k], create: false).version("golden-small")?.status == .building)
        }
        let histories = (0..<4).flatMap { ["--history-store", w.dir.file("shard\($0)/history.db")] }
        let merge = try ChildProcess(ChildProcess.llatte, ["merge", "--into", w.dir.file("merged.db"), "--promote"] + histories + stores,
                                     outputPrefix: w.dir.file("merge"))
        #expect(merge.wait() == 0, "\(merge.stderr)")
        let merged = try EmbeddingStore(path: w.dir.file("merged.db"), create: false)
        #expect(sameRows(try merged.rows(version: "golden-small"), single))
        #expect(try merged.version("golden-small")?.status == .active && merged.version("golden-small")?.coverage == 40)
    }
}

/// Prometheus textfile metrics: written atomically after each run; the last success survives a failure.
@Suite struct MetricsFileTests {
    func value(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + "{") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    @Test func aRunWritesItsMetricsAndAFailedRunKeepsTheLastSuccessTime() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let path = w.dir.file("out/llatte_backfill.prom")
        let first = String(decoding: try Files.readAll(path), as: UTF8.self)
        #expect(first.contains("# TYPE llatte_rows_written gauge"))
        #expect(value(first, "llatte_rows_written") == 40 && value(first, "llatte_last_run_ok") == 1)
        let success = try #require(value(first, "llatte_last_success_timestamp_seconds"))
        #expect(success > 1_700_000_000)
        // A run that fails (its catalog is gone) records the failure and keeps the last success.
        try FileManager.default.removeItem(atPath: w.dir.file("catalog.db"))
        #expect(try w.run("backfill").wait() == 1)
        let second = String(decoding: try Files.readAll(path), as: UTF8.self)
        #expect(value(second, "llatte_last_run_ok") == 0 && value(second, "llatte_last_success_timestamp_seconds") == success)
        #expect(try Files.list(w.dir.file("out")).allSatisfy { !$0.contains(".tmp") })
    }
}

/// Per-run drift: a refresh records how far re-encoding moved the rows it replaced.
@Suite struct RunDriftTests {
    func value(_ text: String, _ line: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(line) }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    @Test func aRefreshRecordsTheCosineQuantilesOfTheRowsItReplaced() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let fresh = String(decoding: try Files.readAll(w.dir.file("out/llatte_backfill.prom")), as: UTF8.self)
        #expect(value(fresh, "llatte_rows_replaced{") == 0 && !fresh.contains("llatte_reencode_cosine{"), "a new version replaces nothing")
        // Three users convert; the refresh re-encodes them over their old rows.
        let converters = [1, 2, 5].map(PipelineWorld.userID)
        w.dir.writeLines("logs/day3.jsonl", converters.enumerated().map { eventLine(user: $1, id: "\"c\($0)\"", ts: 1_790_300_000, item: 1001, type: "purchase") })
        let p = try w.run("refresh")
        #expect(p.wait() == 0, "\(p.stderr)")
        #expect(p.stdout.contains("replaced=3 cos_old_new p1="), "\(p.stdout)")
        let text = String(decoding: try Files.readAll(w.dir.file("out/llatte_refresh.prom")), as: UTF8.self)
        #expect(value(text, "llatte_rows_replaced{") == 3)
        let labels = "llatte_reencode_cosine{pipeline=\"refresh\",shard=\"0/1\",quantile="
        let q = ["0.01", "0.05", "0.5", "0.95", "0.99"].compactMap { value(text, labels + "\"\($0)\"}") }
        #expect(q.count == 5 && q == q.sorted() && q.allSatisfy { $0 > 0.5 && $0 <= 1 }, "\(text)")
        // The run record holds the same numbers.
        let db = try w.store().database
        let s = try db.prepare("SELECT replaced_rows, cos_p1, cos_p50, cos_p99 FROM runs WHERE pipeline = 'refresh'")
        #expect(try s.step())
        #expect(s.int64(0) == 3 && s.double(1) == q[0] && s.double(2) == q[2] && s.double(3) == q[4])
    }
}

/// `refresh --follow`: converters are refreshed as files are renamed into place; `*.tmp` files wait.
@Suite struct FollowTests {
    @Test func followRefreshesConvertersOfRenamedFilesAndIgnoresTempFiles() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let store = try w.store()
        let a = PipelineWorld.userID(2), b = PipelineWorld.userID(5)
        let before = (try store.row(a, version: "golden-small")!.historyVersion, try store.row(b, version: "golden-small")!.historyVersion)
        let follow = try w.run("refresh", extra: ["--follow", "--poll-interval", "0.1"])
        defer { follow.kill(); _ = follow.wait() }
        func version(_ u: UInt64) -> Int64 { (try? store.row(u, version: "golden-small")?.historyVersion) ?? -1 }
        func waitFor(_ cond: () -> Bool) -> Bool {
            for _ in 0..<600 { if cond() { return true }; usleep(50_000) }
            return false
        }
        // Files arrive once the follower watches (before that, its first refresh would take them).
        #expect(waitFor { follow.stderr.contains("refresh --follow: watching") }, "\(follow.stderr)")
        // A file still being written (*.tmp) is not taken.
        w.dir.writeLines("logs/incoming.jsonl.tmp", [eventLine(user: b, id: "\"conv-b\"", ts: 1_790_900_000, item: 1003, type: "purchase")])
        // A file renamed into place is.
        let tmp = w.dir.writeLines("logs/.staging-a", [eventLine(user: a, id: "\"conv-a\"", ts: 1_790_900_000, item: 1002, type: "purchase")])
        #expect(rename(tmp, w.dir.file("logs/day9.jsonl")) == 0)
        #expect(waitFor { version(a) == before.0 + 1 }, "\(follow.stderr)")
        #expect(version(b) == before.1)
        #expect(rename(w.dir.file("logs/incoming.jsonl.tmp"), w.dir.file("logs/incoming.jsonl")) == 0)
        #expect(waitFor { version(b) == before.1 + 1 }, "\(follow.stderr)")
        // Stop it between cycles (a signal during a refresh ends it with the interrupted code): the
        // second cycle's report comes after that run has finished.
        #expect(waitFor { follow.stdout.components(separatedBy: "follow: files=1 refreshed=1").count == 3 }, "\(follow.stdout)")
        follow.kill(SIGTERM)
        #expect(follow.wait() == 0, "\(follow.stderr)")
        #expect(follow.stdout.contains("follow: files=1 refreshed=1 conversion_to_embedding_seconds="))
    }
}

/// `llatte encode` prints what a backfill stores.
@Suite struct EncodeCommandTests {
    @Test func encodePrintsTheStoredCodesForGivenUsersOrAll() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let args = ["encode", "--checkpoint", Goldens.directory("small"), "--history-store", w.dir.file("out/history.db"),
                    "--catalog", w.dir.file("catalog.db")]
        let users = [PipelineWorld.userID(1), PipelineWorld.userID(3)]
        let some = try ChildProcess(ChildProcess.llatte, args + users.flatMap { ["--user", String($0)] }, outputPrefix: w.dir.file("enc"))
        #expect(some.wait() == 0, "\(some.stderr)")
        let lines = some.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for (line, user) in zip(lines, users) {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let row = try #require(try w.store().row(user, version: "golden-small"))
            #expect((o["user_id"] as! NSNumber).uint64Value == user)
            #expect((o["codes"] as! [NSNumber]).map(\.int8Value) == row.codes)
            #expect((o["history_version"] as! NSNumber).int64Value == row.historyVersion)
        }
        let all = try ChildProcess(ChildProcess.llatte, args + ["--all"], outputPrefix: w.dir.file("all"))
        #expect(all.wait() == 0)
        #expect(all.stdout.split(separator: "\n").count == 40)
        let neither = try ChildProcess(ChildProcess.llatte, args, outputPrefix: w.dir.file("neither"))
        #expect(neither.wait() == 64)
    }
}
