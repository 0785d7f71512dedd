#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How llatte holds a file system path in a `String`: its *spelling*, which prints readably
/// whatever the path's bytes, and stands for exactly those bytes (docs/data.md, "File names").
///
/// A path's bytes are spelled as UTF-8 text where they are valid UTF-8; a byte that is not part of
/// a valid UTF-8 sequence, or is a control character, is written `\xHH` (two upper-case hex
/// digits), and a backslash `\\`. So `day-<E9>.jsonl` is spelled `day-\xE9.jsonl`, and no two paths
/// share a spelling. Every path llatte prints or records is a spelling; every system call decodes
/// one back to its bytes (`cString`). Paths typed as text — in a pipeline file or on the command
/// line — are read as spellings: `\xHH` and `\\` are those escapes, any other backslash is itself;
/// so a printed path can be pasted back.
public enum PathSpelling {
    /// The spelling of a path's bytes (from a directory listing, `realpath`, raw `argv`).
    public static func spell(_ bytes: some Collection<UInt8>) -> String {
        let b = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 0x5C {
                out += [0x5C, 0x5C]
                i += 1
            } else if c >= 0x80, let n = utf8SequenceLength(b, at: i) {
                out += b[i..<(i + n)]
                i += n
            } else if c < 0x20 || c == 0x7F || c >= 0x80 {
                out += [0x5C, UInt8(ascii: "x"), hexDigits[Int(c >> 4)], hexDigits[Int(c & 15)]]
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes a spelling stands for: `\xHH` is that byte, `\\` a backslash, any other
    /// backslash itself.
    public static func bytes(_ spelling: String) -> [UInt8] {
        let s = Array(spelling.utf8)
        guard s.contains(0x5C) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if s[i] == 0x5C, i + 1 < s.count {
                if s[i + 1] == 0x5C {
                    out.append(0x5C)
                    i += 2
                    continue
                }
                if s[i + 1] == UInt8(ascii: "x"), i + 3 < s.count, let hi = hexValue(s[i + 2]), let lo = hexValue(s[i + 3]) {
                    out.append(hi << 4 | lo)
                    i += 4
                    continue
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    /// The one spelling of the path a (typed) spelling stands for: `\xe9` → `\xE9`, `\xC3\xA9` → `é`,
    /// a lone backslash → `\\`, a tab → `\x09`.
    public static func canonical(_ spelling: String) -> String { spell(bytes(spelling)) }

    /// The NUL-terminated bytes a spelling stands for, for a system call (`open(PathSpelling.cString(p), …)`).
    public static func cString(_ spelling: String) -> [CChar] {
        bytes(spelling).map { CChar(bitPattern: $0) } + [0]
    }

    /// The spelling of a NUL-terminated path the system returned.
    public static func spell(cString p: UnsafePointer<CChar>) -> String {
        spell(UnsafeRawBufferPointer(start: p, count: strlen(p)))
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// The length of the well-formed UTF-8 sequence (Unicode table 3-7) starting with a byte ≥ 0x80
    /// at `i`, or nil when there is none.
    private static func utf8SequenceLength(_ b: [UInt8], at i: Int) -> Int? {
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool { i + k < b.count && range.contains(b[i + k]) }
        switch b[i] {
        case 0xC2...0xDF: return cont(1) ? 2 : nil
        case 0xE0: return cont(1, 0xA0...0xBF) && cont(2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : nil
        case 0xED: return cont(1, 0x80...0x9F) && cont(2) ? 3 : nil
        case 0xF0: return cont(1, 0x90...0xBF) && cont(2) && cont(3) ? 4 : nil
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : nil
        case 0xF4: return cont(1, 0x80...0x8F) && cont(2) && cont(3) ? 4 : nil
        default: return nil
        }
    }
}
