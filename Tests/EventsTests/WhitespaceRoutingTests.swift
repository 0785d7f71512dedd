@testable import Events
import Testing

/// Refused lines go to the whitespace-tolerant fast path only when they look spaced out.
@Suite struct WhitespaceRoutingTests {
    func spaced(_ text: String) -> Bool { Array(text.utf8).withUnsafeBufferPointer { EventParser.looksSpacedOut($0) } }

    @Test func spacedOutLinesAreTold() {
        for line in [#"{"event_id": 1, "ts": 2}"#, #" {"a":1}"#, #"{ "a":1}"#, #"{"a" :1}"#, "{\"a\":\t1}", "{\"a\":\r1}",
                     #"{"a_rather_long_key_name_past_the_first_words": 1}"#, #"{"k": "v:w"}"#] {
            #expect(spaced(line), "\(line)")
        }
        for line in [#"{"a":1}"#, #"{"q":"red shoes","t":"x y z"}"#, #"{"q":"crème brûlée naïve shoes"}"#, "", "{",
                     #"{"a":1, "b": 2}"#, #"{"a:b": 1}"#, "{\"" + String(repeating: "k", count: 70) + "\": 1}"] {
            // The last three are spaced out past the first colon or beyond the first 64 bytes: the
            // general parser takes them, with the same result.
            #expect(!spaced(line), "\(line)")
        }
    }

    /// The first colon at every position of the first words (word and tail paths), with and without
    /// whitespace beside it.
    @Test func findsTheFirstColonAtEveryPosition() {
        for length in 4...70 {
            for k in 2..<(length - 1) {
                var line = [UInt8](repeating: 0x61, count: length)
                line[0] = 0x7B
                line[k] = 0x3A
                let expected = k < 64
                for (at, w) in [(k + 1, UInt8(0x20)), (k - 1, UInt8(0x09)), (k + 1, UInt8(0x0D))] where at > 1 {
                    var l = line
                    l[at] = w
                    #expect(l.withUnsafeBufferPointer { EventParser.looksSpacedOut($0) } == expected, "length \(length), colon \(k), \(w) at \(at)")
                }
                #expect(!line.withUnsafeBufferPointer { EventParser.looksSpacedOut($0) })
            }
        }
    }
}
