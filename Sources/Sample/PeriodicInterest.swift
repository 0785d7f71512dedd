/// A category a user returns to on a schedule: in the market for it `marketDays` days every
/// `periodDays` days (2, 3 or 4 weeks), indifferent to it in between (regular repurchase: pet food,
/// contact lenses, a monthly subscription).
///
/// On a market day the category takes `weight` of the user's interest mix (the other interests keep
/// their proportions in the rest), so it is drawn into sessions and its affinity is high; on other days
/// its interest is 0. Which category, and when the next market days come, can be read only from the
/// user's events of the previous market days, weeks back in the history: the long-range signal the
/// base interest mix, which never changes, does not give.
struct PeriodicInterest: Sendable, Equatable {
    let category: Int
    let periodDays: Int
    /// Day `d` is a market day when `(d + phase) % periodDays < marketDays`.
    let phase: Int
    let weight: Double

    static let marketDays = 2

    /// Draws the periodic interest of user `index` from its own stream (`.periodic`), so enabling it
    /// changes no other trait: with probability `share`, a category outside `interestCategories`,
    /// picked with the world's category weights; otherwise nil. Draws nothing when `share` is 0.
    static func draw(index: Int, seed: UInt64, share: Double, interestCategories: [Int],
                     categoryWeights: [Double]) -> PeriodicInterest? {
        guard share > 0 else { return nil }
        var r = SampleRandom(seed: seed, .periodic, UInt64(index))
        guard r.chance(share) else { return nil }
        var weights = categoryWeights
        for c in interestCategories { weights[c] = 0 }
        let total = weights.reduce(0, +)
        let category = weights.withUnsafeBufferPointer { r.pick($0, total: total) }
        let period = 7 * (2 + r.below(3))
        return PeriodicInterest(category: category, periodDays: period, phase: r.below(period),
                                weight: 0.4 + 0.3 * r.uniform())
    }

    /// Whether the user is in the market for `category` on day `day`.
    func inMarket(day: Int) -> Bool { (day + phase) % periodDays < PeriodicInterest.marketDays }
}
