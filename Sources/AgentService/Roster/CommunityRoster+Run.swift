import PeerHTTP
import SyncEngine

extension CommunityRoster {
    /// Runs one community until it is stopped (leave, restart) or the agent stops, then tells the loop.
    func follow(_ follower: Follower) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runDriver(follower) }
            group.addTask { for await _ in follower.stopSignal {} }
            await group.next()
            group.cancelAll()
        }
        post.yield(.followerStopped(follower.communityID, generation: follower.generation))
    }

    /// Runs one community's driver until the agent stops. A driver that cannot start (its state
    /// cannot be read, its archives directory cannot be made) is started again after a growing
    /// delay: the other communities go on, and this one resumes once the cause is fixed, without
    /// restarting the agent. Announcements heard meanwhile wait in its stream.
    private func runDriver(_ follower: Follower) async {
        let label = follower.communityID.string
        var attempt = 0
        while !Task.isCancelled {
            do {
                try await follower.driver.run(live: follower.announcements, rescan: follower.rescan)
                return  // cancelled: the agent is stopping, or the community is
            } catch {
                if Task.isCancelled { return }
                attempt += 1
                let delay = startRetry.delay(afterAttempt: attempt)
                context.logger.error("cannot start the community's sync; trying again", metadata: [
                    "community": "\(label)", "error": "\(error)", "attempt": "\(attempt)", "retryIn": "\(delay)"])
                context.metrics.startFailed(community: label)
                context.events.write(.communityStartFailed(follower.communityID, error: "\(error)", attempt: attempt, retryIn: delay))
                await recordStartFailure(of: label, error)
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    /// Shows the start failure as the community's error in `status` (the database may be what
    /// fails: then the log and the metric are what is left).
    private func recordStartFailure(of communityID: String, _ error: any Error) async {
        do { try await context.database.recordOutcome(communityID: communityID, error: "cannot start: \(error)") } catch {
            context.logger.error("cannot record the start failure", metadata: ["community": "\(communityID)", "error": "\(error)"])
            context.metrics.recordFailed(community: communityID)
        }
    }
}
