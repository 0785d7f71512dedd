#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// SIGTERM while ingesting: the run stops at the next batch or file boundary instead of finishing
/// the whole ingest, exits 5 (also an ingest-only pipeline), and the next run goes on to the same
/// history store an uninterrupted run makes (docs/pipelines.md, "Runs, resume, signals, locks").
@Suite(.serialized) struct IngestSignalTests {
    /// Four day files; an ingest-only pipeline file and the world's pipelines, all reading in
    /// batches of `batchEvents`.
    static func world(batchEvents: Int) throws -> PipelineWorld {
        let w = try PipelineWorld(days: 4)
        w.writePipeline("nightly", out: "out", name: "ingest-only", features: false, ingestOnly: true, batchEvents: batchEvents)
        for kind in ["backfill", "refresh", "nightly"] { w.writePipeline(kind, out: "out", batchEvents: batchEvents) }
        return w
    }

    static func stats(_ w: PipelineWorld) throws -> HistoryStats { try HistoryStore(readingAt: w.dir.file("out/history.db")).stats() }

    /// Starts `args`, paused at the `ingest-batch` point of batch `batch`, sends SIGTERM there and lets it go on.
    static func signalledAt(batch: Int, _ w: PipelineWorld, _ args: [String]) throws -> ChildProcess {
        let hold = w.dir.write("hold-\(batch)", text: "")
        let markers = w.dir.file("markers-\(batch)")
        let p = try ChildProcess(ChildProcess.llatte, args,
                                 environment: ["LLATTE_TEST_PAUSE_AT": "ingest-batch:\(batch)", "LLATTE_TEST_HOLD": hold,
                                               "LLATTE_TEST_MARKERS": markers],
                                 outputPrefix: w.dir.file("signalled-\(batch)"))
        let deadline = Date().addingTimeInterval(60)
        while !Files.exists(markers + "/ingest-batch.paused") && !p.hasExited() && Date() < deadline { usleep(10_000) }
        #expect(Files.exists(markers + "/ingest-batch.paused"), "the ingest never reached batch \(batch): \(p.stderr)")
        p.kill(SIGTERM)
        usleep(200_000)   // the handler raises the stop flag
        try FileManager.default.removeItem(atPath: hold)
        return p
    }

    @Test func anIngestOnlyPipelineStopsAtTheNextFileAndExitsFive() throws {
        let reference = try IngestSignalTests.world(batchEvents: 1 << 20)
        let full = try ChildProcess(ChildProcess.llatte, ["run", reference.dir.file("ingest-only.yaml")], outputPrefix: reference.dir.file("full"))
        #expect(full.wait() == 0, "\(full.stderr)")

        let w = try IngestSignalTests.world(batchEvents: 1 << 20)
        let p = try IngestSignalTests.signalledAt(batch: 0, w, ["run", w.dir.file("ingest-only.yaml")])
        #expect(p.wait() == 5, "\(p.stderr)")
        #expect(p.stdout.contains("files ingested=1 ") && p.stdout.contains("status=interrupted"), "\(p.stdout)")
        #expect(try IngestSignalTests.stats(w).files == 1)
        let rerun = try ChildProcess(ChildProcess.llatte, ["run", w.dir.file("ingest-only.yaml")], outputPrefix: w.dir.file("rerun"))
        #expect(rerun.wait() == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("files ingested=3 skipped=1 "), "\(rerun.stdout)")
        #expect(try IngestSignalTests.stats(w) == IngestSignalTests.stats(reference))
    }

    @Test func aSignalInsideAFileRollsItBackAndTheEncodeDoesNotStart() throws {
        let reference = try IngestSignalTests.world(batchEvents: 40)
        let full = try reference.run("backfill")
        #expect(full.wait() == 0, "\(full.stderr)")

        let w = try IngestSignalTests.world(batchEvents: 40)
        // Batch 1 is inside the first day file (over 100 events): the file is rolled back whole.
        let p = try IngestSignalTests.signalledAt(batch: 1, w, ["run", w.dir.file("backfill.yaml")])
        #expect(p.wait() == 5, "\(p.stderr)")
        #expect(p.stdout.contains("files ingested=0 ") && p.stdout.contains("status=interrupted"), "\(p.stdout)")
        #expect(p.stderr.contains("0 of 4 event logs done"), "\(p.stderr)")
        #expect(try IngestSignalTests.stats(w).files == 0)
        #expect(try w.store().runHistory(pipeline: "backfill", last: 5).first?.status == "interrupted")
        // Nothing was encoded, so the next run is a new one (not a resume) and matches an uninterrupted run.
        let rerun = try w.run("backfill")
        #expect(rerun.wait() == 0, "\(rerun.stderr)")
        #expect(!rerun.stdout.contains("(resumed)"), "\(rerun.stdout)")
        #expect(try IngestSignalTests.stats(w) == IngestSignalTests.stats(reference))
        #expect(sameRows(try w.rows(), try reference.rows()))
    }

    @Test func llatteIngestStopsOnSigtermWithExitFive() throws {
        let w = try IngestSignalTests.world(batchEvents: 1 << 20)
        let args = ["ingest", "--history-store", w.dir.file("out/history.db"), "--conversion-types", "purchase", "--min-ts", "0", "--max-ts", "4000000000",
                    w.dir.file("logs")]
        let p = try IngestSignalTests.signalledAt(batch: 0, w, args)
        #expect(p.wait() == 5, "\(p.stderr)")
        #expect(p.stdout.contains("status=interrupted"), "\(p.stdout)")
        #expect(try IngestSignalTests.stats(w).files == 1)
    }
}
