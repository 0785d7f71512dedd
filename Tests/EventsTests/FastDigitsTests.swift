@testable import Events
import Support
import Testing

/// `FastDigits` (eight digits at a time) against the scanner's exact integer conversion, its plain twin.
@Suite struct FastDigitsTests {
    /// The general conversion: the scanner's number token and `integerValue`, nil unless a plain integer.
    func plain(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { b -> UInt64? in
            let s = JSONScanner()
            s.begin(b.baseAddress!, count: b.count)
            guard let t = try? s.scanNumber(), t.end == b.count, t.fracStart == t.fracEnd, t.end - t.start == t.intEnd - t.intStart,
                  case let .value(false, v) = s.integerValue(t) else { return nil }
            return v
        }
    }

    /// FastDigits on `text` followed by `tail` (to test reads near the end of the buffer).
    func fast(_ text: String, tail: String) -> UInt64? {
        let bytes = Array((text + tail).utf8)
        return bytes.withUnsafeBufferPointer { b -> UInt64? in
            guard let (v, end) = FastDigits.unsigned(b.baseAddress!, 0, b.count), end == text.utf8.count else { return nil }
            return v
        }
    }

    @Test func agreesWithTheScannerOnEveryLengthAndTail() {
        var x: UInt64 = 7
        var cases = ["0", "1", "9", "10", "99999999", "100000000", "18446744073709551615", "18446744073709551616",
                     "99999999999999999999", "10000000000000000000", "9999999999999999999", "00", "01", "123456789012345678901"]
        for digits in 1...20 {
            for _ in 0..<40 {
                x = fmix64(x &+ 1)
                var s = String(x % 9 + 1)
                while s.count < digits { x = fmix64(x); s += String(x % 10) }
                cases.append(s)
            }
        }
        for text in cases {
            for tail in ["", "}", ",\"ts\":1}", "                "] {
                let expected = plain(text)
                let got = fast(text, tail: tail)
                #expect(got == expected, "\(text) + \(tail.debugDescription): fast \(String(describing: got)), plain \(String(describing: expected))")
            }
        }
    }

    @Test func refusesWhatIsNotAPlainInteger() {
        for text in ["1.5}", "1e3}", "1E3}", "-1}", "x}", "01}", "}"] {
            let bytes = Array(text.utf8)
            let r = bytes.withUnsafeBufferPointer { FastDigits.unsigned($0.baseAddress!, 0, $0.count) }
            #expect(r == nil, "\(text)")
        }
    }
}
