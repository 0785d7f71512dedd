@testable import Store
import Support
import Testing
import TestSupport

/// The catalog's cache of recently read vectors: the same answers as SQLite, never a stale one.
@Suite struct CatalogCacheTests {
    static func vector(_ id: UInt64, generation: UInt64 = 0, dSem: Int) -> [Float] {
        (0..<dSem).map { Float(Int64(fmix64(id &+ generation &* 7919 &+ UInt64($0)) % 2001) - 1000) / 250 }
    }

    static func write(_ path: String, ids: some Sequence<UInt64>, generation: UInt64 = 0, dSem: Int) throws {
        let w = try CatalogWriter(path: path, semanticModel: "m", dSem: dSem)
        try w.add(ids.map { CatalogItem(itemID: $0, text: nil, vector: vector($0, generation: generation, dSem: dSem)) })
    }

    static func lookup(_ c: Catalog, _ id: UInt64) throws -> [Float]? {
        var out = [Float](repeating: .nan, count: c.dSem)
        let found = try out.withUnsafeMutableBufferPointer { try c.vector(for: id, into: $0) }
        return found ? out : nil
    }

    static func check(_ c: Catalog, _ id: UInt64, _ expected: [Float]?, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let found = try lookup(c, id)
        #expect(found == expected, "item \(id)", sourceLocation: sourceLocation)
    }

    /// More items than the cache has slots, looked up in a skewed random order with absent ids
    /// among them: every answer inside `reading` (cached or not) equals the plain point read.
    @Test func answersAsTheCatalogDoes() throws {
        let dir = TempDirectory()
        let path = dir.file("catalog.db")
        let dSem = 64
        let items = UInt64(3 * VectorCache(dSem: dSem).slots / 2)
        try Self.write(path, ids: (0..<items).map { $0 * 3 }, dSem: dSem)   // ids not divisible by 3 are absent
        let c = try Catalog(path: path)
        var rng = SplitMix64(seed: 5)
        var lookups = 0, absent = 0
        try c.reading {
            for _ in 0..<60_000 {
                // Half the lookups among 500 popular ids, so the cache is hit; the rest spread wide.
                let r = rng.next()
                let id = r & 1 == 0 ? (r >> 1) % 1500 : (r >> 1) % (3 * items + 100)
                let expected = id % 3 == 0 && id / 3 < items ? Self.vector(id, dSem: dSem) : nil
                try Self.check(c, id, expected)
                lookups += 1
                if expected == nil { absent += 1 }
            }
        }
        #expect(lookups == 60_000 && absent > 10_000)
        #expect(c.cacheHits > 20_000, "the cache answered \(c.cacheHits) of \(lookups) lookups")
    }

    /// Another connection grows the catalog and replaces a vector between two read transactions:
    /// the second sees the new item (cached as absent before) and the new vector (cached before).
    @Test func forgetsWhatAnotherConnectionChanged() throws {
        let dir = TempDirectory()
        let path = dir.file("catalog.db")
        let dSem = 8
        try Self.write(path, ids: [10, 20], dSem: dSem)
        let c = try Catalog(path: path)
        try c.reading {
            try Self.check(c, 10, Self.vector(10, dSem: dSem))
            try Self.check(c, 30, nil)
        }
        try c.reading {
            try Self.check(c, 10, Self.vector(10, dSem: dSem))
            try Self.check(c, 30, nil)
        }
        let hitsBefore = c.cacheHits
        #expect(hitsBefore == 2)   // the second transaction was answered from the cache

        try Self.write(path, ids: [10, 30], generation: 1, dSem: dSem)
        try c.reading {
            try Self.check(c, 10, Self.vector(10, generation: 1, dSem: dSem))
            try Self.check(c, 30, Self.vector(30, generation: 1, dSem: dSem))
            try Self.check(c, 20, Self.vector(20, dSem: dSem))
        }
        #expect(c.cacheHits == hitsBefore)
        // Outside a read transaction nothing is cached: each lookup is its own snapshot.
        try Self.write(path, ids: [20], generation: 2, dSem: dSem)
        try Self.check(c, 20, Self.vector(20, generation: 2, dSem: dSem))
        #expect(c.cacheHits == hitsBefore)
    }
}
