import Sample
import Support
import Testing
import TestSupport

/// Same options, same bytes; a different seed, different data; options are checked; reruns are safe.
@Suite struct SampleDeterminismTests {
    /// A small set with every kind of irregularity switched on, so determinism covers all code paths.
    func busy(_ o: inout SampleOptions) {
        o.badRate = 0.05
        o.lateRate = 0.05
        o.duplicateRate = 0.01
        o.escapeRate = 0.3
        o.shuffleKeysRate = 0.3
        o.nestedUnknownRate = 0.3
        o.frameBytes = 1 << 16
    }

    @Test func sameOptionsWriteIdenticalBytes() throws {
        let a = TempDirectory("sample-det-a"), b = TempDirectory("sample-det-b")
        let ma = try generate(into: a.path, users: 50, days: 5, seed: 42, busy)
        let mb = try generate(into: b.path, users: 50, days: 5, seed: 42, busy)
        let files = try filesRecursively(a.path)
        #expect(try filesRecursively(b.path) == files)
        #expect(files.contains("catalog.db") && files.contains("manifest.json") && files.contains("users.jsonl"))
        #expect(files.contains("truth/impressions.jsonl.lz4") && files.contains("events/2026-10-05.jsonl.lz4"))
        #expect(files.count == 5 + 6)
        for f in files {
            #expect(try Files.readAll(a.file(f)) == Files.readAll(b.file(f)), "\(f) differs between two runs")
        }
        #expect(ma.counts == mb.counts)
        #expect(ma.counts.distinctEvents > 1000)
    }

    @Test func anotherSeedGivesOtherData() throws {
        let a = TempDirectory("sample-seed-a"), b = TempDirectory("sample-seed-b")
        let ma = try generate(into: a.path, users: 30, days: 3, seed: 1)
        let mb = try generate(into: b.path, users: 30, days: 3, seed: 2)
        for (fa, fb) in zip(ma.eventFiles, mb.eventFiles) {
            #expect(fa.path == fb.path)
            #expect(fa.contentSHA256 != fb.contentSHA256)
        }
    }

    @Test func noiseAndDeliveryRatesDoNotChangeTheEvents() throws {
        // The catalog and truth depend only on the behaviour streams, not on how lines are delivered.
        let a = TempDirectory("sample-rates-a"), b = TempDirectory("sample-rates-b")
        try generate(into: a.path, users: 40, days: 4, seed: 9)
        try generate(into: b.path, users: 40, days: 4, seed: 9, busy)
        for f in ["catalog.db", "users.jsonl", "truth/users.jsonl", "truth/items.jsonl"] {
            #expect(try Files.readAll(a.file(f)) == Files.readAll(b.file(f)), "\(f)")
        }
        let ta = try readJSONLines(a.file("truth/impressions.jsonl.lz4"))
        let tb = try readJSONLines(b.file("truth/impressions.jsonl.lz4"))
        #expect(ta == tb)
    }

    @Test func nonEmptyDirectoryIsRefusedUnlessOverwrite() throws {
        let dir = TempDirectory("sample-overwrite")
        try generate(into: dir.path, users: 20, days: 4, seed: 3)
        #expect(throws: SampleError.self) { try generate(into: dir.path, users: 20, days: 2, seed: 3) }
        dir.write("notes.txt", text: "keep me")
        let m = try generate(into: dir.path, users: 20, days: 2, seed: 3) { $0.overwrite = true }
        // The stale day files of the 4-day run are gone; files that are not the generator's stay.
        #expect(try Files.list(dir.file("events")) == m.eventFiles.map { String($0.path.dropFirst("events/".count)) })
        #expect(m.eventFiles.count == 2)
        #expect(Files.exists(dir.file("notes.txt")))
    }

    @Test func invalidOptionsAreRejectedWithTheOptionNamed() throws {
        let dir = TempDirectory("sample-invalid")
        func message(_ configure: (inout SampleOptions) -> Void) -> String {
            do {
                try generate(into: dir.path, users: 10, days: 2, seed: 1, configure)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message { $0.users = 0 }.contains("--users"))
        #expect(message { $0.days = 0 }.contains("--days"))
        #expect(message { $0.badRate = 0.9 }.contains("--bad-rate"))
        #expect(message { $0.lateRate = -0.1 }.contains("--late-rate"))
        #expect(message { $0.items = 5 }.contains("--items"))
        #expect(message { $0.minTs = $0.startTs + 1 }.contains("--min-ts"))
        #expect(message { $0.maxTs = $0.startTs }.contains("--max-ts"))
        #expect(try Files.list(dir.path).isEmpty, "nothing is written for invalid options")
    }
}
