#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Simulates one user's day: sessions of impressions drawn from the user's interests and item
/// popularity, and the funnel each impression may start (engagement, click, cart, conversion).
///
/// The model a learner should recover:
/// - affinity(u, i) = log(C · interest_u[cat(i)] + 0.05) + 0.35 · quality(i) + 0.8 · [i's colour/quality
///   word is u's favourite]
/// - P(click) = σ(−4 + 0.8 · affinity)
/// - given a click, by the category's conversion kind (b_u = the user's conversion bias):
///   purchase: P(add_to_cart) = σ(−2 + 0.45 · a + b_u), then P(purchase) = σ(−0.9 + 0.35 · a + b_u);
///   lead: P(lead) = σ(−2.6 + 0.5 · a + b_u); app: P(app_install) = σ(−2 + 0.5 · a + b_u).
/// - a returning user's staple item on a market day of its category (`ReturningInterest`) adds
///   `ReturningInterest.conversionBoost` to the click logit and to b_u.
/// The probabilities used are written per impression to the truth file.
///
/// Each (user, day) draws from three streams of its own: behaviour (what happens), delivery (late,
/// duplicate, bad lines) and noise (spelling), so changing a delivery or noise rate changes no event.
final class UserDaySimulator {
    typealias EventType = SampleVocabulary.EventType
    typealias Surface = SampleVocabulary.Surface

    private let world: SampleWorld
    /// Copied once: reading `world.items` per impression would retain every column each time.
    private let items: ItemTable
    private let conversionKinds: [ConversionKind]
    private let out: ChunkOutput
    private let tally: UserTally
    private let lineWriter: EventLineWriter
    private let badMaker: BadLineMaker
    private let days: Int
    private let lateRate: Double
    private let duplicateRate: Double
    /// Per valid line: `badRate` is a share of all lines, so bad/valid = badRate / (1 − badRate).
    private let badPerValidLine: Double
    private let writeTruth: Bool
    private let activityScale: Double
    /// First day whose impressions go to the truth file.
    private let firstTruthDay: Int
    private let categoryCount = SampleVocabulary.categories.count

    // State of the user-day being simulated.
    private var user = 0
    private var day = 0
    private var dayStart: Int64 = 0
    private var userID: UInt64 = 0
    private var userStringIDs = false
    private var sequence = 0
    private var delivery = SampleRandom(key: 0)
    private var noise = SampleRandom(key: 0)
    /// Interest weight per category for the current user-day.
    private var interest: [Double]
    /// The current user-day's interest mix as categories and weights (the profile's, plus the periodic
    /// category on a market day).
    private var dayCategories: [Int] = []
    private var dayWeights: [Double] = []
    /// The current user's returning categories (nil for most users).
    private var returning: ReturningInterest?

    init(world: SampleWorld, output: ChunkOutput, tally: UserTally) {
        self.world = world
        items = world.items
        conversionKinds = SampleVocabulary.categories.map(\.conversion)
        out = output
        self.tally = tally
        let o = world.options
        lineWriter = EventLineWriter(options: o)
        badMaker = BadLineMaker(minTs: o.resolvedMinTs, maxTs: o.resolvedMaxTs)
        days = o.days
        lateRate = o.lateRate
        duplicateRate = o.duplicateRate
        badPerValidLine = o.badRate / (1 - o.badRate)
        writeTruth = o.writeTruth
        activityScale = o.activityScale
        firstTruthDay = o.truthImpressionDays.map { max(0, o.days - $0) } ?? 0
        interest = [Double](repeating: 0, count: SampleVocabulary.categories.count)
    }

    /// Simulates user `u` on day `d`, appending to the chunk output.
    func run(user u: Int, day d: Int) {
        let p = world.users[u]
        guard d >= p.startDay else { return }
        let o = world.options
        var r = SampleRandom(seed: o.seed, .behaviour, UInt64(u), UInt64(d))
        dayStart = o.startTs + Int64(d) * 86_400
        // More activity at weekends (Monday = 0, as in docs/checkpoint.md).
        let weekday = Int((dayStart / 86_400 + 3) % 7)
        let dayFactor = weekday >= 5 ? 1.15 : 0.94
        let n: Int
        if p.fixedActiveDays.isEmpty {
            guard r.chance(min(1, p.activeProb * dayFactor)) else { return }
            n = r.poisson(p.impressionsPerActiveDay * activityScale * r.logNormal(median: 1, sigma: 0.35))
            guard n > 0 else { return }
        } else {
            guard p.fixedActiveDays.contains(d) else { return }
            n = max(1, r.poisson(p.impressionsPerActiveDay * activityScale))
        }

        user = u
        userID = p.id
        userStringIDs = p.stringEventIDs
        day = d
        sequence = 0
        delivery = SampleRandom(seed: o.seed, .delivery, UInt64(u), UInt64(d))
        if lineWriter.hasNoise { noise = SampleRandom(seed: o.seed, .noise, UInt64(u), UInt64(d)) }
        dayCategories = p.interestCategories
        dayWeights = p.interestWeights
        if let periodic = p.periodic, periodic.inMarket(day: d) {
            dayWeights = dayWeights.map { $0 * (1 - periodic.weight) } + [periodic.weight]
            dayCategories.append(periodic.category)
        }
        returning = p.returning
        if let returning {
            for q in returning.categories where q.inMarket(day: d) {
                dayWeights = dayWeights.map { $0 * (1 - q.weight) } + [q.weight]
                dayCategories.append(q.category)
            }
        }
        for c in 0..<categoryCount { interest[c] = 0 }
        for (i, c) in dayCategories.enumerated() { interest[c] = dayWeights[i] }
        let distinctBefore = out.counts.distinctEvents
        var conversions = 0

        let sessions = min(n, 1 + r.poisson(Double(n - 1) / 12))
        for s in 0..<sessions {
            let count = n / sessions + (s < n % sessions ? 1 : 0)
            let hour = (p.peakHourUTC + 3.5 * r.normal()).truncatingRemainder(dividingBy: 24)
            // Start early enough that the session (about 25 s per impression) ends within the day.
            let latest = max(0, 86_400 - 600 - 25 * Double(count))
            var t = min((hour < 0 ? hour + 24 : hour) * 3600, latest)
            let surface = Surface(rawValue: p.surfaceWeights.withUnsafeBufferPointer { r.pick($0, total: 1) })!
            for _ in 0..<count {
                let (dwellSeconds, converted) = impression(p, surface: surface, at: t, &r)
                if converted { conversions += 1 }
                t += 2 + r.exponential(mean: 10) + dwellSeconds
            }
        }

        let distinct = out.counts.distinctEvents - distinctBefore
        out.counts.activeUserDays += 1
        if conversions > 0 { out.counts.conversionUserDays += 1 }
        tally.events[u] += Int32(distinct)
        tally.impressions[u] += Int32(n)
        tally.conversions[u] += Int32(conversions)
        tally.activeDays[u] += 1
        if conversions > 0 { tally.conversionDays[u] += 1 }
    }

    // MARK: - One impression and its funnel

    /// Emits an impression at `t` seconds into the day and whatever it leads to; returns the time the
    /// user looked at it and whether it converted.
    private func impression(_ p: UserProfile, surface: Surface, at t: Double, _ r: inout SampleRandom) -> (Double, Bool) {
        let item = drawItem(p, surface: surface, &r)
        let category = Int(items.category[item])
        let text = items.text[item]
        var affinity = log(Double(categoryCount) * interest[category] + 0.05) + 0.35 * Double(items.quality[item])
        if text.shared >= 0 && Int(text.shared) == p.favouriteAdjective { affinity += 0.8 }
        // A returning user's staple on a market day of its category: added to the click and conversion logits.
        let boost = returning?.staples(of: category, day: day)?.contains(item) == true ? ReturningInterest.conversionBoost : 0

        let longForm = surface == .reels || surface == .video
        let dwellMs = r.logNormal(median: longForm ? 4000 : 1400, sigma: 0.9) * exp(0.12 * affinity)
        let impression = emit(.impression, surface, item: item, at: t, dwell: spellDwell(dwellMs, &r), value: .absent, &r)
        out.itemsSeen[item >> 6] |= 1 << UInt64(item & 63)
        let seen = dwellMs / 1000

        // Engagement without a click; `like` and `comment` need a social surface.
        let social = surface != .marketplace && surface != .search
        if social && r.chance(sigmoid(-4.2 + 0.7 * affinity)) {
            emit(.like, surface, item: item, at: t + r.uniform() * seen, dwell: .absent, value: .absent, &r)
        }
        if social && r.chance(sigmoid(-6.0 + 0.6 * affinity)) {
            emit(.comment, surface, item: item, at: t + seen + r.exponential(mean: 20), dwell: .absent, value: .absent, &r)
        }
        if r.chance(sigmoid(-5.8 + 0.7 * affinity)) {
            emit(.share, surface, item: item, at: t + seen, dwell: .absent, value: .absent, &r)
        }
        if r.chance(sigmoid(-5.2 + 0.7 * affinity)) {
            emit(.save, surface, item: item, at: t + seen, dwell: .absent, value: .absent, &r)
        }
        if r.chance(0.02 * sigmoid(-affinity)) {
            emit(.hide, surface, item: item, at: t + seen, dwell: .absent, value: .absent, &r)
        }

        let pClick = sigmoid(-4.0 + 0.8 * affinity + boost)
        let kind = conversionKinds[category]
        let bias = p.conversionBias + boost
        let pStep1: Double, pStep2: Double
        switch kind {
        case .purchase:
            pStep1 = sigmoid(-2.0 + 0.45 * affinity + bias)
            pStep2 = sigmoid(-0.9 + 0.35 * affinity + bias)
        case .lead:
            pStep1 = sigmoid(-2.6 + 0.5 * affinity + bias)
            pStep2 = 1
        case .appInstall:
            pStep1 = sigmoid(-2.0 + 0.5 * affinity + bias)
            pStep2 = 1
        }
        let clicked = r.chance(pClick)
        var converted = false
        if clicked {
            var tc = t + seen + 0.5
            let landingMs = r.logNormal(median: 15_000, sigma: 1.0) * exp(0.1 * affinity)
            emit(.click, surface, item: item, at: tc, dwell: .integer(UInt64(landingMs.rounded())), value: .absent, &r)
            out.counts.clicks += 1
            switch kind {
            case .purchase:
                if r.chance(pStep1) {
                    tc += landingMs / 1000 * r.uniform() + 5
                    emit(.addToCart, surface, item: item, at: tc, dwell: .absent, value: .absent, &r)
                    if r.chance(pStep2) {
                        let quantity: UInt64 = r.chance(0.1) ? 2 : 1
                        let cents = UInt64(items.priceCents[item]) * quantity
                        emit(.purchase, surface, item: item, at: tc + 30 + r.exponential(mean: 600),
                             dwell: .absent, value: .cents(cents), &r)
                        converted = true
                    }
                }
            case .lead:
                if r.chance(pStep1) {
                    emit(.lead, surface, item: item, at: tc + 60 + r.exponential(mean: 120), dwell: .absent, value: .absent, &r)
                    converted = true
                }
            case .appInstall:
                if r.chance(pStep1) {
                    emit(.appInstall, surface, item: item, at: tc + 30 + r.exponential(mean: 60), dwell: .absent,
                         value: r.chance(0.3) ? .null : .absent, &r)
                    converted = true
                }
            }
        }
        if converted { out.counts.conversions += 1 }
        out.counts.impressions += 1
        if writeTruth && day >= firstTruthDay {
            writeTruthLine(impression, category: category, affinity: affinity, pClick: pClick,
                           pConvert: pClick * pStep1 * pStep2, clicked: clicked, converted: converted, kind: kind)
        }
        return (seen, converted)
    }

    /// With probability `popularityBias` (less on search) a globally popular item; otherwise an item of
    /// one of the user's categories of the day (6% of the time any category: exploration), by popularity within it
    /// or, for a returning category on a market day, mostly one of the user's staples.
    private func drawItem(_ p: UserProfile, surface: Surface, _ r: inout SampleRandom) -> Int {
        if r.chance(surface == .search ? 0.3 * p.popularityBias : p.popularityBias) {
            return items.global.sample(&r)
        }
        let c = r.chance(0.06) ? r.below(categoryCount)
                               : dayCategories[dayWeights.withUnsafeBufferPointer { r.pick($0, total: 1) }]
        if let staples = returning?.staples(of: c, day: day), r.chance(ReturningInterest.stapleShare) {
            return staples[r.below(staples.count)]
        }
        return Int(items.categoryItems[c][items.categoryDraw[c].sample(&r)])
    }

    /// How dwell is spelled: mostly whole milliseconds, sometimes fractional, null or absent.
    private func spellDwell(_ ms: Double, _ r: inout SampleRandom) -> EventRecord.Metadata {
        let u = r.uniform()
        if u < 0.04 { return .absent }
        if u < 0.05 { return .null }
        if u < 0.20 { return .thousandths(UInt64((ms * 1000).rounded())) }
        return .integer(UInt64(ms.rounded()))
    }

    // MARK: - Delivery: where each line goes

    /// Builds the event at `t` seconds into the day and delivers it; returns the record.
    @discardableResult
    private func emit(_ type: EventType, _ surface: Surface, item: Int, at t: Double,
                      dwell: EventRecord.Metadata, value: EventRecord.Metadata, _ r: inout SampleRandom) -> EventRecord {
        sequence += 1
        let e = EventRecord(
            eventID: world.eventID(user: user, day: day, sequence: sequence),
            stringID: userStringIDs || r.chance(0.01),
            ts: dayStart + Int64(min(max(t, 0), 86_399)),
            userID: userID, itemID: items.ids[item], type: type, surface: surface, dwell: dwell, value: value)
        deliver(e)
        return e
    }

    /// Writes the event into today's file or (late) a later one, maybe repeats it, maybe follows it
    /// with a bad line.
    private func deliver(_ e: EventRecord) {
        var delay = 0
        if lateRate > 0 && day + 1 < days && delivery.chance(lateRate) {
            delay = 1 + delivery.below(min(3, days - 1 - day))
            out.counts.lateEvents += 1
        }
        let buffer = delay == 0 ? out.events : out.later[delay - 1]
        let start = buffer.count
        lineWriter.write(e, to: buffer, noise: &noise)
        out.counts.lines += 1
        out.counts.eventLines += 1
        out.counts.distinctEvents += 1
        out.counts.byType[e.type.rawValue] += 1
        out.counts.bySurface[e.surface.rawValue] += 1
        if e.stringID { out.counts.stringEventIDs += 1 }

        if duplicateRate > 0 && delivery.chance(duplicateRate) {
            let length = buffer.count - start
            if delivery.chance(0.5) && day + delay + 1 < days {
                out.later[delay].appendLine(UnsafeRawBufferPointer(start: buffer.base + start, count: length))
                out.counts.duplicatesAcrossFiles += 1
            } else {
                buffer.appendLineCopy(from: start, count: length)
            }
            out.counts.duplicates += 1
            out.counts.lines += 1
            out.counts.eventLines += 1
        }

        if badPerValidLine > 0 && delivery.chance(badPerValidLine) {
            let kind = BadLineKind.allCases[delivery.below(BadLineKind.allCases.count)]
            var template = e
            template.eventID = world.eventID(user: user, day: day, sequence: SampleWorld.badLineSequenceBase + sequence)
            badMaker.write(kind, template: template, to: out.events, rng: &delivery)
            out.counts.badByKind[BadLineKind.allCases.firstIndex(of: kind)!] += 1
            out.counts.lines += 1
        }
    }

    // MARK: - Truth

    private static let conversionNames: [StaticString] = ["\"purchase\"", "\"lead\"", "\"app_install\""]

    private func writeTruthLine(_ e: EventRecord, category: Int, affinity: Double, pClick: Double, pConvert: Double,
                                clicked: Bool, converted: Bool, kind: ConversionKind) {
        let b = out.truth
        b.append("{\"user_id\":")
        b.uint(e.userID)
        b.append(",\"event_id\":")
        if e.stringID {
            EventLineWriter.withStringID(e.eventID) {
                b.byte(0x22)
                b.append(UnsafeRawBufferPointer($0))
                b.byte(0x22)
            }
        } else {
            b.uint(e.eventID)
        }
        b.append(",\"ts\":")
        b.int(e.ts)
        b.append(",\"item_id\":")
        b.uint(e.itemID)
        b.append(",\"category\":")
        b.uint(UInt64(category))
        b.append(",\"surface\":")
        b.quoted(e.surface.literal)
        b.append(",\"affinity\":")
        b.fixed(affinity, decimals: 4)
        b.append(",\"p_click\":")
        b.fixed(pClick, decimals: 6)
        b.append(",\"p_convert\":")
        b.fixed(pConvert, decimals: 6)
        b.append(clicked ? ",\"clicked\":true" : ",\"clicked\":false")
        b.append(converted ? ",\"converted\":true" : ",\"converted\":false")
        b.append(",\"conversion_type\":")
        b.append(UserDaySimulator.conversionNames[kind.rawValue])
        b.byte(0x7D)
        b.endLine()
    }
}
