@testable import Sample
import Support
import Testing

/// The generator's small parts: dates, number formatting, random streams, alias sampling, ids.
@Suite struct SampleBuildingBlockTests {
    @Test func civilDatesOfUnixSeconds() {
        #expect(CivilDate(unixSeconds: 1_790_812_800).description == "2026-10-01")
        #expect(CivilDate(unixSeconds: 1_790_812_799).description == "2026-09-30")
        #expect(CivilDate(unixSeconds: 0).description == "1970-01-01")
        #expect(CivilDate(unixSeconds: 1_835_395_200).description == "2028-02-29")
        #expect(CivilDate(unixSeconds: 951_782_400).description == "2000-02-29")
        #expect(CivilDate(unixSeconds: -1).description == "1969-12-31")
    }

    @Test func numbersAreFormattedExactly() {
        func text(_ body: (ByteBuffer) -> Void) -> String {
            let b = ByteBuffer(capacity: 8)
            body(b)
            return String(decoding: b.toArray(), as: UTF8.self)
        }
        #expect(text { $0.uint(0) } == "0")
        #expect(text { $0.uint(UInt64.max) } == "18446744073709551615")
        #expect(text { $0.int(Int64.min) } == "-9223372036854775808")
        #expect(text { $0.int(-42) } == "-42")
        #expect(text { $0.fixed(-1.5, decimals: 2) } == "-1.50")
        #expect(text { $0.fixed(0.0005, decimals: 3) } == "0.001")
        #expect(text { $0.fixed(-0.00001, decimals: 2) } == "0.00")
        #expect(text { $0.fixed(5.8333, decimals: 0) } == "6")
        #expect(text { EventLineWriter.writeMetadata(.thousandths(1_234_005), to: $0) } == "1234.005")
        #expect(text { EventLineWriter.writeMetadata(.cents(2399), to: $0) } == "23.99")
        #expect(text { EventLineWriter.writeMetadata(.cents(7), to: $0) } == "0.07")
        // Growth keeps what was written.
        let long = text { b in for _ in 0..<1000 { b.append("abcdefgh") } }
        #expect(long.count == 8000 && long.hasPrefix("abcdefghabc"))
    }

    @Test func randomStreamsAreKeyedAndIndependent() {
        var a = SampleRandom(seed: 7, .behaviour, 3, 4), b = SampleRandom(seed: 7, .behaviour, 3, 4)
        let xs = (0..<100).map { _ in a.next() }
        #expect(xs == (0..<100).map { _ in b.next() })
        var c = SampleRandom(seed: 7, .behaviour, 4, 3), d = SampleRandom(seed: 7, .delivery, 3, 4),
            e = SampleRandom(seed: 8, .behaviour, 3, 4)
        #expect(c.next() != xs[0] && d.next() != xs[0] && e.next() != xs[0])
        var r = SampleRandom(seed: 1, .world)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0, poisson = 0
        for _ in 0..<n {
            let z = r.normal()
            sum += z
            sumSq += z * z
            poisson += r.poisson(3.5)
        }
        #expect(abs(sum / Double(n)) < 0.01)
        #expect(abs(sumSq / Double(n) - 1) < 0.02)
        #expect(abs(Double(poisson) / Double(n) - 3.5) < 0.03)
        let g = (0..<20_000).map { _ in r.gamma(shape: 0.7) }
        #expect(abs(g.reduce(0, +) / 20_000 - 0.7) < 0.03)
    }

    @Test func aliasTableDrawsInProportionToWeights() {
        let weights = [1.0, 0, 3, 6]
        let t = AliasTable(weights: weights)
        var r = SampleRandom(seed: 2, .world)
        var counts = [0, 0, 0, 0]
        for _ in 0..<100_000 { counts[t.sample(&r)] += 1 }
        #expect(counts[1] == 0)
        for i in [0, 2, 3] {
            let expected = weights[i] / 10
            #expect(abs(Double(counts[i]) / 100_000 - expected) < 0.01)
        }
    }

    @Test func eventIDsAreUniqueAndStringIDsSpellTheSameValue() {
        let world = SampleWorld(options: SampleOptions(outputDirectory: "/unused", users: 3, days: 2, seed: 1))
        var ids = Set<UInt64>()
        for u in 0..<3 { for d in 0..<2 { for s in 1...2000 { ids.insert(world.eventID(user: u, day: d, sequence: s)) } } }
        #expect(ids.count == 3 * 2 * 2000)
        let text = EventLineWriter.withStringID(0x0123_4567_89AB_CDEF) { String(decoding: $0, as: UTF8.self) }
        #expect(text == "e-0123456789abcdef")
    }

    @Test func itemIDsAreUniqueAndSpanTheWholeRange() {
        let items = ItemTable(count: 5000, seed: 3)
        #expect(Set(items.ids).count == 5000)
        let high = items.ids.filter { $0 > UInt64(Int64.max) }.count
        #expect(high > 2000 && high < 3000)
        #expect(abs(items.popularity.reduce(0, +) - 1) < 1e-9)
        #expect(items.categoryItems.allSatisfy { !$0.isEmpty })
        let missing = items.inCatalog.filter { !$0 }.count
        #expect(missing > 50 && missing < 160)
        #expect(items.textString(0).split(separator: " ").count >= 2)
    }
}
