import Foundation
import StatusCrypto

extension CommunityRoster {
    /// Applies a configuration file read again (SIGHUP): starts, stops and restarts the file's
    /// communities as it says; those joined through the API go on as they are.
    func reload(_ new: AgentConfiguration, members: inout Members, group: inout DiscardingTaskGroup) -> ReloadSummary {
        var summary = ReloadSummary()
        summary.needRestart = Self.settingsNeedingRestart(from: context.configuration, to: new)
        var wanted: [CommunityID: AgentConfiguration.Community] = [:]
        for community in new.communities { if let id = try? community.communityID() { wanted[id] = community } }  // validated already
        for (id, follower) in members.active where follower.origin == .configuration && wanted[id] == nil {
            stop(follower, then: .nothing, members: &members)
            summary.stopped.append(id.string)
        }
        // The file's communities waiting to start again (a rescan, an earlier reload) start as the file says now, or not at all.
        for (id, pending) in members.afterStop {
            guard case .start(let next) = pending.then, next.origin == .configuration else { continue }
            if let community = wanted[id] {
                if next.settings != community {
                    members.afterStop[id] = (pending.generation, .start(factory.make(community, origin: .configuration, rescan: next.rescan)))
                    summary.restarted.append(id.string)
                }
            } else {
                members.afterStop[id] = (pending.generation, .nothing)
                summary.stopped.append(id.string)
            }
        }
        for (id, community) in wanted.sorted(by: { $0.key.string < $1.key.string }) {
            if let current = members.active[id] {
                if current.origin == .configuration && current.settings != community {
                    stop(current, then: .start(factory.make(community, origin: .configuration)), members: &members)
                    summary.restarted.append(id.string)
                }
                // Joined through the API and now in the file too: it goes on as it is.
            } else if let pending = members.afterStop[id] {
                // Stopped by an earlier reload and back in the file: start it once stopped.
                if case .nothing = pending.then {
                    members.afterStop[id] = (pending.generation, .start(factory.make(community, origin: .configuration)))
                    summary.started.append(id.string)
                }
            } else {
                start(factory.make(community, origin: .configuration), members: &members, group: &group)
                summary.started.append(id.string)
            }
        }
        publish(members)
        summary.stopped.sort()
        summary.restarted.sort()
        return summary
    }

    /// The top-level settings that differ between two configurations, `communities` aside: the
    /// agent applies those only when it starts.
    static func settingsNeedingRestart(from old: AgentConfiguration, to new: AgentConfiguration) -> [String] {
        func settings(_ configuration: AgentConfiguration) -> [String: String] {
            var copy = configuration
            copy.communities = []
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(copy), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return object.mapValues { "\($0)" }
        }
        let (before, after) = (settings(old), settings(new))
        return Set(before.keys).union(after.keys).filter { $0 != "communities" && before[$0] != after[$0] }.sorted()
    }
}
