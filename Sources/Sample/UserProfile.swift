import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One simulated user's latent traits (written to `truth/users.jsonl`) and observable features
/// (written to `users.jsonl`).
///
/// Interests are a sparse Dirichlet-like mix over a few categories; activity is heavy-tailed
/// (log-normal events per day), so a few percent of users have thousands of events while the median
/// has a couple of hundred over 30 days. Country, device and age bucket lean towards values tied to the
/// user's top category, so features carry a little signal about interests.
struct UserProfile: Sendable {
    let index: Int
    let id: UInt64
    let interestCategories: [Int]
    let interestWeights: [Double]
    /// Share of impressions drawn from global popularity instead of the user's interests.
    let popularityBias: Double
    /// Expected events per day over the whole period (heavy-tailed across users).
    let eventsPerDay: Double
    /// Probability that the user shows up on a given day (from `startDay` on).
    let activeProb: Double
    /// Mean impressions on a day the user is active.
    let impressionsPerActiveDay: Double
    /// First day with activity (about 20% of users join after day 0: "new users").
    let startDay: Int
    /// Short-history users are active exactly on these days (1–3 of them); empty for everyone else,
    /// who is active on a day with probability `activeProb`.
    let fixedActiveDays: [Int]
    /// Hour of day (UTC) around which sessions start.
    let peakHourUTC: Double
    /// Session surface weights, `SampleVocabulary.Surface` order, summing to 1.
    let surfaceWeights: [Double]
    /// The user's client writes string event ids ("e-<hex>").
    let stringEventIDs: Bool
    /// Index into `SampleVocabulary.sharedAdjectives` the user likes (−1: none).
    let favouriteAdjective: Int
    /// A category the user returns to every few weeks (nil for most users; always nil unless
    /// `SampleOptions.periodicShare` > 0).
    let periodic: PeriodicInterest?
    /// Categories the user returns to for the same items (nil for most users; always nil unless
    /// `SampleOptions.returningShare` > 0).
    let returning: ReturningInterest?
    /// Added to the conversion logits: some users buy, some never do.
    let conversionBias: Double
    let country: Int
    let ageBucket: Int
    let device: Int
    let logAccountAgeDays: Double
    /// Bit set of features left out of `users.jsonl`: 1 country, 2 age bucket, 4 device, 8 account age.
    let missingFeatures: UInt8

    /// Events per impression, roughly (clicks, likes and conversions ride on impressions).
    static let eventsPerImpression = 1.25

    /// User ids: 15-digit numbers, unique by construction (index · 1000 + a per-user offset < 1000).
    static func userID(index: Int, seed: UInt64) -> UInt64 {
        100_000_000_000_000 + UInt64(index) * 1000 + fmix64(seed ^ UInt64(index) ^ 0x05E5_1D00) % 1000
    }

    /// Per-category traits of the world that tie features to interests.
    struct CategoryLeanings: Sendable {
        /// Weights for choosing a user's interest categories (some categories are more popular).
        let interestWeights: [Double]
        let country: [Int]
        let device: [Int]
        let ageBucket: [Int]

        init(seed: UInt64) {
            var r = SampleRandom(seed: seed, .world, 2)
            let c = SampleVocabulary.categories.count
            var rank = Array(0..<c)
            for i in stride(from: c - 1, to: 0, by: -1) { rank.swapAt(i, r.below(i + 1)) }
            interestWeights = rank.map { 1 / pow(Double($0) + 2, 0.7) }
            country = (0..<c).map { _ in r.below(SampleVocabulary.countries.count) }
            device = (0..<c).map { _ in r.below(SampleVocabulary.devices.count) }
            ageBucket = (0..<c).map { _ in r.below(SampleVocabulary.ageBuckets.count) }
        }
    }

    init(index: Int, options: SampleOptions, leanings: CategoryLeanings, items: ItemTable) {
        var r = SampleRandom(seed: options.seed, .userProfile, UInt64(index))
        self.index = index
        id = UserProfile.userID(index: index, seed: options.seed)

        // Interests: 1–6 categories, Gamma(0.7) weights (a sparse Dirichlet draw), no repeats.
        let k = 1 + min(r.poisson(1.3), 5)
        var available = leanings.interestWeights
        var cats: [Int] = [], weights: [Double] = []
        for _ in 0..<k {
            let total = available.reduce(0, +)
            let c = available.withUnsafeBufferPointer { r.pick($0, total: total) }
            available[c] = 0
            cats.append(c)
            weights.append(max(r.gamma(shape: 0.7), 1e-3))
        }
        let wsum = weights.reduce(0, +)
        interestCategories = cats
        interestWeights = weights.map { $0 / wsum }
        popularityBias = r.beta(2, 5)
        periodic = PeriodicInterest.draw(index: index, seed: options.seed, share: options.periodicShare,
                                         interestCategories: cats, categoryWeights: leanings.interestWeights)
        returning = ReturningInterest.draw(index: index, seed: options.seed, share: options.returningShare,
                                           excludedCategories: cats + (periodic.map { [$0.category] } ?? []),
                                           categoryWeights: leanings.interestWeights, items: items)

        if options.shortHistory {
            // A handful of events on one to three days (every user has at least one event).
            let total = min(1 + r.logNormal(median: 3, sigma: 0.7), 40)
            var chosen: [Int] = []
            for _ in 0..<min(options.days, 1 + r.below(3)) {
                var d = r.below(options.days)
                while chosen.contains(d) { d = (d + 1) % options.days }
                chosen.append(d)
            }
            fixedActiveDays = chosen.sorted()
            eventsPerDay = total / Double(options.days)
            activeProb = Double(chosen.count) / Double(options.days)
            startDay = 0
        } else {
            eventsPerDay = min(max(r.logNormal(median: 6.5, sigma: options.activitySigma), 0.05), 600)
            activeProb = min(max(r.beta(3, 1.5), 0.1), 1)
            startDay = options.days > 1 && r.chance(0.2) ? 1 + r.below(options.days - 1) : 0
            fixedActiveDays = []
        }
        impressionsPerActiveDay = eventsPerDay / (activeProb * UserProfile.eventsPerImpression)

        var sw = SampleVocabulary.surfaceBase.map { $0 * r.gamma(shape: 1.5) }
        let swTotal = sw.reduce(0, +)
        for i in sw.indices { sw[i] /= swTotal }
        surfaceWeights = sw
        stringEventIDs = r.chance(0.04)
        favouriteAdjective = r.chance(0.5) ? r.below(SampleVocabulary.sharedAdjectives.count) : -1
        conversionBias = 0.5 * r.normal()

        let top = cats[weights.indices.max { weights[$0] < weights[$1] }!]
        func draw(_ base: [Double]) -> Int { base.withUnsafeBufferPointer { r.pick($0, total: 1) } }
        country = r.chance(0.35) ? leanings.country[top] : draw(SampleVocabulary.countryBase)
        device = r.chance(0.3) ? leanings.device[top] : draw(SampleVocabulary.deviceBase)
        ageBucket = r.chance(0.35) ? leanings.ageBucket[top] : draw(SampleVocabulary.ageBase)
        peakHourUTC = (20.5 - SampleVocabulary.countryUTCOffset[country] + 2.5 * r.normal() + 48)
            .truncatingRemainder(dividingBy: 24)
        // Account age as of the end of the period: new users are as old as their first activity.
        let age = startDay > 0 ? Double(options.days - startDay) + r.uniform() * 3
                               : Double(options.days) + r.logNormal(median: 700, sigma: 0.9)
        logAccountAgeDays = log1p(age)
        var missing: UInt8 = 0
        for bit in 0..<4 where r.chance(0.01) { missing |= 1 << bit }
        missingFeatures = missing
    }

    /// The user's weight on category `c` (0 if not among the interests).
    func interest(in c: Int) -> Double {
        for (i, cat) in interestCategories.enumerated() where cat == c { return interestWeights[i] }
        return 0
    }
}
