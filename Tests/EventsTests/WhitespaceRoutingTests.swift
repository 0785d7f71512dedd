@testable import Events
import Testing

/// Refused lines go to the whitespace-tolerant fast path only when they hold whitespace.
@Suite struct WhitespaceRoutingTests {
    func has(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer { EventParser.hasWhitespace($0) } }

    /// Every length up to three words and every position, for each of the three bytes, and for
    /// bytes next to them in value that are not whitespace.
    @Test func findsWhitespaceAtEveryPosition() {
        for length in 0...24 {
            let plain = [UInt8](repeating: 0x61, count: length)
            #expect(!has(plain))
            for k in 0..<length {
                for w: UInt8 in [0x20, 0x09, 0x0D] {
                    var line = plain
                    line[k] = w
                    #expect(has(line), "length \(length), \(w) at \(k)")
                }
                for near: UInt8 in [0x21, 0x1F, 0x0A, 0x0C, 0x08, 0x0E, 0xA0, 0x00] {
                    var line = plain
                    line[k] = near
                    #expect(!has(line), "length \(length), \(near) at \(k)")
                }
            }
        }
    }
}
