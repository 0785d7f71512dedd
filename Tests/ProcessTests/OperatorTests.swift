#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// What an operator of the nightly job reads: run history, versions, JSON, batch reads, times and
/// metrics, on the real binary.
@Suite struct OperatorTests {
    func llatte(_ w: PipelineWorld, _ args: [String], tag: String = "cmd") throws -> ChildProcess {
        let p = try ChildProcess(ChildProcess.llatte, args, outputPrefix: w.dir.file("\(tag)-\(UUID().uuidString.prefix(6))"))
        p.wait()
        return p
    }

    /// The value of a metric's first sample in a textfile.
    static func value(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + "{") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @Test func versionIsPrintedAndRecordedWithEachRun() throws {
        let w = try PipelineWorld()
        let v = try llatte(w, ["--version"])
        #expect(v.wait() == 0 && v.stdout == llatteVersion + "\n", "\(v.stdout)\(v.stderr)")
        #expect(try w.run("backfill").wait() == 0)
        let runs = try jsonLines(try llatte(w, ["runs", "--embedding-store", w.dir.file("out/embeddings.db"), "--json"]).stdout)
        #expect(runs.first?["llatte_version"] as? String == llatteVersion)
    }

    @Test func runsShowsOkRunsAndALockedAttemptWithTheirExitCodes() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        // A refresh holds its lock while a second one is refused.
        let hold = w.dir.write("hold", text: "")
        let holder = try w.run("refresh", env: ["LLATTE_TEST_HOLD": hold])
        var waited = 0
        while FileLock.readHolder(path: w.dir.file("out/embeddings.db.refresh.lock")) == nil && waited < 600 { usleep(20_000); waited += 1 }
        let refused = try w.run("refresh")
        #expect(refused.wait() == 4, "\(refused.stderr)")
        #expect(refused.stderr.contains("started=20"), "the holder's start time is ISO-8601: \(refused.stderr)")
        try FileManager.default.removeItem(atPath: hold)
        #expect(holder.wait() == 0, "\(holder.stderr)")
        let store = w.dir.file("out/embeddings.db")
        let runs = try jsonLines(try llatte(w, ["runs", "--embedding-store", store, "--json"]).stdout)
        // The refused attempt is recorded when refused, possibly before the holder began its record.
        #expect(runs.map { $0["pipeline"] as? String } == ["refresh", "refresh", "backfill"])
        let outcomes = runs.map { "\($0["status"] as? String ?? "?"):\(($0["exit_code"] as? NSNumber)?.intValue ?? -1)" }
        #expect(Set(outcomes.prefix(2)) == ["locked:4", "ok:0"] && outcomes[2] == "ok:0", "\(outcomes)")
        #expect((runs[2]["users_encoded"] as? NSNumber)?.intValue == 40 && (runs[2]["files_ingested"] as? NSNumber)?.intValue == 2)
        let refresh = try #require(runs.first { $0["status"] as? String == "ok" && $0["pipeline"] as? String == "refresh" })
        #expect((refresh["files_skipped"] as? NSNumber)?.intValue == 2)
        // The text form, with ISO-8601 times.
        let text = try llatte(w, ["runs", "--embedding-store", store, "--pipeline", "backfill"]).stdout
        #expect(text.hasPrefix("run 1  backfill 0/1  20") && text.contains("Z → 20") && text.contains("  ok  exit 0  users 40 encoded"), "\(text)")
        // The locked attempt left the holder's metrics alone and was counted.
        let metrics = String(decoding: try Files.readAll(w.dir.file("out/llatte_refresh.prom")), as: UTF8.self)
        #expect(metrics.contains("llatte_last_run_ok{pipeline=\"refresh\",shard=\"0/1\"} 1"), "\(metrics)")
        #expect(metrics.contains("llatte_runs_locked_total{pipeline=\"refresh\",shard=\"0/1\"} 1"), "\(metrics)")
    }

    @Test func aFailedRunIsRecordedWithItsErrorAndExitCode() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        // The catalog is gone: the checkpoint's semantic-model check fails before any work.
        try FileManager.default.moveItem(atPath: w.dir.file("catalog.db"), toPath: w.dir.file("catalog.moved"))
        let p = try w.run("refresh")
        #expect(p.wait() == 1)
        let runs = try jsonLines(try llatte(w, ["runs", "--embedding-store", w.dir.file("out/embeddings.db"), "--json", "--last", "1"]).stdout)
        #expect(runs.first?["status"] as? String == "failed" && (runs.first?["exit_code"] as? NSNumber)?.intValue == 1)
        #expect((runs.first?["message"] as? String ?? "").contains("catalog"), "\(runs)")
        let metrics = String(decoding: try Files.readAll(w.dir.file("out/llatte_refresh.prom")), as: UTF8.self)
        #expect(metrics.contains("llatte_last_run_ok{pipeline=\"refresh\",shard=\"0/1\"} 0") && metrics.contains("llatte_last_run_exit_code{pipeline=\"refresh\",shard=\"0/1\"} 1"))
    }

    @Test func aResumedRunsRecordAndMetricsCoverTheWholeRun() throws {
        let w = try PipelineWorld()
        let killed = try w.run("backfill", env: ["LLATTE_TEST_KILL_AT": "after-commit:3", "LLATTE_TEST_MARKERS": w.dir.file("markers")])
        #expect(killed.wait() == 128 + SIGKILL)
        #expect(Files.exists(w.dir.file("markers/after-commit.reached")))
        let resumed = try w.run("backfill")
        #expect(resumed.wait() == 0 && resumed.stdout.contains("(resumed)"), "\(resumed.stdout)")
        let runs = try jsonLines(try llatte(w, ["runs", "--embedding-store", w.dir.file("out/embeddings.db"), "--json"]).stdout)
        #expect(runs.count == 1 && (runs[0]["users_encoded"] as? NSNumber)?.intValue == 40 && (runs[0]["rows_written"] as? NSNumber)?.intValue == 40)
        let metrics = String(decoding: try Files.readAll(w.dir.file("out/llatte_backfill.prom")), as: UTF8.self)
        #expect(metrics.contains("llatte_rows_written{pipeline=\"backfill\",shard=\"0/1\"} 40"), "\(metrics)")
        #expect(metrics.contains("llatte_users_encoded{pipeline=\"backfill\",shard=\"0/1\"} 40"), "\(metrics)")
    }

    @Test func inputListsAreStoredOncePerFileAndTheNightlyPrunesOldRecords() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        for _ in 0..<3 { #expect(try w.run("refresh").wait() == 0) }
        let db = try w.store().database
        // Two log files, the features file and the catalog: four distinct lines; the refreshes share one list.
        #expect(try db.scalarInt("SELECT count(*) FROM input_files") == 4)
        #expect(try db.scalarInt("SELECT count(DISTINCT input_set) FROM runs WHERE pipeline = 'refresh'") == 1)
        #expect(try db.scalarInt("SELECT count(*) FROM runs WHERE inputs != ''") == 0)
        // Records that finished 100 days ago are pruned by the nightly (default 90 days), with their lists.
        w.dir.writeLines("logs/day2.jsonl", [eventLine(user: PipelineWorld.userID(1), id: "\"n1\"", ts: 1_790_300_000, item: 1001)])
        #expect(try w.run("refresh").wait() == 0)
        try db.execute("UPDATE runs SET finished = finished - 100 * 86400 WHERE run_id <= 4")
        let nightly = try w.run("nightly")
        #expect(nightly.wait() == 0, "\(nightly.stderr)")
        #expect(nightly.stderr.contains("pruned 4 run records older than 90 days"), "\(nightly.stderr)")
        #expect(try db.scalarInt("SELECT min(run_id) FROM runs") == 5)
        #expect(try db.scalarInt("SELECT count(*) FROM input_sets") == 1)
        #expect(try db.scalarInt("SELECT count(*) FROM run_progress WHERE run_id <= 4") == 0)
    }

    @Test func logLinesAndPrintedTimesAreISO8601UTC() throws {
        let w = try PipelineWorld()
        let p = try w.run("backfill")
        #expect(p.wait() == 0)
        // stderr is a file here, not a terminal: every log line starts with a timestamp.
        let lines = p.stderr.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression) != nil },
                "\(lines.prefix(3))")
        let get = try llatte(w, ["get", String(PipelineWorld.userID(1)), "--embedding-store", w.dir.file("out/embeddings.db")])
        #expect(get.stdout.range(of: #"as_of 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ .* computed_at 20\d\d-"#, options: .regularExpression) != nil, "\(get.stdout)")
    }

    @Test func getReadsManyUsersAndSaysWhichHaveNoRow() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        let store = ["--embedding-store", w.dir.file("out/embeddings.db")]
        let users = [PipelineWorld.userID(3), 12345, PipelineWorld.userID(0)]
        let file = w.dir.write("users.txt", text: "# some users\n\(users[1])\n\n\(users[2])\n")
        let p = try llatte(w, ["get", String(users[0]), "--users-file", file, "--json"] + store)
        #expect(p.wait() == 2, "\(p.stderr)")
        let lines = try jsonLines(p.stdout)
        #expect(lines.map { ($0["user_id"] as? NSNumber)?.uint64Value } == users)
        #expect(lines.map { $0["found"] as? Bool } == [true, false, true])
        #expect(p.stderr.contains("1 of the users asked for have no row"))
        let all = try llatte(w, ["get", String(users[0]), String(users[2])] + store)
        #expect(all.wait() == 0)
        let bad = try llatte(w, ["get", "--users-file", w.dir.write("bad.txt", text: "12\nabc\n")] + store)
        #expect(bad.wait() == 1 && bad.stderr.contains("bad.txt:2: not a user id"), "\(bad.stderr)")
        let encode = try llatte(w, ["encode", "--checkpoint", Goldens.directory("small"), "--history-store", w.dir.file("out/history.db"),
                                    "--catalog", w.dir.file("catalog.db"), "--user", "42"])
        #expect(encode.wait() == 1 && encode.stderr.contains("user 42 has neither events nor features"), "\(encode.stderr)")
        let list = try jsonLines(try llatte(w, ["model", "list", "--json"] + store).stdout)
        #expect(list.first?["version"] as? String == "golden-small" && list.first?["status"] as? String == "active")
    }

    @Test func metricsValidateAndReportCoverageAgeAndEachShardsOwnQuarantine() throws {
        let w = try PipelineWorld()
        // Bad lines: some with a user of each shard, some without a user (shard 0 keeps those).
        // 4 bad lines of 204, under the default 2% limit.
        w.dir.writeLines("logs/day9.jsonl", (0..<200).map { eventLine(user: PipelineWorld.userID($0 % 40), id: "\"b\($0)\"", ts: 1_790_900_000) }
                         + (0..<2).map { "{\"user_id\":\(PipelineWorld.userID($0)),\"ts\":\"bad\"}" } + ["not json", "{}"])
        var quarantined = 0
        for k in 0..<2 {
            w.writePipeline("backfill", out: "shard\(k)", name: "shard\(k)")
            let p = try w.run("shard\(k)", extra: ["--shard", "\(k)/2"])
            #expect(p.wait() == 0, "\(p.stderr)")
            let prom = w.dir.file("shard\(k)/llatte_backfill_shard\(k)of2.prom")
            let text = String(decoding: try Files.readAll(prom), as: UTF8.self)
            quarantined += Int(OperatorTests.value(text, "llatte_records_quarantined") ?? -1)
            // A real Prometheus parser reads the file.
            let check = try ChildProcess("/usr/bin/env", ["python3", "-c", """
                import sys
                from prometheus_client.parser import text_string_to_metric_families
                names = [f.name for f in text_string_to_metric_families(open(sys.argv[1]).read())]
                print(len(names))
                """, prom], outputPrefix: w.dir.file("prom\(k)"))
            #expect(check.wait() == 0, "prometheus_client could not parse \(prom): \(check.stderr)")
            #expect(Int(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 15, "\(check.stdout)")
        }
        #expect(quarantined == 4, "each bad line once over the two shards")
        #expect(try w.run("backfill").wait() == 0)
        let text = String(decoding: try Files.readAll(w.dir.file("out/llatte_backfill.prom")), as: UTF8.self)
        #expect(text.contains("llatte_active_version_coverage_ratio{pipeline=\"backfill\",shard=\"0/1\",version=\"golden-small\"} 1"), "\(text)")
        #expect(text.contains("llatte_embedding_age_seconds{pipeline=\"backfill\",shard=\"0/1\",version=\"golden-small\",quantile=\"0.99\"}"), "\(text)")
        #expect(OperatorTests.value(text, "llatte_users_with_history") == 40)
    }
}
