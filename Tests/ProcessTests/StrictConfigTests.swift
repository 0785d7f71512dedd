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
