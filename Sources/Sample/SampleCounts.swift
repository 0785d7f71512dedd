/// What the generator wrote, summed over users and days (reported in `manifest.json`).
public struct SampleCounts: Sendable, Equatable {
    /// Lines written into event files: valid events, their duplicate repeats and bad lines.
    public var lines = 0
    /// Valid event lines, duplicate repeats included.
    public var eventLines = 0
    /// Distinct events (what ingest keeps): `eventLines − duplicates`.
    public var distinctEvents = 0
    /// Distinct events per `SampleVocabulary.EventType`, in its order.
    public var byType = [Int](repeating: 0, count: SampleVocabulary.EventType.allCases.count)
    /// Distinct events per `SampleVocabulary.Surface`, in its order.
    public var bySurface = [Int](repeating: 0, count: SampleVocabulary.Surface.allCases.count)
    /// Bad lines per `BadLineKind`, in its order.
    public var badByKind = [Int](repeating: 0, count: BadLineKind.allCases.count)
    /// Events written into the file of a later day than their ts.
    public var lateEvents = 0
    /// Exact repeats of an event line (same user_id and event_id).
    public var duplicates = 0
    /// Repeats written into a later day's file than the original.
    public var duplicatesAcrossFiles = 0
    public var stringEventIDs = 0
    public var impressions = 0
    public var clicks = 0
    /// Conversion events (purchase, lead, app_install).
    public var conversions = 0
    /// (user, day) pairs with at least one event, and those with at least one conversion.
    public var activeUserDays = 0
    public var conversionUserDays = 0

    public init() {}

    public var badLines: Int { badByKind.reduce(0, +) }

    mutating func add(_ o: SampleCounts) {
        lines += o.lines
        eventLines += o.eventLines
        distinctEvents += o.distinctEvents
        for i in byType.indices { byType[i] += o.byType[i] }
        for i in bySurface.indices { bySurface[i] += o.bySurface[i] }
        for i in badByKind.indices { badByKind[i] += o.badByKind[i] }
        lateEvents += o.lateEvents
        duplicates += o.duplicates
        duplicatesAcrossFiles += o.duplicatesAcrossFiles
        stringEventIDs += o.stringEventIDs
        impressions += o.impressions
        clicks += o.clicks
        conversions += o.conversions
        activeUserDays += o.activeUserDays
        conversionUserDays += o.conversionUserDays
    }
}
