import Sample
import Support
import Testing
import TestSupport

/// `returningShare`: users who come back to one to three categories every 2–4 weeks for the same few
/// items. Off (the default) it draws nothing (`SamplePeriodicTests` regenerates the committed sample
/// byte for byte); on, market days repeat the items of earlier market days and those convert more often.
@Suite struct SampleReturningTests {
    /// A returning category as `truth/users.jsonl` writes it.
    struct Returning {
        var category: Int, period: Int, phase: Int
        var items: Set<UInt64>
        func inMarket(day: Int) -> Bool { (day + phase) % period < 2 }
    }

    @Test func marketDaysOfReturningUsersRepeatTheItemsOfEarlierMarketDays() throws {
        let dir = TempDirectory("sample-returning")
        try generate(into: dir.path, users: 100, days: 56, seed: 5) { $0.returningShare = 1 }
        var returning: [UInt64: [Returning]] = [:]
        for u in try readJSONLines(dir.file("truth/users.jsonl")) {
            let list = try #require(u["returning"]?.arrayValue)
            #expect((1...3).contains(list.count))
            returning[u["user_id"]!.uint64!] = list.map { q in
                let category = q["category"]!.int!
                #expect(u["interests"]!.arrayValue![category].double! == 0, "a returning category is a new one")
                #expect([14, 21, 28].contains(q["period_days"]!.int!))
                let items = q["items"]!.arrayValue!.map { $0.uint64! }
                #expect((1...3).contains(items.count))
                return Returning(category: category, period: q["period_days"]!.int!, phase: q["phase"]!.int!,
                                 items: Set(items))
            }
        }
        #expect(returning.count == 100)

        // Per (user, category): the market-day windows in which each item was impressed or clicked.
        let start = SampleOptions.defaultStartTs
        var windows: [String: [UInt64: Set<Int>]] = [:]
        var stapleImpressions = 0, otherImpressions = 0
        var stapleConvert = 0.0, otherConvert = 0.0
        var clickedOnMarket: [(key: String, item: UInt64, window: Int)] = []
        for row in try readJSONLines(dir.file("truth/impressions.jsonl.lz4")) {
            let user = row["user_id"]!.uint64!, category = row["category"]!.int!
            let day = (row["ts"]!.int! - Int(start)) / 86_400
            guard let q = returning[user]!.first(where: { $0.category == category }), q.inMarket(day: day) else { continue }
            let item = row["item_id"]!.uint64!, window = (day + q.phase) / q.period
            let key = "\(user)/\(category)"
            windows[key, default: [:]][item, default: []].insert(window)
            if row["clicked"]!.bool! { clickedOnMarket.append((key, item, window)) }
            if q.items.contains(item) {
                stapleImpressions += 1
                stapleConvert += row["p_convert"]!.double!
            } else {
                otherImpressions += 1
                otherConvert += row["p_convert"]!.double!
            }
        }
        #expect(stapleImpressions > 1000)
        #expect(stapleImpressions > 2 * otherImpressions, "\(stapleImpressions) staple, \(otherImpressions) other")
        #expect(stapleConvert / Double(stapleImpressions) > 2 * otherConvert / Double(otherImpressions))
        // Most clicks of a later market window are on an item already seen in an earlier one.
        let later = clickedOnMarket.filter { c in windows[c.key]!.values.contains { $0.contains { $0 < c.window } } }
        let repeated = later.filter { c in windows[c.key]![c.item]!.contains { $0 < c.window } }
        #expect(later.count > 100)
        #expect(Double(repeated.count) > 0.6 * Double(later.count), "\(repeated.count) of \(later.count) clicks repeat")
    }

    @Test func returningCategoriesChangeNoOtherTrait() throws {
        let ub = try expectOnlyLongRangeTraitChanged(field: "returning", manifestKey: "returning_share") {
            $0.returningShare = 0.5
        }
        let drawn = ub.filter { $0["returning"]?.kindName == "array" }
        #expect(drawn.count > 15 && drawn.count < 45, "\(drawn.count) of 60 users returning at share 0.5")
    }

    @Test func returningShareOutsideZeroToOneIsRejected() throws {
        let dir = TempDirectory("sample-returning-invalid")
        for share in [1.5, -0.1] {
            #expect {
                try generate(into: dir.path, users: 10, days: 2, seed: 1) { $0.returningShare = share }
            } throws: { "\($0)".contains("--returning-share") }
        }
    }
}
