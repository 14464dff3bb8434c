/// The last requests of A/B comparisons: each arm's top-1 answer and the true label, whichever comes first;
/// oldest forgotten first. Each arm is scored once, when both its answer and the label are known.
struct AnswerLog {
    struct Entry {
        var model: String
        var champion: Int64?
        var challenger: Int64?
        var label: Int64?
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    /// Keeps an arm's answer. - Returns: the label, if it came first (the caller scores the arm now).
    mutating func record(_ id: String, model: String, challenger: Bool, top1: Int64) -> Int64? {
        if self.entries[id] == nil {
            if self.order.count < self.capacity {
                self.order.append(id)
            } else {
                self.entries.removeValue(forKey: self.order[self.head])
                self.order[self.head] = id
                self.head = (self.head + 1) % self.capacity
            }
            self.entries[id] = Entry(model: model)
        }
        if challenger { self.entries[id]?.challenger = top1 } else { self.entries[id]?.champion = top1 }
        return self.entries[id]?.label
    }

    /// Keeps the true label. - Returns: the entry as it was (the caller scores the arms that answered), or `nil`
    /// when the request is unknown or was labelled before.
    mutating func label(_ id: String, _ label: Int64) -> Entry? {
        guard let entry = self.entries[id], entry.label == nil else { return nil }
        self.entries[id]?.label = label
        return entry
    }
}
