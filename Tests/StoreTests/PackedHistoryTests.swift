import Events
import Store
import Support
import Testing

/// The packed record format of history chunks and evicted-id lists.
@Suite struct PackedHistoryTests {
    func events(_ n: Int, seed: UInt64 = 1) -> [StoredEvent] {
        var x = seed
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        var out: [StoredEvent] = []
        for k in 0..<n {
            let id: EventID = k % 5 == 0 ? .string(Array("e-\(next() % 100_000)".utf8)) : .integer(next())
            let dwell: Double = [0, -0.0, 1.5, Double.leastNonzeroMagnitude, 1e300, Double(next() % 10_000) / 7][k % 6]
            out.append(StoredEvent(ts: Int64(next() % 1_000_000) - 500_000, itemID: next(), eventID: id, type: UInt32(next() % 20),
                                   surface: UInt32(next() % 7), dwellMs: dwell, value: k % 3 == 0 ? 0 : Double(next() % 100) / 100))
        }
        return out.sorted(by: StoredEvent.precedes)
    }

    @Test(arguments: [0, 1, 3, 40, 2000])
    func roundTripKeepsEveryFieldBitForBit(_ n: Int) throws {
        let ev = events(n)
        let back = try PackedHistory.unpack(PackedHistory.pack(ev))
        #expect(back.count == n)
        for (a, b) in zip(ev, back) {
            #expect(a.ts == b.ts && a.itemID == b.itemID && a.eventID == b.eventID && a.type == b.type && a.surface == b.surface)
            #expect(a.dwellMs.bitPattern == b.dwellMs.bitPattern && a.value.bitPattern == b.value.bitPattern)
        }
    }

    @Test func idListsRoundTripAndAreNotChunks() throws {
        let ids: [EventID] = [.integer(0), .integer(.max), .string([]), .string(Array("caf\u{e9}".utf8)), .string([0xFF, 0x00])]
        let blob = PackedHistory.packIDs(ids)
        #expect(try PackedHistory.unpackIDs(blob) == ids)
        #expect(throws: PackedFormatError.self) { try PackedHistory.unpack(blob) }
        #expect(throws: PackedFormatError.self) { try PackedHistory.unpackIDs(PackedHistory.pack(events(3))) }
    }

    @Test func forEachIDSeesEveryIDWithItsHash() throws {
        let ev = events(500)
        var seen: [EventID] = []
        try PackedHistory.forEachID(PackedHistory.pack(ev), path: "t", user: 1) { h, id in
            let v = id()!
            #expect(h == PackedHistory.idHash(v))
            seen.append(v)
        }
        #expect(seen == ev.map(\.eventID))
        var listed: [EventID] = []
        try PackedHistory.forEachID(PackedHistory.packIDs(seen), path: "t", user: 1) { _, id in listed.append(id()!) }
        #expect(listed == seen)
    }

    @Test func damagedBlobsAreErrorsNeverCrashes() throws {
        let good = PackedHistory.pack(events(300))
        #expect(good[1] & 1 == 1, "a 300-event chunk is LZ4-compressed")
        // Every truncation, and a flipped byte at every position, must throw or decode to something
        // without trapping; lengths are checked before use.
        for cut in 0..<good.count {
            #expect(throws: PackedFormatError.self) { try PackedHistory.unpack(Array(good[..<cut])) }
        }
        for k in 0..<min(good.count, 400) {
            var bad = good
            bad[k] ^= 0x5A
            _ = try? PackedHistory.unpack(bad)
        }
        #expect(throws: PackedFormatError.self) { try PackedHistory.unpack([2] + good.dropFirst()) }
        #expect(throws: PackedFormatError.self) { try PackedHistory.unpack([1, 0x80] + good.dropFirst(2)) }
        // An absurd length in the header is refused before any allocation.
        #expect(throws: PackedFormatError.self) { try PackedHistory.unpack([1, 1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0]) }
    }

    @Test func smallPayloadsAreStoredRaw() throws {
        let blob = PackedHistory.pack(events(2))
        #expect(blob[1] & 1 == 0)
        #expect(try PackedHistory.unpack(blob).count == 2)
    }

    @Test func historyOrderIsTsThenIntegerIdsBeforeStringIds() {
        let a = StoredEvent(ts: 5, itemID: 0, eventID: .integer(99), type: 0, surface: 0, dwellMs: 0, value: 0)
        let b = StoredEvent(ts: 5, itemID: 0, eventID: .string(Array("0".utf8)), type: 0, surface: 0, dwellMs: 0, value: 0)
        let c = StoredEvent(ts: 5, itemID: 0, eventID: .string(Array("1".utf8)), type: 0, surface: 0, dwellMs: 0, value: 0)
        let d = StoredEvent(ts: 4, itemID: 0, eventID: .string(Array("z".utf8)), type: 0, surface: 0, dwellMs: 0, value: 0)
        #expect([c, b, a, d].sorted(by: StoredEvent.precedes).map(\.eventID) == [d, a, b, c].map(\.eventID))
    }
}
