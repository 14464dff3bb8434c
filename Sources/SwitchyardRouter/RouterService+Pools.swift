import Logging
import SwitchyardTransport
import SwitchyardWire

/// The router's pool methods: `pool.list` and `pool.add`, `pool.remove`, `pool.drain` (who may call which is the
/// server's ``AuthorizationPolicy``).
extension RouterService {
    func pools(_ request: Request, context: RequestContext) async throws -> Response {
        guard let pools = self.stagePools else {
            throw RouterError(.notFound, "this router has no stage pools to administer")
        }
        if request.method != Method.poolList {
            guard let stage = request[parameter: ParameterKey.stage], !stage.isEmpty,
                let instance = request[parameter: ParameterKey.instance], !instance.isEmpty
            else {
                throw RouterError(
                    .invalidArgument,
                    "\(request.method) needs the parameters stage and instance (HOST:PORT)"
                )
            }
            switch request.method {
            case Method.poolAdd: try await pools.add(stage: stage, address: instance)
            case Method.poolRemove: try await pools.remove(stage: stage, instance: instance)
            default: try pools.drain(stage: stage, instance: instance)
            }
            context.logger.notice(
                "pool changed",
                metadata: [
                    "method": "\(request.method)", "stage": "\(stage)", "instance": "\(instance)",
                    "peer": "\(context.peer)",
                ]
            )
        }
        return Response(parameters: [Parameter(ParameterKey.pools, pools.listJSON())])
    }
}
