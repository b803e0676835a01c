import Logging
import StatusWire

/// The run loop's state beside the machine: the lane of the current plan's work, the current
/// timer, and how many children will still post a result.
struct DriverLoop {
    let effects: any SyncEffects
    let post: AsyncStream<DriverEvent>.Continuation
    let onOutcome: @Sendable (SyncOutcome) -> Void
    private(set) var inFlight = 0
    /// Whether the outcome of the current idle stretch was given (a plan's, or `.nothingToDo`).
    private var idleReported = false
    /// The running timer, numbered: a timer that fired after it was replaced is ignored.
    private var timer: (number: Int, lane: WorkLane)?
    private var timersStarted = 0
    /// The current plan's index fetch and downloads (the machine cancels them by generation).
    private var plan: (generation: Int, lane: WorkLane)?

    init(effects: any SyncEffects, post: AsyncStream<DriverEvent>.Continuation, onOutcome: @escaping @Sendable (SyncOutcome) -> Void) {
        (self.effects, self.post, self.onOutcome) = (effects, post, onOutcome)
    }

    /// Says `.nothingToDo` when the driver has just fallen idle without a plan's outcome.
    mutating func reportIdle(_ machine: CommunitySyncMachine) {
        guard machine.isQuiescent && inFlight == 0 else { return idleReported = false }
        if !idleReported { onOutcome(.nothingToDo) }
        idleReported = true
    }

    /// The machine's answer to one event of the mailbox.
    mutating func actions(for event: DriverEvent, machine: inout CommunitySyncMachine) -> [SyncAction] {
        let actions: [SyncAction]
        switch event {
        case .announcement(let announcement): return machine.announcementReceived(announcement)
        case .timerFired(_, let number) where timer?.number != number: return []  // replaced after it fired
        case .timerFired(.quietWindow, _): actions = machine.quietWindowElapsed()
        case .timerFired(.retry, _): actions = machine.retryDue()
        case .importVerified(let archiveID): actions = machine.importVerified(archiveID)
        case .indexFetched(let entries, let generation): inFlight -= 1; actions = machine.indexFetched(entries, generation: generation)
        case .indexFailed(let failure, let generation): inFlight -= 1; actions = machine.indexFailed(failure, generation: generation)
        case .downloaded(let archive, let generation): inFlight -= 1; actions = machine.downloadFinished(archive, generation: generation)
        case .downloadFailed(let entry, let failure, let generation):
            inFlight -= 1
            actions = machine.downloadFailed(entry, failure, generation: generation)
        case .cancelled: inFlight -= 1; actions = []
        case .imported(let archiveID): inFlight -= 1; actions = machine.importFinished(archiveID)
        case .importFailed(let archiveID, let failure): inFlight -= 1; actions = machine.importFailed(archiveID, failure)
        }
        if actions.isEmpty {
            // A result the machine had no use for (an older plan's, or one after stopping): visible, not silent.
            effects.logger.debug("result ignored by the machine", metadata: ["event": "\(event)", "phase": "\(machine.phase)"])
        }
        return actions
    }

    mutating func perform(_ actions: [SyncAction], group: inout DiscardingTaskGroup) async {
        for action in actions { await perform(action, group: &group) }
    }

    private mutating func perform(_ action: SyncAction, group: inout DiscardingTaskGroup) async {
        let (effects, post) = (self.effects, self.post)
        switch action {
        case .persistAnnouncement(let clock, let cid):
            effects.report(.announcementAccepted(clock: clock, indexCID: cid.string))
            await effects.saveAnnouncement(clock: clock, indexCID: cid)
        case .startTimer(let kind, let delay):
            effects.report(.waiting(kind, delay: delay))
            timer?.lane.cancel()
            timersStarted += 1
            let number = timersStarted
            let lane = WorkLane(in: &group)
            lane.run {
                do { try await effects.sleep(for: delay) } catch { return }  // replaced, or stopping
                post.yield(.timerFired(kind, timer: number))
            }
            lane.close()
            timer = (number, lane)
        case .cancelTimer:
            timer?.lane.cancel()
            timer = nil
        case .fetchIndex(let cid, let generation):
            inFlight += 1
            lane(for: generation, in: &group).run { post.yield(DriverEvent(fetching: await effects.fetchIndex(cid), generation: generation)) }
        case .download(let entry, let generation):
            inFlight += 1
            lane(for: generation, in: &group).run {
                post.yield(DriverEvent(downloading: entry, await effects.download(entry), generation: generation))
            }
        case .cancelDownloads(let generation):
            guard plan?.generation == generation else { return }
            plan?.lane.cancel()
            plan = nil
        case .importArchive(let archive, _):
            // Not in a plan's lane: a newer plan does not cancel an import (it commits, whatever its plan).
            inFlight += 1
            let id = archive.entry.id
            group.addTask { post.yield(DriverEvent(importing: id, await effects.importArchive(archive) { post.yield(.importVerified(archiveID: id)) })) }
        case .markProcessed(let cid, let selection):
            await effects.markProcessed(cid, selection: selection)
        case .planned(let archives, let knownBad):
            effects.report(.planned(archives: archives, knownBad: knownBad))
        case .ignored(let reason):
            effects.report(.announcementIgnored(reason))
        case .finished(let outcome):
            await effects.recordOutcome(outcome)
            effects.report(.finished(outcome))
            onOutcome(outcome)
            idleReported = true
        }
    }

    /// The lane of a plan's work; an older plan's lane takes no more work (what it runs ends, or
    /// was cancelled when the newer plan began).
    private mutating func lane(for generation: Int, in group: inout DiscardingTaskGroup) -> WorkLane {
        if let plan, plan.generation == generation { return plan.lane }
        plan?.lane.close()
        let lane = WorkLane(in: &group)
        plan = (generation, lane)
        return lane
    }
}
