/// One generated event, before it is spelled as JSON.
struct EventRecord {
    /// How an optional number (`dwell_ms`, `value`) is spelled.
    enum Metadata: Equatable {
        case absent
        /// `null` (means 0 downstream).
        case null
        case integer(UInt64)
        /// Thousandths: `1234.567`.
        case thousandths(UInt64)
        /// Hundredths (prices): `23.99`.
        case cents(UInt64)

        /// The value a reader parses (absent and null are 0).
        var value: Double {
            switch self {
            case .absent, .null: return 0
            case let .integer(v): return Double(v)
            case let .thousandths(v): return Double(v) / 1000
            case let .cents(v): return Double(v) / 100
            }
        }
    }

    var eventID: UInt64
    /// Written as the string `"e-<16 hex digits of eventID>"` instead of the integer.
    var stringID: Bool
    var ts: Int64
    var userID: UInt64
    var itemID: UInt64
    var type: SampleVocabulary.EventType
    var surface: SampleVocabulary.Surface
    var dwell: Metadata
    var value: Metadata
}
