import Events
import Store
import Testing

/// The fingerprint filter kept beside each history chunk, against its plain twin (a set).
@Suite struct IDFingerprintsTests {
    /// A small deterministic generator (xorshift), so failures reproduce.
    struct Numbers {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
    }

    @Test func intersectsAgreesWithASetOfTheFingerprints() throws {
        var r = Numbers(state: 0x9E37_79B9_7F4A_7C15)
        for round in 0..<200 {
            // Small fingerprint spaces make hits common; the full space makes them rare.
            let mask: UInt32 = round % 2 == 0 ? 0x3FF : .max
            let stored = (0..<Int(r.next() % 300)).map { _ in UInt32(truncatingIfNeeded: r.next()) & mask }
            let probes = (0..<Int(r.next() % 60)).map { _ in UInt32(truncatingIfNeeded: r.next()) & mask }.sorted()
            let blob = IDFingerprints.pack(stored)
            let expected = !Set(stored).isDisjoint(with: probes)
            let got = try blob.withUnsafeBytes { try IDFingerprints.intersects($0, probes) }
            #expect(got == expected, "round \(round): \(stored.count) stored, \(probes.count) probes")
            #expect(try IDFingerprints.unpack(blob) == Set(stored).sorted())
        }
    }

    @Test func eachStoredFingerprintIsFoundAndTheFirstAndLastBound() throws {
        let ids: [EventID] = (1...100).map { .integer(UInt64($0) * 7919) } + [.string(Array("a".utf8)), .string([])]
        let blob = IDFingerprints.pack(ids: ids)
        for id in ids {
            #expect(try blob.withUnsafeBytes { try IDFingerprints.intersects($0, [IDFingerprints.of(id)]) }, "\(id)")
        }
        let all = try IDFingerprints.unpack(blob)
        // Just outside the stored range, and in a gap inside it: no match.
        let first = all.first!, last = all.last!
        try #require(first > 0 && last < .max)
        let gap = try #require(zip(all, all.dropFirst()).first { $0.1 - $0.0 > 1 }.map { $0.0 + 1 })
        #expect(try blob.withUnsafeBytes { try IDFingerprints.intersects($0, [first - 1, gap, last + 1]) } == false)
        #expect(try [IDFingerprints.version].withUnsafeBytes { try IDFingerprints.intersects($0, [1, 2]) } == false)
    }

    @Test func aDamagedOrNewerBlobIsRefused() {
        for bad: [UInt8] in [[], [2, 0, 0, 0, 0], [1, 0, 0]] {
            #expect(throws: PackedFormatError.self) { try bad.withUnsafeBytes { try IDFingerprints.intersects($0, [0]) } }
        }
    }
}
