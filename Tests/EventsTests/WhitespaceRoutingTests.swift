@testable import Events
import Testing

/// Refused lines go to the whitespace-tolerant fast path only when they look spaced out.
@Suite struct WhitespaceRoutingTests {
    func layout(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer { EventParser.hasLayoutWhitespace($0) } }
    func layout(_ text: String) -> Bool { layout(Array(text.utf8)) }

    @Test func spacedOutLinesAreTold() {
        for line in [#"{"event_id": 1, "ts": 2}"#, #" {"a":1}"#, #"{"a":1} "#, #"{ "a":1}"#, #"{"a" :1}"#, #"{"a":1 ,"b":2}"#,
                     "{\"a\":\t1}", "{\"a\":1}\r", #"{"a":[1, 2]}"#, #"{"q":"a  b"}"#] {
            #expect(layout(line), "\(line)")
        }
        for line in [#"{"a":1}"#, #"{"q":"red shoes","t":"x y z"}"#, #"{"q":"crème brûlée naïve shoes"}"#, ""] {
            #expect(!layout(line), "\(line)")
        }
    }

    /// A whitespace byte next to a structural byte, at every position of lines up to three words
    /// long (word and tail paths), and one between letters, which does not count.
    @Test func findsLayoutAtEveryPosition() {
        for length in 3...24 {
            let plain = [UInt8](repeating: 0x61, count: length)
            #expect(!layout(plain))
            for k in 1..<(length - 1) {
                for w: UInt8 in [0x20, 0x09, 0x0D] {
                    var inText = plain
                    inText[k] = w
                    #expect(!layout(inText), "length \(length), \(w) at \(k) between letters")
                    for s: UInt8 in [0x3A, 0x2C, 0x7B, 0x7D, 0x5B, 0x5D] {
                        var before = inText, after = inText
                        before[k - 1] = s
                        after[k + 1] = s
                        #expect(layout(before) && layout(after), "length \(length), \(w) at \(k) next to \(s)")
                    }
                }
                for near: UInt8 in [0x21, 0x1F, 0x0A, 0x0C, 0x08, 0x0E, 0xA0, 0x00] {
                    var line = plain
                    line[k] = near
                    line[k - 1] = 0x3A
                    #expect(!layout(line), "length \(length), \(near) at \(k)")
                }
            }
        }
    }
}
