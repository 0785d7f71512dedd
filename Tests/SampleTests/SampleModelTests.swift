import Events
import Sample
import Store
import Support
import Testing
import TestSupport

/// The structure a model should be able to learn: heavy-tailed histories, a funnel driven by
/// affinity, category-shaped semantic vectors, features, and a catalog with a few items missing.
@Suite struct SampleModelTests {
    @Test func historiesAreHeavyTailed() throws {
        let dir = TempDirectory("sample-tail")
        let m = try generate(into: dir.path, users: 300, days: 30, seed: 5) { $0.badRate = 0 }
        let h = m.historyLength
        #expect(h.over1024 > 0, "no history above 1,024 events")
        #expect(Double(h.over1024) / Double(m.usersWithEvents) < 0.12)
        #expect(h.p50 >= 80 && h.p50 <= 350, "median history \(h.p50)")
        #expect(h.max > 4 * h.p90 / 2 && h.p90 > 3 * h.p50 / 2)
        // The truth file agrees with the manifest.
        let users = try readJSONLines(dir.file("truth/users.jsonl"))
        #expect(users.count == 300)
        let events = users.map { $0["events"]!.int! }
        #expect(events.reduce(0, +) == m.counts.distinctEvents)
        #expect(events.max() == h.max)
        #expect(users.allSatisfy { u in abs(u["interests"]!.arrayValue!.map { $0.double! }.reduce(0, +) - 1) < 0.01 })
        // A minority of active user-days converts.
        let share = Double(m.counts.conversionUserDays) / Double(m.counts.activeUserDays)
        #expect(share > 0.03 && share < 0.45)
    }

    @Test func clicksAndConversionsRiseWithAffinity() throws {
        let dir = TempDirectory("sample-funnel")
        let m = try generate(into: dir.path, users: 150, days: 8, seed: 77)
        let rows = try readJSONLines(dir.file("truth/impressions.jsonl.lz4"))
        #expect(rows.count == m.counts.impressions)
        let sorted = rows.map { (a: $0["affinity"]!.double!, p: $0["p_convert"]!.double!,
                                 clicked: $0["clicked"]!.bool!, converted: $0["converted"]!.bool!) }
            .sorted { $0.a < $1.a }
        let q = sorted.count / 4
        let low = sorted[..<q], high = sorted[(sorted.count - q)...]
        func rate(_ s: ArraySlice<(a: Double, p: Double, clicked: Bool, converted: Bool)>, _ f: (Bool, Bool) -> Bool) -> Double {
            Double(s.filter { f($0.clicked, $0.converted) }.count) / Double(s.count)
        }
        let convLow = rate(low) { $1 }, convHigh = rate(high) { $1 }
        #expect(convHigh > 0.02)
        #expect(convHigh > 4 * convLow, "conversion rate: high affinity \(convHigh), low \(convLow)")
        #expect(rate(high) { c, _ in c } > 3 * rate(low) { c, _ in c })
        // The true probabilities rank conversions well (the oracle AUC a model can approach).
        let auc = rocAUC(scores: sorted.map(\.p), labels: sorted.map(\.converted))
        #expect(auc > 0.75, "oracle AUC \(auc)")
        // Conversions in the log match the truth.
        #expect(sorted.filter(\.converted).count == m.counts.conversions)
    }

    @Test func catalogHasTheSemanticModelAndMostSeenItems() throws {
        let dir = TempDirectory("sample-catalog")
        let m = try generate(into: dir.path, users: 200, days: 5, seed: 13) { $0.badRate = 0 }
        let catalog = try Catalog(path: dir.file("catalog.db"))
        #expect(catalog.semanticModel == "llatte-sample-sem-v1")
        #expect(catalog.dSem == 64)
        #expect(try catalog.count() == m.itemsInCatalog)
        #expect(m.itemsInCatalog < m.options.resolvedItems)

        let seen = Set(try parseEventFiles(dir.path, m).flatMap(\.events).map(\.item))
        #expect(seen.count == m.itemsSeen)
        var missing = 0
        for id in seen where try catalog.vector(for: id) == nil { missing += 1 }
        #expect(missing == m.itemsSeenMissingFromCatalog)
        let share = Double(missing) / Double(seen.count)
        #expect(share > 0.003 && share < 0.06, "share of seen items missing from the catalog: \(share)")

        // Vectors are unit length and cluster by category: same-category pairs are closer on average.
        let items = try readJSONLines(dir.file("truth/items.jsonl"))
        #expect(items.count == m.options.resolvedItems)
        var byCategory: [Int: [[Float]]] = [:]
        for it in items.prefix(600) {
            guard let v = try catalog.vector(for: it["item_id"]!.uint64!) else {
                #expect(it["in_catalog"]!.bool! == false)
                continue
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-4)
            byCategory[it["category"]!.int!, default: []].append(v)
        }
        func cos(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        var same: [Float] = [], other: [Float] = []
        let groups = byCategory.keys.sorted().map { byCategory[$0]! }
        for (g, vs) in groups.enumerated() {
            for i in 0..<min(vs.count, 10) {
                for j in (i + 1)..<min(vs.count, 10) { same.append(cos(vs[i], vs[j])) }
                if g + 1 < groups.count, let w = groups[g + 1].first { other.append(cos(vs[i], w)) }
            }
        }
        let meanSame = same.reduce(0, +) / Float(same.count), meanOther = other.reduce(0, +) / Float(other.count)
        #expect(meanSame > meanOther + 0.3, "same-category cosine \(meanSame), other \(meanOther)")
    }

    @Test func userFeaturesCoverEveryUserAndSomeLackAField() throws {
        let dir = TempDirectory("sample-features")
        try generate(into: dir.path, users: 1500, days: 1, seed: 3) { $0.shortHistory = true }
        let rows = try readJSONLines(dir.file("users.jsonl"))
        #expect(rows.count == 1500)
        #expect(Set(rows.map { $0["user_id"]!.uint64! }).count == 1500)
        let fields = ["country", "age_bucket", "device", "log_account_age_days"]
        for f in fields {
            let absent = rows.filter { $0[f] == nil }.count
            #expect(absent > 0 && absent < 60, "\(f) absent in \(absent) of 1500 records")
        }
        #expect(rows.allSatisfy { r in r["log_account_age_days"].map { $0.double! >= 0 } ?? true })
        #expect(Set(rows.compactMap { $0["device"]?.stringValue }) == ["ios", "android", "web"])
    }

    @Test func shortHistoryGivesManyUsersAFewEventsEach() throws {
        let dir = TempDirectory("sample-short")
        let m = try generate(into: dir.path, users: 3000, days: 7, seed: 6) {
            $0.shortHistory = true
            $0.writeTruth = false
        }
        #expect(m.usersWithEvents == 3000)
        #expect(m.historyLength.p50 >= 2 && m.historyLength.p50 <= 10)
        #expect(m.historyLength.max <= 80)
        #expect(m.options.resolvedItems == 12_000)
    }
}

/// Area under the ROC curve by the rank-sum formula (ties get their average rank).
func rocAUC(scores: [Double], labels: [Bool]) -> Double {
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var ranks = [Double](repeating: 0, count: scores.count)
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
        for k in i...j { ranks[order[k]] = Double(i + j) / 2 + 1 }
        i = j + 1
    }
    let positives = labels.filter { $0 }.count, negatives = labels.count - positives
    guard positives > 0 && negatives > 0 else { return 0.5 }
    let rankSum = zip(ranks, labels).filter(\.1).reduce(0) { $0 + $1.0 }
    return (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
}
