/// The splitmix64 finalizer (no increment first): the hash behind item buckets and shard routing.
///
/// docs/checkpoint.md: `z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31`,
/// all in wrapping unsigned 64-bit arithmetic.
@inlinable
public func fmix64(_ x: UInt64) -> UInt64 {
    var z = x
    z ^= z >> 30
    z = z &* 0xBF58_476D_1CE4_E5B9
    z ^= z >> 27
    z = z &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return z
}

/// FNV-1a over bytes, used for in-memory hash tables only (never persisted, never a routing decision).
@inlinable
public func fnv1a(_ p: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in p {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01b3
    }
    return h
}

extension UInt64 {
    /// The signed 64-bit integer with the same bits: how user and item ids are keyed in SQLite.
    @inlinable public var bitcastSigned: Int64 { Int64(bitPattern: self) }
}

extension Int64 {
    /// The unsigned 64-bit integer with the same bits: the inverse of `UInt64.bitcastSigned`.
    @inlinable public var bitcastUnsigned: UInt64 { UInt64(bitPattern: self) }
}

/// `x` with `digits` decimals (no Foundation formatting in the libraries).
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(x) * scale).rounded()
    // Beyond what Int64 holds, fall back to the shortest round-trip spelling.
    guard r < 9e18, digits <= 18 else { return "\(x)" }
    let whole = Int64(r / scale)
    var frac = String(Int64(r - Double(whole) * scale))
    while frac.count < digits { frac = "0" + frac }
    let sign = x < 0 && r != 0 ? "-" : ""
    return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(frac)"
}
