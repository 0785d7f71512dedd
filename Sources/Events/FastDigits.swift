import Support
#if canImport(Glibc)
import Glibc
#endif

/// Digit runs read eight bytes at a time (SWAR), for the fast path.
enum FastDigits {
    static let ones: UInt64 = 0x0101_0101_0101_0101

    /// How many of the 8 bytes of `w` (from the lowest) are ASCII digits before the first non-digit.
    ///
    /// `t = w − "00000000"` bytewise; a byte is a digit iff its `t` is below 10, i.e. neither `t` nor
    /// `t + 0x76` has its high bit set. Borrows and carries only move towards higher bytes, and
    /// only out of non-digits, so every byte up to the first non-digit is classified exactly.
    @inline(__always)
    static func leadingDigits(_ w: UInt64) -> Int {
        let t = w &- ones &* 0x30
        let nonDigit = (t | (t &+ ones &* 0x76)) & (ones &* 0x80)
        return nonDigit == 0 ? 8 : nonDigit.trailingZeroBitCount >> 3
    }

    /// The value of 8 ASCII digits loaded little-endian (first digit in the lowest byte).
    @inline(__always)
    static func eightDigits(_ w: UInt64) -> UInt64 {
        var v = w &- 0x3030_3030_3030_3030
        v = (v &* 10) &+ (v >> 8)   // pairs of digits in every other byte
        let lo = (v & 0x0000_00FF_0000_00FF) &* (100 &+ (1_000_000 << 32))
        let hi = ((v >> 16) & 0x0000_00FF_0000_00FF) &* (1 &+ (10_000 << 32))
        return (lo &+ hi) >> 32
    }

    /// The value of the first `k` (0...7) digits of `w` (0 for k = 0: the shift by 64 clears `w`).
    @inline(__always)
    static func value(_ w: UInt64, _ k: Int) -> UInt64 {
        let shift = UInt64(8 &* (8 &- k))
        return eightDigits((w << shift) | ((ones &* 0x30) >> UInt64(8 &* k)))
    }

    /// 10^k for k in 0...19 (a switch the compiler turns into a constant table; no lazy global).
    @inline(__always)
    static func powersOfTen64(_ k: Int) -> UInt64 {
        switch k {
        case 0: return 1
        case 1: return 10
        case 2: return 100
        case 3: return 1_000
        case 4: return 10_000
        case 5: return 100_000
        case 6: return 1_000_000
        case 7: return 10_000_000
        case 8: return 100_000_000
        case 9: return 1_000_000_000
        case 10: return 10_000_000_000
        case 11: return 100_000_000_000
        case 12: return 1_000_000_000_000
        case 13: return 10_000_000_000_000
        case 14: return 100_000_000_000_000
        case 15: return 1_000_000_000_000_000
        case 16: return 10_000_000_000_000_000
        case 17: return 100_000_000_000_000_000
        case 18: return 1_000_000_000_000_000_000
        default: return 10_000_000_000_000_000_000
        }
    }

    /// 10^k as a double for k in 0...22 (exact).
    @inline(__always)
    static func powerOfTen(_ k: Int) -> Double { k <= 19 ? Double(powersOfTen64(k)) : Double(powersOfTen64(k - 19)) * 1e19 }

    /// A run of at most 19 digits at `i` as (value, digit count, index after): exact, since 19
    /// digits cannot overflow. A byte at a time: `decimal`, its only user, is the plain twin.
    static func run(_ p: UnsafePointer<UInt8>, _ i0: Int, _ n: Int) -> (UInt64, Int, Int) {
        var i = i0
        var v: UInt64 = 0
        while i &- i0 < 19 && i < n && p[i] &- 0x30 < 10 { v = v &* 10 &+ UInt64(p[i] &- 0x30); i &+= 1 }
        return (v, i &- i0, i)
    }

    /// A plain unsigned integer (no sign, no leading zero, no fraction or exponent) that fits 64 bits.
    ///
    /// The digits are counted in words of eight; the whole words are converted from the number's
    /// start and the partial last word's k digits are appended by one multiply by 10^k (a constant
    /// table). So the only branches are on how many words the number spans, which a field's values
    /// share (random 64-bit ids of 19 and 20 digits take the same path).
    @inline(__always)
    static func unsigned(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt64, Int)? {
        guard i &+ 24 <= n else { return unsignedNearEnd(p, i, n) }
        let w0 = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
        let k0 = leadingDigits(w0)
        guard k0 > 0, k0 == 1 || p[i] != 0x30 else { return nil }
        let v: UInt64, end: Int
        if k0 < 8 {
            v = value(w0, k0)
            end = i &+ k0
        } else {
            let w1 = UnsafeRawPointer(p + (i &+ 8)).loadUnaligned(as: UInt64.self)
            let k1 = leadingDigits(w1)
            if k1 < 8 {
                v = eightDigits(w0) &* powersOfTen64(k1) &+ value(w1, k1)
                end = i &+ 8 &+ k1
            } else {
                let w2 = UnsafeRawPointer(p + (i &+ 16)).loadUnaligned(as: UInt64.self)
                let k2 = leadingDigits(w2)
                guard k2 <= 4 else { return nil }
                // 16 digits (< 10^16) times 10^k2 (≤ 10^4) plus the last k2 digits: only 20 digits can overflow.
                let sixteen = sixteenDigits(p + i)
                let (high, low) = sixteen.multipliedFullWidth(by: powersOfTen64(k2))
                let (sum, carry) = low.addingReportingOverflow(value(w2, k2))
                guard high == 0, !carry else { return nil }
                v = sum
                end = i &+ 16 &+ k2
            }
        }
        guard end >= n || (p[end] != 0x2E && p[end] | 0x20 != 0x65) else { return nil }
        return (v, end)
    }

    /// The value of the 16 ASCII digits at `p`, in vector lanes: pairs, then fours, then eights of
    /// digits combined by one multiply-add each.
    @inline(__always)
    static func sixteenDigits(_ p: UnsafePointer<UInt8>) -> UInt64 {
        let d = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<UInt8>.self) &- SIMD16(repeating: 0x30)
        let x = unsafeBitCast(d, to: SIMD8<UInt16>.self)
        let pairs = (x & 0xFF) &* 10 &+ (x &>> 8)
        let y = unsafeBitCast(pairs, to: SIMD4<UInt32>.self)
        let fours = (y & 0xFFFF) &* 100 &+ (y &>> 16)
        let z = unsafeBitCast(fours, to: SIMD2<UInt64>.self)
        let eights = (z & 0xFFFF_FFFF) &* 10_000 &+ (z &>> 32)
        return eights[0] &* 100_000_000 &+ eights[1]
    }

    /// `unsigned` near the end of the buffer, a byte at a time.
    static func unsignedNearEnd(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt64, Int)? {
        var end = i
        var v: UInt64 = 0
        while end < n && p[end] &- 0x30 < 10 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(p[end] &- 0x30))
            guard !o1 && !o2 else { return nil }
            v = a
            end &+= 1
        }
        let count = end &- i
        guard count > 0, count <= 20, count == 1 || p[i] != 0x30 else { return nil }
        guard end >= n || (p[end] != 0x2E && p[end] | 0x20 != 0x65) else { return nil }
        return (v, end)
    }

    /// A non-negative decimal `digits[.digits]` (no exponent) within Clinger's exact fast path.
    @inline(__always)
    static func decimal(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (Double, Int)? {
        let (whole, count, afterInt) = run(p, i, n)
        guard count > 0, count == 1 || p[i] != 0x30 else { return nil }
        var w = whole
        var digits = count
        var fraction = 0
        var next = afterInt
        if next < n && p[next] == 0x2E {
            let (f, fc, afterFrac) = run(p, next &+ 1, n)
            guard fc > 0, fc <= 19 else { return nil }
            w = w &* powersOfTen64(fc) &+ f
            fraction = fc
            digits &+= fc
            next = afterFrac
        }
        guard next >= n || p[next] | 0x20 != 0x65 else { return nil }
        guard digits <= 19, w <= 1 << 53, fraction <= 22 else { return nil }
        return (fraction == 0 ? Double(w) : Double(w) / powerOfTen(fraction), next)
    }

    /// `null` (0) or a non-negative decimal within the exact fast path; (value, index after).
    @inline(__always)
    static func metadata(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (Double, Int)? {
        if i &+ 16 <= n, let short = shortDecimal(p, i) { return short }
        if i &+ 4 <= n && UnsafeRawPointer(p + i).loadUnaligned(as: UInt32.self) == 0x6C6C_756E { return (0, i &+ 4) }
        return decimal(p, i, n)
    }

    /// `decimal` for the common shape, 1–7 integer digits and an optional fraction of 1–7 digits,
    /// from two word loads (16 bytes readable from `i`); nil for anything else, which `decimal`
    /// then decides; neither the length nor whether there is a fraction is a branch, only the word
    /// each part is read from.
    @inline(__always)
    static func shortDecimal(_ p: UnsafePointer<UInt8>, _ i: Int) -> (Double, Int)? {
        let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
        let k = leadingDigits(w)
        guard k > 0, k < 8, k == 1 || w & 0xFF != 0x30 else { return nil }
        let dot = (w &>> UInt64(8 &* k)) & 0xFF == 0x2E
        let w2 = UnsafeRawPointer(p + (i &+ k &+ 1)).loadUnaligned(as: UInt64.self)
        let f = dot ? leadingDigits(w2) : 0
        guard !dot || (f > 0 && f < 8) else { return nil }
        let next = dot ? i &+ k &+ 1 &+ f : i &+ k
        guard p[next] | 0x20 != 0x65 else { return nil }
        // At most 14 digits: below 2^53, so the quotient by an exact power of ten is correctly rounded.
        let digits = value(w, k) &* powersOfTen64(f) &+ value(w2, f)
        return (Double(digits) / powerOfTen(f), next)
    }
}
