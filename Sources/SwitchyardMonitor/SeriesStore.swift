/// The samples of one series over the retention window, oldest first.
public struct SeriesHistory: Codable, Sendable {
    /// The family's type.
    public var type: MetricType
    /// Sample times, seconds since the Unix epoch, ascending.
    public var times: [Double] = []
    /// Sample values, one per time.
    public var values: [Double] = []

    /// Makes an empty history.
    public init(type: MetricType) { self.type = type }

    /// The last sample.
    public var last: (time: Double, value: Double)? {
        guard let time = self.times.last, let value = self.values.last else { return nil }
        return (time, value)
    }

    /// Index of the last sample at or before `time`, if any.
    func index(atOrBefore time: Double) -> Int? {
        var low = 0
        var high = self.times.count
        while low < high {
            let middle = (low + high) / 2
            if self.times[middle] <= time { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }

    /// The value at `time`: the last sample at or before it, when that is at most `staleness` old.
    public func value(at time: Double, staleness: Double) -> Double? {
        guard let index = self.index(atOrBefore: time), time - self.times[index] <= staleness else { return nil }
        return self.values[index]
    }

    /// How much a counter grew over (`from`, `to`], counting a drop as a restart from zero.
    ///
    /// The growth is taken from the last sample at or before `from` to the last at or before `to`; a series whose
    /// first sample falls inside the window counts from that sample (its earlier growth is unknown).
    public func increase(from: Double, to: Double) -> Double {
        guard let end = self.index(atOrBefore: to) else { return 0 }
        let start =
            self.index(atOrBefore: from)
            ?? {
                // first sample inside the window: count from there
                let first = self.times.firstIndex { $0 > from } ?? end
                return first
            }()
        guard start < end else { return 0 }
        var total = 0.0
        for index in (start + 1)...end {
            let delta = self.values[index] - self.values[index - 1]
            total += delta >= 0 ? delta : self.values[index]
        }
        return total
    }

    mutating func append(time: Double, value: Double) {
        if let last = self.times.last, time < last { return }  // out of order: keep the history sorted
        self.times.append(time)
        self.values.append(value)
    }

    mutating func trim(before time: Double) {
        guard let first = self.times.firstIndex(where: { $0 >= time }) else {
            self.times.removeAll()
            self.values.removeAll()
            return
        }
        if first > 0 {
            self.times.removeFirst(first)
            self.values.removeFirst(first)
        }
    }
}

/// Every series the monitor has heard of, each with its recent history.
public struct SeriesStore: Codable, Sendable {
    /// The histories by series.
    public private(set) var series: [SeriesKey: SeriesHistory] = [:]

    /// Makes an empty store.
    public init() {}

    /// Adds a sample.
    /// - Parameters:
    ///   - key: the series.
    ///   - type: its family's type.
    ///   - time: when it was taken, seconds since the epoch.
    ///   - value: the value.
    public mutating func append(_ key: SeriesKey, type: MetricType, time: Double, value: Double) {
        self.series[key, default: SeriesHistory(type: type)].append(time: time, value: value)
    }

    /// Drops samples older than `time` and series left empty.
    public mutating func trim(before time: Double) {
        for key in Array(self.series.keys) {
            self.series[key]!.trim(before: time)
            if self.series[key]!.times.isEmpty { self.series[key] = nil }
        }
    }

    /// The series named `name` whose labels include `matching`.
    public func select(_ name: String, matching: [String: String] = [:]) -> [(key: SeriesKey, history: SeriesHistory)] {
        self.series.compactMap { key, history in
            guard key.name == name, matching.allSatisfy({ key[label: $0.key] == $0.value }) else { return nil }
            return (key, history)
        }
    }

    /// Number of samples held.
    public var sampleCount: Int { self.series.values.reduce(0) { $0 + $1.times.count } }
}
