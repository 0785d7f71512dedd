import Events

/// A kind of deliberately bad line, each with exactly one fault, so that it maps to exactly one reason
/// code of docs/data.md (`ReasonCode` in `Events`).
public enum BadLineKind: String, CaseIterable, Sendable {
    /// Truncated object, trailing comma, single quotes, unquoted key, `NaN`, two objects, a stray log line.
    case notJSON = "not_json"
    /// Valid JSON that is not an object: an array, a string holding JSON, a number, `null`, `true`.
    case notObject = "not_object"
    /// One of event_id, ts, user_id, item_id, type, surface left out.
    case missingField = "missing_field"
    /// ts or an id as a string, a fractional id, type as a number, surface `null`, dwell_ms as a string…
    case wrongType = "wrong_type"
    /// user_id, item_id or event_id below zero.
    case negativeInteger = "negative_integer"
    /// An id or ts beyond its 64-bit range (2^64, 1e20, 2^63 for ts).
    case integerTooLarge = "integer_too_large"
    /// ts in milliseconds, 0, or just outside `[min_ts, max_ts]`.
    case tsOutOfRange = "ts_out_of_range"
    /// dwell_ms or value below zero.
    case negativeMetadata = "negative_metadata"
    /// dwell_ms or value that overflows a double (`1e999`).
    case nonFiniteMetadata = "non_finite_metadata"
    /// Raw bytes that are not UTF-8 inside a string.
    case invalidUTF8 = "invalid_utf8"
    /// A `\uD800`-style escape without its partner.
    case loneSurrogate = "lone_surrogate"
    /// A key repeated in the top-level object.
    case duplicateKey = "duplicate_key"

    /// The reason code ingest must quarantine this line with.
    public var reason: ReasonCode {
        switch self {
        case .notJSON, .notObject: return .notJSONObject
        case .missingField: return .missingField
        case .wrongType: return .wrongType
        case .negativeInteger, .integerTooLarge: return .integerOutOfRange
        case .tsOutOfRange: return .tsOutOfRange
        case .negativeMetadata, .nonFiniteMetadata: return .badMetadata
        case .invalidUTF8, .loneSurrogate: return .invalidUTF8
        case .duplicateKey: return .duplicateKey
        }
    }
}
