/// The last requests of rollouts and A/B comparisons: the top-1 answer of each side that answered (the stable
/// version or champion, the candidate or challenger) and the true label, whichever comes first; oldest forgotten
/// first. Each side is scored once, when both its answer and the label are known.
struct AnswerLog {
    /// Which release a remembered request belongs to.
    enum Release: Equatable {
        /// A rollout's analysis window, by its number (labels for an older window are not counted).
        case rollout(window: Int)
        case experiment
    }

    struct Entry {
        var model: String
        var release: Release
        /// The stable version's or champion's top-1.
        var reference: Int64?
        /// The candidate's or challenger's top-1.
        var tested: Int64?
        var label: Int64?
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    /// Requests remembered now.
    var count: Int { self.entries.count }

    /// Keeps a side's answer.
    /// - Returns: the label, if it came first (the caller scores the side now).
    mutating func record(_ id: String, model: String, release: Release, tested: Bool, top1: Int64) -> Int64? {
        if self.entries[id] == nil {
            if self.order.count < self.capacity {
                self.order.append(id)
            } else {
                self.entries.removeValue(forKey: self.order[self.head])
                self.order[self.head] = id
                self.head = (self.head + 1) % self.capacity
            }
            self.entries[id] = Entry(model: model, release: release)
        }
        if tested { self.entries[id]?.tested = top1 } else { self.entries[id]?.reference = top1 }
        return self.entries[id]?.label
    }

    /// Keeps the true label.
    /// - Returns: the entry as it was (the caller scores the sides that answered), or `nil` when the request is
    ///   unknown or was labelled before.
    mutating func label(_ id: String, _ label: Int64) -> Entry? {
        guard let entry = self.entries[id], entry.label == nil else { return nil }
        self.entries[id]?.label = label
        return entry
    }
}
