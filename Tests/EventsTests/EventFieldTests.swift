@testable import Events
import Testing

/// The field table's key matching: every key, of any length up to 15 bytes, found in both spellings
/// and nothing else mistaken for one.
@Suite struct EventFieldTests {
    func quoted(_ s: String) -> EventField? {
        let b = Array(s.utf8) + [0x22] + [UInt8](repeating: 0x20, count: 16)
        return b.withUnsafeBufferPointer { EventKeys().field(at: $0.baseAddress!) }
    }

    func exactly(_ s: String) -> EventField? { Array(s.utf8).withUnsafeBufferPointer { EventKeys().field(exactly: $0) } }

    @Test func everyKeyIsFoundAndNearMissesAreNot() {
        for f in EventField.allCases {
            #expect(quoted(f.key) == f && exactly(f.key) == f, "\(f.key)")
            for miss in [String(f.key.dropLast()), f.key + "x", "x" + f.key, f.key.uppercased()] {
                #expect(quoted(miss) == nil && exactly(miss) == nil, "\(miss)")
            }
        }
        #expect(EventField.requiredMask == 0b11_1111)
    }

    /// A decoded key that starts with a known key and a quote (`ts"x`, written `"ts\"x"`) is another
    /// key: the line keeps its own `ts` and is accepted, not refused for a repeated key.
    @Test func aDecodedKeyHoldingAQuoteIsNotTheKeyItStartsWith() {
        #expect(exactly("ts\"x") == nil && exactly("user_id\"") == nil && exactly("ts") == .ts)
        let parser = EventParser(rules: ValidationRules(minTs: 0, maxTs: 100)), batch = EventBatch()
        let line = Array(#"{"event_id":1,"ts":5,"user_id":2,"item_id":3,"type":"a","surface":"b","ts\"x":7}"#.utf8)
        let rejection = line.withUnsafeBufferPointer { parser.parseGeneral($0, lineNumber: 1, into: batch) }
        #expect(rejection == nil, "\(String(describing: rejection))")
        #expect(batch.count == 1 && batch.events.first?.ts == 5)
    }

    /// A spelling past eight bytes (as a key like `price_usd` has, 13 bytes with its separators) is
    /// matched on two words, and byte by byte near the end of the text.
    @Test func spellingsLongerThanAWordMatch() {
        let key = KeyWords(Array(#","price_usd":"#.utf8))
        for (text, expected) in [(#","price_usd":12.5}"#, true), (#","price_usd":"#, true), (#","price_usx":12.5}"#, false),
                                 (#","price_us":1}"#, false), (#","price_usd"#, false)] {
            let padded = Array(text.utf8) + [UInt8](repeating: 0, count: 16)
            padded.withUnsafeBufferPointer { b in
                #expect(key.matches(b.baseAddress!, readable: padded.count) == expected, "\(text)")
                #expect(key.matches(b.baseAddress!, readable: text.utf8.count) == expected, "\(text), near the end")
            }
        }
    }
}
