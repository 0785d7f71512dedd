import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// Settings that would silently do something else are refused: repeated YAML keys, a scalar for a
/// list fixed in the store, options that cannot apply.
@Suite struct StrictConfigTests {
    @Test func aRepeatedPipelineKeyIsAnErrorNamingBothLines() throws {
        let w = try PipelineWorld()
        let text = String(decoding: try Files.readAll(w.dir.file("backfill.yaml")), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let at = try #require(lines.firstIndex { $0.hasPrefix("  window_users:") })
        let doubled = (lines[...at] + ["  window_users: 64"] + lines[(at + 1)...]).joined(separator: "\n")
        let path = w.dir.write("doubled.yaml", text: doubled)
        #expect {
            try PipelineConfig.load(path)
        } throws: { e in
            guard let e = e as? ConfigError else { return false }
            return e.key == "encode.window_users" && e.message.contains("given twice (lines \(at + 1) and \(at + 2))")
        }
    }

    @Test func conversionTypesMustBeAList() throws {
        let w = try PipelineWorld()
        let text = String(decoding: try Files.readAll(w.dir.file("backfill.yaml")), as: UTF8.self)
        let path = w.dir.write("scalar.yaml", text: text.replacingOccurrences(of: "conversion_types: [purchase]", with: "conversion_types: purchase"))
        #expect {
            try PipelineConfig.load(path)
        } throws: { e in (e as? ConfigError)?.key == "history.conversion_types" && "\(e)".contains("must be a list (write [purchase])") }
    }

    @Test func pollIntervalWithoutFollowIsAUsageError() throws {
        let w = try PipelineWorld()
        let p = try w.run("refresh", extra: ["--poll-interval", "1"])
        #expect(p.wait() == 64, "\(p.stderr)")
        #expect(p.stderr.contains("--poll-interval applies with --follow only"), "\(p.stderr)")
    }

    @Test func ingestRefusesARetentionCapThatDiffersFromTheStores() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)   // the store's retention cap is 500
        let store = w.dir.file("out/history.db")
        let p = try ChildProcess(ChildProcess.llatte, ["ingest", "--history-store", store, "--retention-cap", "100", w.dir.file("logs")],
                                 outputPrefix: w.dir.file("ingest"))
        #expect(p.wait() == 1, "\(p.stderr)")
        #expect(p.stderr.contains("retention_cap: store=500 given=100"), "\(p.stderr)")
        let same = try ChildProcess(ChildProcess.llatte, ["ingest", "--history-store", store, "--retention-cap", "500", w.dir.file("logs")],
                                    outputPrefix: w.dir.file("ingest-same"))
        #expect(same.wait() == 0, "\(same.stderr)")
    }
}

/// An empty day is visible: a warning naming what the inputs held, `ingest.require_new_files`,
/// and the count of new files in the metrics.
@Suite struct EmptyInputTests {
    @Test func noNewFileIsAWarningAMetricAndWithRequireNewFilesExit3() throws {
        let w = try PipelineWorld()
        #expect(try w.run("backfill").wait() == 0)
        // An inputs directory holding only a file llatte does not read.
        w.dir.write("today/events.jsonl.gz", [0x1F, 0x8B, 0x08, 0x00])
        w.writePipeline("refresh", out: "out", name: "empty", events: w.dir.file("today"))
        let p = try w.run("empty")
        #expect(p.wait() == 0, "\(p.stderr)")
        #expect(p.stderr.contains("no event log (*.jsonl, *.jsonl.lz4, *.ndjson, *.ndjson.lz4) in \(w.dir.file("today")); found: \(w.dir.file("today/events.jsonl.gz"))"),
                "\(p.stderr)")
        let metrics = String(decoding: try Files.readAll(w.dir.file("out/llatte_refresh.prom")), as: UTF8.self)
        #expect(metrics.contains("llatte_files_ingested{pipeline=\"refresh\",shard=\"0/1\"} 0"), "\(metrics)")
        // With require_new_files, a nightly whose day's file did not arrive exits 3 (after doing its work).
        let text = String(decoding: try Files.readAll(w.dir.file("nightly.yaml")), as: UTF8.self)
        let strict = w.dir.write("strict.yaml", text: text.replacingOccurrences(of: "ingest:\n", with: "ingest:\n  require_new_files: true\n"))
        let nightly = try ChildProcess(ChildProcess.llatte, ["run", strict], outputPrefix: w.dir.file("strict"))
        #expect(nightly.wait() == 3, "\(nightly.stderr)")
        #expect(nightly.stderr.contains("no new event log file arrived (ingest.require_new_files)") && nightly.stdout.contains("status=ok"), "\(nightly.stdout)\(nightly.stderr)")
        w.dir.writeLines("logs/day5.jsonl", [eventLine(user: PipelineWorld.userID(1), id: "\"d5\"", ts: 1_790_500_000)])
        let arrived = try ChildProcess(ChildProcess.llatte, ["run", strict], outputPrefix: w.dir.file("strict2"))
        #expect(arrived.wait() == 0, "\(arrived.stderr)")
    }
}
