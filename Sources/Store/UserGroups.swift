import Support

/// A batch's events grouped by user: users ascending, each user's events in file order.
///
/// Built as a counting sort over dense user numbers from an open-addressing table, so it costs
/// 4 bytes an event (plus 16 a distinct user) instead of a sorted array of (user, index) pairs
/// and the merge buffer a stable sort allocates (docs/performance.md, "Grouping a batch by user").
struct UserGroups {
    /// The distinct users, ascending.
    private(set) var users: [UInt64] = []
    /// Group g's event indices are `indices[starts[g]..<starts[g + 1]]`.
    private var starts: [Int32] = []
    private var indices: [Int32] = []

    /// Groups `count` events whose users `user(i)` gives.
    init(count: Int, user: (Int) -> UInt64) {
        // Dense numbers in order of first appearance; the table holds number + 1 (0 = empty slot).
        var capacity = 1024
        var keys = [UInt64](repeating: 0, count: capacity)
        var slots = [Int32](repeating: 0, count: capacity)
        var dense = [Int32](repeating: 0, count: count)
        var firstSeen: [UInt64] = []
        var sizes: [Int32] = []
        for i in 0..<count {
            let u = user(i)
            var h = Int(truncatingIfNeeded: fmix64(u)) & (capacity - 1)
            while slots[h] != 0 && keys[h] != u { h = (h + 1) & (capacity - 1) }
            if slots[h] == 0 {
                firstSeen.append(u)
                sizes.append(0)
                keys[h] = u
                slots[h] = Int32(firstSeen.count)
                if firstSeen.count * 2 > capacity {
                    capacity *= 2
                    (keys, slots) = UserGroups.rehash(firstSeen, capacity: capacity)
                    h = Int(truncatingIfNeeded: fmix64(u)) & (capacity - 1)
                    while keys[h] != u { h = (h + 1) & (capacity - 1) }
                }
            }
            let d = slots[h] - 1
            dense[i] = d
            sizes[Int(d)] += 1
        }
        // Rank the distinct users, then place each event after the earlier events of its user.
        let byUser = firstSeen.indices.sorted { firstSeen[$0] < firstSeen[$1] }
        users = byUser.map { firstSeen[$0] }
        var next = [Int32](repeating: 0, count: firstSeen.count)
        starts = [Int32](repeating: 0, count: firstSeen.count + 1)
        var at: Int32 = 0
        for (g, d) in byUser.enumerated() {
            starts[g] = at
            next[d] = at
            at += sizes[d]
        }
        starts[firstSeen.count] = at
        indices = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let d = Int(dense[i])
            indices[Int(next[d])] = Int32(i)
            next[d] += 1
        }
    }

    private static func rehash(_ users: [UInt64], capacity: Int) -> ([UInt64], [Int32]) {
        var keys = [UInt64](repeating: 0, count: capacity)
        var slots = [Int32](repeating: 0, count: capacity)
        for (d, u) in users.enumerated() {
            var h = Int(truncatingIfNeeded: fmix64(u)) & (capacity - 1)
            while slots[h] != 0 { h = (h + 1) & (capacity - 1) }
            keys[h] = u
            slots[h] = Int32(d + 1)
        }
        return (keys, slots)
    }

    /// The event indices of group `g` (the user `users[g]`), in file order.
    func events(ofGroup g: Int) -> ArraySlice<Int32> { indices[Int(starts[g])..<Int(starts[g + 1])] }
}
