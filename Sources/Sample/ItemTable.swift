import Support
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The words an item's text is made of, as indices into `SampleVocabulary` (−1 = absent).
struct ItemText: Sendable {
    var shared: Int16
    var adjective: Int16
    var noun: Int16
    var suffix: Int16
}

/// The generated items, column-wise: ids, category, popularity, quality, price, text, catalog membership.
///
/// Ids are `fmix64(index ^ key)`: a bijection, so ids are unique without a set, and spread over the
/// whole u64 range (about half above 2^63), which exercises exact id parsing downstream.
/// Popularity is Zipf-like over a random ranking of all items; `global` draws items by popularity and
/// `byCategory[c]` draws within a category by the same weights.
struct ItemTable: Sendable {
    let ids: [UInt64]
    let category: [UInt8]
    /// Intrinsic appeal, N(0, 1): part of every user's affinity for the item.
    let quality: [Float]
    let priceCents: [Int32]
    /// Probability of the item under the global popularity draw.
    let popularity: [Double]
    let popularityRank: [Int32]
    let text: [ItemText]
    /// About 2% of items are missing from the catalog ("missing item vector" downstream).
    let inCatalog: [Bool]
    let global: AliasTable
    /// Per category: its items (indices into the columns) and a popularity draw over them.
    let categoryItems: [[Int32]]
    let categoryDraw: [AliasTable]

    var count: Int { ids.count }

    /// Zipf exponent and offset of the popularity ranking.
    static let zipfExponent = 1.05
    static let zipfOffset = 5.0
    /// Catalog coverage: items with `fmix64` bucket below this (per mille) are left out.
    static let missingPerMille: UInt64 = 20

    init(count n: Int, seed: UInt64) {
        let categories = SampleVocabulary.categories
        let c = categories.count
        var world = SampleRandom(seed: seed, .world, 1)
        // Category sizes vary (some shelves are longer), and so do price levels.
        let sizeWeights = (0..<c).map { _ in 0.5 + world.uniform() }
        let sizeTotal = sizeWeights.reduce(0, +)
        let medianPrice = (0..<c).map { _ in world.logNormal(median: 35, sigma: 0.9) }
        // A random popularity ranking (Fisher–Yates over ranks).
        var rank = (0..<n).map { Int32($0) }
        for i in stride(from: n - 1, to: 0, by: -1) { rank.swapAt(i, world.below(i + 1)) }

        let idKey = fmix64(seed ^ 0x17E3_5A11_D00D_F00D)
        let catalogKey = fmix64(seed ^ 0x0CA7_A106_0000_0001)
        var ids = [UInt64](repeating: 0, count: n)
        var category = [UInt8](repeating: 0, count: n)
        var quality = [Float](repeating: 0, count: n)
        var price = [Int32](repeating: 0, count: n)
        var weight = [Double](repeating: 0, count: n)
        var text = [ItemText](repeating: ItemText(shared: -1, adjective: 0, noun: 0, suffix: -1), count: n)
        var inCatalog = [Bool](repeating: true, count: n)
        var members = [[Int32]](repeating: [], count: c)
        sizeWeights.withUnsafeBufferPointer { sw in
            for i in 0..<n {
                var r = SampleRandom(seed: seed, .item, UInt64(i))
                let cat = r.pick(sw, total: sizeTotal)
                let spec = categories[cat]
                ids[i] = fmix64(UInt64(i) ^ idKey)
                category[i] = UInt8(cat)
                quality[i] = Float(r.normal())
                price[i] = Int32(min(max(medianPrice[cat] * r.logNormal(median: 1, sigma: 0.5), 0.5), 2_000_000) * 100)
                weight[i] = 1 / pow(Double(rank[i]) + ItemTable.zipfOffset, ItemTable.zipfExponent)
                text[i] = ItemText(
                    shared: r.chance(0.55) ? Int16(r.below(SampleVocabulary.sharedAdjectives.count)) : -1,
                    adjective: Int16(r.below(spec.adjectives.count)),
                    noun: Int16(r.below(spec.nouns.count)),
                    suffix: r.chance(0.25) ? Int16(r.below(SampleVocabulary.suffixes.count)) : -1)
                inCatalog[i] = fmix64(UInt64(i) ^ catalogKey) % 1000 >= ItemTable.missingPerMille
                members[cat].append(Int32(i))
            }
        }
        // A category that drew no items (only possible with a tiny --items) borrows one item so every
        // category can be drawn from.
        for k in 0..<c where members[k].isEmpty { members[k] = [Int32(k % n)] }
        let total = weight.reduce(0, +)
        self.ids = ids
        self.category = category
        self.quality = quality
        self.priceCents = price
        self.popularity = weight.map { $0 / total }
        self.popularityRank = rank
        self.text = text
        self.inCatalog = inCatalog
        self.global = AliasTable(weights: weight)
        self.categoryItems = members
        self.categoryDraw = members.map { m in AliasTable(weights: m.map { weight[Int($0)] }) }
    }

    /// The item's text, e.g. "red running shoes for men".
    func textString(_ i: Int) -> String {
        let t = text[i]
        let spec = SampleVocabulary.categories[Int(category[i])]
        var words: [String] = []
        if t.shared >= 0 { words.append(SampleVocabulary.sharedAdjectives[Int(t.shared)]) }
        words.append(spec.adjectives[Int(t.adjective)])
        words.append(spec.nouns[Int(t.noun)])
        if t.suffix >= 0 { words.append(SampleVocabulary.suffixes[Int(t.suffix)]) }
        return words.joined(separator: " ")
    }
}
