/// The names of a community's channels, as its newest description gives them.
///
/// status-go keys `CommunityDescription.chats` by the channel's UUID; a message's chat ID is the
/// community ID and that UUID concatenated. Names are the community's own (`#general`), are not
/// unique by rule, and may change: a description with a higher clock replaces an older one whole.
public struct ChannelDirectory: Sendable, Equatable {
    public struct Channel: Sendable, Equatable {
        public var uuid: String
        public var name: String
        /// The order the community shows its channels in.
        public var position: Int

        public init(uuid: String, name: String, position: Int) {
            self.uuid = uuid
            self.name = name
            self.position = position
        }
    }

    /// The description's Lamport clock.
    public var clock: UInt64
    /// In the community's order, then by name.
    public var channels: [Channel]

    public init(clock: UInt64, channels: [Channel]) {
        self.clock = clock
        self.channels = channels.sorted { ($0.position, $0.name, $0.uuid) < ($1.position, $1.name, $1.uuid) }
    }
}
