#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Store
import Support
import Testing
import TestSupport

/// A reader polling the embedding store while runs write it (readers, docs/store.md).
@Suite struct ConcurrentReaderTests {
    @Test func aPollingReaderNeverSeesAPartialRowOrAVersionGoingBackwards() throws {
        let w = try PipelineWorld(users: 60, windowUsers: 2)
        let backfill = try w.run("backfill")
        var seen: [Int64: Int64] = [:]   // user key → highest history_version seen
        var polls = 0, rowsRead = 0
        var problems: [String] = []
        func poll() {
            guard Files.exists(w.dir.file("out/embeddings.db")) else { return }
            do {
                let db = try Database(path: w.dir.file("out/embeddings.db"), readOnly: true, create: false, busyTimeoutMs: 10_000)
                guard try db.tableExists("model_versions"),
                      let table = try? db.prepare("SELECT table_name, interests, interest_dim FROM model_versions WHERE version = 'golden-small'") else { return }
                guard try table.step() else { return }
                let name = table.text(0), k = Int(table.int64(1)), d = Int(table.int64(2))
                let s = try db.prepare("SELECT user_id, codes, scales, history_version FROM \(name)")
                while try s.step() {
                    rowsRead += 1
                    if s.blob(1).count != k * d || s.blob(2).count != 4 * k { problems.append("partial row for \(s.int64(0))") }
                    let key = s.int64(0), hv = s.int64(3)
                    if let prev = seen[key], hv < prev { problems.append("user \(key): history_version \(prev) → \(hv)") }
                    seen[key] = max(seen[key] ?? 0, hv)
                }
                polls += 1
            } catch {
                problems.append("\(error)")
            }
        }
        while !backfill.hasExited() { poll(); usleep(2_000) }
        #expect(backfill.wait() == 0, "\(backfill.stderr)")
        poll()
        let afterBackfill = seen
        // A second day with conversions, then a refresh, still polled.
        w.writeDay(7, purchasesFor: Set(stride(from: 0, to: 60, by: 3)))
        let refresh = try w.run("refresh")
        while !refresh.hasExited() { poll(); usleep(2_000) }
        #expect(refresh.wait() == 0, "\(refresh.stderr)")
        poll()
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(polls > 20 && rowsRead > 200)
        #expect(seen.count == 60)
        // The 20 converters' refreshed rows were observed, with grown versions.
        #expect(seen.filter { $0.value > afterBackfill[$0.key] ?? 0 }.count == 20)
    }
}

/// Partial failure: a bad file is rejected with exit code 3 while the good files still land.
@Suite struct PartialFailureTests {
    @Test func aCorruptFileGivesThePartialFailureCodeAndTheRestIsWritten() throws {
        let w = try PipelineWorld()
        w.dir.write("logs/broken.jsonl.lz4", Array("not an lz4 frame at all".utf8))
        let p = try w.run("backfill")
        #expect(p.wait() == 3, "\(p.stderr)")
        #expect(p.stderr.contains("rejected \(w.dir.file("logs/broken.jsonl.lz4"))"))
        #expect(try w.rows().count == 40)
        // A backfill that rejected a file built its version but does not promote it.
        #expect(try w.store().version("golden-small")?.status == .ready)
        #expect(p.stdout.contains("not promoted: its backfill rejected 1 input file"), "\(p.stdout)")
    }
}
