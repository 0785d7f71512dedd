import Events
import Support

/// Sorted 32-bit fingerprints of a set of event ids: the filter kept beside each history chunk
/// (and beside a user's evicted ids), so that deduplication reads a chunk's events only when one
/// of the new ids has a fingerprint in it.
///
/// A fingerprint match is a candidate, not a duplicate: the caller confirms it on the ids
/// themselves, so deduplication stays exact whatever the collisions. A probe against n stored
/// fingerprints matches by chance with probability about n / 2^32.
///
/// Blob layout (version 1): `[version u8][fingerprints: u32 little-endian, ascending]`; equal
/// fingerprints (colliding ids) appear once each.
public enum IDFingerprints {
    public static let version: UInt8 = 1

    /// The fingerprint of an id: the high 32 bits of `PackedHistory.idHash`.
    @inline(__always)
    public static func of(_ id: EventID) -> UInt32 { UInt32(truncatingIfNeeded: PackedHistory.idHash(id) >> 32) }

    /// The blob of a set of fingerprints, in any order.
    public static func pack(_ fingerprints: [UInt32]) -> [UInt8] {
        let sorted = fingerprints.sorted()
        var out = [UInt8]()
        out.reserveCapacity(1 + 4 * sorted.count)
        out.append(version)
        var previous: UInt32?
        for f in sorted where f != previous {
            withUnsafeBytes(of: f.littleEndian) { out.append(contentsOf: $0) }
            previous = f
        }
        return out
    }

    /// The blob of the fingerprints of `ids`.
    public static func pack<S: Sequence>(ids: S) -> [UInt8] where S.Element == EventID { pack(ids.map(of)) }

    /// Whether any of `probes` (ascending) is in the blob; checks the blob's version and length first.
    public static func intersects(_ blob: UnsafeRawBufferPointer, _ probes: [UInt32]) throws(PackedFormatError) -> Bool {
        guard let v = blob.first, v == version else {
            throw PackedFormatError(message: "id fingerprints version \(blob.first.map(String.init) ?? "absent"), this llatte reads \(version)")
        }
        guard (blob.count - 1) % 4 == 0 else { throw PackedFormatError(message: "id fingerprints length \(blob.count) is not 1 + 4n") }
        let n = (blob.count - 1) / 4
        func at(_ k: Int) -> UInt32 { UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 1 + 4 * k, as: UInt32.self)) }
        // Probes ascend, so each search starts where the previous one ended.
        var low = 0
        for p in probes {
            var high = n
            while low < high {
                let mid = (low + high) >> 1
                if at(mid) < p { low = mid + 1 } else { high = mid }
            }
            if low == n { return false }
            if at(low) == p { return true }
        }
        return false
    }

    /// The fingerprints held by a blob, ascending (for tests and checks).
    public static func unpack(_ blob: [UInt8]) throws(PackedFormatError) -> [UInt32] {
        guard blob.first == version, (blob.count - 1) % 4 == 0 else { throw PackedFormatError(message: "id fingerprints are damaged") }
        return blob.withUnsafeBytes { b in
            (0..<(b.count - 1) / 4).map { k in UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 1 + 4 * k, as: UInt32.self)) }
        }
    }
}
