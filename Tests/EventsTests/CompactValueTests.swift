@testable import Events
import Support
import Testing

/// `CompactValue.skip` against the general scanner's `skipValue`, its plain twin: whenever the
/// compact skipper accepts a value, the scanner accepts it too, without a soft fault, ending at the
/// same byte; values it refuses are left to the general parser.
@Suite struct CompactValueTests {
    /// Skips `text` (followed by `tail`) both ways; returns whether the compact skipper took it.
    @discardableResult
    func compare(_ text: String, tail: String = "}", sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        compare(bytes: Array((text + tail).utf8), sourceLocation: sourceLocation)
    }

    /// `compare` over raw bytes (which need not be UTF-8).
    @discardableResult
    func compare(bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        return bytes.withUnsafeBufferPointer { b -> Bool in
            let fast = CompactValue.skip(b.baseAddress!, 0, b.count)
            let s = JSONScanner()
            s.begin(b.baseAddress!, count: b.count)
            let general: Int? = (try? s.skipValue()) != nil && s.softFault == nil ? s.pos : nil
            if let fast {
                #expect(general == fast, "\(text): compact \(fast), general \(String(describing: general))", sourceLocation: sourceLocation)
            }
            return fast != nil
        }
    }

    @Test func compactValuesAreTakenAndEndWhereTheScannerEnds() {
        for text in [#"{}"#, #"[]"#, #"{"a":1}"#, #"{"tags":{"v":{}}}"#, #"{"x":{},"lat":{"flags":false},"lon":true,"id":"geo"}"#,
                     #"[1,-2,3.5,-0.25e+3,1E9,0,"s",null,true,false,[],{}]"#, #"{"ab":null}"#, #""plain""#, "-0", "12e-7",
                     #"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#, String(repeating: "[", count: 16) + "1" + String(repeating: "]", count: 16),
                     // String values with escapes and UTF-8 text, as the scanner reads them without a fault.
                     #""caf\u00e9""#, "\"caf\u{e9}\"", #""tab\there \"q\" \\ \/ \b\f\n\r""#, #""\ud83d\ude00 ok""#,
                     "\"日本語 \u{1F600}\"", #"{"q":"cr\u00e8me","t":["\u0041",""]}"#] {
            for tail in ["}", ",\"ts\":1}", "}\n{\"next\":1}", ""] {
                #expect(compare(text, tail: tail), "\(text + tail)")
            }
        }
    }

    @Test func everythingElseIsRefused() {
        for text in [#"{"a":1,"a":2}"#, #"{"a":{"b":1,"b":1}}"#, #"{ "a":1}"#, #"{"a" :1}"#, #"[1 ,2]"#,
                     // Escaped keys (duplicates are found on raw bytes), lone or mismatched surrogates,
                     // bad escapes: the general parser decides.
                     #"{"\u0061":1}"#, #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#, #""\ud800\""#, #""\x""#,
                     #""\u12g4""#, #""\u12""#, #"{"a":01}"#, "1.", ".5", "-", "1e", "1e+", "tru", "nul", "fals", "[1,]", #"{"a":1,}"#,
                     #"{"a"}"#, #"{"a":}"#, "[", "{", #"{"a":1"#, "x", "", "[1\n]", "\"a\nb\"",
                     String(repeating: "[", count: 17) + "1" + String(repeating: "]", count: 17)] {
            // A newline cannot continue any compact value, so nothing after the text can complete it.
            #expect(!compare(text, tail: "\n"), "\(text.debugDescription)")
        }
        // More than 32 keys open at once is refused; as many in closed objects is fine.
        let wide = "{" + (0..<33).map { #""k\#($0)":1"# }.joined(separator: ",") + "}"
        #expect(!compare(wide, tail: "\n"))
        let many = "[" + (0..<40).map { #"{"k\#($0)":1}"# }.joined(separator: ",") + "]"
        #expect(compare(many))
        // Malformed UTF-8: a stray continuation byte, an overlong form, an encoded surrogate, a
        // sequence cut short, a byte that never starts one.
        for bad: [UInt8] in [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF5, 0x80, 0x80, 0x80], [0xFF]] {
            #expect(!compare(bytes: [0x22, 0x61] + bad + [0x22, 0x0A]), "\(bad)")
        }
        #expect(compare(bytes: [0x22, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x22, 0x7D]))
    }

    /// Random compact values and random single-byte mutations of them: wherever the compact skipper
    /// accepts, the scanner agrees on the end.
    @Test func randomValuesAndMutationsAgree() {
        var x: UInt64 = 5
        func next(_ n: Int) -> Int { x = fmix64(x &+ 0x9E37_79B9); return Int(x % UInt64(n)) }
        func value(_ depth: Int) -> String {
            switch next(depth > 3 ? 5 : 7) {
            case 0: return ["0", "-1", "12.5", "3e4", "-0.5E-2", "100"][next(6)]
            case 1: return ["\"\"", "\"geo\"", "\"a b\"", "\"x\"", #""\u00e9\n""#, "\"é€😀\"", #""\ud83d\ude00""#][next(7)]
            case 2: return ["true", "false", "null"][next(3)]
            case 3, 4: return "[" + (0..<next(4)).map { _ in value(depth + 1) }.joined(separator: ",") + "]"
            default:
                let keys = ["a", "b", "c", "id", "a"]
                return "{" + (0..<next(4)).map { _ in "\"\(keys[next(keys.count)])\":" + value(depth + 1) }.joined(separator: ",") + "}"
            }
        }
        let alphabet = Array("{}[]\",:01-.eE+ tfnaul\\\nud8\u{e9}".utf8) + [0x80, 0xC3, 0xED, 0xFF]
        var taken = 0
        for _ in 0..<4000 {
            let v = value(0)
            if compare(v) { taken += 1 }
            var bytes = Array(v.utf8)
            if !bytes.isEmpty {
                bytes[next(bytes.count)] = alphabet[next(alphabet.count)]
                compare(bytes: bytes + Array("}".utf8))
            }
        }
        #expect(taken > 2000, "the skipper should take most generated values, took \(taken)")
    }
}
