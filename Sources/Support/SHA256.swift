import CCrypto

/// Incremental SHA-256 over OpenSSL's libcrypto (SHA-NI where the CPU has it).
///
/// Used for the ingest ledger (sha256 of a file's decompressed content) and checkpoint identity.
public final class SHA256Hasher {
    private let ctx: OpaquePointer

    public init() {
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed: out of memory") }
        self.ctx = ctx
        let ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        precondition(ok == 1, "EVP_DigestInit_ex(sha256) failed")
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let ok = EVP_DigestUpdate(ctx, base, bytes.count)
        precondition(ok == 1, "EVP_DigestUpdate failed")
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest; the hasher must not be used afterwards.
    public func finalize() -> Digest32 {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(ctx, $0.baseAddress, &len) }
        precondition(ok == 1 && len == 32, "EVP_DigestFinal_ex failed")
        return Digest32(bytes: out)
    }

    /// One-shot digest of a byte array.
    public static func digest(_ bytes: [UInt8]) -> Digest32 {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finalize()
    }
}

/// A 32-byte digest with its lowercase hex spelling.
public struct Digest32: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32)
        self.bytes = bytes
    }
    /// The digest a 64-digit hex spelling names (either case); nil for anything else.
    public init?(hex: some StringProtocol) {
        let u = Array(hex.utf8)
        guard u.count == 64 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var b: [UInt8] = []
        b.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            b.append(hi << 4 | lo)
        }
        self.bytes = b
    }
    public var hex: String { hexString(bytes) }
    public var description: String { hex }
}

/// Lowercase hex of bytes.
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}
