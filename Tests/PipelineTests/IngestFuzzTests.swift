import Events
import Pipeline
import Store
import Support
import Testing
import TestSupport

/// Seeded mutation fuzzing of the ingest stage: each input is a fresh history store fed a few
/// mutated logs (plain, framed, corrupt frames), in one or two runs. Every file's fate and counts
/// are predicted by a twin built on `ReferenceLog` and a set of (user_id, event_id): a refused file
/// is rejected, a content seen before is skipped, and in an ingested file every line is new, a
/// duplicate or quarantined (new + duplicate + quarantined = lines), with the very numbers the twin
/// expects; afterwards every user's history_version, last_conversion_version and retained count
/// agree with it.
@Suite struct IngestFuzzTests {
    static let settings = HistorySettings(conversionTypes: ["purchase"], minTs: EventLogFuzzInput.rules.minTs,
                                          maxTs: EventLogFuzzInput.rules.maxTs, retentionCap: 12)

    /// The twin's view of one user.
    struct UserTwin {
        var ids = Set<EventID>()
        var lastConversion: Int64 = 0
    }

    @Test func everyIngestedLineIsNewDuplicateOrQuarantined() throws {
        let seeds = EventLogFuzzInput.seedLogs()
        let campaign = FuzzCampaign("IngestFuzzTests")
        let report = campaign.run(defaultIterations: 400, share: 0.05) { _, rng in
            try IngestFuzzTests.round(seeds: seeds, rng: &rng)
        }
        print(report.summary)
        for f in report.failures { Issue.record(Comment(rawValue: f)) }
        #expect(report.hangs == 0)
        // Not vacuous: a real share of the inputs reach each outcome (checked on runs of 100 inputs or more).
        if campaign.settings.only == nil && report.inputs >= 100 {
            let t = report.tallies
            let files = t["ingested", default: 0] + t["rejected", default: 0] + t["already ingested", default: 0]
            #expect(t["ingested", default: 0] * 3 >= files && t["rejected", default: 0] * 10 >= files, "\(report.summary)")
            #expect(t["ingested with quarantined lines", default: 0] * 3 >= files, "\(report.summary)")
            #expect(t["ingested with duplicates", default: 0] * 5 >= files, "\(report.summary)")
            #expect(t["ingested, every line new", default: 0] * 100 >= files, "\(report.summary)")
            #expect(report.tallies["already ingested", default: 0] > 0, "\(report.summary)")
        }
    }

    /// One input: a fresh store, 1–6 files ingested in one or two runs, everything checked.
    static func round(seeds: [[UInt8]], rng: inout SplitMix64) throws -> FuzzResult {
        let dir = TempDirectory("llatte-fuzz", under: TempDirectory.inMemory)
        var result = FuzzResult(outcome: "store")
        var inputs: [(path: String, input: EventLogFuzzInput)] = []
        for k in 0..<(1 + rng.below(6)) {
            var input = EventLogFuzzInput(seeds: seeds, rng: &rng)
            // Now and then the same content again, under another name.
            if k > 0 && rng.chance(0.15) { input = inputs[rng.below(inputs.count)].input }
            let name = "logs/\(k).jsonl" + (input.kind == .plain ? "" : ".lz4")
            inputs.append((dir.overwrite(name, input.bytes), input))
        }
        let maxBadFraction = rng.chance(0.7) ? 1 : 0.3
        let batchEvents = 1 + rng.below(40)
        let split = rng.below(inputs.count + 1)

        var users: [UInt64: UserTwin] = [:]
        var ledger = Set<Digest32>()
        var lines = 0
        func fail(_ what: String) { result.failures.append(what) }
        for part in [inputs[..<split], inputs[split...]] where !part.isEmpty {
            var options = IngestOptions(historyStore: dir.file("history.db"), settings: settings, inputs: part.map(\.path),
                                        quarantineDirectory: dir.file("quarantine"))
            options.maxBadFraction = maxBadFraction
            options.batchEvents = batchEvents
            options.lockTimeout = 0
            let report = try Ingestor(options: options).run()
            guard report.files.count == part.count else {
                fail("\(report.files.count) file reports for \(part.count) files")
                return result
            }
            for ((path, input), file) in zip(part, report.files) {
                let twin = ReferenceLog(file: input.bytes, rules: EventLogFuzzInput.rules, maxLineBytes: 1 << 20)
                let context = "\(path.split(separator: "/").last!): \(input.kind.rawValue) input of \(input.bytes.count) bytes, mutations \(input.mutations.prefix(12))"
                func check(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { fail("\(what()) [\(context)]") } }
                guard let content = twin.content else {
                    check({ if case .rejected = file.outcome { return true } else { return false } }(),
                          "the twin refuses the file (\(twin.rejection!)), the ingest says \(file.outcome)")
                    result.tallies["rejected", default: 0] += 1
                    continue
                }
                let digest = SHA256Hasher.digest(content)
                if ledger.contains(digest) {
                    check(file.outcome == .alreadyIngested, "content ingested before, the ingest says \(file.outcome)")
                    result.tallies["already ingested", default: 0] += 1
                    continue
                }
                let quarantined = twin.rejectedLines
                lines += twin.lines.count
                check(file.summary?.lines == twin.lines.count, "\(file.summary?.lines ?? -1) lines, the twin finds \(twin.lines.count)")
                check(file.quarantined == quarantined, "\(file.quarantined) lines quarantined, the twin rejects \(quarantined)")
                if twin.lines.count > 0 && Double(quarantined) / Double(twin.lines.count) > maxBadFraction {
                    check({ if case .rejected = file.outcome { return true } else { return false } }(),
                          "\(quarantined) of \(twin.lines.count) lines bad (limit \(maxBadFraction)), the ingest says \(file.outcome)")
                    result.tallies["rejected", default: 0] += 1
                    continue
                }
                check(file.outcome == .ingested, "the ingest says \(file.outcome), the twin expects it ingested")
                guard file.outcome == .ingested else { continue }
                // The twin appends: first occurrence of (user, id) wins, in file order.
                var new = 0, duplicates = 0
                for e in twin.batch.events {
                    let id = twin.batch.eventID(e)
                    if users[e.userID, default: UserTwin()].ids.insert(id).inserted {
                        new += 1
                        if twin.parser.types.bytes(e.type) == Array("purchase".utf8) {
                            users[e.userID]!.lastConversion = Int64(users[e.userID]!.ids.count)
                        }
                    } else {
                        duplicates += 1
                    }
                }
                ledger.insert(digest)
                check(file.counts.newEvents == new && file.counts.duplicates == duplicates && file.counts.tombstoned == 0,
                      "new \(file.counts.newEvents), duplicates \(file.counts.duplicates), tombstoned \(file.counts.tombstoned); the twin expects new \(new), duplicates \(duplicates)")
                check(file.counts.newEvents + file.counts.duplicates + file.quarantined == file.summary?.lines,
                      "new \(file.counts.newEvents) + duplicates \(file.counts.duplicates) + quarantined \(file.quarantined) != lines \(file.summary?.lines ?? -1)")
                result.tallies["ingested", default: 0] += 1
                if quarantined > 0 { result.tallies["ingested with quarantined lines", default: 0] += 1 }
                if duplicates > 0 { result.tallies["ingested with duplicates", default: 0] += 1 }
                if quarantined == 0 && duplicates == 0 && new > 0 { result.tallies["ingested, every line new", default: 0] += 1 }
            }
        }
        result.lines = lines

        // The store's per-user counters agree with the twin's.
        let store = try HistoryStore(path: dir.file("history.db"), settings: nil)
        let stored = try store.userIDs()
        if Set(stored) != Set(users.keys.filter { !users[$0]!.ids.isEmpty }) {
            fail("the store holds \(stored.count) users, the twin \(users.count)")
        }
        for (user, twin) in users where !twin.ids.isEmpty {
            guard let state = try store.userState(user), let history = try store.history(user) else {
                fail("user \(user) is missing")
                continue
            }
            if state.historyVersion != Int64(twin.ids.count) || state.lastConversionVersion != twin.lastConversion
                || history.events.count != min(twin.ids.count, settings.retentionCap) {
                fail("user \(user): history_version \(state.historyVersion), last_conversion_version \(state.lastConversionVersion), "
                     + "\(history.events.count) retained; the twin expects \(twin.ids.count), \(twin.lastConversion), \(min(twin.ids.count, settings.retentionCap))")
            }
        }
        return result
    }
}
