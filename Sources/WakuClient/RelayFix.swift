/// What to change in an nwaku node whose relay does not serve a community's shard: the doctor's
/// check and the agent's feed give the same advice.
public enum RelayFix {
    /// The flags that make nwaku relay `shards` (pubsub topics `/waku/2/rs/16/<shard>`), and the
    /// setting that names the shard on this side.
    public static func subscribe(shards: [String]) -> String {
        let shardFlags = shards.compactMap { $0.split(separator: "/").last.map { "--shard=\($0)" } }.joined(separator: " ")
        return "start nwaku with --relay=true --cluster-id=16 \(shardFlags) and a --rest-relay-cache-capacity of a few hundred; "
            + "set the community's pubsub topic (--pubsub-topic, agent: \"pubsubTopic\") to the shard it publishes on"
    }
}
