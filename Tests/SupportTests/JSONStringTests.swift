import Support
import Testing

/// String decoding, UTF-8 validation and surrogate handling.
@Suite("JSON strings")
struct JSONStringTests {
    struct Decoding: Sendable, CustomTestStringConvertible {
        let json: [UInt8]
        let expected: [UInt8]
        init(_ json: String, _ expected: [UInt8]) {
            self.json = Array(json.utf8)
            self.expected = expected
        }
        init(_ json: String, _ expected: String) { self.init(json, Array(expected.utf8)) }
        var testDescription: String { String(decoding: json, as: UTF8.self) }
    }

    static let decodings: [Decoding] = [
        Decoding(#""""#, []),
        Decoding(#""plain""#, "plain"),
        Decoding(#""\"""#, [0x22]),
        Decoding(#""\\""#, [0x5C]),
        Decoding(#""\/""#, [0x2F]),
        Decoding(#""\b""#, [0x08]),
        Decoding(#""\f""#, [0x0C]),
        Decoding(#""\n""#, [0x0A]),
        Decoding(#""\r""#, [0x0D]),
        Decoding(#""\t""#, [0x09]),
        Decoding(#""\"\\\/\b\f\n\r\t""#, [0x22, 0x5C, 0x2F, 0x08, 0x0C, 0x0A, 0x0D, 0x09]),
        Decoding(#""\u0000""#, [0x00]),
        Decoding(#""a\u0000b""#, [0x61, 0x00, 0x62]),
        Decoding(#""\u001f""#, [0x1F]),
        Decoding(#""\u0041""#, "A"),
        Decoding(#""\u007f""#, [0x7F]),
        Decoding(#""\u0080""#, [0xC2, 0x80]),
        Decoding(#""\u00e9""#, [0xC3, 0xA9]),
        Decoding(#""\u00E9""#, [0xC3, 0xA9]),
        Decoding(#""\u07FF""#, [0xDF, 0xBF]),
        Decoding(#""\u0800""#, [0xE0, 0xA0, 0x80]),
        Decoding(#""\u20AC""#, [0xE2, 0x82, 0xAC]),
        Decoding(#""\uD7FF""#, [0xED, 0x9F, 0xBF]),
        Decoding(#""\uE000""#, [0xEE, 0x80, 0x80]),
        Decoding(#""\uFFFF""#, [0xEF, 0xBF, 0xBF]),
        Decoding(#""\ud83d\ude00""#, [0xF0, 0x9F, 0x98, 0x80]),
        Decoding(#""\uD83D\uDE00""#, [0xF0, 0x9F, 0x98, 0x80]),
        Decoding(#""\uD800\uDC00""#, [0xF0, 0x90, 0x80, 0x80]),
        Decoding(#""\uDBFF\uDFFF""#, [0xF4, 0x8F, 0xBF, 0xBF]),
        Decoding(#""x\ud83d\ude00y""#, [0x78, 0xF0, 0x9F, 0x98, 0x80, 0x79]),
        Decoding(#""\ud83d\ude00\ud83d\ude00""#, [0xF0, 0x9F, 0x98, 0x80, 0xF0, 0x9F, 0x98, 0x80]),
        // Raw UTF-8 of every length passes through unchanged, with and without escapes around it.
        Decoding("\"é\"", [0xC3, 0xA9]),
        Decoding("\"€\"", [0xE2, 0x82, 0xAC]),
        Decoding("\"😀\"", [0xF0, 0x9F, 0x98, 0x80]),
        Decoding("\"\u{10FFFF}\"", [0xF4, 0x8F, 0xBF, 0xBF]),
        Decoding("\"é\\t€😀\"", [0xC3, 0xA9, 0x09, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80]),
        Decoding("\"\\u00e9é\"", [0xC3, 0xA9, 0xC3, 0xA9]),
        Decoding("\"a\\nb\"", [0x61, 0x0A, 0x62]),
        Decoding("\"trailing\\\\\"", "trailing\\"),
        Decoding("\"e\u{301}\"", [0x65, 0xCC, 0x81]),
    ]

    @Test("decoded bytes through JSONValue.parse", arguments: decodings)
    func decodesThroughParse(_ d: Decoding) throws {
        let v = try JSONValue.parse(d.json)
        #expect(v == .string(d.expected), "\(hexBytes(d.expected))")
    }

    @Test("decoded bytes through scanString", arguments: decodings)
    func decodesThroughScanner(_ d: Decoding) throws {
        try withScanner(d.json) { s in
            let t = try s.scanString()
            #expect(s.pos == d.json.count)
            #expect(Array(s.bytes(t)) == d.expected)
            #expect(t.count == d.expected.count)
            #expect(s.string(t) == String(decoding: d.expected, as: UTF8.self))
            #expect(s.softFault == nil)
            // A token without escapes is a span of the input itself.
            if !d.json.contains(0x5C) {
                #expect(!t.inArena)
                #expect(t.start == 1 && t.end == d.json.count - 1)
            } else {
                #expect(t.inArena)
            }
        }
    }

    @Test("random mixes of raw and escaped scalars decode to the original text")
    func randomEscapeMixes() throws {
        var x: UInt64 = 99
        func next(_ n: UInt64) -> UInt64 { x = fmix64(x &+ 0x9E37_79B9); return x % n }
        for _ in 0..<3000 {
            var json = "\""
            var text = ""
            for _ in 0..<Int(next(40)) {
                let pool: [UInt32] = [0x41 + UInt32(next(26)), 0x22, 0x5C, 0x2F, 0x0A, 0x09, 0x01, 0xE9, 0x20AC, 0x1F600, 0x7F, 0x800]
                let scalar = Unicode.Scalar(pool[Int(next(UInt64(pool.count)))])!
                text.unicodeScalars.append(scalar)
                let v = scalar.value
                switch next(3) {
                case 0 where v >= 0x20 && v != 0x22 && v != 0x5C:
                    json.unicodeScalars.append(scalar)
                case 1 where v == 0x0A: json += "\\n"
                case 1 where v == 0x22: json += "\\\""
                default:
                    if v > 0xFFFF {
                        let u = v - 0x10000
                        json += String(format: "\\u%04X\\u%04x", 0xD800 + (u >> 10), 0xDC00 + (u & 0x3FF))
                    } else {
                        json += String(format: next(2) == 0 ? "\\u%04x" : "\\u%04X", v)
                    }
                }
            }
            json += "\""
            #expect(try JSONValue.parse(Array(json.utf8)) == .string(Array(text.utf8)), "\(json)")
        }
    }

    @Test("long strings with escapes grow the arena and stay intact")
    func arenaGrowth() throws {
        var json = "\""
        var expected: [UInt8] = []
        for i in 0..<20_000 {
            json += "\\u00e9x\\n"
            expected += [0xC3, 0xA9, 0x78, 0x0A]
            if i % 1000 == 0 { json += "😀"; expected += [0xF0, 0x9F, 0x98, 0x80] }
        }
        json += "\""
        let v = try JSONValue.parse(Array(json.utf8))
        #expect(v == .string(expected))

        // Several escaped strings in one document: earlier tokens stay valid after the arena grows.
        try withScanner("[\"\\u0061\(String(repeating: "b", count: 5000))\",\"\\u0063\(String(repeating: "d", count: 9000))\"]") { s in
            try s.expect(0x5B, "[")
            let first = try s.scanString()
            try s.expect(0x2C, ",")
            let second = try s.scanString()
            try s.expect(0x5D, "]")
            try s.expectEnd()
            #expect(Array(s.bytes(first)) == [0x61] + [UInt8](repeating: 0x62, count: 5000))
            #expect(Array(s.bytes(second)) == [0x63] + [UInt8](repeating: 0x64, count: 9000))
        }
    }

    // MARK: - Invalid UTF-8

    static let invalidUTF8: [JSONCase] = [
        .rawString("overlong C0 AF", [0xC0, 0xAF]),
        .rawString("overlong C1 BF", [0xC1, 0xBF]),
        .rawString("overlong 3-byte E0 80 AF", [0xE0, 0x80, 0xAF]),
        .rawString("overlong 3-byte E0 9F BF", [0xE0, 0x9F, 0xBF]),
        .rawString("overlong 4-byte F0 80 80 AF", [0xF0, 0x80, 0x80, 0xAF]),
        .rawString("overlong 4-byte F0 8F BF BF", [0xF0, 0x8F, 0xBF, 0xBF]),
        .rawString("surrogate ED A0 80", [0xED, 0xA0, 0x80]),
        .rawString("surrogate ED BF BF", [0xED, 0xBF, 0xBF]),
        .rawString("surrogate pair in UTF-8 (CESU)", [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]),
        .rawString("above U+10FFFF F4 90 80 80", [0xF4, 0x90, 0x80, 0x80]),
        .rawString("F5 80 80 80", [0xF5, 0x80, 0x80, 0x80]),
        .rawString("F7 BF BF BF", [0xF7, 0xBF, 0xBF, 0xBF]),
        .rawString("5-byte F8 88 80 80 80", [0xF8, 0x88, 0x80, 0x80, 0x80]),
        .rawString("FE", [0xFE]),
        .rawString("FF", [0xFF]),
        .rawString("truncated 2-byte C3", [0xC3]),
        .rawString("truncated 3-byte E2 82", [0xE2, 0x82]),
        .rawString("truncated 4-byte F0 9F 98", [0xF0, 0x9F, 0x98]),
        .rawString("truncated then ASCII E2 82 41", [0xE2, 0x82, 0x41]),
        .rawString("lead byte then lead byte C3 C3 A9", [0xC3, 0xC3, 0xA9]),
        .rawString("stray continuation 80", [0x80]),
        .rawString("stray continuation BF", [0xBF]),
        .rawString("continuation after a valid char", [0xC3, 0xA9, 0xA9]),
        .rawString("stray continuation after ASCII", [0x80], prefix: "abc", suffix: "def"),
        .rawString("invalid after an escape (arena path)", [0xC0, 0xAF], prefix: "\\n"),
        .rawString("invalid before an escape", [0xFF], suffix: "\\t"),
        .rawString("truncated before an escape", [0xE2, 0x82], suffix: "\\n"),
        JSONCase("invalid UTF-8 in a key", bytes: Array(#"{""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)),
        JSONCase("invalid UTF-8 deep inside", bytes: Array(#"{"a":[1,{"b":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}]}"#.utf8)),
    ]

    @Test("invalid UTF-8 inside strings is a soft fault", arguments: invalidUTF8)
    func invalidUTF8IsSoft(_ c: JSONCase) {
        #expect(scanDocument(c.bytes).softKind == .invalidUTF8, "\(hexBytes(c.bytes)): \(scanDocument(c.bytes))")
        #expect(parseErrorKind(c.bytes) == .invalidUTF8, "\(hexBytes(c.bytes))")
    }

    @Test("invalid UTF-8 offsets point at the first bad byte")
    func invalidUTF8Offsets() {
        #expect(scanDocument([0x22, 0xC0, 0xAF, 0x22]) == .soft(.invalidUTF8, offset: 1))
        #expect(scanDocument([0x22, 0x61, 0x62, 0xED, 0xA0, 0x80, 0x22]) == .soft(.invalidUTF8, offset: 3))
        #expect(scanDocument([0x22, 0xC3, 0xA9, 0x80, 0x22]) == .soft(.invalidUTF8, offset: 3))
        #expect(scanDocument(Array(#"["ok",""#.utf8) + [0xFF] + Array(#""]"#.utf8)) == .soft(.invalidUTF8, offset: 7))
        if case let .failure(e) = parseResult([0x22, 0x61, 0xF5, 0x22]) {
            #expect(e == .invalidUTF8(offset: 2))
        } else {
            Issue.record("parse accepted F5")
        }
    }

    @Test("invalid UTF-8 cut off by the end of input is a syntax error (unterminated)")
    func invalidUTF8AtEnd() {
        for tail: [UInt8] in [[0xE2], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3]] {
            let bytes = [0x22] + tail
            #expect(scanDocument(bytes).isSyntax, "\(hexBytes(bytes))")
            #expect(parseErrorKind(bytes) == .syntax)
        }
    }

    @Test("every valid boundary code point encoded raw is accepted")
    func validUTF8Boundaries() throws {
        let scalars: [UInt32] = [0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xCFFF, 0xD000, 0xD7FF, 0xE000,
                                 0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF]
        for v in scalars {
            let scalar = try #require(Unicode.Scalar(v))
            let utf8 = Array(String(Character(scalar)).utf8)
            let bytes = [0x22] + utf8 + [0x22]
            #expect(scanDocument(bytes) == .ok, "U+\(String(v, radix: 16))")
            #expect(try JSONValue.parse(bytes) == .string(utf8))
        }
    }

    @Test("random valid UTF-8 strings are accepted unchanged; random byte soup matches Swift's UTF-8 validation")
    func randomUTF8() throws {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        for _ in 0..<300 {
            var s = ""
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                let v: UInt32
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: v = UInt32.random(in: 0x20...0x7E, using: &rng)
                case 1: v = UInt32.random(in: 0x80...0x7FF, using: &rng)
                case 2: v = [UInt32.random(in: 0x800...0xD7FF, using: &rng), UInt32.random(in: 0xE000...0xFFFF, using: &rng)][Int.random(in: 0...1, using: &rng)]
                default: v = UInt32.random(in: 0x10000...0x10FFFF, using: &rng)
                }
                if v == 0x22 || v == 0x5C { continue }
                s.unicodeScalars.append(Unicode.Scalar(v)!)
            }
            let bytes = [0x22] + Array(s.utf8) + [0x22]
            #expect(scanDocument(bytes) == .ok, "\(hexBytes(bytes))")
            #expect(try JSONValue.parse(bytes) == .string(Array(s.utf8)))
        }
        // Random high bytes: the scanner's verdict must agree with Swift's own UTF-8 validation.
        for _ in 0..<3000 {
            var content: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                content.append(Bool.random(using: &rng) ? UInt8.random(in: 0x80...0xFF, using: &rng) : UInt8.random(in: 0x41...0x5A, using: &rng))
            }
            let valid = String(validating: content, as: UTF8.self) != nil
            let outcome = scanDocument([0x22] + content + [0x22])
            if valid {
                #expect(outcome == .ok, "\(hexBytes(content)) is valid UTF-8: \(outcome)")
            } else {
                #expect(outcome.softKind == .invalidUTF8, "\(hexBytes(content)) is invalid UTF-8: \(outcome)")
            }
        }
    }

    // MARK: - Surrogates

    static let loneSurrogates: [JSONCase] = [
        JSONCase(#""\ud800""#), JSONCase(#""\udc00""#), JSONCase(#""\ud800\u0041""#), JSONCase(#""\udbff""#),
        JSONCase(#""\udfff""#), JSONCase(#""\uDFFF""#), JSONCase(#""\ud800x""#), JSONCase(#""\ud800\ud800""#),
        JSONCase(#""\ude00\ud83d""#), JSONCase(#""a\ud800""#), JSONCase(#""\ud800\n""#), JSONCase(#""\ud800\\""#),
        JSONCase(#""\ud800\udbff""#), JSONCase(#""\ud800\ue000""#), JSONCase(#""\ud800 \udc00""#),
        JSONCase(#""\ud800\ud83d\ude00""#), JSONCase(#""\ud83d\ude00\udc00""#), JSONCase(#"{"\ud800":1}"#),
        JSONCase(#"[1,{"a":["\udc00"]}]"#),
    ]

    @Test("lone surrogate escapes are a soft fault", arguments: loneSurrogates)
    func loneSurrogate(_ c: JSONCase) {
        #expect(scanDocument(c.bytes).softKind == .loneSurrogate, "\(scanDocument(c.bytes))")
        #expect(parseErrorKind(c.bytes) == .loneSurrogate)
    }

    @Test("lone surrogates decode to U+FFFD and the following text is kept")
    func loneSurrogateReplacement() throws {
        let cases: [(String, [UInt8])] = [
            (#""\ud800\u0041""#, [0xEF, 0xBF, 0xBD, 0x41]),
            (#""\ud800""#, [0xEF, 0xBF, 0xBD]),
            (#""\udc00x""#, [0xEF, 0xBF, 0xBD, 0x78]),
            (#""\ud800\ud83d\ude00""#, [0xEF, 0xBF, 0xBD, 0xF0, 0x9F, 0x98, 0x80]),
            (#""\ude00\ud83d""#, [0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD]),
        ]
        for (json, expected) in cases {
            try withScanner(json) { s in
                let t = try s.scanString()
                #expect(s.pos == json.utf8.count, "\(json)")
                #expect(Array(s.bytes(t)) == expected, "\(json): \(hexBytes(Array(s.bytes(t))))")
                #expect(s.softFault?.kind == .loneSurrogate)
                #expect(s.softFault?.offset == 1, "\(json)")
            }
        }
    }

    @Test("the first soft fault is the one reported")
    func firstSoftFaultWins() {
        let loneThenBad = Array(#"[" \ud800", ""#.utf8) + [0xFF] + Array(#""]"#.utf8)
        #expect(scanDocument(loneThenBad) == .soft(.loneSurrogate, offset: 3))
        #expect(parseErrorKind(loneThenBad) == .loneSurrogate)
        let badThenLone = Array(#"[""#.utf8) + [0xFF] + Array(#"", "\ud800"]"#.utf8)
        #expect(scanDocument(badThenLone) == .soft(.invalidUTF8, offset: 2))
        #expect(parseErrorKind(badThenLone) == .invalidUTF8)
        let dupThenLone = Array(#"{"a":1,"a":"\ud800"}"#.utf8)
        #expect(scanDocument(dupThenLone).softKind == .duplicateKey)
        #expect(parseErrorKind(dupThenLone) == .duplicateKey)
    }
}
