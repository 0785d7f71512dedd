import Support
import Testing

/// `JSONValue` construction, accessors, and round trips through encoders.
@Suite("JSON values")
struct JSONValueTests {
    static func num(_ s: String) -> JSONValue { .number(JSONNumber(text: Array(s.utf8))) }
    static func str(_ s: String) -> JSONValue { .string(Array(s.utf8)) }
    static func obj(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(members.map { (key: Array($0.0.utf8), value: $0.1) })
    }

    @Test("a value in a message reads as JSON text, never as a Swift value dump")
    func descriptionIsJSONText() throws {
        #expect("\(JSONValueTests.str("llx"))" == "\"llx\"")
        #expect("\(JSONValueTests.num("-16384"))" == "-16384")
        #expect("\(JSONValue.array([JSONValueTests.num("1"), .null, .bool(true)]))" == "[1,null,true]")
        #expect("\(JSONValueTests.obj([("a", JSONValueTests.str("q\"\n")), ("b", .array([]))]))" == #"{"a":"q\"\n","b":[]}"#)
        // A long value is cut, saying so: a message quotes it, it does not reproduce it.
        let long = "\(JSONValueTests.str(String(repeating: "x", count: 500)))"
        #expect(long.count < 100 && long.hasSuffix("…"), "\(long)")
    }

    @Test("parse builds the expected tree")
    func parseTree() throws {
        let text = #" {"a": 1, "b": "x", "c": [1, -2.5e3, "\u00e9"], "d": null, "e": true, "f": {"g": "h", "i": {}}, "j": [], "k": false} "#
        let v = try JSONValue.parse(Array(text.utf8))
        let expected = JSONValueTests.obj([
            ("a", JSONValueTests.num("1")),
            ("b", JSONValueTests.str("x")),
            ("c", .array([JSONValueTests.num("1"), JSONValueTests.num("-2.5e3"), JSONValueTests.str("é")])),
            ("d", .null),
            ("e", .bool(true)),
            ("f", JSONValueTests.obj([("g", JSONValueTests.str("h")), ("i", .object([]))])),
            ("j", .array([])),
            ("k", .bool(false)),
        ])
        #expect(v == expected)
        guard case let .object(members) = v else { Issue.record("not an object"); return }
        #expect(members.map { String(decoding: $0.key, as: UTF8.self) } == ["a", "b", "c", "d", "e", "f", "j", "k"])
    }

    @Test("subscripts and accessors")
    func accessors() throws {
        let v = try JSONValue.parse(Array(#"{"a":1,"b":"x","c":[1,2],"d":null,"e":true,"f":{"g":"h"},"é":-7,"":0}"#.utf8))
        #expect(v["a"]?.numberValue?.int64 == 1)
        #expect(v["a"]?.numberValue?.description == "1")
        #expect(v["b"]?.stringValue == "x")
        #expect(v["b"]?.numberValue == nil)
        #expect(v["c"]?.arrayValue?.count == 2)
        #expect(v["c"]?.arrayValue?[1].numberValue?.uint64 == 2)
        #expect(v["c"]?.stringValue == nil)
        #expect(v["d"] == .null)
        #expect(v["e"] == .bool(true))
        #expect(v["f"]?["g"]?.stringValue == "h")
        #expect(v["f"]?["missing"] == nil)
        #expect(v["é"]?.numberValue?.int64 == -7)
        #expect(v[""]?.numberValue?.int64 == 0)
        #expect(v["missing"] == nil)
        #expect(v["A"] == nil)
        // Subscripting anything but an object gives nil.
        #expect(v["c"]?["a"] == nil)
        #expect(v["b"]?["x"] == nil)
        #expect(JSONValue.null["a"] == nil)
        #expect(v.arrayValue == nil)
        #expect(v.stringValue == nil)
        #expect(v.numberValue == nil)
        // Kind names.
        #expect(v.kindName == "object")
        #expect(v["c"]?.kindName == "array")
        #expect(v["a"]?.kindName == "number")
        #expect(v["b"]?.kindName == "string")
        #expect(v["d"]?.kindName == "null")
        #expect(v["e"]?.kindName == "boolean")
    }

    @Test("strings keep their exact bytes: NFC and NFD stay different")
    func rawBytes() throws {
        let v = try JSONValue.parse(Array(#"{"nfc":"\u00e9","nfd":"e\u0301","nul":"a\u0000b"}"#.utf8))
        #expect(v["nfc"] == .string([0xC3, 0xA9]))
        #expect(v["nfd"] == .string([0x65, 0xCC, 0x81]))
        #expect(v["nfc"] != v["nfd"])
        #expect(v["nul"] == .string([0x61, 0x00, 0x62]))
        #expect(v["nul"]?.stringValue == "a\u{0}b")
        // Looking up a key by String uses its UTF-8 bytes: NFD spelling does not find the NFC key.
        let w = try JSONValue.parse(Array(#"{"\u00e9":1}"#.utf8))
        #expect(w["\u{E9}"] != nil)
        #expect(w["e\u{301}"] == nil)
    }

    @Test("equality distinguishes kinds and contents")
    func equality() {
        let a = JSONValueTests.obj([("x", .array([.null, .bool(false)]))])
        #expect(a == JSONValueTests.obj([("x", .array([.null, .bool(false)]))]))
        #expect(a != JSONValueTests.obj([("x", .array([.null, .bool(true)]))]))
        #expect(a != JSONValueTests.obj([("y", .array([.null, .bool(false)]))]))
        #expect(a != JSONValueTests.obj([("x", .array([.null]))]))
        #expect(a != JSONValueTests.obj([]))
        #expect(JSONValue.null != .bool(false))
        #expect(JSONValueTests.str("1") != JSONValueTests.num("1"))
        #expect(JSONValue.array([]) != .object([]))
    }

    @Test("empty input, whitespace-only input and errors carry offsets and descriptions")
    func parseErrors() {
        guard case let .failure(e) = parseResult([]) else { Issue.record("empty accepted"); return }
        #expect(e.kind == .syntax)
        #expect(e.description.hasPrefix("not JSON"))
        #expect(parseErrorKind(Array("   ".utf8)) == .syntax)
        #expect(JSONParseError.invalidUTF8(offset: 4).description.contains("4"))
        #expect(JSONParseError.loneSurrogate(offset: 9).description.contains("9"))
        #expect(JSONParseError.duplicateKey("k", offset: 1).description.contains("\"k\""))
        // parse from a buffer that is a slice of a larger allocation: bytes beyond it are not read.
        let big = Array("[1,2]]]]".utf8)
        let r = big.withUnsafeBufferPointer { p in
            Result { () throws(JSONParseError) -> JSONValue in try JSONValue.parse(UnsafeBufferPointer(rebasing: p[0..<5])) }
        }
        #expect((try? r.get()) == .array([JSONValueTests.num("1"), JSONValueTests.num("2")]))
    }

    // MARK: - Round trips

    @Test("JSONWriter output parses back to the same bytes and numbers")
    func writerRoundTrip() throws {
        var allBytes: [UInt8] = Array(0..<0x80)
        allBytes += Array("é€😀\u{10FFFF}".utf8)
        var w = JSONWriter()
        w.bytes.append(0x7B)
        w.key("all", first: true)
        w.string(allBytes)
        w.key("quote\"back\\slash")
        w.string("line\nfeed\ttab\rret")
        let numbers: [Double] = [0, 1, -1, 0.1, 1e15, 1e16, -2.5, 1e300, .leastNonzeroMagnitude, 1.7976931348623157e308, 123456.789,
                                 -9007199254740992, 1e-7, 0.30000000000000004]
        for (i, d) in numbers.enumerated() {
            w.key("n\(i)")
            w.number(d)
        }
        w.bytes.append(0x7D)
        let v = try JSONValue.parse(w.bytes)
        #expect(v["all"] == .string(allBytes))
        #expect(v["quote\"back\\slash"]?.stringValue == "line\nfeed\ttab\rret")
        for (i, d) in numbers.enumerated() {
            let n = try #require(v["n\(i)"]?.numberValue, "n\(i)")
            #expect(n.double == d, "\(d) written as \(n)")
        }
        #expect(v["n1"]?.numberValue?.int64 == 1)
        #expect(v["n11"]?.numberValue?.int64 == -9_007_199_254_740_992)
    }

    /// Serializes `v` the way various encoders might: random escaping choices, random whitespace.
    static func encode(_ v: JSONValue, _ rng: inout SeededGenerator, into out: inout [UInt8]) {
        func ws() {
            if Int.random(in: 0..<4, using: &rng) == 0 {
                for _ in 0..<Int.random(in: 1...3, using: &rng) { out.append([0x20, 0x09, 0x0A, 0x0D][Int.random(in: 0...3, using: &rng)]) }
            }
        }
        func hex4(_ u: UInt32) {
            let digits = Array((Bool.random(using: &rng) ? "0123456789abcdef" : "0123456789ABCDEF").utf8)
            out += [0x5C, 0x75] + [12, 8, 4, 0].map { digits[Int((u >> UInt32($0)) & 0xF)] }
        }
        func string(_ bytes: [UInt8]) {
            out.append(0x22)
            for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
                let u = scalar.value
                let escapeAll = Int.random(in: 0..<4, using: &rng) == 0
                switch u {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x2F where Bool.random(using: &rng): out += [0x5C, 0x2F]
                case 0x08 where Bool.random(using: &rng): out += [0x5C, 0x62]
                case 0x0C where Bool.random(using: &rng): out += [0x5C, 0x66]
                case 0x0A where Bool.random(using: &rng): out += [0x5C, 0x6E]
                case 0x0D where Bool.random(using: &rng): out += [0x5C, 0x72]
                case 0x09 where Bool.random(using: &rng): out += [0x5C, 0x74]
                case 0..<0x20: hex4(u)
                case 0x10000...:
                    if escapeAll {
                        let x = u - 0x10000
                        hex4(0xD800 + (x >> 10)); hex4(0xDC00 + (x & 0x3FF))
                    } else {
                        out += Array(String(Character(scalar)).utf8)
                    }
                default:
                    if escapeAll { hex4(u) } else { out += Array(String(Character(scalar)).utf8) }
                }
            }
            out.append(0x22)
        }
        ws()
        switch v {
        case .null: out += Array("null".utf8)
        case let .bool(b): out += Array((b ? "true" : "false").utf8)
        case let .number(n): out += n.text
        case let .string(s): string(s)
        case let .array(items):
            out.append(0x5B)
            ws()
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                encode(item, &rng, into: &out)
            }
            out.append(0x5D)
        case let .object(members):
            out.append(0x7B)
            ws()
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(0x2C) }
                ws(); string(m.key); ws(); out.append(0x3A)
                encode(m.value, &rng, into: &out)
            }
            out.append(0x7D)
        }
        ws()
    }

    static func randomString(_ rng: inout SeededGenerator) -> [UInt8] {
        var s = ""
        for _ in 0..<Int.random(in: 0...6, using: &rng) {
            let v: UInt32
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: v = UInt32.random(in: 0...0x1F, using: &rng)
            case 1: v = [0x22, 0x5C, 0x2F, 0x7F][Int.random(in: 0...3, using: &rng)]
            case 2: v = UInt32.random(in: 0x20...0x7E, using: &rng)
            case 3: v = [UInt32.random(in: 0x80...0xD7FF, using: &rng), UInt32.random(in: 0xE000...0xFFFF, using: &rng)][Int.random(in: 0...1, using: &rng)]
            default: v = UInt32.random(in: 0x10000...0x10FFFF, using: &rng)
            }
            s.unicodeScalars.append(Unicode.Scalar(v)!)
        }
        return Array(s.utf8)
    }

    static func randomValue(_ rng: inout SeededGenerator, depth: Int) -> JSONValue {
        switch Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(JSONNumber(text: Array(JSONNumberTests.randomNumber(&rng, fastPath: Bool.random(using: &rng)).utf8)))
        case 3, 4: return .string(randomString(&rng))
        case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var keys: [[UInt8]] = []
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                let k = randomString(&rng)
                if !keys.contains(k) { keys.append(k) }
            }
            return .object(keys.map { (key: $0, value: randomValue(&rng, depth: depth + 1)) })
        }
    }

    @Test("random documents written with varied escaping and whitespace parse back identically")
    func randomDocuments() throws {
        var rng = SeededGenerator(seed: 0xC0FFEE)
        for _ in 0..<400 {
            let v = JSONValueTests.randomValue(&rng, depth: 0)
            var bytes: [UInt8] = []
            JSONValueTests.encode(v, &rng, into: &bytes)
            #expect(scanDocument(bytes) == .ok, "\(String(decoding: bytes, as: UTF8.self))")
            let parsed = try JSONValue.parse(bytes)
            #expect(parsed == v, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }
}

@Suite("JSONWriter edge cases")
struct JSONWriterEdgeTests {
    @Test("negative zero keeps its sign through JSONWriter.number and parse")
    func negativeZero() throws {
        var w = JSONWriter()
        w.number(-0.0)
        let v = try JSONValue.parse(w.bytes)
        #expect(v.numberValue?.double.sign == .minus, "written as \(String(decoding: w.bytes, as: UTF8.self))")
    }
}
