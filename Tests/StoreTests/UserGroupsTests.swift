@testable import Store
import Testing

/// Grouping a batch by user against its plain twin: a stable sort of (user, index) pairs.
@Suite struct UserGroupsTests {
    func twin(_ users: [UInt64]) -> [(UInt64, [Int32])] {
        let order = users.indices.sorted { users[$0] != users[$1] ? users[$0] < users[$1] : $0 < $1 }
        var out: [(UInt64, [Int32])] = []
        for i in order {
            if out.last?.0 == users[i] { out[out.count - 1].1.append(Int32(i)) } else { out.append((users[i], [Int32(i)])) }
        }
        return out
    }

    @Test func groupsMatchAStableSortOfUsers() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
        // Distinct-user counts on both sides of the table's growth points, user 0 and UInt64.max included.
        var cases = 0
        for distinct in [1, 2, 511, 512, 513, 3000, 20000] {
            let pool = (0..<distinct).map { $0 == 0 ? 0 : ($0 == 1 ? UInt64.max : next()) }
            let users = (0..<(distinct * 3)).map { _ in pool[Int(next() % UInt64(distinct))] }
            let g = UserGroups(count: users.count) { users[$0] }
            let expected = twin(users)
            #expect(g.users == expected.map(\.0))
            for (k, (_, indices)) in expected.enumerated() where Array(g.events(ofGroup: k)) != indices {
                Issue.record("distinct \(distinct): group \(k) differs")
                break
            }
            cases += 1
        }
        #expect(cases == 7)
        #expect(UserGroups(count: 0) { _ in 0 }.users.isEmpty)
    }
}
