/// Settings fixed when a history store is created and recorded in it (docs/data.md).
public struct HistorySettings: Sendable, Equatable, CustomStringConvertible {
    /// Event types that count as conversions (compared as UTF-8 bytes), kept sorted and unique.
    public let conversionTypes: [String]
    public let minTs: Int64
    public let maxTs: Int64
    /// Events kept per user (the latest, in history order); evicted ids are still remembered.
    public let retentionCap: Int

    public init(conversionTypes: [String], minTs: Int64, maxTs: Int64, retentionCap: Int) {
        let unique = Set(conversionTypes.map { Array($0.utf8) })
        self.conversionTypes = unique.sorted { $0.lexicographicallyPrecedes($1) }.map { String(decoding: $0, as: UTF8.self) }
        self.minTs = minTs
        self.maxTs = maxTs
        self.retentionCap = retentionCap
    }

    /// What is wrong with these settings, if anything.
    public func validationError() -> String? {
        if minTs > maxTs { return "min_ts \(minTs) is after max_ts \(maxTs)" }
        if retentionCap < 1 { return "retention_cap must be at least 1 (got \(retentionCap))" }
        if conversionTypes.isEmpty { return "conversion_types must name at least one event type" }
        return nil
    }

    public var description: String {
        "conversion_types=[\(conversionTypes.joined(separator: ","))] min_ts=\(minTs) max_ts=\(maxTs) retention_cap=\(retentionCap)"
    }

    /// Each setting that differs from `other`, spelled `name: store=… pipeline=…`.
    public func differences(from other: HistorySettings) -> [String] {
        var d: [String] = []
        if conversionTypes.map({ Array($0.utf8) }) != other.conversionTypes.map({ Array($0.utf8) }) {
            d.append("conversion_types: store=[\(conversionTypes.joined(separator: ","))] pipeline=[\(other.conversionTypes.joined(separator: ","))]")
        }
        if minTs != other.minTs { d.append("min_ts: store=\(minTs) pipeline=\(other.minTs)") }
        if maxTs != other.maxTs { d.append("max_ts: store=\(maxTs) pipeline=\(other.maxTs)") }
        if retentionCap != other.retentionCap { d.append("retention_cap: store=\(retentionCap) pipeline=\(other.retentionCap)") }
        return d
    }
}
