import Support

/// The generated world, built once from the options and then only read: items, users, the semantic
/// model, and the keys that turn (user, day, sequence) into event ids.
final class SampleWorld: Sendable {
    let options: SampleOptions
    let items: ItemTable
    let users: [UserProfile]
    let semantic: SemanticModel
    /// XORed into packed (user, day, sequence) before `fmix64`: event ids are unique (a bijection of
    /// unique inputs) and look random.
    let eventKey: UInt64

    init(options: SampleOptions) {
        self.options = options
        let items = ItemTable(count: options.resolvedItems, seed: options.seed)
        self.items = items
        let leanings = UserProfile.CategoryLeanings(seed: options.seed)
        users = (0..<options.users).map { UserProfile(index: $0, options: options, leanings: leanings, items: items) }
        semantic = SemanticModel()
        eventKey = fmix64(options.seed ^ 0xE7E7_1D5E_ED00_0001)
    }

    /// The unique event id of the `sequence`-th event of user `user` on day `day`.
    @inline(__always)
    func eventID(user: Int, day: Int, sequence: Int) -> UInt64 {
        let packed = UInt64(user) << UInt64(SampleOptions.dayBits + SampleOptions.sequenceBits)
            | UInt64(day) << UInt64(SampleOptions.sequenceBits) | UInt64(sequence)
        return fmix64(packed ^ eventKey)
    }

    /// Sequence numbers from here on name bad lines, so they never collide with a real event's id.
    static let badLineSequenceBase = 1 << (SampleOptions.sequenceBits - 1)
}
