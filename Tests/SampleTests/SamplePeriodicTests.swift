import Sample
import Support
import Testing
import TestSupport

/// `periodicShare`: users in the market for one extra category two days every 2–4 weeks. Off (the
/// default) it changes no byte; on, it changes behaviour only on market days and no other trait.
@Suite struct SamplePeriodicTests {
    /// The repository root, found from this file's path.
    static let root: String = {
        var p = #filePath
        for _ in 0..<3 { p = Files.parentDirectory(p) }
        return p
    }()

    @Test func defaultOptionsRegenerateTheCommittedSampleByteForByte() throws {
        let dir = TempDirectory("sample-committed")
        try generate(into: dir.path, users: 2000, days: 30, seed: 7) {
            $0.items = 4000
            $0.activityScale = 0.12
            $0.activitySigma = 1.4
            $0.truthImpressionDays = 7
        }
        let committed = SamplePeriodicTests.root + "/sample-data"
        let files = try filesRecursively(dir.path)
        #expect(files.count == 30 + 6)
        for f in files {
            #expect(try Files.readAll(dir.file(f)) == Files.readAll(committed + "/" + f), "\(f) differs from sample-data")
        }
    }

    @Test func periodicUsersReturnToTheirCategoryOnlyOnMarketDays() throws {
        let dir = TempDirectory("sample-periodic")
        let days = 42
        try generate(into: dir.path, users: 120, days: days, seed: 11) { $0.periodicShare = 1 }
        var periodic: [UInt64: (category: Int, period: Int, phase: Int, weight: Double)] = [:]
        for u in try readJSONLines(dir.file("truth/users.jsonl")) {
            let q = try #require(u["periodic"])
            let category = q["category"]!.int!
            #expect(u["interests"]!.arrayValue![category].double! == 0, "the periodic category is a new one")
            let period = q["period_days"]!.int!
            #expect([14, 21, 28].contains(period))
            periodic[u["user_id"]!.uint64!] = (category, period, q["phase"]!.int!, q["weight"]!.double!)
        }
        #expect(periodic.count == 120)

        // Impressions of the periodic category: many, with high affinity, on market days; few and with
        // the affinity of a category outside the interests (log 0.05 plus quality) on other days.
        let start = SampleOptions.defaultStartTs
        var onMarket = 0, offMarket = 0, impressionsOn = 0, impressionsOff = 0
        var affinityOn = 0.0, affinityOff = 0.0
        for row in try readJSONLines(dir.file("truth/impressions.jsonl.lz4")) {
            let q = periodic[row["user_id"]!.uint64!]!
            let day = (row["ts"]!.int! - Int(start)) / 86_400
            let market = (day + q.phase) % q.period < 2
            if market { impressionsOn += 1 } else { impressionsOff += 1 }
            guard row["category"]!.int! == q.category else { continue }
            let a = row["affinity"]!.double!
            if market {
                onMarket += 1
                affinityOn += a
            } else {
                offMarket += 1
                affinityOff += a
                #expect(a < -1, "off-market affinity \(a)")
            }
        }
        #expect(onMarket > 500 && offMarket > 0)
        let shareOn = Double(onMarket) / Double(impressionsOn), shareOff = Double(offMarket) / Double(impressionsOff)
        #expect(shareOn > 10 * shareOff, "periodic category share \(shareOn) on market days, \(shareOff) off")
        #expect(affinityOn / Double(onMarket) > 1.5)
    }

    @Test func periodicInterestChangesNoOtherTrait() throws {
        let ub = try expectOnlyLongRangeTraitChanged(field: "periodic", manifestKey: "periodic_share") {
            $0.periodicShare = 0.5
        }
        #expect(ub.allSatisfy { $0["periodic"] != nil })
        let drawn = ub.filter { $0["periodic"]?.kindName == "object" }
        #expect(drawn.count > 15 && drawn.count < 45, "\(drawn.count) of 60 users periodic at share 0.5")
    }

    @Test func periodicShareOutsideZeroToOneIsRejected() throws {
        let dir = TempDirectory("sample-periodic-invalid")
        #expect(throws: SampleError.self) {
            try generate(into: dir.path, users: 10, days: 2, seed: 1) { $0.periodicShare = 1.5 }
        }
        do {
            try generate(into: dir.path, users: 10, days: 2, seed: 1) { $0.periodicShare = -0.1 }
        } catch {
            #expect("\(error)".contains("--periodic-share"))
        }
    }
}
