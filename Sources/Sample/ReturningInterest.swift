/// Categories a user comes back to on a schedule for the *same items* (refills, a favourite brand):
/// one to three periodic categories, each with a few staple items that the user's impressions of the
/// category mostly show on its market days and that convert more often there.
///
/// Each category follows `PeriodicInterest`'s schedule and weight. On a market day, an impression drawn
/// from the category is one of its `staples` with probability `ReturningInterest.stapleShare`, and an
/// impression of a staple on a market day of its category adds `ReturningInterest.conversionBoost` to
/// the click and conversion logits. The staples are fixed per user, so the items bought or clicked on
/// a market day are those of earlier market days, 2–4 weeks back: one event far back names the item
/// of a conversion now.
struct ReturningInterest: Sendable, Equatable {
    let categories: [PeriodicInterest]
    /// Item indices per entry of `categories`: 1–3 items of that category, drawn by popularity.
    let staples: [[Int]]

    static let stapleShare = 0.7
    static let conversionBoost = 1.5

    /// Draws the returning categories of user `index` from its own stream (`.returning`), so enabling
    /// them changes no other trait: with probability `share`, 1–3 distinct categories outside
    /// `excludedCategories`, picked with the world's category weights; otherwise nil. Draws nothing
    /// when `share` is 0.
    static func draw(index: Int, seed: UInt64, share: Double, excludedCategories: [Int],
                     categoryWeights: [Double], items: ItemTable) -> ReturningInterest? {
        guard share > 0 else { return nil }
        var r = SampleRandom(seed: seed, .returning, UInt64(index))
        guard r.chance(share) else { return nil }
        var weights = categoryWeights
        for c in excludedCategories { weights[c] = 0 }
        var categories: [PeriodicInterest] = [], staples: [[Int]] = []
        for _ in 0..<(1 + r.below(3)) {
            let total = weights.reduce(0, +)
            guard total > 0 else { break }
            let category = weights.withUnsafeBufferPointer { r.pick($0, total: total) }
            weights[category] = 0
            let period = 7 * (2 + r.below(3))
            categories.append(PeriodicInterest(category: category, periodDays: period, phase: r.below(period),
                                               weight: 0.4 + 0.3 * r.uniform()))
            var chosen: [Int] = []
            for _ in 0..<(1 + r.below(3)) {
                let item = Int(items.categoryItems[category][items.categoryDraw[category].sample(&r)])
                if !chosen.contains(item) { chosen.append(item) }
            }
            staples.append(chosen)
        }
        return ReturningInterest(categories: categories, staples: staples)
    }

    /// The staples of `category` if the user is in the market for it on day `day`, else nil.
    func staples(of category: Int, day: Int) -> [Int]? {
        for (i, q) in categories.enumerated() where q.category == category && q.inMarket(day: day) {
            return staples[i]
        }
        return nil
    }
}
