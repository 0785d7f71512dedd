/// What simulating one chunk of users for one day produced: the day's lines, lines for later days'
/// files (late events and cross-file duplicates), truth lines, counts, and the items shown.
///
/// One worker fills a chunk output at a time; the coordinator then appends its buffers in chunk order,
/// which is what makes the files independent of scheduling. Buffers are reused across days.
final class ChunkOutput: @unchecked Sendable {
    /// Lines for the file of the day being simulated.
    let events = ByteBuffer(capacity: 1 << 20)
    /// `later[k]`: lines for the file k + 1 days later.
    let later: [ByteBuffer] = (0..<ChunkOutput.maxDelay).map { _ in ByteBuffer(capacity: 1 << 14) }
    /// `truth/impressions.jsonl` lines.
    let truth = ByteBuffer(capacity: 1 << 20)
    var counts = SampleCounts()
    /// Bit per item index: shown in an impression.
    var itemsSeen: [UInt64]

    /// Late events arrive up to 3 days late; a cross-file duplicate of one goes one day further.
    static let maxDelay = 4

    init(items: Int) {
        itemsSeen = [UInt64](repeating: 0, count: (items + 63) / 64)
    }

    func reset() {
        events.removeAll()
        for b in later { b.removeAll() }
        truth.removeAll()
        counts = SampleCounts()
        for i in itemsSeen.indices { itemsSeen[i] = 0 }
    }
}

/// Per-user totals over all days, written to `truth/users.jsonl` and summarized in the manifest.
///
/// Workers simulate disjoint sets of users, so each slot has one writer at a time and needs no lock.
final class UserTally: @unchecked Sendable {
    /// Distinct valid events, impressions, conversions, active days, days with a conversion.
    let events: UnsafeMutableBufferPointer<Int32>
    let impressions: UnsafeMutableBufferPointer<Int32>
    let conversions: UnsafeMutableBufferPointer<Int32>
    let activeDays: UnsafeMutableBufferPointer<Int32>
    let conversionDays: UnsafeMutableBufferPointer<Int32>

    init(users: Int) {
        func zeros() -> UnsafeMutableBufferPointer<Int32> {
            let p = UnsafeMutableBufferPointer<Int32>.allocate(capacity: users)
            p.initialize(repeating: 0)
            return p
        }
        events = zeros()
        impressions = zeros()
        conversions = zeros()
        activeDays = zeros()
        conversionDays = zeros()
    }

    deinit {
        events.deallocate()
        impressions.deallocate()
        conversions.deallocate()
        activeDays.deallocate()
        conversionDays.deallocate()
    }
}
