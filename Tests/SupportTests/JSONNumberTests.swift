import Support
import Testing

/// Exact integers and correctly rounded doubles from number tokens.
@Suite("JSON numbers")
struct JSONNumberTests {
    struct IntegerCase: Sendable, CustomTestStringConvertible {
        let text: String
        let expected: JSONIntegerValue
        init(_ text: String, _ expected: JSONIntegerValue) {
            self.text = text
            self.expected = expected
        }
        var testDescription: String { text }
    }

    static func v(_ m: UInt64, negative: Bool = false) -> JSONIntegerValue { .value(negative: negative, magnitude: m) }

    static let integerCases: [IntegerCase] = [
        IntegerCase("0", v(0)),
        IntegerCase("-0", v(0)),
        IntegerCase("-0.0e0", v(0)),
        IntegerCase("0.000", v(0)),
        IntegerCase("-0.000e-5", v(0)),
        IntegerCase("0e99999999999", v(0)),
        IntegerCase("0e-99999999999", v(0)),
        IntegerCase("0.0e-99999999999", v(0)),
        IntegerCase("1", v(1)),
        IntegerCase("-5", v(5, negative: true)),
        IntegerCase("100", v(100)),
        IntegerCase("1.0", v(1)),
        IntegerCase("1e3", v(1000)),
        IntegerCase("1E+3", v(1000)),
        IntegerCase("1000e-3", v(1)),
        IntegerCase("12.500e1", v(125)),
        IntegerCase("1.10e1", v(11)),
        IntegerCase("1.5e1", v(15)),
        IntegerCase("0.1e1", v(1)),
        IntegerCase("0.00001e5", v(1)),
        IntegerCase("0.000000000000000000000000000001e30", v(1)),
        IntegerCase("123456789.000000000000000000000000000000", v(123_456_789)),
        IntegerCase("-1e0", v(1, negative: true)),
        IntegerCase("9007199254740993", v(9_007_199_254_740_993)),
        IntegerCase("9007199254740993.0", v(9_007_199_254_740_993)),
        IntegerCase("9223372036854775807", v(9_223_372_036_854_775_807)),
        IntegerCase("-9223372036854775808", v(9_223_372_036_854_775_808, negative: true)),
        IntegerCase("18446744073709551615", v(UInt64.max)),
        IntegerCase("-18446744073709551615", v(UInt64.max, negative: true)),
        IntegerCase("18446744073709551615.0", v(UInt64.max)),
        IntegerCase("1.8446744073709551615e19", v(UInt64.max)),
        IntegerCase("1844674407370955161.5e1", v(UInt64.max)),
        IntegerCase("184467440737095516150e-1", v(UInt64.max)),
        IntegerCase("1e19", v(10_000_000_000_000_000_000)),
        IntegerCase("10e18", v(10_000_000_000_000_000_000)),
        IntegerCase("12345678901234567890", v(12_345_678_901_234_567_890)),
        IntegerCase("1234567890123456789e1", v(12_345_678_901_234_567_890)),
        // Too large.
        IntegerCase("18446744073709551616", .tooLarge),
        IntegerCase("-18446744073709551616", .tooLarge),
        IntegerCase("18446744073709551620", .tooLarge),
        IntegerCase("99999999999999999999", .tooLarge),
        IntegerCase("100000000000000000000", .tooLarge),
        IntegerCase("1.8446744073709551616e19", .tooLarge),
        IntegerCase("2e19", .tooLarge),
        IntegerCase("1e20", .tooLarge),
        IntegerCase("1e99999999999", .tooLarge),
        IntegerCase("123456789012345678901234567890", .tooLarge),
        // Not integral.
        IntegerCase("1.5", .notIntegral),
        IntegerCase("0.5", .notIntegral),
        IntegerCase("-0.5", .notIntegral),
        IntegerCase("1e-1", .notIntegral),
        IntegerCase("10e-2", .notIntegral),
        IntegerCase("1.25e1", .notIntegral),
        IntegerCase("1e-99999999999", .notIntegral),
        IntegerCase("18446744073709551615.5", .notIntegral),
        IntegerCase("9007199254740993.000000001", .notIntegral),
        IntegerCase("0.0000000000000000000000000000000000001", .notIntegral),
    ]

    @Test("integerValue is exact", arguments: integerCases)
    func integer(_ c: IntegerCase) {
        #expect(integerValue(c.text) == c.expected)
        #expect(JSONNumber(text: Array(c.text.utf8)).integer == c.expected)
    }

    @Test("integerValue of every UInt64 written in many equivalent spellings")
    func integerSpellings() {
        var rng = SeededGenerator(seed: 42)
        var values: [UInt64] = [0, 1, 9, 10, 99, 100, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max, UInt64.max - 1,
                                1 << 53, (1 << 53) + 1, 10_000_000_000_000_000_000]
        for _ in 0..<300 { values.append(rng.next() >> UInt64.random(in: 0...63, using: &rng)) }
        for m in values {
            let digits = String(m)
            var spellings = [digits, digits + ".0", digits + "e0", digits + "E+00", digits + ".000e-0"]
            if m != 0 { spellings.append(digits + "000e-3") }
            // d.ddd e(n-1)
            if digits.count > 1 {
                let first = digits.prefix(1), rest = digits.dropFirst()
                spellings.append("\(first).\(rest)e\(digits.count - 1)")
                spellings.append("0.\(digits)e\(digits.count)")
            }
            for text in spellings {
                #expect(integerValue(text) == .value(negative: false, magnitude: m), "\(text)")
                if m != 0 {
                    #expect(integerValue("-" + text) == .value(negative: true, magnitude: m), "-\(text)")
                }
            }
            // One more decimal place is never integral, unless the value is zero.
            if m != 0 { #expect(integerValue(digits + "e-1") == (m % 10 == 0 ? .value(negative: false, magnitude: m / 10) : .notIntegral)) }
            // Scaling up by ten either fits exactly or reports tooLarge.
            let (times10, overflow) = m.multipliedReportingOverflow(by: 10)
            #expect(integerValue(digits + "e1") == (overflow ? .tooLarge : .value(negative: false, magnitude: times10)), "\(digits)e1")
        }
    }

    @Test("JSONNumber int64 and uint64 edges")
    func int64AndUInt64() {
        func n(_ s: String) -> JSONNumber { JSONNumber(text: Array(s.utf8)) }
        #expect(n("-9223372036854775808").int64 == Int64.min)
        #expect(n("-9223372036854775808").uint64 == nil)
        #expect(n("-9223372036854775809").int64 == nil)
        #expect(n("9223372036854775807").int64 == Int64.max)
        #expect(n("9223372036854775807").uint64 == UInt64(Int64.max))
        #expect(n("9223372036854775808").int64 == nil)
        #expect(n("9223372036854775808").uint64 == UInt64(Int64.max) + 1)
        #expect(n("18446744073709551615").int64 == nil)
        #expect(n("18446744073709551615").uint64 == UInt64.max)
        #expect(n("18446744073709551616").int64 == nil)
        #expect(n("18446744073709551616").uint64 == nil)
        #expect(n("-18446744073709551615").int64 == nil)
        #expect(n("-0").int64 == 0)
        #expect(n("-0").uint64 == 0)
        #expect(n("-0.0").uint64 == 0)
        #expect(n("-1").int64 == -1)
        #expect(n("-1").uint64 == nil)
        #expect(n("1.5").int64 == nil)
        #expect(n("1.5").uint64 == nil)
        #expect(n("1e2").int64 == 100)
        #expect(n("-1e0").int64 == -1)
        #expect(n("9.223372036854775807e18").int64 == Int64.max)
        #expect(n("-922337203685477580.8e1").int64 == Int64.min)
        #expect(n("9007199254740993").int64 == 9_007_199_254_740_993)
        #expect(n("42").description == "42")
        #expect(n("abc").integer == .notIntegral)
        #expect(n("abc").double.isNaN)
        #expect(n("-0").double.sign == .minus)
        #expect(n("2.5e-3").double == 0.0025)
    }

    // MARK: - Doubles

    /// Exact IEEE-754 results that do not depend on any library's parser.
    static let knownDoubles: [(String, UInt64)] = [
        ("0", 0x0000_0000_0000_0000),
        ("-0", 0x8000_0000_0000_0000),
        ("-0.0", 0x8000_0000_0000_0000),
        ("-0e10", 0x8000_0000_0000_0000),
        ("-0.000e-1000", 0x8000_0000_0000_0000),
        ("0e99999999999", 0x0000_0000_0000_0000),
        ("1", 0x3FF0_0000_0000_0000),
        ("-2", 0xC000_0000_0000_0000),
        ("0.1", 0x3FB9_9999_9999_999A),
        ("0.3", 0x3FD3_3333_3333_3333),
        ("1e23", 0x44B5_2D02_C7E1_4AF6),
        ("1e22", 0x4480_F0CF_064D_D592),
        ("9007199254740992", 0x4340_0000_0000_0000),
        ("9007199254740993", 0x4340_0000_0000_0000), // tie: rounds to even
        ("9007199254740995", 0x4340_0000_0000_0002), // tie: rounds to even (up)
        ("9007199254740993.0000000000000000001", 0x4340_0000_0000_0001), // just above the tie
        ("2.2250738585072011e-308", 0x000F_FFFF_FFFF_FFFF),
        ("2.2250738585072014e-308", 0x0010_0000_0000_0000),
        ("1.7976931348623157e308", 0x7FEF_FFFF_FFFF_FFFF),
        ("1.7976931348623158e308", 0x7FEF_FFFF_FFFF_FFFF),
        ("4.9406564584124654e-324", 0x0000_0000_0000_0001),
        ("5e-324", 0x0000_0000_0000_0001),
        ("3e-324", 0x0000_0000_0000_0001),
        ("2e-324", 0x0000_0000_0000_0000),
        ("1e-400", 0x0000_0000_0000_0000),
        ("-1e-400", 0x8000_0000_0000_0000),
        ("1e400", 0x7FF0_0000_0000_0000),
        ("-1e400", 0xFFF0_0000_0000_0000),
        ("1.7976931348623159e308", 0x7FF0_0000_0000_0000),
        ("1e99999999999", 0x7FF0_0000_0000_0000),
        ("1e-99999999999", 0x0000_0000_0000_0000),
        ("0.5", 0x3FE0_0000_0000_0000),
        ("1.5e-3", 0x3F58_9374_BC6A_7EFA),
        ("123.456", 0x405E_DD2F_1A9F_BE77),
        ("8.988465674311579e307", 0x7FDF_FFFF_FFFF_FFFF),
    ]

    @Test("doubleValue gives the exact IEEE result for hard and boundary inputs")
    func knownBitPatterns() throws {
        for (text, bits) in JSONNumberTests.knownDoubles {
            let d = try #require(doubleValue(text), "\(text)")
            #expect(d.bitPattern == bits, "\(text): got \(d) = 0x\(String(d.bitPattern, radix: 16)), want 0x\(String(bits, radix: 16))")
        }
        #expect(doubleValue("1e400") == .infinity)
        #expect(doubleValue("-1e400") == -.infinity)
        #expect(doubleValue("-0")?.sign == .minus)
        #expect(doubleValue("0")?.sign == .plus)
    }

    static let hardDoubles: [String] = [
        "2.2250738585072011e-308", "2.2250738585072012e-308", "2.225073858507201136057409796709131975934819546351645648e-308",
        "9007199254740993", "9007199254740991", "9007199254740994", "18014398509481993", "0.1", "0.2", "0.7", "1e23",
        "8.5e22", "1.7976931348623157e308", "1.7976931348623158e308", "4.9e-324", "2.4703282292062328e-324",
        "2.4703282292062327e-324", "7.2057594037927933e16", "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124", "1.00000000000000011102230246251565404236316680908203126",
        "0.500000000000000166533453693773481063544750213623046875", "3.518437208883201171875e13",
        "62.5364939768271845828", "8.10109172351e-10", "1.50000000000000011102230246251565404236316680908203125",
        "9007199254740992e-22", "9007199254740992e22", "9007199254740993e-22", "123456789012345678e-5",
        "1e22", "1e-22", "1.5e22", "3.0e-22", "4503599627370496.5", "4503599627370497.5", "1e308", "1e309", "1e-307",
        "1e-323", "1e-324", "2.5e-324", "123456789012345678901234567890e-10", "0.000000000000000000000000000001",
        "17976931348623157e292", "100000000000000000000000000000000000000000000000000001e-54", "3.14159265358979323846",
        "2.718281828459045235360287", "-1.7976931348623157e308", "-4.9e-324", "1e0", "1E0", "1e+0", "1.0E+0",
        "0.30000000000000004", "0.1e1", "10e-1", "999999999999999999999", "1844674407370955161.6",
        "1234567890123456789", "12345678901234567890", "9999999999999999", "99999999999999999",
        "0.9999999999999999", "0.99999999999999999", "5.0e-20", "7e22", "7e23", "1.448997445238699",
    ]

    @Test("doubleValue matches Double(String) on hard cases", arguments: hardDoubles)
    func hardCase(_ text: String) throws {
        let expected = try #require(Double(text))
        let got = try #require(doubleValue(text))
        #expect(got.bitPattern == expected.bitPattern, "\(text): got \(got), want \(expected)")
        let neg = try #require(doubleValue("-" + text.drop { $0 == "-" }))
        #expect(neg.bitPattern == (-abs(expected)).bitPattern, "-\(text)")
    }

    /// Random JSON number spellings; `fastPath` keeps them inside the exactly representable range.
    static func randomNumber(_ rng: inout SeededGenerator, fastPath: Bool) -> String {
        var s = Bool.random(using: &rng) ? "-" : ""
        let intDigits = Int.random(in: 1...(fastPath ? 8 : 25), using: &rng)
        if intDigits == 1 || Int.random(in: 0..<5, using: &rng) == 0 {
            s += String(Int.random(in: 0...9, using: &rng))
        } else {
            s += String(Int.random(in: 1...9, using: &rng))
            for _ in 1..<intDigits { s += String(Int.random(in: 0...9, using: &rng)) }
        }
        if Bool.random(using: &rng) {
            s += "."
            for _ in 0..<Int.random(in: 1...(fastPath ? 7 : 25), using: &rng) { s += String(Int.random(in: 0...9, using: &rng)) }
        }
        if Int.random(in: 0..<3, using: &rng) != 0 {
            s += ["e", "E"][Int.random(in: 0...1, using: &rng)]
            let e = fastPath ? Int.random(in: -8...8, using: &rng) : Int.random(in: -345...330, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: s += String(e)
            case 1: s += e < 0 ? String(e) : "+\(e)"
            default: s += (e < 0 ? "-" : "+") + "0" + String(abs(e))
            }
        }
        return s
    }

    @Test("doubleValue is correctly rounded on seeded random inputs", arguments: [false, true])
    func randomDoubles(fastPath: Bool) throws {
        var rng = SeededGenerator(seed: fastPath ? 0xFA57 : 0x5107)
        var checked = 0
        for _ in 0..<400 {
            let text = JSONNumberTests.randomNumber(&rng, fastPath: fastPath)
            #expect(scanDocument(Array(text.utf8)) == .ok, "\(text) is not valid JSON")
            let expected = try #require(Double(text), "\(text)")
            let got = try #require(doubleValue(text), "\(text)")
            #expect(got.bitPattern == expected.bitPattern, "\(text): got \(got), want \(expected)")
            checked += 1
        }
        #expect(checked == 400)
    }

    @Test("doubleValue round-trips the shortest description of random doubles")
    func shortestRoundTrip() throws {
        var rng = SeededGenerator(seed: 0xD0B1E)
        for _ in 0..<500 {
            let d = Double(bitPattern: rng.next())
            guard d.isFinite else { continue }
            let text = "\(d)"
            let got = try #require(doubleValue(text), "\(text)")
            #expect(got.bitPattern == d.bitPattern, "\(text)")
        }
        for _ in 0..<300 {
            let d = Double.random(in: -1e6...1e6, using: &rng)
            let got = try #require(doubleValue("\(d)"))
            #expect(got.bitPattern == d.bitPattern, "\(d)")
        }
    }
}
