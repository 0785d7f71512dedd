import Events
import Support
import Testing

/// The event checksum compares the read stage with the history store: equal event sets give equal
/// sums in any order, and a change to any one field of any event changes the sum.
@Suite struct EventChecksumTests {
    struct Fields {
        var user: UInt64, item: UInt64, ts: Int64, integerID: UInt64?, idHash: UInt64
        var type: UInt64, surface: UInt64, dwell: Double, value: Double
    }

    func sum(_ events: [Fields]) -> UInt64 {
        var c = EventChecksum()
        for e in events {
            c.add(userID: e.user, itemID: e.item, ts: e.ts, integerID: e.integerID, idHash: e.idHash,
                  typeHash: e.type, surfaceHash: e.surface, dwellMs: e.dwell, value: e.value)
        }
        return c.value
    }

    @Test func orderDoesNotMatterAndEveryFieldDoes() {
        var x: UInt64 = 3
        func r() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9); return x }
        let events = (0..<50).map { k in
            Fields(user: r() % 100, item: r(), ts: Int64(r() % 1_000_000), integerID: k % 3 == 0 ? nil : r(),
                   idHash: EventChecksum.bytesHash(Array("e\(k)".utf8)), type: r(), surface: r(),
                   dwell: Double(r() % 10_000) / 8, value: k % 4 == 0 ? 0 : Double(r() % 100))
        }
        let base = sum(events)
        #expect(sum(events.reversed()) == base)
        var g = SplitMix(seed: 1)
        #expect(sum(events.shuffled(using: &g)) == base)
        for k in [0, 1, 17, 49] {
            let edits: [(inout Fields) -> Void] = [
                { $0.user &+= 1 }, { $0.item ^= 1 << 40 }, { $0.ts &-= 1 },
                { $0.integerID = $0.integerID.map { $0 &+ 1 } ?? 7 }, { $0.idHash ^= 1; $0.integerID = nil },
                { $0.type ^= 2 }, { $0.surface &+= 1 }, { swap(&$0.type, &$0.surface) },
                { $0.dwell = $0.dwell.nextUp }, { $0.value += 0.5 },
            ]
            for (n, edit) in edits.enumerated() {
                var changed = events
                edit(&changed[k])
                #expect(sum(changed) != base, "edit \(n) of event \(k)")
            }
        }
    }

    /// The read stage adds each event as it is parsed (`addLast`); the sum equals the one over the
    /// whole batch, string ids included, and the batch keeps every event in order as it grows.
    @Test func addingEventsOneByOneEqualsAddingTheBatch() {
        let parser = EventParser(rules: ValidationRules(minTs: 0, maxTs: 1 << 40))
        let batch = EventBatch(capacity: 1)
        var oneByOne = EventChecksum()
        for k in 0..<1_000 {
            let id = k % 3 == 0 ? "\"e-\(k)\"" : "\(k * 7919)"
            let line = Array(#"{"event_id":\#(id),"ts":\#(1000 + k),"user_id":\#(k % 37),"item_id":\#(k),"type":"\#(["click", "like"][k % 2])","surface":"feed","dwell_ms":\#(k % 5 == 0 ? "null" : "\(k).5")}"#.utf8)
            let r = line.withUnsafeBufferPointer { parser.parse($0, lineNumber: k + 1, into: batch) }
            #expect(r == nil)
            oneByOne.addLast(of: batch, parser: parser)
            #expect(batch.count == k + 1 && batch.last.line == k + 1 && batch.last.itemID == UInt64(k))
        }
        var whole = EventChecksum()
        whole.add(batch, parser: parser)
        #expect(oneByOne.value == whole.value)
        #expect(batch.events.map(\.line) == Array(1...1_000))
        #expect(batch.events.filter { !$0.hasIntegerID }.allSatisfy { batch.eventID($0) == .string(Array("e-\($0.line - 1)".utf8)) })
    }
}

/// A small deterministic generator for shuffling in tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 { state &+= 0x9E37_79B9_7F4A_7C15; return fmix64(state) }
}
