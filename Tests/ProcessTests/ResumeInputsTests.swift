#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// A killed run resumes whatever happened to its input files since: a log deleted by retention,
/// touched, or re-delivered with other content is already in the history store by its content, so
/// the resume neither re-reads it nor refuses (docs/pipelines.md, "Resume").
@Suite(.serialized) struct ResumeInputsTests {
    /// Kills a backfill after its ingest, mid-encode, and returns the world with a partial run.
    static func killedWorld() throws -> PipelineWorld {
        let w = try PipelineWorld()
        let markers = w.dir.file("markers")
        let killed = try w.run("backfill", env: ["LLATTE_TEST_KILL_AT": "\(KillPoint.midTransaction.rawValue):3", "LLATTE_TEST_MARKERS": markers])
        #expect(killed.wait() == 128 + SIGKILL, "\(killed.stderr)")
        #expect(Files.exists(markers + "/\(KillPoint.midTransaction.rawValue).reached"))
        #expect(try w.rows().count < 40)
        return w
    }

    @Test func aDeletedLogAndFeaturesFileDoNotStrandTheResume() throws {
        let expected = try CrashResumeTests.reference()
        let w = try ResumeInputsTests.killedWorld()
        try FileManager.default.removeItem(atPath: w.dir.file("logs/day0.jsonl"))
        try FileManager.default.removeItem(atPath: w.dir.file("users.jsonl"))
        let rerun = try w.run("backfill")
        #expect(rerun.wait() == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("(resumed)"), "\(rerun.stdout)")
        #expect(sameRows(try w.rows(), expected), "rows differ after resuming without the deleted files")
        // The next run is an ordinary one over what is there now: the features file it names is missing.
        let next = try w.run("backfill")
        #expect(next.wait() == 3, "\(next.stderr)")
        #expect(next.stderr.contains("rejected features \(w.dir.file("users.jsonl"))"), "\(next.stderr)")
    }

    @Test func aTouchedOrRedeliveredLogIsNotReadAgainByTheResume() throws {
        let expected = try CrashResumeTests.reference()
        let w = try ResumeInputsTests.killedWorld()
        var times = [timespec(tv_sec: 1_800_000_000, tv_nsec: 0), timespec(tv_sec: 1_800_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, w.dir.file("logs/day0.jsonl"), &times, 0) == 0)
        // day1 re-delivered with other content: the resume keeps the content it started with.
        let day1 = w.dir.file("logs/day1.jsonl")
        let original = try String(contentsOfFile: day1, encoding: .utf8)
        try (original + eventLine(user: PipelineWorld.userID(0), id: "\"late-1\"", ts: 1_790_100_000, item: 1001) + "\n")
            .write(toFile: day1, atomically: true, encoding: .utf8)
        let rerun = try w.run("backfill")
        #expect(rerun.wait() == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("(resumed)"), "\(rerun.stdout)")
        #expect(!rerun.stderr.contains("ingested \(w.dir.file("logs/day"))"), "the resume read a log again: \(rerun.stderr)")
        #expect(sameRows(try w.rows(), expected), "rows differ after resuming with touched inputs")
        // The new content is the next run's.
        let next = try w.run("backfill")
        #expect(next.wait() == 0, "\(next.stderr)")
        #expect(next.stderr.contains("ingested \(day1)"), "\(next.stderr)")
    }

    @Test func aChangedCatalogIsRefusedNamingBothAndFreshStartsOver() throws {
        let w = try ResumeInputsTests.killedWorld()
        let catalog = w.dir.file("catalog.db")
        try FileManager.default.removeItem(atPath: catalog)
        let cw = try CatalogWriter(path: catalog, semanticModel: "golden-sem-v1", dSem: 8)
        try cw.add((0..<12).map { i in CatalogItem(itemID: 1000 + UInt64(i), text: nil, vector: (0..<8).map { Float($0) / 8 }) })
        try cw.close()
        let refused = try w.run("backfill")
        #expect(refused.wait() == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("restore that catalog to resume, or pass --fresh"), "\(refused.stderr)")
        #expect(refused.stderr.contains(catalog + " sha256 "), "\(refused.stderr)")
        let fresh = try w.run("backfill", extra: ["--fresh"])
        #expect(fresh.wait() == 0, "\(fresh.stderr)")
        #expect(try w.rows().count == 40)
    }
}
