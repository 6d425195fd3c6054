/**
 * The bench app's wire contract, shared by its nodes, the baselines' clients and the smoke test.
 *
 * Client commands (firefly frames, the ids the peers harness uses too): 1 echo, 2 fan-out (no
 * reply; the body goes out as a push 3 to every connection), 3 the push, 4 forward (echo through
 * a second node over hotaru's inter-node RPC).
 */
import { NetCommand } from "hotaru-rt"

/** 1: answer the same body under the same id. */
export const Echo = NetCommand.bytes(1, { name: "echo" })
/** 2: push the body as command 3 to every connected client; no reply. */
export const Fanout = NetCommand.bytes(2, { name: "fanout" })
/** 3: what fan-out pushes. */
export const Push = NetCommand.bytes(3, { name: "push" })
/** 4: the net node asks the backend node to echo the body (1 hop there and back). */
export const Forward = NetCommand.bytes(4, { name: "forward" })

export { BACKEND, EchoRpc } from "./rpc.js"
