#if canImport(Glibc)
import Glibc
#endif
import Events
import Foundation
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// The ingest stage end to end: ledger, deduplication, versions, retention, settings and locks.
@Suite struct IngestTests {
    static let settings = HistorySettings(conversionTypes: ["purchase", "lead"], minTs: 0, maxTs: 10_000_000, retentionCap: 100)

    func options(_ dir: TempDirectory, _ inputs: [String], settings: HistorySettings? = IngestTests.settings) -> IngestOptions {
        var o = IngestOptions(historyStore: dir.file("history.db"), settings: settings, inputs: inputs, quarantineDirectory: dir.file("q"))
        o.lockTimeout = 0
        return o
    }

    func ingest(_ dir: TempDirectory, _ inputs: [String], settings: HistorySettings? = IngestTests.settings,
                configure: (inout IngestOptions) -> Void = { _ in }) throws -> IngestReport {
        var o = options(dir, inputs, settings: settings)
        configure(&o)
        return try Ingestor(options: o).run()
    }

    func store(_ dir: TempDirectory) throws -> HistoryStore { try HistoryStore(path: dir.file("history.db"), settings: nil) }

    @Test func theSummaryCountsTheRecordsThisRunQuarantined() throws {
        let dir = TempDirectory()
        let bad = ["not json", "{\"user_id\":5}"]
        let log = dir.writeLines("a.jsonl", (0..<50).map { eventLine(user: UInt64($0), id: "\($0)", ts: 1000) } + bad)
        let features = dir.writeLines("users.jsonl", ["{\"user_id\":1,\"country\":\"BR\"}", "{\"user_id\":\"x\"}", "nope"])
        let first = try ingest(dir, [log]) { $0.featureFiles = [features]; $0.maxBadFraction = 0.9 }
        #expect(first.quarantinedRecords == 4, "2 bad event lines and 2 bad feature records were written")
        // The same content under another name (and the features again): skipped, nothing quarantined again.
        let copy = dir.write("b.jsonl", try Files.readAll(log))
        let second = try ingest(dir, [copy]) { $0.featureFiles = [features]; $0.maxBadFraction = 0.9 }
        #expect(second.skippedFiles == 1 && second.quarantinedRecords == 0, "\(second.quarantinedRecords)")
    }

    @Test func aTouchedFileIsReadOnceThenKnownByItsNewSizeAndTime() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("logs/day1.jsonl", (0..<50).map { eventLine(user: UInt64($0 % 5), id: String($0), ts: Int64(100 + $0)) } + ["bad"])
        #expect(try ingest(dir, [f]) { $0.maxBadFraction = 0.5 }.ingestedFiles == 1)
        // touch (or a copy without times): the content is read and recognised once…
        var times = [timespec(tv_sec: 1_800_000_000, tv_nsec: 0), timespec(tv_sec: 1_800_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, f, &times, 0) == 0)
        let touched = try ingest(dir, [f]) { $0.maxBadFraction = 0.5 }
        #expect(touched.skippedFiles == 1 && touched.files[0].summary != nil && touched.quarantinedRecords == 0)
        // …and from then on known by its path, size and new time without reading it.
        let later = try ingest(dir, [f]) { $0.maxBadFraction = 0.5 }
        #expect(later.skippedFiles == 1 && later.files[0].summary == nil, "the touched file was read again")
    }

    @Test func reIngestOfTheSameContentIsANoOp() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("logs/day1.jsonl.lz4", (0..<50).map { eventLine(user: UInt64($0 % 5), id: String($0), ts: Int64(100 + $0)) }, lz4: true)
        let first = try ingest(dir, [dir.file("logs")])
        #expect(first.ingestedFiles == 1 && first.newEvents == 50)
        let again = try ingest(dir, [dir.file("logs")])
        #expect(again.ingestedFiles == 0 && again.skippedFiles == 1 && again.newEvents == 0)
        // The same content under another name (and a fresh mtime) is recognised by its sha256.
        let copy = dir.write("logs/copy.jsonl.lz4", try Files.readAll(f))
        let third = try ingest(dir, [copy])
        #expect(third.skippedFiles == 1 && third.newEvents == 0)
        let s = try store(dir).stats()
        #expect(s.files == 1 && s.historyEvents == 50 && s.users == 5)
    }

    @Test func reDeliveredPathWithChangedContentIsIngestedWithAWarning() throws {
        let dir = TempDirectory()
        let path = dir.writeLines("day.jsonl", (0..<10).map { eventLine(user: 1, id: String($0), ts: Int64(100 + $0)) })
        _ = try ingest(dir, [path])
        dir.writeLines("day.jsonl", (5..<15).map { eventLine(user: 1, id: String($0), ts: Int64(100 + $0)) })
        var logs: [String] = []
        let r = try Ingestor(options: options(dir, [path])).run { logs.append($0) }
        #expect(r.ingestedFiles == 1)
        #expect(r.newEvents == 5 && r.duplicates == 5)
        #expect(r.files[0].warning?.contains("ingested before with different content") == true)
        #expect(logs.contains { $0.hasPrefix("warning: ") })
        #expect(try store(dir).userState(1)?.historyVersion == 15)
    }

    @Test func outOfOrderAndLateFilesKeepTimeOrder() throws {
        let dir = TempDirectory()
        // Day 2 arrives first; day 1 later; then a late file carrying old timestamps.
        let d2 = dir.writeLines("d2.jsonl", [eventLine(user: 9, id: "20", ts: 2000), eventLine(user: 9, id: "21", ts: 2100)])
        let d1 = dir.writeLines("d1.jsonl", [eventLine(user: 9, id: "11", ts: 1100), eventLine(user: 9, id: "10", ts: 1000)])
        let late = dir.writeLines("late.jsonl", [eventLine(user: 9, id: "\"a\"", ts: 1500), eventLine(user: 9, id: "15", ts: 1500)])
        _ = try ingest(dir, [d2])
        _ = try ingest(dir, [d1])
        _ = try ingest(dir, [late])
        let h = try #require(try store(dir).history(9))
        #expect(h.events.map(\.ts) == [1000, 1100, 1500, 1500, 2000, 2100])
        // Ties: integer ids before string ids.
        #expect(h.events[2].eventID == .integer(15) && h.events[3].eventID == .string(Array("a".utf8)))
        #expect(h.asOf == 2100 && h.state.historyVersion == 6)
    }

    @Test func duplicatesAreDroppedFirstWinsAndIdsCompareAsBytes() throws {
        let dir = TempDirectory()
        let nfc = "\"caf\u{00E9}\""         // é precomposed
        let nfd = "\"cafe\u{0301}\""        // e + combining acute: equal under Unicode normalization, not as bytes
        let f = dir.writeLines("a.jsonl", [
            eventLine(user: 1, id: "42", ts: 100, item: 1),
            eventLine(user: 1, id: "\"42\"", ts: 100, item: 2),  // string "42" differs from integer 42
            eventLine(user: 1, id: "42", ts: 999, item: 3),      // repeat of integer 42: dropped, first wins
            eventLine(user: 1, id: nfc, ts: 101, item: 4),
            eventLine(user: 1, id: nfd, ts: 102, item: 5),
            eventLine(user: 1, id: "4.2e1", ts: 103, item: 6),   // the number 42 again
            eventLine(user: 2, id: "42", ts: 100, item: 7),      // other user: distinct
        ])
        let r = try ingest(dir, [f])
        #expect(r.newEvents == 5 && r.duplicates == 2)
        let h = try #require(try store(dir).history(1))
        #expect(h.events.map(\.itemID).sorted() == [1, 2, 4, 5])
        #expect(h.events.first { $0.eventID == .integer(42) }?.ts == 100)
        #expect(try store(dir).userState(2)?.historyVersion == 1)
    }

    @Test func userWithOnlyInvalidEventsHasNoHistory() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("a.jsonl", [
            eventLine(user: 1, id: "1", ts: 100),
            eventLine(user: 3, id: "1", ts: 100, extra: ",\"dwell_ms\":-5"),
            "{\"user_id\":3,\"event_id\":2}",
        ] + (2..<100).map { eventLine(user: 1, id: String($0), ts: 100) })
        let r = try ingest(dir, [f])
        #expect(r.quarantinedRecords == 2 && r.ingestedFiles == 1)
        #expect(try store(dir).userState(3) == nil)
        #expect(try store(dir).history(3) == nil)
        #expect(try store(dir).stats().users == 1)
        let q = try Files.list(dir.file("q"))
        #expect(q.count == 1)
    }

    @Test func retentionKeepsTheLatestAndRemembersEvictedIds() throws {
        let dir = TempDirectory()
        let cap = IngestTests.settings.retentionCap
        // Three deliveries of 150 events each for one user, in shuffled time order across files.
        for (k, range) in [(0, 150..<300), (1, 0..<150), (2, 300..<450)] {
            dir.writeLines("f\(k).jsonl", range.map { eventLine(user: 7, id: String($0), ts: Int64(10_000 + $0)) })
            _ = try ingest(dir, [dir.file("f\(k).jsonl")])
        }
        let h = try #require(try store(dir).history(7))
        #expect(h.events.count == cap)
        #expect(h.events.first?.ts == 10_000 + 450 - Int64(cap) && h.events.last?.ts == 10_449)
        #expect(h.state.historyVersion == 450)
        // Re-delivery of an evicted event (id 3, long gone) is still a duplicate.
        let again = dir.writeLines("redeliver.jsonl", [eventLine(user: 7, id: "3", ts: 10_003), eventLine(user: 7, id: "1000", ts: 20_000)])
        let r = try ingest(dir, [again])
        #expect(r.duplicates == 1 && r.newEvents == 1)
        let after = try #require(try store(dir).history(7))
        #expect(after.state.historyVersion == 451)
        #expect(after.events.count == cap && after.events.last?.ts == 20_000)
        #expect(!after.events.contains { $0.eventID == .integer(3) })
    }

    @Test func lateConversionsSetLastConversionVersion() throws {
        let dir = TempDirectory()
        let d1 = dir.writeLines("d1.jsonl", [
            eventLine(user: 4, id: "1", ts: 5000, type: "impression"),
            eventLine(user: 4, id: "2", ts: 5010, type: "purchase"),
            eventLine(user: 4, id: "3", ts: 5020, type: "click"),
        ])
        _ = try ingest(dir, [d1])
        var s = try #require(try store(dir).userState(4))
        #expect(s.historyVersion == 3 && s.lastConversionVersion == 2)
        // A late conversion with an old timestamp arrives in a new file: it counts.
        let late = dir.writeLines("late.jsonl", [
            eventLine(user: 4, id: "4", ts: 1000, type: "lead"),
            eventLine(user: 4, id: "5", ts: 6000, type: "click"),
        ])
        _ = try ingest(dir, [late])
        s = try #require(try store(dir).userState(4))
        #expect(s.historyVersion == 5 && s.lastConversionVersion == 4)
        // A re-delivered conversion is a duplicate and does not move it.
        let dup = dir.writeLines("dup.jsonl", [eventLine(user: 4, id: "2", ts: 5010, type: "purchase"), eventLine(user: 4, id: "6", ts: 7000)])
        _ = try ingest(dir, [dup])
        s = try #require(try store(dir).userState(4))
        #expect(s.historyVersion == 6 && s.lastConversionVersion == 4)
    }

    @Test func disagreeingSettingsAreRefused() throws {
        let dir = TempDirectory()
        _ = try ingest(dir, [dir.writeLines("a.jsonl", [eventLine(user: 1, id: "1", ts: 10)])])
        let other = HistorySettings(conversionTypes: ["purchase"], minTs: 0, maxTs: 10_000_000, retentionCap: 50)
        #expect {
            try ingest(dir, [dir.file("a.jsonl")], settings: other)
        } throws: { e in
            guard case let IngestError.store(s) = e else { return false }
            return s.message.contains("conversion_types: store=[lead,purchase] pipeline=[purchase]")
                && s.message.contains("retention_cap: store=100 pipeline=50")
        }
        // Without settings the store's own are used.
        #expect(try ingest(dir, [dir.file("a.jsonl")], settings: nil).skippedFiles == 1)
    }

    @Test func secondIngestWaitsForTheLockAndGivesUp() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("a.jsonl", [eventLine(user: 1, id: "1", ts: 10)])
        let holder = try FileLock.acquire(path: dir.file("history.db") + ".lock", holder: LockHolder(pipeline: "nightly"), timeout: 0)
        let start = monotonicSeconds()
        #expect {
            try ingest(dir, [f]) { $0.lockTimeout = 0.4 }
        } throws: { e in
            guard case let IngestError.locked(l) = e else { return false }
            return l.description.contains("pipeline=nightly")
        }
        #expect(monotonicSeconds() - start >= 0.35)
        withExtendedLifetime(holder) {}
    }

    @Test func waitingIngestProceedsWhenTheLockIsReleased() throws {
        let dir = TempDirectory()
        let f = dir.writeLines("a.jsonl", [eventLine(user: 1, id: "1", ts: 10)])
        let lockPath = dir.file("history.db") + ".lock"
        var holder: FileLock? = try FileLock.acquire(path: lockPath, holder: LockHolder(pipeline: "nightly"), timeout: 0)
        let opts = { var o = options(dir, [f]); o.lockTimeout = 60; return o }()
        // A thread of its own, not the test pool's, so a busy pool cannot delay the waiter.
        final class Outcome: @unchecked Sendable { var files = -1; let done = DispatchSemaphore(value: 0) }
        let outcome = Outcome()
        let waiter = Thread {
            outcome.files = (try? Ingestor(options: opts).run())?.ingestedFiles ?? -2
            outcome.done.signal()
        }
        waiter.start()
        usleep(300_000)
        #expect(outcome.files == -1)   // still waiting for the lock
        holder = nil
        _ = holder
        outcome.done.wait()
        #expect(outcome.files == 1)
    }

    @Test func tooManyBadLinesRejectTheFileOthersStillLand() throws {
        let dir = TempDirectory()
        let bad = dir.writeLines("logs/bad.jsonl", [eventLine(user: 1, id: "1", ts: 10), "not json", "{}", "[]"])
        let good = dir.writeLines("logs/good.jsonl", [eventLine(user: 2, id: "1", ts: 10)])
        let corrupt = dir.write("logs/corrupt.jsonl.lz4", Array(LZ4FrameWriter.compress(Array(eventLine(user: 3, id: "1", ts: 10).utf8)).dropLast(3)))
        let r = try ingest(dir, [dir.file("logs")])
        #expect(r.ingestedFiles == 1 && r.rejectedFiles == 2)
        let outcomes = Dictionary(uniqueKeysWithValues: r.files.map { ($0.path, $0.outcome) })
        #expect(outcomes[good] == .ingested)
        if case let .rejected(why) = outcomes[bad] { #expect(why.contains("3 of 4 lines bad")) } else { Issue.record("bad file not rejected") }
        if case let .rejected(why) = outcomes[corrupt] { #expect(why == "truncated LZ4 frame (file ends inside a frame)") } else { Issue.record("corrupt file not rejected") }
        let s = try store(dir)
        #expect(try s.userState(1) == nil && s.userState(2) != nil && s.userState(3) == nil)
        // The rejected file's quarantine records are kept for operators.
        #expect(try Files.list(dir.file("q")).contains { $0.hasPrefix("bad.jsonl.") })
    }

    /// A rejected file is named once in its log line: the reason does not repeat the path.
    @Test func aRejectedFileIsNamedOnceInTheLog() throws {
        let dir = TempDirectory()
        let compressed = LZ4FrameWriter.compress(Array((eventLine(user: 1, id: "1", ts: 1000) + "\n").utf8))
        let stray = dir.write("stray.jsonl.lz4", compressed + [0x78])
        let missingFeatures = dir.file("users.jsonl")
        var lines: [String] = []
        let report = try Ingestor(options: {
            var o = options(dir, [stray])
            o.featureFiles = [missingFeatures]
            return o
        }()).run(log: { lines.append($0) })
        #expect(report.files.first?.outcome == .rejected("trailing bytes after the last frame at offset \(compressed.count)"))
        #expect(lines.contains("rejected \(stray): trailing bytes after the last frame at offset \(compressed.count)"), "\(lines)")
        #expect(lines.contains("rejected features \(missingFeatures): open failed: No such file or directory"), "\(lines)")
    }

    /// A log whose name is not UTF-8 is ingested under its spelling (`day-\xE9.jsonl`), quarantined
    /// under it, and known by it on the next run.
    @Test func aLogWhoseNameIsNotUTF8IsIngestedAndKnownByItsSpelling() throws {
        let dir = TempDirectory()
        try Files.makeDirectories(dir.file("logs"))
        dir.write(rawName: Array("logs/day-".utf8) + [0xE9] + Array(".jsonl".utf8),
                  Array((eventLine(user: 1, id: "1", ts: 1000) + "\nnot json\n").utf8))
        let spelled = dir.file("logs/day-\\xE9.jsonl")
        let first = try ingest(dir, [dir.file("logs")]) { $0.maxBadFraction = 0.9 }
        #expect(first.files.map(\.path) == [spelled] && first.ingestedFiles == 1 && first.newEvents == 1)
        #expect(try store(dir).ledgerEntries(path: spelled).count == 1)
        let quarantine = try #require(first.files.first?.quarantineFile)
        #expect(quarantine.hasPrefix(dir.file("q/day-\\xE9.jsonl.")))
        #expect(String(decoding: try Files.readAll(quarantine), as: UTF8.self).contains("\"file\":\"\(dir.file("logs/day-\\\\xE9.jsonl"))\""))
        let second = try ingest(dir, [dir.file("logs")]) { $0.maxBadFraction = 0.9 }
        #expect(second.skippedFiles == 1 && second.files.first?.summary == nil, "known by path, size and time: not read again")
    }

    @Test func tmpAndDotFilesAreIgnored() throws {
        let dir = TempDirectory()
        dir.writeLines("logs/a.jsonl", [eventLine(user: 1, id: "1", ts: 10)])
        dir.writeLines("logs/b.jsonl.tmp", [eventLine(user: 2, id: "1", ts: 10)])
        dir.writeLines("logs/.c.jsonl", [eventLine(user: 3, id: "1", ts: 10)])
        dir.writeLines("logs/sub/d.jsonl.lz4", [eventLine(user: 4, id: "1", ts: 10)], lz4: true)
        let files = try Ingestor.logFiles([dir.file("logs")])
        #expect(files == [dir.file("logs/a.jsonl"), dir.file("logs/sub/d.jsonl.lz4")])
    }

    @Test func storeChecksumEqualsTheReadStagesAndEventsKeepMetadataExactly() throws {
        let dir = TempDirectory()
        let types = ["click", "purchase", "impression"]
        var lines: [String] = []
        for k in 0..<3000 {
            let id: String = k % 3 == 0 ? "\"s\(k)\"" : String(k)
            let ts = Int64(1000 + (k * 7919) % 5000)
            let item: UInt64 = UInt64(k) &* 0x9E37_79B9_7F4A_7C15
            let dwell: Double = Double(k) / 3
            lines.append(eventLine(user: UInt64(k % 37), id: id, ts: ts, item: item, type: types[k % 3],
                                   extra: ",\"dwell_ms\":\(dwell),\"value\":0.1"))
        }
        let f = dir.writeLines("a.jsonl.lz4", lines, lz4: true)
        let r = try ingest(dir, [f]) { $0.batchEvents = 500 }
        let s = try store(dir)
        let stored = try s.eventChecksum()
        #expect(stored.events == 3000 && r.newEvents == 3000)
        #expect(stored.checksum == r.checksum)
        let h = try #require(try s.history(5))
        #expect(h.events.allSatisfy { $0.value == 0.1 })
    }
}

/// Leftovers of an ingest killed mid-file.
@Suite struct KilledIngestLeftoverTests {
    @Test func staleQuarantineTempFilesAreRemovedLiveOnesKept() throws {
        let dir = TempDirectory()
        // A pid that cannot be running (beyond pid_max), and this process's own pid.
        dir.write("q/.day.jsonl.2147483646.quarantine.tmp", text: "{}\n")
        let mine = dir.write("q/.day.jsonl.\(getpid()).quarantine.tmp", text: "{}\n")
        dir.write("q/day.jsonl.0123456789abcdef.quarantine.jsonl", text: "{}\n")
        #expect(QuarantineSink.removeStaleTempFiles(in: dir.file("q")) == 1)
        #expect(try Files.list(dir.file("q")) == [".day.jsonl.\(getpid()).quarantine.tmp", "day.jsonl.0123456789abcdef.quarantine.jsonl"])
        #expect(Files.exists(mine))
    }
}

/// Sharded ingest: each shard stores its own users; every bad line is quarantined exactly once
/// over all shards (by its user's shard, or shard 0 without a parsable user_id).
@Suite struct ShardedIngestTests {
    @Test func shardsPartitionUsersAndQuarantineEachBadLineOnce() throws {
        let dir = TempDirectory()
        var lines = (0..<40).map { eventLine(user: UInt64($0) * 7919, id: String($0), ts: 100 + Int64($0)) }
        lines += (0..<8).map { "{\"event_id\":\"b\($0)\",\"ts\":\"late\",\"user_id\":\(UInt64($0) * 104_729),\"item_id\":1,\"type\":\"click\",\"surface\":\"feed\"}" }
        lines += ["not json at all", "{\"user_id\": 5, \"user_id\": 6}"]
        let log = dir.writeLines("day.jsonl", lines)
        func quarantined(_ q: String) throws -> [String] {
            guard Files.exists(q) else { return [] }
            return try Files.list(q).filter { $0.hasSuffix(".quarantine.jsonl") }
                .flatMap { String(decoding: try Files.readAll(q + "/" + $0), as: UTF8.self).split(separator: "\n").map(String.init) }
        }
        var all: [String] = []
        var users = Set<UInt64>()
        for k in 0..<4 {
            var o = IngestOptions(historyStore: dir.file("s\(k)/history.db"), settings: IngestTests.settings, inputs: [log], quarantineDirectory: dir.file("s\(k)/q"))
            o.shard = Shard(index: k, count: 4)
            o.maxBadFraction = 0.5
            let r = try Ingestor(options: o).run()
            #expect(r.ingestedFiles == 1)
            let ids = try HistoryStore(path: dir.file("s\(k)/history.db"), settings: nil).userIDs()
            #expect(ids.allSatisfy { fmix64($0) % 4 == UInt64(k) })
            users.formUnion(ids)
            let q = try quarantined(dir.file("s\(k)/q"))
            if k != 0 { #expect(!q.contains { $0.contains("\"line\":49") || $0.contains("\"line\":50") }) }
            all += q
        }
        #expect(users.count == 40)
        var single = IngestOptions(historyStore: dir.file("one/history.db"), settings: IngestTests.settings, inputs: [log], quarantineDirectory: dir.file("one/q"))
        single.maxBadFraction = 0.5
        _ = try Ingestor(options: single).run()
        #expect(all.sorted() == (try quarantined(dir.file("one/q"))).sorted())
        #expect(all.count == 10)
    }
}

/// The directory scan: each file once, symbolic-link loops end, only regular files are read.
@Suite struct DirectoryScanTests {
    @Test func linkLoopsEndEachFileIsTakenOnceAndAFIFOIsSkippedWithAWarning() throws {
        let dir = TempDirectory()
        let a = dir.writeLines("logs/a.jsonl", [eventLine(user: 1, id: "1", ts: 1000)])
        dir.writeLines("logs/sub/b.jsonl", [eventLine(user: 2, id: "2", ts: 1000)])
        #expect(symlink(".", dir.file("logs/self")) == 0)
        #expect(symlink("..", dir.file("logs/sub/up")) == 0)
        #expect(symlink(".", dir.file("logs/latest")) == 0)
        #expect(symlink(a, dir.file("logs/sub/a-again.jsonl")) == 0)
        #expect(mkfifo(dir.file("logs/pipe.jsonl"), 0o644) == 0)
        var warnings: [String] = []
        let files = try Ingestor.logFiles([dir.file("logs")], warn: { warnings.append($0) })
        #expect(files == [a, dir.file("logs/sub/b.jsonl")], "\(files)")
        #expect(warnings.count == 1 && warnings[0].contains("pipe.jsonl") && warnings[0].contains("not a regular file"), "\(warnings)")
        // Named directly, the FIFO is skipped too (never opened: that would block).
        #expect(try Ingestor.logFiles([dir.file("logs/pipe.jsonl"), a]) == [a])
    }
}
