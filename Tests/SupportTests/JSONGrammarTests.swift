import Support
import Testing

/// RFC 8259 grammar: what the scanner must accept and what it must reject, through both
/// `JSONValue.parse` and the low-level skip path (`begin`, `skipValue`, `expectEnd`).
@Suite("JSON grammar")
struct JSONGrammarTests {
    static let accepted: [JSONCase] = [
        // Literals and scalars.
        JSONCase("true"), JSONCase("false"), JSONCase("null"),
        JSONCase(#""""#), JSONCase(#""abc""#),
        // Numbers in every valid form.
        JSONCase("0"), JSONCase("-0"), JSONCase("1"), JSONCase("-1"), JSONCase("123"), JSONCase("-123"),
        JSONCase("1e3"), JSONCase("1E3"), JSONCase("1e+3"), JSONCase("1E+3"), JSONCase("1e-3"), JSONCase("1E-3"),
        JSONCase("1.5e-3"), JSONCase("123.456"), JSONCase("-0.0e0"), JSONCase("0.0"), JSONCase("-0.0"),
        JSONCase("0e0"), JSONCase("0E-0"), JSONCase("1e03"), JSONCase("1e-007"), JSONCase("10.01"),
        JSONCase("0.000001"), JSONCase("-1.7976931348623157e308"), JSONCase("5e-324"),
        JSONCase("18446744073709551616"), JSONCase("1e400"), JSONCase("123456789012345678901234567890"),
        // Escapes.
        JSONCase(#""\"\\\/\b\f\n\r\t""#), JSONCase(#""\u0000""#), JSONCase(#""\u00e9\u00E9\uFFFF\uabcd""#),
        JSONCase(#""\ud83d\ude00""#), JSONCase(#""\uD83D\uDE00""#), JSONCase(#""\uDBFF\uDFFF""#),
        JSONCase(#""\uD800\uDC00""#),
        // Raw multi-byte UTF-8 and DEL.
        JSONCase("\"é\""), JSONCase("\"€\""), JSONCase("\"😀\""), JSONCase("\"a\u{7F}b\""),
        JSONCase("\"\u{80}\u{7FF}\u{800}\u{D7FF}\u{E000}\u{FFFF}\u{10000}\u{10FFFF}\""),
        // Containers.
        JSONCase("[]"), JSONCase("{}"), JSONCase("[ ]"), JSONCase("{ }"), JSONCase("[\n]"), JSONCase("{\r\n\t}"),
        JSONCase("[[]]"), JSONCase("[[[]]]"), JSONCase("[{}]"), JSONCase(#"{"a":{}}"#), JSONCase(#"{"a":[]}"#),
        JSONCase("[1,2,3]"), JSONCase(#"[1,"a",true,false,null,{},[],-0.5e-5]"#),
        JSONCase(#"{"":0}"#), JSONCase(#"{"a":1,"b":2}"#), JSONCase(#"{"a":{"b":{"c":[1,{"d":null}]}}}"#),
        JSONCase(#"{"\u0000":1,"\u0000\u0000":2}"#),
        // Whitespace everywhere it is allowed.
        JSONCase(" \t\n\r1 \t\n\r"),
        JSONCase(" \t\n\r[ \t\n\r1 \t\n\r, \t\n\r2 \t\n\r] \t\n\r"),
        JSONCase(" { \"a\" : [ 1 , { \"b\" : null } ] , \"c\" : \"d\" } "),
        JSONCase("{\n  \"a\": 1,\n  \"b\": [\n    true,\n    false\n  ]\n}\n"),
        JSONCase("\t\"x\"\t"), JSONCase("\r\n[\r\n]\r\n"),
        // What common encoders write.
        JSONCase(#"{"name":"a\/b","list":[1,2.5,-3e-07,1e+20],"nested":{"k":"\u00e9\ud83d\ude00"}}"#),
        JSONCase(#"{"id": 1, "tags": ["x", "y"], "score": 0.30000000000000004, "ok": true, "none": null}"#),
        JSONCase("{\n    \"a\" : 1,\n    \"b\" : \"\\u001f\"\n}"),
        JSONCase(#"[1.0E-5,1.0E10,-0.0,4.9E-324,1.7976931348623157E308]"#),
    ]

    @Test("accepted by parse and by skipValue", arguments: accepted)
    func accepts(_ c: JSONCase) {
        #expect(scanDocument(c.bytes) == .ok, "skipValue: \(c.label)")
        let r = parseResult(c.bytes)
        if case let .failure(e) = r { Issue.record("parse rejected \(c.label): \(e)") }
    }

    static let rejected: [JSONCase] = [
        // Empty and blank input.
        JSONCase(""), JSONCase(" "), JSONCase("\n\t\r "),
        // Numbers.
        JSONCase("01"), JSONCase("00"), JSONCase("-01"), JSONCase("007"), JSONCase("+1"), JSONCase(".5"),
        JSONCase("-.5"), JSONCase("1."), JSONCase("1.e3"), JSONCase("1e"), JSONCase("1e+"), JSONCase("1E-"),
        JSONCase("1e+-3"), JSONCase("-"), JSONCase("--1"), JSONCase("- 1"), JSONCase("-a"), JSONCase("1.5.3"),
        JSONCase("1e5e5"), JSONCase("0x10"), JSONCase("1_000"), JSONCase("[01]"), JSONCase("[1.]"),
        JSONCase("[-]"), JSONCase("[.5]"), JSONCase(#"{"a":+1}"#), JSONCase("1.0e"), JSONCase("2."),
        // Non-finite spellings.
        JSONCase("NaN"), JSONCase("nan"), JSONCase("Infinity"), JSONCase("-Infinity"), JSONCase("[NaN]"),
        JSONCase(#"{"a":Infinity}"#),
        // Literals.
        JSONCase("tru"), JSONCase("True"), JSONCase("TRUE"), JSONCase("nul"), JSONCase("nulll"), JSONCase("fals"),
        JSONCase("undefined"), JSONCase("truefalse"), JSONCase("[true false]"),
        // Trailing and missing commas, colons.
        JSONCase("[1,]"), JSONCase(#"{"a":1,}"#), JSONCase("[,1]"), JSONCase("[1,,2]"), JSONCase("[,]"),
        JSONCase("{,}"), JSONCase("[1 2]"), JSONCase(#"{"a":1 "b":2}"#), JSONCase(#"{"a" 1}"#),
        JSONCase(#"{"a":}"#), JSONCase(#"{"a"}"#), JSONCase(#"{"a"::1}"#), JSONCase(#"{"a"=1}"#), JSONCase("[1;2]"),
        JSONCase(#"{:1}"#),
        // Quotes and keys.
        JSONCase("'a'"), JSONCase("['a']"), JSONCase("{'a':1}"), JSONCase("{a:1}"), JSONCase("{1:2}"),
        JSONCase("{null:1}"), JSONCase(#"{"a":1,b:2}"#), JSONCase("abc"),
        // Comments.
        JSONCase("// c\n1"), JSONCase("/* c */ 1"), JSONCase("[1 /* c */]"), JSONCase("1 // c"), JSONCase("# c\n1"),
        JSONCase("[1,/**/2]"),
        // Raw control characters in strings.
        JSONCase("\"a\tb\""), JSONCase("\"a\nb\""), JSONCase("\"a\rb\""), JSONCase("\"\u{1F}\""),
        JSONCase("raw NUL in string", bytes: [0x22, 0x61, 0x00, 0x22]),
        JSONCase("\"\\n\t\""), JSONCase("{\"a\tb\":1}"), JSONCase("[\"x\",\"\u{0C}\"]"),
        // Bad escapes.
        JSONCase(#""\x41""#), JSONCase(#""\u12G4""#), JSONCase(#""\u12""#), JSONCase(#""\u""#), JSONCase(#""\u00""#),
        JSONCase(#""\U0041""#), JSONCase(#""\a""#), JSONCase(#""\'""#), JSONCase(#""\0""#), JSONCase(#""\ ""#),
        JSONCase(#""\u 123""#), JSONCase(#""\u-123""#), JSONCase(#""\ud83d\uZZZZ""#), JSONCase(#""\ud83d\u12""#),
        JSONCase(#""abc\"#), JSONCase(#""\u12"#), JSONCase(#""\ud83d\"#), JSONCase(#""\ud83d\u"#),
        // Unterminated strings and containers.
        JSONCase(#"""#), JSONCase(#""abc"#), JSONCase(#""abc\""#), JSONCase("["), JSONCase("{"), JSONCase("[1"),
        JSONCase("[1,"), JSONCase(#"{"a":1"#), JSONCase(#"{"a""#), JSONCase(#"{"a":"#), JSONCase(#"{"a":1,"#),
        JSONCase("[[[]]"), JSONCase(#"{"a":{"b":1}"#), JSONCase(#"["a"#),
        // Stray closers and mismatched brackets.
        JSONCase("]"), JSONCase("}"), JSONCase("[}"), JSONCase("{]"), JSONCase("[1}"), JSONCase(#"{"a":1]"#),
        JSONCase(":"), JSONCase(","),
        // Trailing garbage after the value.
        JSONCase("[1]]"), JSONCase("{}}"), JSONCase("1 2"), JSONCase("true false"), JSONCase("nulls"),
        JSONCase("[1]x"), JSONCase(#""""""#), JSONCase("{} {}"), JSONCase("0 0"), JSONCase("1,"), JSONCase("[] ,"),
        JSONCase("123abc"), JSONCase("-0-"), JSONCase("\"a\"\"b\""),
        // Not whitespace in JSON: form feed, vertical tab, NBSP, NUL, a byte-order mark.
        JSONCase("\u{0C}1"), JSONCase("1\u{0C}"), JSONCase("[1,\u{0B}2]"), JSONCase("\u{A0}1"),
        JSONCase("trailing NUL", bytes: Array("1".utf8) + [0]), JSONCase("\u{FEFF}1"),
        // Raw non-ASCII outside strings.
        JSONCase("é"), JSONCase("[é]"), JSONCase("bare invalid byte", bytes: [0xFF]),
        JSONCase("DEL outside a string", bytes: [0x5B, 0x7F, 0x5D]),
    ]

    @Test("rejected as syntax by parse and by skipValue", arguments: rejected)
    func rejects(_ c: JSONCase) {
        let outcome = scanDocument(c.bytes)
        #expect(outcome.isSyntax, "skipValue accepted \(c.label): \(outcome)")
        if case let .syntax(offset) = outcome {
            #expect(offset >= 0 && offset <= c.bytes.count, "offset \(offset) outside the text")
        }
        switch parseResult(c.bytes) {
        case let .success(v): Issue.record("parse accepted \(c.label) as \(v)")
        case let .failure(e): #expect(e.kind == .syntax, "\(c.label): \(e)")
        }
    }

    @Test("syntax error offsets point at the offending byte")
    func syntaxOffsets() {
        let cases: [(String, Int)] = [
            ("01", 1), ("[1,]", 3), (#"{"a":1,}"#, 7), ("\"a\tb\"", 2), (#""\x""#, 1), (#""\u12G4""#, 5),
            ("[1]x", 3), ("", 0), ("1.", 2), ("1e", 2), ("-", 1), ("nul", 0),
        ]
        for (text, offset) in cases {
            #expect(scanDocument(Array(text.utf8)) == .syntax(offset: offset), "\(text)")
            if case let .failure(.syntax(e)) = parseResult(Array(text.utf8)) {
                #expect(e.offset == offset, "parse offset for \(text)")
                #expect(!e.message.isEmpty)
                #expect(e.description.contains("at byte \(offset)"))
            } else {
                Issue.record("parse did not report a syntax error for \(text)")
            }
        }
    }

    @Test("a syntax error wins over a soft fault met earlier")
    func syntaxBeatsSoftFault() {
        let cases: [[UInt8]] = [
            Array(#"{"a":1,"a":2} x"#.utf8),
            Array(#"["\ud800",]"#.utf8),
            [0x5B, 0x22, 0xFF, 0x22, 0x2C, 0x5D],
            Array(#"{"a":1,"a":2,}"#.utf8),
        ]
        for bytes in cases {
            #expect(scanDocument(bytes).isSyntax, "\(hexBytes(bytes))")
            #expect(parseErrorKind(bytes) == .syntax, "\(hexBytes(bytes))")
        }
    }

    @Test("every single-byte document: only digits are accepted")
    func singleBytes() {
        for b in 0...255 {
            let bytes = [UInt8(b)]
            let expectOK = (0x30...0x39).contains(b)
            let outcome = scanDocument(bytes)
            #expect((outcome == .ok) == expectOK, "byte \(b): \(outcome)")
            #expect((parseErrorKind(bytes) == nil) == expectOK, "byte \(b)")
            if !expectOK { #expect(outcome.isSyntax, "byte \(b): \(outcome)") }
        }
    }

    @Test("every byte inside a string: controls are syntax errors, ASCII is fine, lone high bytes are invalid UTF-8",
          arguments: ["", "\\n", "a\\u00e9"])
    func bytesInsideStrings(escapedPrefix: String) {
        // With an escape before the byte, the scanner takes its decoding (arena) path.
        let prefix = Array(escapedPrefix.utf8)
        for b in 0...255 {
            let bytes: [UInt8] = [0x22] + prefix + [UInt8(b), 0x22]
            let outcome = scanDocument(bytes)
            switch b {
            case 0..<0x20, 0x5C:
                #expect(outcome.isSyntax, "byte \(b): \(outcome)")
            case 0x22:
                #expect(outcome.isSyntax, "byte \(b): \(outcome)") // `"""`: trailing quote
            case 0x20..<0x80:
                #expect(outcome == .ok, "byte \(b): \(outcome)")
            default:
                #expect(outcome == .soft(.invalidUTF8, offset: 1 + prefix.count), "byte \(b): \(outcome)")
                #expect(parseErrorKind(bytes) == .invalidUTF8, "byte \(b)")
            }
        }
    }

    @Test("every escape letter: only the nine RFC escapes are valid")
    func escapeLetters() {
        let valid: Set<UInt8> = Set(Array(#""\/bfnrt"#.utf8))
        for b in 0x20..<0x7F where b != 0x75 {
            let bytes: [UInt8] = [0x22, 0x5C, UInt8(b), 0x22]
            let outcome = scanDocument(bytes)
            if valid.contains(UInt8(b)) {
                #expect(outcome == .ok, "\\\(UnicodeScalar(UInt8(b)))")
            } else {
                #expect(outcome.isSyntax, "\\\(UnicodeScalar(UInt8(b))) accepted: \(outcome)")
            }
        }
    }

    @Test("every \\u hex digit position rejects non-hex characters")
    func unicodeEscapeHexDigits() {
        let hex = Set(Array("0123456789abcdefABCDEF".utf8))
        for position in 0..<4 {
            for b in 0x20..<0x7F where b != 0x22 && b != 0x5C {
                var digits = Array("0041".utf8)
                digits[position] = UInt8(b)
                let bytes = Array(#""\u"#.utf8) + digits + [0x22]
                let outcome = scanDocument(bytes)
                if hex.contains(UInt8(b)) {
                    #expect(!outcome.isSyntax, "\(String(decoding: bytes, as: UTF8.self))")
                } else {
                    #expect(outcome.isSyntax, "\(String(decoding: bytes, as: UTF8.self)) accepted")
                }
            }
        }
    }

    @Test("every proper prefix of a valid document is rejected")
    func truncatedDocuments() {
        let docs = [
            #"{"a":[1,2.5e-3,{"b":"x\u00e9\ud83d\ude00"}],"c":true,"d":null,"e":false}"#,
            #"[-0.0e+0,"\"\\\/\b\f\n\r\t",{}]"#,
        ]
        for doc in docs {
            let bytes = Array(doc.utf8)
            #expect(scanDocument(bytes) == .ok)
            for n in 0..<bytes.count {
                let prefix = Array(bytes[0..<n])
                #expect(scanDocument(prefix).isSyntax, "prefix \(n) of \(doc) accepted")
                #expect(parseErrorKind(prefix) == .syntax, "prefix \(n) of \(doc)")
            }
        }
    }
}
