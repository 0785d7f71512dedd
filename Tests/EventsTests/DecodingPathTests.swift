import Events
import Support
import Testing
import TestSupport

/// Lines whose keys and strings hold escapes and UTF-8 text: the parser decodes them to the expected
/// event, classifies their faults, and its canonical path agrees with the general parser on them.
@Suite struct DecodingPathTests {
    static let rules = ValidationRules(minTs: 0, maxTs: 1 << 40)

    /// Parses `line`; the event and its decoded strings, or nil when it is rejected.
    func decode(_ line: [UInt8]) -> (event: Event, id: EventID, type: [UInt8], surface: [UInt8])? {
        let p = EventParser(rules: DecodingPathTests.rules), b = EventBatch()
        let rejection = line.withUnsafeBufferPointer { p.parse($0, lineNumber: 1, into: b) }
        guard rejection == nil, let e = b.events.first else {
            #expect(b.count == 0)
            return nil
        }
        return (e, b.eventID(e), p.types.bytes(e.type), p.surfaces.bytes(e.surface))
    }

    func general(_ line: String) -> Rejection? {
        let p = EventParser(rules: DecodingPathTests.rules), b = EventBatch()
        return Array(line.utf8).withUnsafeBufferPointer { p.parseGeneral($0, lineNumber: 1, into: b) }
    }

    @Test func escapedKeysAndStringsAreDecoded() throws {
        let line = #"{"\u0065vent_id":"\ud83d\ude00\/x","ts":1500,"user\u005Fid":5,"item_id":7,"\u0074ype":"cl\u0069ck","surface":"caf\u00e9","q":"a\"b","\u0071\u0032":{"k":"\u65e5"}}"#
        let d = try #require(decode(Array(line.utf8)))
        #expect(d.id == .string([0xF0, 0x9F, 0x98, 0x80, 0x2F, 0x78]))
        #expect(d.type == Array("click".utf8))
        #expect(d.surface == Array("caf\u{e9}".utf8))
        #expect(d.event.userID == 5 && d.event.itemID == 7 && d.event.ts == 1500)
        // Raw UTF-8 and every short escape in values.
        let raw = "{\"event_id\":\"\u{65e5}\\b\\f\\n\\r\\t\\\\\\\"\",\"ts\":1,\"user_id\":2,\"item_id\":3,\"type\":\"\u{1F600}\",\"surface\":\"\\u00E9\\u00e9\"}"
        let r = try #require(decode(Array(raw.utf8)))
        #expect(r.id == .string(Array("\u{65e5}\u{8}\u{c}\n\r\t\\\"".utf8)))
        #expect(r.type == Array("\u{1F600}".utf8) && r.surface == Array("\u{e9}\u{e9}".utf8))
    }

    @Test func faultyOrSpacedLinesAreClassified() {
        let base = #""ts":1500,"user_id":5,"item_id":7,"surface":"feed""#
        let cases: [(String, ReasonCode?)] = [
            (#"{"event_id":1,"type":"\ud800x","# + base + "}", .invalidUTF8),                 // lone high surrogate
            (#"{"event_id":1,"type":"\udc00","# + base + "}", .invalidUTF8),                  // lone low surrogate
            (#"{"event_id":1,"type":"a","\u0074ype":"b","# + base + "}", .duplicateKey),      // the same key, escaped
            (#"{"event_id":1,"type":"a","q":1,"\u0071":2,"# + base + "}", .duplicateKey),     // an unknown key twice
            (#"{"event_id":1,"type":"\x41","# + base + "}", .notJSONObject),                  // not an escape
            (#"{"event_id":1,"type":"\u00G1","# + base + "}", .notJSONObject),                // not hex
            ("{\"event_id\":1,\"type\":\"a\u{1}\",\"" + base.dropFirst() + "}", .notJSONObject), // raw control byte
            (#"{"event_id":1, "type":"\u0061","# + base + "}", nil),                          // whitespace
            (#"{"event_id":1,"type":"\u0061","# + base + "} ", nil),                          // trailing whitespace
            (#"{"event_id":1,"type":"\u0061","dwell_ms":1.5e2,"# + base + "}", nil),          // beyond the fast number readers
            (#"{"event_id":1,"type":"\u0061","ts":1500,"user_id":5,"item_id":7}"#, .missingField),
        ]
        for (line, reason) in cases {
            #expect((decode(Array(line.utf8)) == nil) == (reason != nil), "\(line)")
            #expect(general(line)?.reason == reason, "\(line)")
        }
        // Invalid UTF-8 in a value, as raw bytes.
        let bad = Array(#"{"event_id":1,"type":"a"#.utf8) + [0xC3, 0x28] + Array(#"","#.utf8) + Array(base.utf8) + [0x7D]
        #expect(decode(bad) == nil)
    }

    /// Lines as the bench log writes its escaped ones — characters of keys and strings escaped at
    /// random, free text with escapes and UTF-8, keys shuffled, unknown fields — lightly mutated:
    /// whatever the canonical path takes, the general parser takes with the same event.
    @Test func randomEscapedLinesAgree() {
        var x: UInt64 = 23
        func next() -> UInt64 { x = fmix64(x &+ 0x9E37_79B9_7F4A_7C15); return x }
        func escaped(_ s: String) -> String {
            var out = ""
            for u in s.unicodeScalars {
                switch next() % 6 {
                case 0 where u.value < 0x10000:
                    let hex = String(u.value, radix: 16, uppercase: next() % 2 == 0)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                case 1 where u == "/": out += "\\/"
                default: out.unicodeScalars.append(u)
                }
            }
            return out
        }
        let texts = ["cr\u{e8}me br\u{fb}l\u{e9}e", "\\ud83d\\ude00", "\u{65e5}\u{672c}", "tab\\there", "C:\\\\tmp \u{1F600}", "5\\/5", "\\\"best\\\""]
        let pieces: [[UInt8]] = [[0x5C], Array("\\u".utf8), Array("\\ud800".utf8), [0xFF], [0x01], [0x20], [0x22], Array("\\u00".utf8), [0xE2, 0x82]]
        var taken = 0
        let twin = FastPathTwinTests()
        for k in 0..<10_000 {
            var members = [
                "\"\(escaped("event_id"))\":" + (k % 3 == 0 ? "\"\(escaped("e/\(next() % 1000)"))\"" : String(next() >> UInt64(k % 60))),
                "\"\(escaped("ts"))\":\(next() % 2_000_000_000)", "\"\(escaped("user_id"))\":\(next() >> UInt64(k % 64))",
                "\"\(escaped("item_id"))\":\(next())",
                "\"\(escaped("type"))\":\"\(escaped(["click", "impression", "add_to_cart"][k % 3]))\"",
                "\"\(escaped("surface"))\":\"\(escaped(["feed", "reels", "marketplace"][k % 3]))\"",
            ]
            if k % 2 == 0 { members.append("\"\(escaped("dwell_ms"))\":\(Double(next() % 100_000) / 1000)") }
            if k % 3 == 0 { members.append("\"\(escaped("q"))\":\"\(texts[Int(next() % UInt64(texts.count))])\"") }
            if k % 7 == 0 { members.append(#""ctx":{"a":[1,{"b":"\u00e9"}]}"#) }
            for a in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(a, Int(next() % UInt64(a + 1))) }
            var line = Array(("{" + members.joined(separator: ",") + "}").utf8)
            if k % 2 == 1 {
                for _ in 0..<Int(1 + next() % 2) {
                    let at = Int(next() % UInt64(line.count))
                    let piece = pieces[Int(next() % UInt64(pieces.count))]
                    if next() % 2 == 0 { line.replaceSubrange(at..<at + 1, with: piece) } else { line.insert(contentsOf: piece, at: at) }
                }
            }
            if decode(line) != nil { taken += 1 }
            twin.compare(line)
        }
        #expect(taken > 5_000, "the parser should take the unmutated escaped lines (took \(taken))")
    }
}
