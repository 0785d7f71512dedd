import Foundation
import Support
import Testing

/// Whatever Foundation's encoders write must parse, with the same strings and numbers.
@Suite("JSON from Foundation encoders")
struct JSONFoundationTests {
    struct Record: Codable, Equatable {
        var id: UInt64
        var delta: Int64
        var name: String
        var score: Double
        var tags: [String]
        var nested: [String: [Double]]
        var flag: Bool?
        var none: String?
    }

    static func records() -> [Record] {
        var rng = SeededGenerator(seed: 0xF0F0)
        let names = ["plain", "a/b\\c\"d", "tab\tnew\nline\r", "\u{0}\u{1}\u{1F}\u{7F}", "é€😀\u{10FFFF}", "e\u{301}", "</script>", ""]
        return (0..<60).map { i in
            Record(id: i == 0 ? UInt64.max : rng.next() >> UInt64(i % 64),
                   delta: i == 1 ? Int64.min : Int64(bitPattern: rng.next()) >> Int64(i % 64),
                   name: names[i % names.count],
                   score: i % 7 == 0 ? [0.1, -0.0, 1e-300, 1.7976931348623157e308, .leastNonzeroMagnitude, 123456789.125, 1e23][i / 7 % 7]
                       : Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF),
                   tags: Array(names.prefix(i % 4)),
                   nested: i % 3 == 0 ? [:] : ["k\(i)": [Double(i) / 3, -Double(i)], "é": []],
                   flag: i % 2 == 0 ? nil : i % 4 == 1,
                   none: nil)
        }
    }

    @Test("JSONEncoder output parses with the same values", arguments: [0, 1, 2, 3])
    func jsonEncoder(style: Int) throws {
        let encoder = JSONEncoder()
        switch style {
        case 1: encoder.outputFormatting = [.prettyPrinted]
        case 2: encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        case 3: encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        default: break
        }
        for r in JSONFoundationTests.records() {
            let data = try encoder.encode(r)
            let bytes = [UInt8](data)
            #expect(scanDocument(bytes) == .ok, "\(String(decoding: bytes, as: UTF8.self))")
            let v = try JSONValue.parse(bytes)
            #expect(v["id"]?.numberValue?.uint64 == r.id)
            #expect(v["delta"]?.numberValue?.int64 == r.delta)
            #expect(v["name"]?.stringValue == r.name)
            #expect(v["name"] == .string(Array(r.name.utf8)))
            let score = try #require(v["score"]?.numberValue, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(score.double.bitPattern == r.score.bitPattern, "\(r.score) written as \(score)")
            #expect(v["tags"]?.arrayValue?.map { $0.stringValue } == r.tags.map { Optional($0) })
            for (k, xs) in r.nested {
                #expect(v["nested"]?[k]?.arrayValue?.map { $0.numberValue?.double } == xs.map { Optional($0) })
            }
            #expect(v["flag"] == r.flag.map { JSONValue.bool($0) })
            // And Foundation reads back what it wrote, so the two agree on the document.
            #expect(try JSONDecoder().decode(Record.self, from: data) == r)
        }
    }

    @Test("JSONSerialization output parses")
    func jsonSerialization() throws {
        let object: [String: Any] = [
            "int": 42, "neg": -7, "big": Int64.max, "double": 0.1, "tiny": Double.leastNonzeroMagnitude, "str": "x/y\u{0}é😀",
            "list": [1, "two", NSNull(), true, false, [], [:] as [String: Any]], "empty": "",
        ]
        for options: JSONSerialization.WritingOptions in [[], [.prettyPrinted], [.sortedKeys], [.prettyPrinted, .sortedKeys]] {
            let bytes = [UInt8](try JSONSerialization.data(withJSONObject: object, options: options))
            #expect(scanDocument(bytes) == .ok, "\(String(decoding: bytes, as: UTF8.self))")
            let v = try JSONValue.parse(bytes)
            #expect(v["int"]?.numberValue?.int64 == 42)
            #expect(v["neg"]?.numberValue?.int64 == -7)
            #expect(v["big"]?.numberValue?.int64 == Int64.max)
            #expect(v["double"]?.numberValue?.double == 0.1)
            #expect(v["tiny"]?.numberValue?.double == .leastNonzeroMagnitude)
            #expect(v["str"]?.stringValue == "x/y\u{0}é😀")
            #expect(v["list"]?.arrayValue?.count == 7)
            #expect(v["list"]?.arrayValue?[2] == .null)
            #expect(v["list"]?.arrayValue?[3] == .bool(true))
            #expect(v["list"]?.arrayValue?[6] == .object([]))
            #expect(v["empty"] == .string([]))
        }
    }
}
