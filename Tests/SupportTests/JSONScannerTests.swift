import Support
import Testing

/// Duplicate keys, deep nesting and the low-level scanner API.
@Suite("JSON scanner")
struct JSONScannerTests {
    // MARK: - Duplicate keys

    static let duplicates: [JSONCase] = [
        JSONCase(#"{"a":1,"a":2}"#),
        JSONCase(#"{"a":1,"a":1}"#),
        JSONCase(#"{"a":1,"b":2,"a":3}"#),
        JSONCase(#"{"a":1,"\u0061":2}"#),
        JSONCase(#"{"\u0061":1,"a":2}"#),
        JSONCase(#"{"\u0061":1,"\u0061":2}"#),
        JSONCase(#"{"é":1,"\u00e9":2}"#),
        JSONCase(#"{"😀":1,"\ud83d\ude00":2}"#),
        JSONCase(#"{"a\n":1,"a\u000a":2}"#),
        JSONCase(#"{"\/":1,"/":2}"#),
        JSONCase(#"{"":1,"":2}"#),
        JSONCase(#"{"x":{"a":1,"a":2}}"#),
        JSONCase(#"[{"a":1,"a":2}]"#),
        JSONCase(#"{"a":[{"b":{"c":1,"c":2}}]}"#),
        JSONCase(#"{"a":{"b":1},"a":2}"#),
        JSONCase(#"{"a":{"b":1,"c":{}},"d":[],"a":0}"#),
        JSONCase(#"[{"a":1},{"b":1,"b":2}]"#),
        JSONCase(#"{ "k" : 1 , "k" : 2 }"#),
    ]

    @Test("duplicate keys are a soft fault", arguments: duplicates)
    func duplicateKey(_ c: JSONCase) {
        #expect(scanDocument(c.bytes).softKind == .duplicateKey, "\(scanDocument(c.bytes))")
        #expect(parseErrorKind(c.bytes) == .duplicateKey)
    }

    static let distinctKeys: [JSONCase] = [
        JSONCase(#"{"a":{"a":1}}"#),
        JSONCase(#"[{"a":1},{"a":2}]"#),
        JSONCase(#"{"a":1,"b":{"a":2},"c":[{"a":3}]}"#),
        JSONCase(#"{"a":1,"A":2}"#),
        JSONCase(#"{"a":1,"a ":2}"#),
        JSONCase(#"{"ab":1,"a":2,"b":3}"#),
        JSONCase(#"{"a":{"b":1},"b":2}"#),
        JSONCase(#"{"x":{"y":1},"z":{"y":2}}"#),
        JSONCase(#"{"a":[{"b":1}],"b":[{"a":1}]}"#),
        JSONCase(#"{"\u00e9":1,"e\u0301":2}"#), // NFC and NFD: equal as Strings, different as bytes
        JSONCase("{\"é\":1,\"e\u{301}\":2}"),
        JSONCase(#"{"\u0000":1,"":2}"#),
        JSONCase(#"{"a":"a","b":"a"}"#),
        JSONCase(#"{"a":{"a":{"a":{"a":{}}}}}"#),
    ]

    @Test("the same key in different objects, or similar keys, is fine", arguments: distinctKeys)
    func distinct(_ c: JSONCase) {
        #expect(scanDocument(c.bytes) == .ok)
        #expect(parseErrorKind(c.bytes) == nil)
    }

    @Test("duplicate key error names the key")
    func duplicateKeyName() {
        guard case let .failure(e) = parseResult(Array(#"{"x":1,"name":2,"\u006eame":3}"#.utf8)) else {
            Issue.record("duplicate accepted"); return
        }
        guard case let .duplicateKey(key, offset) = e else { Issue.record("wrong error \(e)"); return }
        #expect(key == "name")
        #expect(offset > 16 && offset <= 31)
        #expect(e.description.contains("name"))
    }

    @Test("duplicates among many keys, and among long escaped keys that outgrow the arena")
    func duplicatesAtScale() {
        var members = (0..<500).map { #""k\#($0)":\#($0)"# }
        #expect(scanDocument(Array("{\(members.joined(separator: ","))}".utf8)) == .ok)
        members.append(#""k0":0"#)
        let dup = Array("{\(members.joined(separator: ","))}".utf8)
        #expect(scanDocument(dup).softKind == .duplicateKey)
        #expect(parseErrorKind(dup) == .duplicateKey)

        let long = { (c: String) in "\\u00\(c)" + String(repeating: "z", count: 3000) }
        let distinct = "{\"\(long("61"))\":1,\"\(long("62"))\":2,\"\(long("63"))\":3}"
        #expect(scanDocument(Array(distinct.utf8)) == .ok)
        let repeated = "{\"\(long("61"))\":1,\"\(long("62"))\":2,\"\(long("63"))\":3,\"a\(String(repeating: "z", count: 3000))\":4}"
        #expect(scanDocument(Array(repeated.utf8)).softKind == .duplicateKey)
        #expect(parseErrorKind(Array(repeated.utf8)) == .duplicateKey)
    }

    @Test("callers tracking their own object: nested skipped objects do not see outer keys")
    func callerTrackedObject() throws {
        let text = #"{"id":5,"skip":{"id":1,"deep":[1,2,{"x":"y","id":[]}]},"name":"n","more":{"name":{}}}"#
        try withScanner(text) { s in
            try s.expect(0x7B, "{")
            s.beginObjectKeys()
            var id: JSONIntegerValue?
            var name: String?
            var keys: [String] = []
            while true {
                s.skipWhitespace()
                let k = try s.scanString()
                s.noteKey(k)
                keys.append(s.string(k))
                try s.expect(0x3A, ":")
                s.skipWhitespace()
                if s.string(k) == "id" {
                    id = s.integerValue(try s.scanNumber())
                } else if s.string(k) == "name" {
                    name = s.string(try s.scanString())
                } else {
                    try s.skipValue()
                }
                s.skipWhitespace()
                if s.peek() == 0x2C { s.pos += 1; continue }
                try s.expect(0x7D, "}")
                break
            }
            s.endObjectKeys()
            try s.expectEnd()
            #expect(keys == ["id", "skip", "name", "more"])
            #expect(id == .value(negative: false, magnitude: 5))
            #expect(name == "n")
            #expect(s.softFault == nil)
        }
    }

    @Test("noteDuplicateKey records a soft fault with the key; begin clears it")
    func noteDuplicateKeyAndReuse() throws {
        let s = JSONScanner()
        let a = Array(#""id""#.utf8)
        try a.withUnsafeBufferPointer { p in
            s.begin(p.baseAddress!, count: p.count)
            let k = try s.scanString()
            #expect(s.softFault == nil)
            s.noteDuplicateKey(k)
            #expect(s.softFault?.kind == .duplicateKey)
            #expect(s.softFault?.key == "id")
        }
        // The same scanner is reusable: begin resets faults, position and key tracking.
        #expect(scanDocument(Array(#"{"a":1,"a":2}"#.utf8), scanner: s).softKind == .duplicateKey)
        #expect(scanDocument(Array(#"{"a":1}"#.utf8), scanner: s) == .ok)
        #expect(scanDocument(Array(#"{"a":1,"#.utf8), scanner: s).isSyntax)
        #expect(scanDocument(Array(#"{"a":1}"#.utf8), scanner: s) == .ok)
        #expect(scanDocument(Array(#"["\ud800"]"#.utf8), scanner: s).softKind == .loneSurrogate)
        #expect(scanDocument(Array(#"[1,{"a":2}]"#.utf8), scanner: s) == .ok)
        #expect(s.pos == 11)
    }

    @Test("a JSON Lines stream scanned record by record with one scanner")
    func jsonLinesReuse() {
        let lines = [
            #"{"a":1,"b":"x"}"#, #"{"a":1,"a":2}"#, #"[1,2"#, #"{"b":"\u00e9"}"#, "{\"c\":\"\u{FF}\"}",
            #"{"a":{"a":{"a":1}}}"#, "", #"{"z":"\ud800"}"#, #"{"a":1,"b":2}"#,
        ]
        let s = JSONScanner()
        let outcomes = lines.map { scanDocument(Array($0.utf8), scanner: s) }
        #expect(outcomes[0] == .ok)
        #expect(outcomes[1].softKind == .duplicateKey)
        #expect(outcomes[2].isSyntax)
        #expect(outcomes[3] == .ok)
        #expect(outcomes[4] == .ok) // U+00FF written as proper UTF-8 by Swift
        #expect(outcomes[5] == .ok)
        #expect(outcomes[6].isSyntax)
        #expect(outcomes[7].softKind == .loneSurrogate)
        #expect(outcomes[8] == .ok)
    }

    // MARK: - Deep nesting

    @Test("skipValue handles 100,000 levels of nesting iteratively")
    func deepNestingSkip() {
        let depth = 100_000
        let arrays = [UInt8](repeating: 0x5B, count: depth) + [UInt8](repeating: 0x5D, count: depth)
        #expect(scanDocument(arrays) == .ok)

        let objects = Array(String(repeating: #"{"a":"#, count: depth).utf8) + [0x31]
            + [UInt8](repeating: 0x7D, count: depth)
        #expect(scanDocument(objects) == .ok)

        var mixed: [UInt8] = []
        for i in 0..<depth { mixed += i % 2 == 0 ? Array(#"[1,{"k":"#.utf8) : Array(#"{"k":[null,"#.utf8) }
        mixed += Array("true".utf8)
        for i in (0..<depth).reversed() { mixed += i % 2 == 0 ? [0x7D, 0x5D] : [0x5D, 0x7D] }
        #expect(scanDocument(mixed) == .ok)

        // Unterminated and mismatched deep documents fail cleanly.
        #expect(scanDocument([UInt8](repeating: 0x5B, count: depth)).isSyntax)
        #expect(scanDocument([UInt8](repeating: 0x5B, count: depth) + [UInt8](repeating: 0x5D, count: depth - 1)).isSyntax)
        #expect(scanDocument(arrays + [0x5D]).isSyntax)
        var wrongCloser = arrays
        wrongCloser[depth] = 0x7D
        #expect(scanDocument(wrongCloser).isSyntax)

        // A duplicate key at the bottom of a deep nest is still noticed.
        let deepDup = Array(String(repeating: "[", count: depth).utf8) + Array(#"{"a":1,"a":2}"#.utf8)
            + Array(String(repeating: "]", count: depth).utf8)
        #expect(scanDocument(deepDup).softKind == .duplicateKey)
    }

    @Test("parse refuses nesting deeper than maxDepth without crashing")
    func deepNestingParse() throws {
        let max = JSONValue.maxDepth
        #expect(max == 256)
        let ok = [UInt8](repeating: 0x5B, count: max) + [UInt8](repeating: 0x5D, count: max)
        var v = try JSONValue.parse(ok)
        for _ in 0..<(max - 1) { v = try #require(v.arrayValue?.first) }
        #expect(v == .array([]))

        let over = [UInt8](repeating: 0x5B, count: max + 1) + [UInt8](repeating: 0x5D, count: max + 1)
        #expect(parseErrorKind(over) == .tooDeep)
        if case let .failure(.tooDeep(offset)) = parseResult(over) { #expect(offset == max) }

        let objects = Array(String(repeating: #"{"a":"#, count: max + 1).utf8) + [0x31]
            + [UInt8](repeating: 0x7D, count: max + 1)
        #expect(parseErrorKind(objects) == .tooDeep)

        let huge = [UInt8](repeating: 0x5B, count: 100_000) + [UInt8](repeating: 0x5D, count: 100_000)
        #expect(parseErrorKind(huge) == .tooDeep)
        #expect(JSONParseError.tooDeep(offset: 3).description.contains("256"))
    }

    // MARK: - Primitives

    @Test("scanNumber fills every field of the token")
    func numberTokenFields() throws {
        try withScanner("-12.345e-6,") { s in
            let t = try s.scanNumber()
            #expect(t.start == 0 && t.end == 10)
            #expect(t.negative)
            #expect(t.intStart == 1 && t.intEnd == 3)
            #expect(t.fracStart == 4 && t.fracEnd == 7)
            #expect(t.exponent == -6)
            #expect(s.pos == 10)
            #expect(s.peek() == 0x2C)
        }
        try withScanner("[0]") { s in
            s.pos = 1
            let t = try s.scanNumber()
            #expect(!t.negative && t.start == 1 && t.end == 2 && t.intStart == 1 && t.intEnd == 2)
            #expect(t.fracStart == t.fracEnd && t.exponent == 0)
            #expect(s.pos == 2)
        }
        try withScanner("7E+21") { s in
            let t = try s.scanNumber()
            #expect(t.exponent == 21 && t.fracStart == t.fracEnd && t.end == 5)
        }
        // Absurd exponents saturate at ±1e9.
        for (text, e) in [("1e99999999999", 1_000_000_000), ("1e-99999999999", -1_000_000_000),
                          ("1e1000000000", 1_000_000_000), ("1e999999999", 999_999_999),
                          ("1e0000000000000000000000001", 1), ("1E-000", 0)] {
            try withScanner(text) { s in
                let t = try s.scanNumber()
                #expect(t.exponent == e, "\(text)")
                #expect(t.end == text.utf8.count)
            }
        }
        // Leading zero: the token stops after the 0, leaving the rest for the caller to reject.
        try withScanner("0123") { s in
            let t = try s.scanNumber()
            #expect(t.end == 1)
            #expect(throws: JSONSyntaxError.self) { try s.expectEnd() }
        }
        for bad in ["-", "+1", ".5", "1.", "1.e5", "1e", "1e+", "-x", ""] {
            withScanner(bad) { s -> Void in
                #expect(throws: JSONSyntaxError.self, "\(bad)") { _ = try s.scanNumber() }
            }
        }
    }

    @Test("whitespace, peek, expect, literal and expectEnd")
    func primitives() throws {
        try withScanner(" \t\r\n true  ,null]") { s in
            s.skipWhitespace()
            #expect(s.pos == 5)
            #expect(s.peek() == 0x74)
            try s.literal("true")
            #expect(s.pos == 9)
            try s.expect(0x2C, ",")
            s.skipWhitespace()
            #expect(throws: JSONSyntaxError.self) { try s.literal("nul!") }
            #expect(s.pos == 12)
            try s.literal("null")
            #expect(throws: JSONSyntaxError.self) { try s.expectEnd() }
            try s.expect(0x5D, "]")
            try s.expectEnd()
            #expect(s.peek() == nil)
        }
        withScanner("tru") { s -> Void in
            #expect(throws: JSONSyntaxError.self) { try s.literal("true") }
        }
        let e = withScanner("  x") { s -> JSONSyntaxError? in
            do throws(JSONSyntaxError) { try s.expect(0x5B, "expected '['") } catch { return error }
            return nil
        }
        #expect(e?.offset == 2)
        #expect(e?.message == "expected '['")
    }

    @Test("equals compares token bytes with an ASCII literal")
    func equalsLiteral() throws {
        try withScanner(#"["user_id","user_i\u0064","user_idx","","user"]"#) { s in
            s.pos = 1
            var tokens: [JSONStringToken] = []
            while true {
                tokens.append(try s.scanString())
                if s.peek() == 0x2C { s.pos += 1 } else { break }
            }
            #expect(tokens.count == 5)
            #expect(s.string(tokens[0]) == "user_id")
            #expect(s.string(tokens[1]) == "user_id")
            #expect(s.string(tokens[2]) != "user_id")
            #expect(s.string(tokens[3]) == "")
            #expect(s.string(tokens[4]) != "user_id")
            #expect(s.string(tokens[0]) != "user_ID")
        }
    }

    @Test("skipValue consumes exactly one value and stops after it")
    func skipValueStops() throws {
        let text = #"  {"a":[1,"x",{"b":null}]} , [true] , "s" , -1.5e3 , false ]"#
        try withScanner(text) { s in
            try s.skipValue()
            #expect(s.pos == 26)
            try s.expect(0x2C, ",")
            try s.skipValue()
            #expect(s.pos == 35)
            try s.expect(0x2C, ",")
            try s.skipValue()
            try s.expect(0x2C, ",")
            try s.skipValue()
            try s.expect(0x2C, ",")
            try s.skipValue()
            try s.expect(0x5D, "]")
            try s.expectEnd()
            #expect(s.softFault == nil)
        }
    }
}
