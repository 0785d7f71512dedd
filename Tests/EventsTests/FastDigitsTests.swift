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

    /// `metadata` (the two-word short decimal first) against `decimal`, its plain twin: the same value
    /// bit for bit and the same end, or both refuse; over every integer and fraction length up to nine
    /// digits, leading zeros, a trailing exponent or second dot, and tails long and short.
    @Test func shortDecimalsAgreeWithTheGeneralDecimal() {
        var x: UInt64 = 11
        func digits(_ count: Int) -> String {
            var s = ""
            while s.count < count { x = fmix64(x &+ 3); s += String(x % 10) }
            return s
        }
        var cases = ["0", "0.5", "00.5", "01", "1.", "1.e3", "5e3", "975.187", "1046.730", "8809", "null", "-1", "1.2.3", "0.0000001"]
        for k in 1...9 {
            for f in 0...9 {
                for _ in 0..<6 {
                    let whole = String(fmix64(x &+ UInt64(k)) % 9 + 1) + digits(k - 1)
                    cases.append(f == 0 ? whole : whole + "." + digits(f))
                }
            }
        }
        for text in cases {
            for tail in ["}", ",\"value\":1}\n                ", "e5,\"x\":1}                 ", "                "] {
                let bytes = Array((text + tail).utf8)
                bytes.withUnsafeBufferPointer { b in
                    let p = b.baseAddress!
                    let fast = FastDigits.metadata(p, 0, b.count)
                    let plain = text == "null" ? (0.0, 4) : FastDigits.decimal(p, 0, b.count)
                    #expect(fast?.0.bitPattern == plain?.0.bitPattern && fast?.1 == plain?.1,
                            "\(text + tail): fast \(String(describing: fast)), plain \(String(describing: plain))")
                }
            }
        }
    }
}
