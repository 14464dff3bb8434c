public import SwitchyardRouting
public import SwitchyardTransport

/// The router's batchers and pools set their timers on the event loop their tasks run on.
extension EventLoopTaskExecutor: WakeUpScheduler {}
